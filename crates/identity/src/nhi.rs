//! The inventory of non-human identities: service accounts, API keys, OAuth
//! apps and tokens, each with the person who owns it and what it reaches.
//!
//! When a credential lure reaches an owner, the credentials that person
//! owns are revoked or deactivated. When a secret turns up in a reported
//! message, the inventory finds it by the SHA-256 of its value. The
//! connectors that act on entries are [`crate::VaultConnector`],
//! [`crate::AwsIamConnector`], [`crate::GithubConnector`] and, for Entra
//! application secrets, [`crate::GraphConnector`].

use std::io::Read;

use serde::{Deserialize, Serialize};

/// The kind of non-human identity a credential belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NhiKind {
    ServiceAccount,
    ApiKey,
    OauthApp,
    Token,
}

/// The system that issued the credential and can revoke it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// Microsoft Entra ID application password (client secret).
    Entra,
    /// GitHub fine-grained personal access token with organisation access.
    Github,
    /// AWS IAM user access key.
    Aws,
    /// HashiCorp Vault lease.
    Vault,
    /// Anything else; listed for owners, never acted on.
    Other,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Entra => "entra",
            Provider::Github => "github",
            Provider::Aws => "aws",
            Provider::Vault => "vault",
            Provider::Other => "other",
        }
    }
}

/// One credential of the inventory.
///
/// `reference` and `parent` name the credential at its provider:
///
/// | provider | reference | parent |
/// |---|---|---|
/// | entra | password `keyId` (a GUID) | application object id |
/// | github | fine-grained token id (`pat_id`) | organisation login |
/// | aws | access key id (`AKIA...`) | IAM user name |
/// | vault | lease id | none |
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NhiCredential {
    /// Inventory id, unique.
    pub id: String,
    pub kind: NhiKind,
    /// Owner's email address; compared case-insensitively.
    pub owner: String,
    pub provider: Provider,
    pub reference: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Systems the credential reaches, in words (`prod billing database`).
    #[serde(default)]
    pub reaches: String,
    /// SHA-256 of the secret value, lowercase hex, when known; it lets a
    /// secret found in a message be matched without storing it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_sha256: Option<String>,
}

/// Errors of an inventory import.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InventoryError {
    #[error("inventory line {line}: {reason}")]
    Invalid { line: u64, reason: String },
    #[error("inventory: duplicate id {id:?} on line {line}; give every credential its own id")]
    DuplicateId { id: String, line: u64 },
    #[error("inventory: failed to read the input: {0}")]
    Read(String),
}

/// The inventory: every credential with its owner.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    credentials: Vec<NhiCredential>,
}

impl Inventory {
    /// Builds an inventory from credentials; ids must be unique.
    ///
    /// # Errors
    ///
    /// Returns the first invalid or duplicate entry.
    pub fn new(credentials: Vec<NhiCredential>) -> Result<Self, InventoryError> {
        let mut inventory = Inventory::default();
        for (index, credential) in credentials.into_iter().enumerate() {
            inventory.push(credential, index as u64 + 1)?;
        }
        Ok(inventory)
    }

    /// Reads CSV with a header row naming the fields `id, kind, owner,
    /// provider, reference, parent, reaches, secret_sha256`; the last three
    /// may be absent or empty. Line numbers in errors count the header as
    /// line 1.
    ///
    /// # Errors
    ///
    /// Returns the first malformed, invalid or duplicate row.
    pub fn from_csv(input: impl Read) -> Result<Self, InventoryError> {
        let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(input);
        let mut inventory = Inventory::default();
        for (index, row) in reader.deserialize::<CsvRow>().enumerate() {
            let line = index as u64 + 2;
            let row = row.map_err(|error| InventoryError::Invalid { line, reason: csv_reason(&error) })?;
            inventory.push(row.into_credential(), line)?;
        }
        Ok(inventory)
    }

    /// Reads a JSON array of credentials, or JSON Lines with one per line.
    ///
    /// # Errors
    ///
    /// Returns the first malformed, invalid or duplicate entry.
    pub fn from_json(input: &str) -> Result<Self, InventoryError> {
        if input.trim_start().starts_with('[') {
            let credentials: Vec<NhiCredential> = serde_json::from_str(input)
                .map_err(|error| InventoryError::Invalid { line: error.line() as u64, reason: error.to_string() })?;
            return Inventory::new(credentials);
        }
        let mut inventory = Inventory::default();
        for (index, text) in input.lines().enumerate() {
            let line = index as u64 + 1;
            if text.trim().is_empty() {
                continue;
            }
            let credential: NhiCredential = serde_json::from_str(text)
                .map_err(|error| InventoryError::Invalid { line, reason: error.to_string() })?;
            inventory.push(credential, line)?;
        }
        Ok(inventory)
    }

    /// Every credential.
    pub fn credentials(&self) -> &[NhiCredential] {
        &self.credentials
    }

    /// Returns the credentials owned by `address`, compared
    /// case-insensitively.
    pub fn credentials_owned_by(&self, address: &str) -> Vec<&NhiCredential> {
        let address = address.trim();
        self.credentials.iter().filter(|c| c.owner.eq_ignore_ascii_case(address)).collect()
    }

    /// Returns the credentials whose secret has this SHA-256 (lowercase or
    /// uppercase hex).
    pub fn credentials_with_secret(&self, sha256: &str) -> Vec<&NhiCredential> {
        self.credentials
            .iter()
            .filter(|c| c.secret_sha256.as_deref().is_some_and(|h| h.eq_ignore_ascii_case(sha256)))
            .collect()
    }

    /// Adds a credential listed from its system, unless the inventory has
    /// it already: the same provider, reference, parent and owner, or the
    /// same id. Listed credentials without an owner address are dropped.
    pub fn add_listed(&mut self, mut credential: NhiCredential) {
        credential.owner = credential.owner.trim().to_lowercase();
        let known = self.credentials.iter().any(|c| {
            c.id == credential.id
                || (c.provider == credential.provider
                    && c.reference == credential.reference
                    && c.parent == credential.parent
                    && c.owner == credential.owner)
        });
        if !known && validate(&credential).is_ok() {
            self.credentials.push(credential);
        }
    }

    fn push(&mut self, mut credential: NhiCredential, line: u64) -> Result<(), InventoryError> {
        credential.owner = credential.owner.trim().to_lowercase();
        validate(&credential).map_err(|reason| InventoryError::Invalid { line, reason })?;
        if self.credentials.iter().any(|c| c.id == credential.id) {
            return Err(InventoryError::DuplicateId { id: credential.id, line });
        }
        self.credentials.push(credential);
        Ok(())
    }
}

fn validate(credential: &NhiCredential) -> Result<(), String> {
    if credential.id.trim().is_empty() {
        return Err("id is empty; give every credential an id".to_string());
    }
    if !credential.owner.contains('@') {
        return Err(format!("owner {:?} is not an email address", credential.owner));
    }
    if credential.reference.trim().is_empty() {
        return Err(format!(
            "credential {:?}: reference is empty; write the key id, token id or lease id",
            credential.id
        ));
    }
    let needs_parent = matches!(credential.provider, Provider::Entra | Provider::Github | Provider::Aws);
    if needs_parent && credential.parent.as_deref().is_none_or(|p| p.trim().is_empty()) {
        return Err(format!(
            "credential {:?}: provider {} needs parent (the application object id, organisation or IAM user name)",
            credential.id,
            credential.provider.as_str()
        ));
    }
    if let Some(hash) = &credential.secret_sha256
        && (hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return Err(format!("credential {:?}: secret_sha256 {hash:?} is not 64 hex digits", credential.id));
    }
    Ok(())
}

#[derive(Deserialize)]
struct CsvRow {
    id: String,
    kind: NhiKind,
    owner: String,
    provider: Provider,
    reference: String,
    #[serde(default)]
    parent: Option<String>,
    #[serde(default)]
    reaches: Option<String>,
    #[serde(default)]
    secret_sha256: Option<String>,
}

impl CsvRow {
    fn into_credential(self) -> NhiCredential {
        let non_empty = |value: Option<String>| value.filter(|v| !v.is_empty());
        NhiCredential {
            id: self.id,
            kind: self.kind,
            owner: self.owner,
            provider: self.provider,
            reference: self.reference,
            parent: non_empty(self.parent),
            reaches: self.reaches.unwrap_or_default(),
            secret_sha256: non_empty(self.secret_sha256).map(|h| h.to_lowercase()),
        }
    }
}

fn csv_reason(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::Deserialize { err, .. } => format!(
            "{err}; kind is service_account, api_key, oauth_app or token and provider is entra, github, aws, vault or other"
        ),
        _ => error.to_string(),
    }
}

/// Returns the credentials of `provider` that a revoke_credentials or
/// rotate_credentials action covers:
/// those owned by a person target, or those whose secret hash matches a
/// secret target.
pub(crate) fn credentials_for(
    inventory: &Inventory,
    action: &phishloop_response::PlannedAction,
    provider: Provider,
) -> Result<Vec<NhiCredential>, crate::runner::Failure> {
    use phishloop_response::Target;

    let found: Vec<&NhiCredential> = match &action.target {
        Target::Person { address } => inventory.credentials_owned_by(address),
        Target::Secret { sha256, .. } => inventory.credentials_with_secret(sha256),
        other => {
            return Err(crate::runner::Failure::Unsupported(format!(
                "{} needs a person or secret target, not {}",
                action.kind,
                other.canonical()
            )));
        }
    };
    Ok(found.into_iter().filter(|c| c.provider == provider).cloned().collect())
}
