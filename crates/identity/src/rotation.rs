//! The store of rotated credentials: a HashiCorp Vault KV version 2 mount.
//!
//! `rotate_credentials` issues a new credential at its provider, writes it
//! to Vault for the service that uses it, and only then retires the old
//! one. The new secret leaves phishloop only in the write to Vault: it is
//! never logged, stored in phishloop's database or put in outcome details,
//! which name the Vault path and version instead.
//!
//! Each record also names the credential it replaces (`replaces`). A
//! rotation that failed after the write finds that record on its next try
//! and goes on to retire the old credential, instead of issuing a second
//! new one.

use std::collections::BTreeMap;

use reqwest::header::HeaderName;
use reqwest::{Method, Url};
use serde::{Deserialize, Serialize};

use async_trait::async_trait;

use crate::error::ConfigError;
use crate::http::{Auth, Call, CallError, Http, Tally, endpoint, parse_base_url};
use crate::nhi::NhiCredential;
use crate::runner::Failure;
use crate::secret::{Secret, read_secret};
use crate::secrets::VaultConfig;

/// Record field: the provider's id of the new credential.
const NEW_ID: &str = "credential_id";
/// Record field: the provider's id of the credential it replaces.
const REPLACES: &str = "replaces";

/// The `[identity.rotation]` table. Rotation writes through the
/// `[identity.vault]` connection, whose token then also needs `create` and
/// `update` on `{mount}/data/{path_prefix}/*` and `read` to resume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RotationConfig {
    /// The KV version 2 mount.
    pub mount: String,
    /// Path under the mount; each new secret goes to
    /// `{path_prefix}/{provider}/{inventory id}`.
    pub path_prefix: String,
}

impl Default for RotationConfig {
    fn default() -> Self {
        RotationConfig { mount: "secret".to_string(), path_prefix: "phishloop/rotated".to_string() }
    }
}

/// A new credential's record in Vault: its fields, and what it replaces.
#[derive(Debug, Clone, Default)]
pub(crate) struct Record {
    /// Field names and values, the secret among them.
    pub fields: BTreeMap<String, Secret>,
}

impl Record {
    /// Returns the value of a field that is not secret (an id, a name).
    pub fn plain(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(Secret::expose)
    }
}

/// The location of a written record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored {
    /// `vault:{mount}/{path}`, for outcome details.
    pub location: String,
    pub version: Option<u64>,
}

impl std::fmt::Display for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.version {
            Some(version) => write!(f, "{} (version {version})", self.location),
            None => f.write_str(&self.location),
        }
    }
}

/// Writes and reads rotation records in a Vault KV version 2 mount.
#[derive(Debug)]
pub(crate) struct SecretStore {
    base: Url,
    http: Http,
    token: Secret,
    namespace: Option<String>,
    mount: String,
    prefix: Vec<String>,
}

impl SecretStore {
    /// Builds the store on the Vault connection of `vault`.
    ///
    /// # Errors
    ///
    /// Returns [`ConfigError`] for an invalid URL, an unreadable token, or
    /// a mount or path prefix that is not made of plain path segments.
    pub fn new(vault: &VaultConfig, rotation: &RotationConfig) -> Result<Self, ConfigError> {
        let mount = rotation.mount.trim_matches('/').to_string();
        if !is_plain_segment(&mount) {
            return Err(ConfigError::InvalidSetting {
                table: "rotation",
                field: "mount",
                value: rotation.mount.clone(),
                reason: "name one KV version 2 mount of letters, digits, '-', '_' and '.', such as \"secret\""
                    .to_string(),
            });
        }
        let prefix: Vec<String> =
            rotation.path_prefix.split('/').filter(|s| !s.is_empty()).map(str::to_string).collect();
        if !prefix.iter().all(|segment| is_plain_segment(segment)) {
            return Err(ConfigError::InvalidSetting {
                table: "rotation",
                field: "path_prefix",
                value: rotation.path_prefix.clone(),
                reason: "use path segments of letters, digits, '-', '_' and '.', separated by '/', without '.' or \
                         '..', such as \"phishloop/rotated\""
                    .to_string(),
            });
        }
        let name = format!("{} (rotation)", vault.name);
        Ok(SecretStore {
            base: parse_base_url(&vault.name, "base_url", &vault.base_url)?,
            http: Http::new(&name, &vault.http)?,
            token: read_secret(&vault.name, "token", &vault.token)?,
            namespace: vault.namespace.clone(),
            mount,
            prefix,
        })
    }

    /// Returns the path segments, under the mount, of `credential`'s record.
    fn path(&self, credential: &NhiCredential) -> Vec<String> {
        let mut path = self.prefix.clone();
        path.push(credential.provider.as_str().to_string());
        path.push(safe_segment(&credential.id));
        path
    }

    /// `vault:{mount}/{path}` of `credential`'s record.
    pub fn location(&self, credential: &NhiCredential) -> String {
        format!("vault:{}/{}", self.mount, self.path(credential).join("/"))
    }

    fn call(&self, method: Method, credential: &NhiCredential) -> Call {
        let mut segments = vec!["v1".to_string(), self.mount.clone(), "data".to_string()];
        segments.extend(self.path(credential));
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let auth =
            Auth::Header { name: HeaderName::from_static("x-vault-token"), prefix: "", value: self.token.clone() };
        let mut call = Call::new(method, endpoint(&self.base, &segments), auth);
        if let Some(namespace) = &self.namespace {
            call = call.header(HeaderName::from_static("x-vault-namespace"), namespace);
        }
        call
    }

    /// Reads the latest version of `credential`'s record; `None` when
    /// there is none, or when its latest version was deleted.
    pub async fn read(&self, credential: &NhiCredential, tally: &Tally) -> Result<Option<Record>, CallError> {
        #[derive(Deserialize)]
        struct Reply {
            data: Data,
        }
        #[derive(Deserialize)]
        struct Data {
            data: Option<BTreeMap<String, serde_json::Value>>,
        }

        let reply = match self.http.send(&self.call(Method::GET, credential), tally).await {
            Ok(reply) => reply,
            Err(CallError::NotFound { .. }) => return Ok(None),
            Err(error) => return Err(error),
        };
        // The record contains a secret, so a reply that does not decode is
        // described without its body.
        let parsed: Reply = serde_json::from_str(&reply.body)
            .map_err(|error| CallError::Decode(format!("the KV reply is not a version 2 read ({error})")))?;
        let Some(data) = parsed.data.data else { return Ok(None) };
        let fields =
            data.into_iter().filter_map(|(name, value)| value.as_str().map(|text| (name, Secret::new(text)))).collect();
        Ok(Some(Record { fields }))
    }

    /// Writes `record` as the new latest version of `credential`'s record.
    pub async fn write(&self, credential: &NhiCredential, record: &Record, tally: &Tally) -> Result<Stored, CallError> {
        #[derive(Deserialize)]
        struct Reply {
            data: Option<Metadata>,
        }
        #[derive(Deserialize)]
        struct Metadata {
            version: Option<u64>,
        }

        let data: serde_json::Map<String, serde_json::Value> = record
            .fields
            .iter()
            .map(|(name, value)| (name.clone(), serde_json::Value::String(value.expose().to_string())))
            .collect();
        let call = self.call(Method::POST, credential).json(serde_json::json!({ "data": data }));
        let reply = self.http.send(&call, tally).await?;
        let version = serde_json::from_str::<Reply>(&reply.body).ok().and_then(|r| r.data?.version);
        Ok(Stored { location: self.location(credential), version })
    }
}

/// A new credential as its provider issued it.
pub(crate) struct Issued {
    /// The provider's id of the new credential (an access key id, a
    /// password `keyId`); not secret.
    pub id: String,
    /// The fields the service that uses it needs, the secret among them.
    pub fields: Vec<(&'static str, Secret)>,
}

/// A provider that can issue a credential beside an old one and retire
/// the old one afterwards.
#[async_trait]
pub(crate) trait Issuer: Sync {
    /// Issues a new credential for the same user or application as `old`.
    /// A request that issues it must be sent with [`Call::once`].
    async fn issue(&self, old: &NhiCredential, tally: &Tally) -> Result<Issued, Failure>;
    /// Deletes a credential that `issue` returned and that could not be
    /// stored, so that no valid secret is left outside the store.
    async fn discard(&self, old: &NhiCredential, new_id: &str, tally: &Tally) -> Result<(), Failure>;
    /// Retires `old`: deactivates or removes it. Returns what was done.
    async fn retire(&self, old: &NhiCredential, tally: &Tally) -> Result<String, Failure>;
}

/// Rotates `old` (described as `what`): resumes an earlier try whose
/// record names `old`, or issues a new credential and stores it; then
/// retires `old`. Nothing is retired unless the new secret is stored.
pub(crate) async fn rotate(
    issuer: &impl Issuer,
    store: Option<&SecretStore>,
    old: &NhiCredential,
    what: &str,
    tally: &Tally,
) -> Result<String, Failure> {
    let Some(store) = store else {
        return Err(Failure::Failed(format!(
            "cannot rotate {what}: rotate_credentials needs [identity.rotation] and [identity.vault] to keep the new \
             secret; nothing was changed. Configure them, or use revoke_credentials"
        )));
    };
    let location = store.location(old);
    let permission = "read, create and update on the rotation path";
    let earlier = store
        .read(old, tally)
        .await
        .map_err(|error| Failure::from_call(&format!("the rotation record {location}"), permission, error))?
        .filter(|record| record.plain(REPLACES) == Some(old.reference.as_str()));

    let (new_id, stored) = match earlier {
        Some(record) => {
            let id = record.plain(NEW_ID).unwrap_or("(id not recorded)").to_string();
            (id, format!("{location}, written by an earlier try"))
        }
        None => {
            let issued = issuer.issue(old, tally).await?;
            let mut record = Record::default();
            record.fields.insert(NEW_ID.to_string(), Secret::new(issued.id.clone()));
            record.fields.insert(REPLACES.to_string(), Secret::new(old.reference.clone()));
            record.fields.insert("provider".to_string(), Secret::new(old.provider.as_str()));
            record.fields.insert("issued_by".to_string(), Secret::new("phishloop"));
            for (name, value) in issued.fields {
                record.fields.insert(name.to_string(), value);
            }
            match store.write(old, &record, tally).await {
                Ok(stored) => (issued.id, stored.to_string()),
                Err(error) => {
                    let cleanup = match issuer.discard(old, &issued.id, tally).await {
                        Ok(()) => format!("the new credential {} was deleted again", issued.id),
                        Err(Failure::Failed(reason) | Failure::Unsupported(reason)) => format!(
                            "deleting the new credential {} failed too ({reason}); delete it by hand",
                            issued.id
                        ),
                    };
                    let failure = Failure::from_call(&format!("the rotation record {location}"), permission, error);
                    let reason = match failure {
                        Failure::Failed(reason) | Failure::Unsupported(reason) => reason,
                    };
                    return Err(Failure::Failed(format!("{reason}; {cleanup}; {what} is unchanged and still valid")));
                }
            }
        }
    };
    let retired = issuer.retire(old, tally).await?;
    Ok(format!("rotated {what}: new credential {new_id} stored at {stored}; {retired}"))
}

/// True for a path segment that a URL writes as is and that is neither `.`
/// nor `..`, so the path Vault receives is the path the outcome names.
fn is_plain_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !segment.chars().all(|c| c == '.')
}

/// Keeps letters, digits, `-`, `_` and `.` of an inventory id, so that an
/// id such as `aws:deploy:AKIA...` makes one path segment.
fn safe_segment(id: &str) -> String {
    let segment: String =
        id.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect();
    if segment.trim_matches('.').is_empty() { "_".to_string() } else { segment }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_and_prefix_are_plain_segments() {
        let vault = VaultConfig {
            name: "vault".to_string(),
            base_url: "http://127.0.0.1:8200".to_string(),
            token: phishloop_response::SecretSource::Env("PATH".to_string()),
            namespace: None,
            http: crate::HttpConfig::default(),
        };
        let with = |mount: &str, path_prefix: &str| {
            SecretStore::new(&vault, &RotationConfig { mount: mount.to_string(), path_prefix: path_prefix.to_string() })
        };

        assert!(with("secret", "phishloop/rotated").is_ok());
        let traversal = with("secret", "../../sys/policy").expect_err("a '..' segment");
        assert!(traversal.to_string().starts_with("[identity.rotation]: invalid path_prefix"), "{traversal}");
        assert!(with("my secrets?x=1", "a").is_err());
        assert!(with("a/b", "a").is_err());
    }

    #[test]
    fn inventory_ids_make_one_segment() {
        assert_eq!(
            safe_segment("aws:deploy-ci:AKIAEXAMPLE:dev@corp.example"),
            "aws_deploy-ci_AKIAEXAMPLE_dev_corp.example"
        );
        assert_eq!(safe_segment("../.."), ".._..");
        assert_eq!(safe_segment(".."), "_");
    }
}
