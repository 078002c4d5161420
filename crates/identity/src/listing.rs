//! Listing non-human credentials from the systems that issue them, into the
//! inventory: Entra application secrets with the applications' owners,
//! GitHub fine-grained tokens with organisation access, AWS IAM access
//! keys with an owner tag, and Vault leases under prefixes with a known
//! owner. Each listing uses the connector of its system, so it needs that
//! connector's table and a credential allowed to read.
//!
//! | system | requests | owner |
//! |---|---|---|
//! | entra | `GET /applications?$select=id,appId,displayName,passwordCredentials`, `GET /applications/{id}/owners` | each owner's `mail`, else `userPrincipalName` |
//! | github | `GET /orgs/{org}/personal-access-tokens` | `owner_emails[login]`, else `login@owner_domain` |
//! | aws | IAM `ListUsers`, `ListUserTags`, `ListAccessKeys` | the user's tag `owner_tag` |
//! | vault | `GET /v1/sys/leases/lookup/{prefix}?list=true` | the prefix's owner in `prefixes` |
//!
//! A credential without a known owner is left out and reported, because
//! the inventory exists to find what a person owns.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::nhi::{NhiCredential, NhiKind, Provider};

/// The `[identity.inventory.github]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GithubListing {
    /// Organisations whose approved fine-grained tokens are listed.
    pub organizations: Vec<String>,
    /// Email address of each GitHub login.
    pub owner_emails: BTreeMap<String, String>,
    /// Domain that makes `login@domain` for a login not in `owner_emails`.
    pub owner_domain: Option<String>,
}

impl GithubListing {
    /// Returns the owner address of a GitHub login, if known.
    pub(crate) fn owner_of(&self, login: &str) -> Option<String> {
        let mapped = self.owner_emails.iter().find(|(name, _)| name.eq_ignore_ascii_case(login));
        match (mapped, &self.owner_domain) {
            (Some((_, address)), _) => Some(address.to_lowercase()),
            (None, Some(domain)) => Some(format!("{}@{}", login.to_lowercase(), domain.to_lowercase())),
            (None, None) => None,
        }
    }
}

/// The `[identity.inventory.aws]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsListing {
    /// The IAM user tag whose value is the owner's address.
    pub owner_tag: String,
}

impl Default for AwsListing {
    fn default() -> Self {
        AwsListing { owner_tag: "owner".to_string() }
    }
}

/// The `[identity.inventory.vault]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VaultListing {
    /// Lease prefixes, such as `database/creds/billing-ro/`, each with the
    /// address of the person who owns the leases under it.
    pub prefixes: BTreeMap<String, String>,
}

/// The credentials a listing found and what it could not use.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listed {
    pub credentials: Vec<NhiCredential>,
    /// Failures and credentials left out, in words.
    pub problems: Vec<String>,
}

impl Listed {
    pub(crate) fn problem(&mut self, text: String) {
        self.problems.push(text);
    }

    pub(crate) fn extend(&mut self, other: Listed) {
        self.credentials.extend(other.credentials);
        self.problems.extend(other.problems);
    }
}

/// Builds a listed credential; the id names the system, so listed ids
/// never collide with each other.
pub(crate) fn listed_credential(
    provider: Provider,
    kind: NhiKind,
    owner: &str,
    reference: &str,
    parent: Option<&str>,
    reaches: String,
) -> NhiCredential {
    let mut id = format!("{}:{}", provider.as_str(), parent.map(|p| format!("{p}:")).unwrap_or_default());
    id.push_str(reference);
    id.push(':');
    id.push_str(&owner.to_lowercase());
    NhiCredential {
        id,
        kind,
        owner: owner.to_lowercase(),
        provider,
        reference: reference.to_string(),
        parent: parent.map(str::to_string),
        reaches,
        secret_sha256: None,
    }
}

/// Returns the text of every `<tag>` element in an IAM query reply, with
/// the five XML entities decoded. It is meant for the flat replies of
/// `ListUsers`, `ListUserTags` and `ListAccessKeys`, and would misread an
/// element nested inside one of the same name.
pub(crate) fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut values = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        values.push(decode_xml(&after[..end]));
        rest = &after[end + close.len()..];
    }
    values
}

/// Splits an IAM reply into its `<member>` elements.
pub(crate) fn xml_members(xml: &str) -> Vec<&str> {
    let mut members = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<member>") {
        let after = &rest[start + "<member>".len()..];
        let Some(end) = after.find("</member>") else { break };
        members.push(&after[..end]);
        rest = &after[end + "</member>".len()..];
    }
    members
}

fn decode_xml(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_members_and_values() {
        let xml = "<ListAccessKeysResult><AccessKeyMetadata>\
            <member><UserName>ci&amp;deploy</UserName><AccessKeyId>AKIA1</AccessKeyId></member>\
            <member><UserName>ci&amp;deploy</UserName><AccessKeyId>AKIA2</AccessKeyId></member>\
            </AccessKeyMetadata><IsTruncated>false</IsTruncated></ListAccessKeysResult>";

        let members = xml_members(xml);

        assert_eq!(members.len(), 2);
        assert_eq!(xml_values(members[1], "AccessKeyId"), vec!["AKIA2"]);
        assert_eq!(xml_values(members[0], "UserName"), vec!["ci&deploy"]);
        assert_eq!(xml_values(xml, "IsTruncated"), vec!["false"]);
        assert!(xml_values("<A>unclosed", "A").is_empty());
    }

    #[test]
    fn github_owner_from_map_or_domain() {
        let listing = GithubListing {
            organizations: vec!["corp".to_string()],
            owner_emails: [("OctoCat".to_string(), "Ann@Corp-Example.com".to_string())].into_iter().collect(),
            owner_domain: Some("corp-example.com".to_string()),
        };
        let unmapped = GithubListing { owner_domain: None, ..listing.clone() };

        assert_eq!(listing.owner_of("octocat").as_deref(), Some("ann@corp-example.com"));
        assert_eq!(listing.owner_of("hubot").as_deref(), Some("hubot@corp-example.com"));
        assert_eq!(unmapped.owner_of("hubot"), None);
    }
}
