//! The identity section of the case page: who received, clicked and
//! submitted credentials, the non-human credentials the case touched, and
//! what was done to each account and credential. It shows the same view as
//! `GET /api/v1/cases/{id}/identity`.

use phishloop_coaching::defang_links_in;
use serde::Serialize;
use uuid::Uuid;

use super::view::time;
use super::{WebError, WebState};
use crate::identity::api::{CaseIdentityView, IdentityStep, case_view, status_for};

/// The section's rows.
#[derive(Debug, Serialize)]
pub(crate) struct IdentitySection {
    received: usize,
    clicked: usize,
    submitted: usize,
    /// People who clicked or submitted, submitters first.
    people: Vec<PersonRow>,
    credentials: Vec<CredentialRow>,
    imports: usize,
    /// Matching log entries that were not counted as clicks, by reason.
    excluded: Vec<(String, usize)>,
}

#[derive(Debug, Serialize)]
struct PersonRow {
    address: String,
    verdict: String,
    recipient: bool,
    first_clicked: Option<String>,
    /// The log line of each piece of evidence, oldest first.
    evidence: Vec<EvidenceLine>,
    credentials: Vec<String>,
    steps: Vec<StepRow>,
}

/// A log line behind a verdict: its number in the imported log and its
/// text, defanged.
#[derive(Debug, Serialize, PartialEq, Eq)]
struct EvidenceLine {
    line: u64,
    text: String,
}

#[derive(Debug, Serialize)]
struct CredentialRow {
    id: String,
    provider: String,
    kind: String,
    reference: String,
    owner: String,
    reaches: String,
    found_in_message: bool,
    steps: Vec<StepRow>,
}

/// One action on an account or credential, in words.
#[derive(Debug, Serialize)]
struct StepRow {
    action_id: String,
    kind: String,
    status: String,
    finished: Option<String>,
    details: Option<String>,
}

impl From<&IdentityStep> for StepRow {
    fn from(step: &IdentityStep) -> Self {
        StepRow {
            action_id: step.action_id.to_string(),
            kind: step.kind.clone(),
            status: step.status.clone(),
            finished: step.finished_at.map(time),
            details: step.details.clone(),
        }
    }
}

/// Loads the identity view of a case and shapes it for the page.
pub(crate) async fn identity_section(state: &WebState, case_id: Uuid) -> Result<IdentitySection, WebError> {
    Ok(IdentitySection::from(&case_view(&state.app, case_id).await?))
}

impl From<&CaseIdentityView> for IdentitySection {
    fn from(view: &CaseIdentityView) -> Self {
        let mut people: Vec<PersonRow> = view
            .people
            .iter()
            .filter(|person| person.verdict != "received")
            .map(|person| PersonRow {
                address: person.address.clone(),
                verdict: person.verdict.clone(),
                recipient: person.recipient,
                first_clicked: person.first_clicked_at.map(time),
                evidence: person
                    .evidence
                    .iter()
                    .filter_map(|line| {
                        let raw = line.get("raw").and_then(|raw| raw.as_str())?;
                        let number = line.get("line").and_then(|number| number.as_u64()).unwrap_or_default();
                        Some(EvidenceLine { line: number, text: defang_links_in(raw) })
                    })
                    .collect(),
                credentials: person.credentials.clone(),
                steps: person.actions.iter().map(StepRow::from).collect(),
            })
            .collect();
        people.sort_by_key(|person| (person.verdict != "submitted_credentials", person.address.clone()));

        let credentials = view
            .credentials
            .iter()
            .map(|credential| CredentialRow {
                id: credential.id.clone(),
                provider: credential.provider.clone(),
                kind: credential.kind.clone(),
                reference: credential.reference.clone(),
                owner: credential.owner.clone(),
                reaches: credential.reaches.clone(),
                found_in_message: credential.found_in_message,
                steps: credential
                    .actions
                    .iter()
                    .map(|step| StepRow { status: status_for(step, &credential.id), ..StepRow::from(step) })
                    .collect(),
            })
            .collect();

        let mut excluded: Vec<(String, usize)> = Vec::new();
        for entry in view.imports.iter().flat_map(|import| &import.excluded_entries) {
            let reason = entry
                .get("exclusion")
                .and_then(|exclusion| exclusion.get("reason"))
                .and_then(|reason| reason.as_str())
                .unwrap_or("other")
                .replace('_', " ");
            match excluded.iter_mut().find(|(known, _)| *known == reason) {
                Some((_, count)) => *count += 1,
                None => excluded.push((reason, 1)),
            }
        }

        IdentitySection {
            received: view.counts.received,
            clicked: view.counts.clicked,
            submitted: view.counts.submitted_credentials,
            people,
            credentials,
            imports: view.imports.len(),
            excluded,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::identity::api::{CredentialView, PersonView, VerdictCounts};

    fn person(address: &str, verdict: &str) -> PersonView {
        PersonView {
            address: address.to_owned(),
            verdict: verdict.to_owned(),
            recipient: true,
            first_clicked_at: None,
            evidence: vec![json!({ "line": 7, "raw": format!("GET https://lure.test/ {address}") })],
            credentials: Vec::new(),
            actions: Vec::new(),
        }
    }

    #[test]
    fn submitters_first_receivers_left_out() {
        let view = CaseIdentityView {
            case_id: Uuid::nil(),
            campaign_id: None,
            counts: VerdictCounts { received: 3, clicked: 2, submitted_credentials: 1 },
            people: vec![
                person("amy@corp.test", "clicked"),
                person("bob@corp.test", "received"),
                person("cy@corp.test", "submitted_credentials"),
            ],
            credentials: vec![CredentialView {
                id: "key-1".to_owned(),
                kind: "api_key".to_owned(),
                provider: "aws".to_owned(),
                reference: "AKIAEXAMPLE".to_owned(),
                parent: None,
                owner: "cy@corp.test".to_owned(),
                reaches: "billing".to_owned(),
                found_in_message: false,
                actions: Vec::new(),
                result: None,
            }],
            actions: Vec::new(),
            imports: Vec::new(),
        };

        let section = IdentitySection::from(&view);

        let order: Vec<&str> = section.people.iter().map(|p| p.address.as_str()).collect();
        assert_eq!(order, vec!["cy@corp.test", "amy@corp.test"]);
        let evidence = EvidenceLine { line: 7, text: "GET hxxps://lure[.]test/ cy@corp[.]test".to_owned() };
        assert_eq!(section.people[0].evidence, vec![evidence]);
        assert_eq!(section.credentials.len(), 1);
        assert_eq!((section.received, section.clicked, section.submitted), (3, 2, 1));
    }
}
