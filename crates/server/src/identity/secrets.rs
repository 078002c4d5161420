//! Owners of exposed secrets: when a reported message contains a secret
//! whose SHA-256 the inventory knows, the credential's owner is told which
//! credential was exposed, where, and that revoking it awaits approval.
//! The message names the credential by its inventory id and reference and
//! the secret only in its redacted form.

use phishloop_identity::{Inventory, NhiCredential};
use phishloop_model::MessageAnalysis;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::ServiceError;
use crate::notify::{Notice, Notifier};

/// Queues a notice for the owner of each inventory credential whose
/// secret the message contains, once per case and credential, with the
/// event `secret_owner_told`.
pub(crate) async fn tell_secret_owners(
    notifier: &Notifier,
    inventory: &Inventory,
    case_id: Uuid,
    message: Option<&MessageAnalysis>,
) -> Result<(), ServiceError> {
    let Some(message) = message else {
        return Ok(());
    };
    for secret in &message.secrets {
        for credential in inventory.credentials_with_secret(&secret.sha256) {
            let notice = notice(case_id, credential, &secret.redacted, &secret.location);
            if notifier.queue_notice(case_id, about_id(case_id, &credential.id), &notice).await? {
                tracing::info!(%case_id, credential = %credential.id, "notice queued for the owner of an exposed secret");
            }
        }
    }
    Ok(())
}

/// Derives a stable id per case and credential, so a repeated job queues nothing twice.
fn about_id(case_id: Uuid, credential_id: &str) -> Uuid {
    let digest = Sha256::new().chain_update(case_id.as_bytes()).chain_update(credential_id.as_bytes()).finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(bytes)
}

fn notice(case_id: Uuid, credential: &NhiCredential, redacted: &str, location: &str) -> Notice {
    let subject = format!("A credential you own was exposed: {}", credential.id);
    let text = format!(
        "A message reported to the security team contains the secret of a credential you own.\n\n\
         Credential: {id} ({provider} {reference})\n\
         Reaches: {reaches}\n\
         Secret as found, redacted: {redacted}\n\
         Found in: {location}\n\
         Case: {case_id}\n\n\
         Treat the credential as known to others. Revoking it is waiting for an identity \
         administrator's approval; plan its replacement now, and do not send secrets by email.\n",
        id = credential.id,
        provider = credential.provider.as_str(),
        reference = credential.reference,
        reaches = if credential.reaches.is_empty() { "not recorded" } else { &credential.reaches },
    );
    let html = format!("<pre>{}</pre>", escape_html(&text));
    Notice {
        recipient: credential.owner.clone(),
        subject,
        text,
        html,
        event_kind: "secret_owner_told",
        event_detail: serde_json::json!({ "credential": credential.id, "location": location }),
    }
}

fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notice_escapes_hostile_location() {
        let credential = NhiCredential {
            id: "key-1".to_owned(),
            kind: phishloop_identity::NhiKind::ApiKey,
            owner: "dev@corp-example.com".to_owned(),
            provider: phishloop_identity::Provider::Aws,
            reference: "AKIADEV0000000000001".to_owned(),
            parent: Some("dev-ci".to_owned()),
            reaches: String::new(),
            secret_sha256: None,
        };

        let notice = notice(Uuid::nil(), &credential, "AKIA************0001", "<script>x</script>.txt");

        assert!(notice.html.contains("&lt;script&gt;"), "{}", notice.html);
        assert!(!notice.html.contains("<script>"));
        assert!(notice.text.contains("AKIA************0001"));
        assert_eq!(about_id(Uuid::nil(), "key-1"), about_id(Uuid::nil(), "key-1"));
        assert_ne!(about_id(Uuid::nil(), "key-1"), about_id(Uuid::nil(), "key-2"));
    }
}
