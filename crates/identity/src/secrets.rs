//! Connectors that revoke non-human credentials from the [`Inventory`]:
//! HashiCorp Vault leases, AWS IAM access keys and GitHub fine-grained
//! personal access tokens. Each handles revoke_credentials and
//! rotate_credentials for a person target (every credential of its
//! provider that the person owns) or a secret target (the credential whose
//! secret hash matches).
//!
//! Rotation differs per provider. AWS issues a new access key, which goes
//! to the rotation store, then deactivates the old one. A Vault lease is a
//! dynamic secret that its consumer reads again from Vault, so rotating it
//! revokes it. GitHub issues fine-grained tokens only to their owner in the
//! browser, so a rotation of a GitHub token fails with that reason.
//!
//! A 404 here is a failure (`target missing`). These APIs return 404 both
//! for a credential that is already gone and for a wrong organisation,
//! user or mount. Reporting a revocation that did not happen is worse than
//! asking someone to check.

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use phishloop_response::{ActionKind, Connector, Operation, Outcome, OutcomeStatus, PlannedAction, SecretSource};
use reqwest::header::{AUTHORIZATION, HeaderName};
use reqwest::{Method, Url};
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::http::{Auth, Call, Http, HttpConfig, Tally, endpoint, parse_base_url};
use crate::listing::{AwsListing, GithubListing, Listed, VaultListing, listed_credential, xml_members, xml_values};
use crate::nhi::{Inventory, NhiCredential, NhiKind, Provider, credentials_for};
use crate::rotation::{Issued, Issuer, SecretStore, rotate};
use crate::runner::{Failure, Ledger, run, unsupported};
use crate::secret::{Secret, read_secret};

/// Runs `act` (a revocation or a rotation) on every inventory credential of
/// `provider` that the action covers. A failure does not stop the others: the
/// outcome fails, its details start with the first failure (so with its
/// fixed phrase, see runner.rs) and then list what was done.
pub(crate) async fn for_each_credential<'a, F, Fut>(
    inventory: &'a Inventory,
    action: &'a PlannedAction,
    provider: Provider,
    act: F,
) -> Result<String, Failure>
where
    F: Fn(NhiCredential) -> Fut,
    Fut: std::future::Future<Output = Result<String, Failure>>,
{
    let credentials = credentials_for(inventory, action, provider)?;
    if credentials.is_empty() {
        return Ok(format!("no {} credential in the inventory for {}", provider.as_str(), action.target.canonical()));
    }
    let total = credentials.len();
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for credential in credentials {
        match act(credential).await {
            Ok(details) => done.push(details),
            Err(Failure::Failed(details) | Failure::Unsupported(details)) => failed.push(details),
        }
    }
    if failed.is_empty() {
        return Ok(done.join("; "));
    }
    let mut details = failed.join("; ");
    if total > 1 {
        details.push_str(&format!(" ({} of {total} credentials failed)", failed.len()));
    }
    if !done.is_empty() {
        details.push_str(&format!("; done for the others: {}", done.join("; ")));
    }
    Err(Failure::Failed(details))
}

fn undo_unsupported(name: &str, action: &PlannedAction) -> Outcome {
    let details = format!("{} cannot be undone", action.kind);
    Outcome::new(name, action, Operation::Undo, OutcomeStatus::Unsupported, details)
}

/// Configuration of a [`VaultConnector`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultConfig {
    #[serde(default = "default_vault_name")]
    pub name: String,
    /// Vault's address, such as `https://vault.example.com:8200`.
    pub base_url: String,
    /// Source of the Vault token. The token needs `update` on
    /// `sys/leases/revoke`.
    pub token: SecretSource,
    /// Vault Enterprise namespace, sent as `X-Vault-Namespace`.
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub http: HttpConfig,
}

fn default_vault_name() -> String {
    "vault".to_string()
}

/// Revokes Vault leases: `PUT /v1/sys/leases/revoke` with `lease_id`.
pub struct VaultConnector {
    name: String,
    base: Url,
    http: Http,
    token: Secret,
    namespace: Option<String>,
    inventory: Arc<Inventory>,
    ledger: Ledger,
}

impl VaultConnector {
    /// Builds the connector and reads its token.
    ///
    /// # Errors
    ///
    /// Returns [`ConfigError`] for an invalid URL or an unreadable token.
    pub fn new(config: &VaultConfig, inventory: Arc<Inventory>) -> Result<Self, ConfigError> {
        let name = config.name.clone();
        Ok(VaultConnector {
            base: parse_base_url(&name, "base_url", &config.base_url)?,
            http: Http::new(&name, &config.http)?,
            token: read_secret(&name, "token", &config.token)?,
            namespace: config.namespace.clone(),
            inventory,
            ledger: Ledger::default(),
            name,
        })
    }

    async fn revoke(&self, credential: NhiCredential, tally: &Tally) -> Result<String, Failure> {
        let auth =
            Auth::Header { name: HeaderName::from_static("x-vault-token"), prefix: "", value: self.token.clone() };
        let url = endpoint(&self.base, &["v1", "sys", "leases", "revoke"]);
        let mut call = Call::new(Method::PUT, url, auth).json(serde_json::json!({ "lease_id": credential.reference }));
        if let Some(namespace) = &self.namespace {
            call = call.header(HeaderName::from_static("x-vault-namespace"), namespace);
        }
        let what = format!("lease {} (inventory id {})", credential.reference, credential.id);
        self.http
            .send(&call, tally)
            .await
            .map_err(|e| Failure::from_call(&what, "a policy with update on sys/leases/revoke", e))?;
        Ok(format!("revoked {what}"))
    }

    /// Lists the leases under each prefix of `listing`, and under its
    /// sub-prefixes up to three levels down (`GET
    /// /v1/sys/leases/lookup/{prefix}?list=true`, which needs `list` on
    /// `sys/leases/lookup`). Each lease belongs to its prefix's owner.
    pub async fn list_leases(&self, listing: &VaultListing) -> Listed {
        let tally = Tally::default();
        let mut listed = Listed::default();
        for (prefix, owner) in &listing.prefixes {
            let mut pending = vec![(prefix.trim_start_matches('/').to_string(), 0u32)];
            while let Some((current, depth)) = pending.pop() {
                let keys = match self.lease_keys(&current, &tally).await {
                    Ok(keys) => keys,
                    Err(error) => {
                        listed.problem(format!("listing the Vault leases under {current} failed: {error}"));
                        continue;
                    }
                };
                for key in keys {
                    let lease = format!("{current}{key}");
                    if key.ends_with('/') {
                        if depth < 3 {
                            pending.push((lease, depth + 1));
                        }
                        continue;
                    }
                    let reaches = format!("leases under {prefix}");
                    listed.credentials.push(listed_credential(
                        Provider::Vault,
                        NhiKind::Token,
                        owner,
                        &lease,
                        None,
                        reaches,
                    ));
                }
            }
        }
        listed
    }

    /// Returns the keys under one lease prefix; none when Vault has no
    /// lease there (404).
    async fn lease_keys(&self, prefix: &str, tally: &Tally) -> Result<Vec<String>, crate::http::CallError> {
        #[derive(Deserialize)]
        struct Reply {
            data: Keys,
        }
        #[derive(Deserialize)]
        struct Keys {
            #[serde(default)]
            keys: Vec<String>,
        }

        let auth =
            Auth::Header { name: HeaderName::from_static("x-vault-token"), prefix: "", value: self.token.clone() };
        let mut segments = vec!["v1", "sys", "leases", "lookup"];
        segments.extend(prefix.split('/').filter(|segment| !segment.is_empty()));
        let mut url = endpoint(&self.base, &segments);
        if prefix.ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        let mut call = Call::new(Method::GET, url, auth).query("list", "true");
        if let Some(namespace) = &self.namespace {
            call = call.header(HeaderName::from_static("x-vault-namespace"), namespace);
        }
        match self.http.send(&call, tally).await {
            Ok(reply) => Ok(reply.json::<Reply>()?.data.keys),
            Err(crate::http::CallError::NotFound { .. }) => Ok(Vec::new()),
            Err(error) => Err(error),
        }
    }
}

#[async_trait]
impl Connector for VaultConnector {
    fn name(&self) -> &str {
        &self.name
    }

    async fn execute(&self, action: &PlannedAction) -> Outcome {
        let tally = Tally::default();
        let work = async {
            match action.kind {
                ActionKind::RevokeCredentials => {
                    for_each_credential(&self.inventory, action, Provider::Vault, |c| self.revoke(c, &tally)).await
                }
                ActionKind::RotateCredentials => {
                    if credentials_for(&self.inventory, action, Provider::Vault)?.is_empty() {
                        return Ok(format!("no vault credential in the inventory for {}", action.target.canonical()));
                    }
                    let revoked =
                        for_each_credential(&self.inventory, action, Provider::Vault, |c| self.revoke(c, &tally));
                    let done = revoked.await?;
                    Ok(format!("{done}; a revoked lease's consumer reads a new secret from Vault"))
                }
                _ => Err(unsupported(&self.name, action)),
            }
        };
        run(&self.name, &self.ledger, action, Operation::Execute, &tally, work).await
    }

    async fn undo(&self, action: &PlannedAction) -> Outcome {
        undo_unsupported(&self.name, action)
    }
}

/// Configuration of a [`GithubConnector`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubConfig {
    #[serde(default = "default_github_name")]
    pub name: String,
    /// REST API root, such as `https://api.github.com`.
    pub base_url: String,
    /// Source of the token. GitHub accepts only GitHub App
    /// installation tokens for this endpoint, with the organisation
    /// permission "Personal access tokens" set to write.
    pub token: SecretSource,
    #[serde(default)]
    pub http: HttpConfig,
}

fn default_github_name() -> String {
    "github".to_string()
}

/// Revokes the organisation access of fine-grained personal access
/// tokens: `POST /orgs/{org}/personal-access-tokens/{pat_id}` with
/// `{"action": "revoke"}`.
///
/// NOTE: classic tokens and OAuth app tokens are not covered, because
/// GitHub's revocation endpoints for them need the token value, which the
/// inventory never stores.
pub struct GithubConnector {
    name: String,
    base: Url,
    http: Http,
    token: Secret,
    inventory: Arc<Inventory>,
    ledger: Ledger,
}

impl GithubConnector {
    /// Builds the connector and reads its token.
    ///
    /// # Errors
    ///
    /// Returns [`ConfigError`] for an invalid URL or an unreadable token.
    pub fn new(config: &GithubConfig, inventory: Arc<Inventory>) -> Result<Self, ConfigError> {
        let name = config.name.clone();
        Ok(GithubConnector {
            base: parse_base_url(&name, "base_url", &config.base_url)?,
            http: Http::new(&name, &config.http)?,
            token: read_secret(&name, "token", &config.token)?,
            inventory,
            ledger: Ledger::default(),
            name,
        })
    }

    async fn revoke(&self, credential: NhiCredential, tally: &Tally) -> Result<String, Failure> {
        let org = credential.parent.clone().unwrap_or_default();
        let url = endpoint(&self.base, &["orgs", &org, "personal-access-tokens", &credential.reference]);
        let call = Call::new(Method::POST, url, Auth::Bearer(self.token.clone()))
            .header(HeaderName::from_static("accept"), "application/vnd.github+json")
            .header(HeaderName::from_static("x-github-api-version"), "2022-11-28")
            .json(serde_json::json!({ "action": "revoke" }));
        let what = format!("token {} in organisation {org} (inventory id {})", credential.reference, credential.id);
        self.http.send(&call, tally).await.map_err(|e| {
            Failure::from_call(&what, "a GitHub App installation token with personal access tokens: write", e)
        })?;
        Ok(format!("revoked the organisation access of {what}"))
    }

    /// Lists the fine-grained personal access tokens that have access to
    /// each organisation of `listing` (`GET /orgs/{org}/personal-access-tokens`,
    /// 100 a page, at most 100 pages).
    pub async fn list_tokens(&self, listing: &GithubListing) -> Listed {
        #[derive(Deserialize)]
        struct Grant {
            id: u64,
            owner: Owner,
            #[serde(default)]
            repository_selection: Option<String>,
        }
        #[derive(Deserialize)]
        struct Owner {
            login: String,
        }

        let tally = Tally::default();
        let mut listed = Listed::default();
        for org in &listing.organizations {
            for page in 1..=100u32 {
                let url = endpoint(&self.base, &["orgs", org, "personal-access-tokens"]);
                let call = Call::new(Method::GET, url, Auth::Bearer(self.token.clone()))
                    .header(HeaderName::from_static("accept"), "application/vnd.github+json")
                    .header(HeaderName::from_static("x-github-api-version"), "2022-11-28")
                    .query("per_page", "100")
                    .query("page", &page.to_string());
                let grants = match self.http.send(&call, &tally).await.and_then(|reply| reply.json::<Vec<Grant>>()) {
                    Ok(grants) => grants,
                    Err(error) => {
                        listed.problem(format!(
                            "listing the tokens of GitHub organisation {org} failed: {error}; the token needs \
                             personal access tokens: read"
                        ));
                        break;
                    }
                };
                let last_page = grants.len() < 100;
                for grant in grants {
                    let Some(owner) = listing.owner_of(&grant.owner.login) else {
                        listed.problem(format!(
                            "GitHub token {} of {} left out: the login has no address; add it to owner_emails",
                            grant.id, grant.owner.login
                        ));
                        continue;
                    };
                    let reaches = format!("{org} repositories: {}", grant.repository_selection.unwrap_or_default());
                    let reference = grant.id.to_string();
                    listed.credentials.push(listed_credential(
                        Provider::Github,
                        NhiKind::Token,
                        &owner,
                        &reference,
                        Some(org),
                        reaches,
                    ));
                }
                if last_page {
                    break;
                }
            }
        }
        listed
    }
}

#[async_trait]
impl Connector for GithubConnector {
    fn name(&self) -> &str {
        &self.name
    }

    async fn execute(&self, action: &PlannedAction) -> Outcome {
        let tally = Tally::default();
        let work = async {
            match action.kind {
                ActionKind::RevokeCredentials => {
                    for_each_credential(&self.inventory, action, Provider::Github, |c| self.revoke(c, &tally)).await
                }
                ActionKind::RotateCredentials => {
                    let tokens = credentials_for(&self.inventory, action, Provider::Github)?;
                    if tokens.is_empty() {
                        return Ok(format!("no github credential in the inventory for {}", action.target.canonical()));
                    }
                    let ids: Vec<String> = tokens.iter().map(|token| token.reference.clone()).collect();
                    Err(Failure::Failed(format!(
                        "GitHub issues fine-grained tokens only to their owner, so token {} was not rotated; \
                         revoke it with revoke_credentials, or ask its owner to regenerate it",
                        ids.join(", ")
                    )))
                }
                _ => Err(unsupported(&self.name, action)),
            }
        };
        run(&self.name, &self.ledger, action, Operation::Execute, &tally, work).await
    }

    async fn undo(&self, action: &PlannedAction) -> Outcome {
        undo_unsupported(&self.name, action)
    }
}

/// Configuration of an [`AwsIamConnector`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsIamConfig {
    #[serde(default = "default_aws_name")]
    pub name: String,
    /// IAM query endpoint, such as `https://iam.amazonaws.com/`.
    pub base_url: String,
    /// Signing region; IAM signs in `us-east-1` in the standard partition.
    #[serde(default = "default_aws_region")]
    pub region: String,
    /// Access key id of the caller; it needs `iam:UpdateAccessKey`.
    pub access_key_id: String,
    /// Source of the secret access key.
    pub secret_access_key: SecretSource,
    #[serde(default)]
    pub http: HttpConfig,
}

fn default_aws_name() -> String {
    "aws".to_string()
}

fn default_aws_region() -> String {
    "us-east-1".to_string()
}

/// Deactivates IAM access keys with the query API action
/// `UpdateAccessKey` and `Status=Inactive`, signed with Signature
/// Version 4. Deactivating (not deleting) keeps the key for the owner to
/// review; undo of a revocation reactivates it. Rotation first issues a
/// new key (`CreateAccessKey`) and stores it.
pub struct AwsIamConnector {
    name: String,
    base: Url,
    region: String,
    http: Http,
    access_key_id: String,
    secret_access_key: Secret,
    inventory: Arc<Inventory>,
    rotation: Option<Arc<SecretStore>>,
    ledger: Ledger,
}

/// Version of the IAM query API.
const IAM_API_VERSION: &str = "2010-05-08";

impl AwsIamConnector {
    /// Builds the connector and reads its secret access key.
    ///
    /// # Errors
    ///
    /// Returns [`ConfigError`] for an invalid URL or an unreadable key.
    pub fn new(config: &AwsIamConfig, inventory: Arc<Inventory>) -> Result<Self, ConfigError> {
        let name = config.name.clone();
        Ok(AwsIamConnector {
            base: parse_base_url(&name, "base_url", &config.base_url)?,
            region: config.region.clone(),
            http: Http::new(&name, &config.http)?,
            access_key_id: config.access_key_id.clone(),
            secret_access_key: read_secret(&name, "secret_access_key", &config.secret_access_key)?,
            inventory,
            rotation: None,
            ledger: Ledger::default(),
            name,
        })
    }

    /// Stores the keys that rotation issues in `store`.
    pub(crate) fn with_rotation(mut self, store: Arc<SecretStore>) -> Self {
        self.rotation = Some(store);
        self
    }

    fn describe(credential: &NhiCredential) -> String {
        let user = credential.parent.as_deref().unwrap_or_default();
        format!("access key {} of IAM user {user} (inventory id {})", credential.reference, credential.id)
    }

    /// Rotates every access key of the inventory that the action covers.
    async fn rotate_all(&self, action: &PlannedAction, tally: &Tally) -> Result<String, Failure> {
        let store = self.rotation.as_deref();
        for_each_credential(&self.inventory, action, Provider::Aws, |credential| async move {
            rotate(self, store, &credential, &Self::describe(&credential), tally).await
        })
        .await
    }

    async fn set_status(&self, credential: NhiCredential, status: &str, tally: &Tally) -> Result<String, Failure> {
        let user = credential.parent.clone().unwrap_or_default();
        let what = Self::describe(&credential);
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("Action", "UpdateAccessKey")
            .append_pair("Version", IAM_API_VERSION)
            .append_pair("AccessKeyId", &credential.reference)
            .append_pair("Status", status)
            .append_pair("UserName", &user)
            .finish();
        let call = self.signed_post(body.into_bytes()).map_err(Failure::Failed)?;
        self.http.send(&call, tally).await.map_err(|e| Failure::from_call(&what, "iam:UpdateAccessKey", e))?;
        Ok(format!("set {what} to {status}"))
    }

    /// Lists the access keys of every IAM user whose tag `owner_tag` names
    /// an owner (`ListUsers`, `ListUserTags`, `ListAccessKeys`; the caller
    /// needs `iam:ListUsers`, `iam:ListUserTags` and `iam:ListAccessKeys`).
    pub async fn list_access_keys(&self, listing: &AwsListing) -> Listed {
        let tally = Tally::default();
        let mut listed = Listed::default();
        let users = match self.query_all("ListUsers", &[], "UserName", &tally).await {
            Ok(users) => users,
            Err(error) => {
                listed.problem(format!("listing the IAM users failed: {error}; allow iam:ListUsers"));
                return listed;
            }
        };
        for user in users {
            let tags = match self.query("ListUserTags", &[("UserName", &user)], &tally).await {
                Ok(xml) => xml,
                Err(error) => {
                    listed.problem(format!("listing the tags of IAM user {user} failed: {error}"));
                    continue;
                }
            };
            let owner = xml_members(&tags).into_iter().find_map(|member| {
                let key = xml_values(member, "Key").into_iter().next()?;
                key.eq_ignore_ascii_case(&listing.owner_tag).then(|| xml_values(member, "Value").into_iter().next())?
            });
            let Some(owner) = owner.filter(|owner| owner.contains('@')) else {
                continue;
            };
            let keys = match self.query_all("ListAccessKeys", &[("UserName", &user)], "AccessKeyId", &tally).await {
                Ok(keys) => keys,
                Err(error) => {
                    listed.problem(format!("listing the access keys of IAM user {user} failed: {error}"));
                    continue;
                }
            };
            for key in keys {
                let reaches = format!("the permissions of IAM user {user}");
                listed.credentials.push(listed_credential(
                    Provider::Aws,
                    NhiKind::ApiKey,
                    &owner,
                    &key,
                    Some(&user),
                    reaches,
                ));
            }
        }
        listed
    }

    /// Runs a listing action through every page (`Marker` while
    /// `IsTruncated` is true, at most 100 pages) and returns the values of
    /// `field` in its members.
    async fn query_all(
        &self,
        action: &str,
        parameters: &[(&str, &str)],
        field: &str,
        tally: &Tally,
    ) -> Result<Vec<String>, crate::http::CallError> {
        let mut values = Vec::new();
        let mut marker: Option<String> = None;
        for _ in 0..100 {
            let mut all: Vec<(&str, &str)> = parameters.to_vec();
            if let Some(marker) = &marker {
                all.push(("Marker", marker));
            }
            let xml = self.query(action, &all, tally).await?;
            for member in xml_members(&xml) {
                values.extend(xml_values(member, field));
            }
            let truncated = xml_values(&xml, "IsTruncated").first().is_some_and(|value| value == "true");
            marker = xml_values(&xml, "Marker").into_iter().next();
            if !truncated || marker.is_none() {
                break;
            }
        }
        Ok(values)
    }

    /// Sends one signed IAM query action and returns the XML reply.
    async fn query(
        &self,
        action: &str,
        parameters: &[(&str, &str)],
        tally: &Tally,
    ) -> Result<String, crate::http::CallError> {
        // The serializer is not Send, so it is dropped before the request.
        let body = {
            let mut body = url::form_urlencoded::Serializer::new(String::new());
            body.append_pair("Action", action).append_pair("Version", IAM_API_VERSION);
            for (name, value) in parameters {
                body.append_pair(name, value);
            }
            body.finish()
        };
        let call = self.signed_post(body.into_bytes()).map_err(crate::http::CallError::Token)?;
        Ok(self.http.send(&call, tally).await?.body)
    }

    /// Builds the POST with its SigV4 `Authorization` and `X-Amz-Date`
    /// headers. The signature is valid for five minutes, longer than the
    /// retries of one request with the default back-off.
    fn signed_post(&self, body: Vec<u8>) -> Result<Call, String> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        use aws_sigv4::sign::v4;

        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let identity = aws_credential_types::Credentials::new(
            self.access_key_id.clone(),
            self.secret_access_key.expose().to_string(),
            None,
            None,
            "phishloop-config",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("iam")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|error| format!("failed to prepare the AWS signature: {error}"))?
            .into();
        let headers = [("content-type", content_type)];
        let signable =
            SignableRequest::new("POST", self.base.as_str(), headers.into_iter(), SignableBody::Bytes(&body))
                .map_err(|error| format!("failed to prepare the AWS signature: {error}"))?;
        let (instructions, _) =
            sign(signable, &params).map_err(|error| format!("failed to sign the AWS request: {error}"))?.into_parts();

        let mut call = Call::new(Method::POST, self.base.clone(), Auth::None)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .raw(body);
        for (name, value) in instructions.headers() {
            let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else { continue };
            if name == AUTHORIZATION {
                call.auth = Auth::Header { name, prefix: "", value: Secret::new(value) };
            } else {
                call = call.header(name, value);
            }
        }
        Ok(call)
    }
}

#[async_trait]
impl Connector for AwsIamConnector {
    fn name(&self) -> &str {
        &self.name
    }

    async fn execute(&self, action: &PlannedAction) -> Outcome {
        let tally = Tally::default();
        let work = async {
            match action.kind {
                ActionKind::RevokeCredentials => {
                    for_each_credential(&self.inventory, action, Provider::Aws, |c| {
                        self.set_status(c, "Inactive", &tally)
                    })
                    .await
                }
                ActionKind::RotateCredentials => self.rotate_all(action, &tally).await,
                _ => Err(unsupported(&self.name, action)),
            }
        };
        run(&self.name, &self.ledger, action, Operation::Execute, &tally, work).await
    }

    fn can_undo(&self, action: &PlannedAction) -> bool {
        action.kind == ActionKind::RevokeCredentials
    }

    /// Reactivates the keys that execute deactivated.
    async fn undo(&self, action: &PlannedAction) -> Outcome {
        if !self.can_undo(action) {
            return undo_unsupported(&self.name, action);
        }
        let tally = Tally::default();
        let work =
            for_each_credential(&self.inventory, action, Provider::Aws, |c| self.set_status(c, "Active", &tally));
        run(&self.name, &self.ledger, action, Operation::Undo, &tally, work).await
    }
}

/// IAM allows two access keys per user, and `CreateAccessKey` returns 409
/// `LimitExceeded` for a third.
const AWS_KEY_LIMIT: &str = "<Code>LimitExceeded</Code>";

#[async_trait]
impl Issuer for AwsIamConnector {
    /// Checks that the old key still exists (`ListAccessKeys`), then issues
    /// a new key for its user (`CreateAccessKey`, sent once).
    async fn issue(&self, old: &NhiCredential, tally: &Tally) -> Result<Issued, Failure> {
        let user = old.parent.clone().unwrap_or_default();
        let what = Self::describe(old);
        let keys = self
            .query_all("ListAccessKeys", &[("UserName", &user)], "AccessKeyId", tally)
            .await
            .map_err(|e| Failure::from_call(&format!("IAM user {user}"), "iam:ListAccessKeys", e))?;
        if !keys.iter().any(|key| key == &old.reference) {
            return Err(Failure::Failed(format!(
                "target missing: {what} no longer exists, so no new key was issued; remove it from the inventory"
            )));
        }
        let others: Vec<&str> = keys.iter().filter(|key| **key != old.reference).map(String::as_str).collect();
        if !others.is_empty() {
            return Err(Failure::Failed(format!(
                "IAM user {user} already has two access keys, the most IAM allows, so {what} was not rotated; \
                 delete {} if it is not in use, then retry",
                others.join(" or ")
            )));
        }

        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("Action", "CreateAccessKey")
            .append_pair("Version", IAM_API_VERSION)
            .append_pair("UserName", &user)
            .finish();
        let call = self.signed_post(body.into_bytes()).map_err(Failure::Failed)?.once();
        let reply = match self.http.send(&call, tally).await {
            Ok(reply) => reply,
            Err(crate::http::CallError::Status { status: 409, detail }) if detail.contains(AWS_KEY_LIMIT) => {
                return Err(Failure::Failed(format!(
                    "IAM user {user} already has two access keys, the most IAM allows, so {what} was not rotated; \
                     delete the key not in use, then retry"
                )));
            }
            Err(error) => return Err(Failure::from_call(&format!("IAM user {user}"), "iam:CreateAccessKey", error)),
        };
        // The reply contains the new secret, so it is read field by field
        // and never quoted in an error.
        let id = xml_values(&reply.body, "AccessKeyId").into_iter().next();
        let secret = xml_values(&reply.body, "SecretAccessKey").into_iter().next();
        let (Some(id), Some(secret)) = (id, secret) else {
            return Err(Failure::Failed(format!(
                "the CreateAccessKey reply for IAM user {user} holds no AccessKeyId or SecretAccessKey; \
                 check IAM for a new key of that user and delete it"
            )));
        };
        Ok(Issued {
            id: id.clone(),
            fields: vec![
                ("access_key_id", Secret::new(id)),
                ("secret_access_key", Secret::new(secret)),
                ("iam_user", Secret::new(user)),
            ],
        })
    }

    async fn discard(&self, old: &NhiCredential, new_id: &str, tally: &Tally) -> Result<(), Failure> {
        let user = old.parent.clone().unwrap_or_default();
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("Action", "DeleteAccessKey")
            .append_pair("Version", IAM_API_VERSION)
            .append_pair("AccessKeyId", new_id)
            .append_pair("UserName", &user)
            .finish();
        let call = self.signed_post(body.into_bytes()).map_err(Failure::Failed)?;
        let what = format!("access key {new_id} of IAM user {user}");
        self.http.send(&call, tally).await.map_err(|e| Failure::from_call(&what, "iam:DeleteAccessKey", e))?;
        Ok(())
    }

    async fn retire(&self, old: &NhiCredential, tally: &Tally) -> Result<String, Failure> {
        self.set_status(old.clone(), "Inactive", tally).await
    }
}
