//! The `graph` connector: Microsoft Graph v1.0 with an application
//! (client credentials) token.
//!
//! | action | requests | permission |
//! |---|---|---|
//! | revoke_sessions | `POST /users/{upn}/revokeSignInSessions` | User.RevokeSessions.All |
//! | reset_password | `PATCH /users/{upn}` with `passwordProfile.forceChangePasswordNextSignIn` | User-PasswordProfile.ReadWrite.All |
//! | remove_mailbox_rules | `GET`, then `DELETE /users/{upn}/mailFolders/inbox/messageRules/{id}` of flagged rules | MailboxSettings.ReadWrite |
//! | purge_copies | `GET /users/{mailbox}/messages?$filter=internetMessageId eq '<id>'`, `POST .../messages/{id}/move` | Mail.ReadWrite |
//! | revoke_credentials | `GET /applications/{id}`, `POST /applications/{id}/removePassword` | Application.ReadWrite.OwnedBy |
//! | [`GraphConnector::url_click_events`] | `POST /security/runHuntingQuery` over `UrlClickEvents` | ThreatHunting.Read.All |
//!
//! Graph's `mailboxSettings` has no forwarding property, so mailbox-level
//! forwarding (Exchange's `ForwardingSmtpAddress`) is not read or removed
//! here; [`crate::RuleCheck::flag_forwarding`] checks a value read
//! elsewhere.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use phishloop_response::{
    ActionKind, Connector, Operation, Outcome, OutcomeStatus, PlannedAction, SecretSource, Target,
};
use reqwest::{Method, Url};
use serde::{Deserialize, Serialize};

use crate::auth::ClientCredentials;
use crate::error::ConfigError;
use crate::http::{Auth, Call, CallError, Http, HttpConfig, Tally, endpoint, parse_base_url};
use crate::listing::{Listed, listed_credential};
use crate::nhi::{Inventory, NhiCredential, NhiKind, Provider};
use crate::rotation::{Issued, Issuer, SecretStore, rotate};
use crate::rules::{FlaggedRule, MessageRule, RuleCheck};
use crate::runner::{Failure, Ledger, person, run, unsupported};
use crate::secret::{Secret, read_secret};
use crate::secrets::for_each_credential;

/// Configuration of a [`GraphConnector`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphConfig {
    /// The name steps use in `connector`.
    #[serde(default = "default_graph_name")]
    pub name: String,
    /// Graph root including the version, such as
    /// `https://graph.microsoft.com/v1.0`.
    pub base_url: String,
    /// The tenant's token endpoint, such as
    /// `https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`.
    pub token_url: String,
    /// Application (client) id of the app registration.
    pub client_id: String,
    /// Source of the client secret.
    pub client_secret: SecretSource,
    /// Scope of the token request.
    #[serde(default = "default_graph_scope")]
    pub scope: String,
    /// Mailboxes (user principal names) that purge_copies searches.
    #[serde(default)]
    pub purge_mailboxes: Vec<String>,
    /// Folder that purged copies are moved to: a well-known name
    /// (`deleteditems`, `recoverableitemsdeletions`) or a folder id.
    #[serde(default = "default_purge_folder")]
    pub purge_folder: String,
    /// Settings of the mailbox-rule check. Only attacker-like rules are
    /// removed.
    #[serde(default)]
    pub rules: RuleCheck,
    #[serde(default)]
    pub http: HttpConfig,
}

fn default_graph_name() -> String {
    "graph".to_string()
}

fn default_graph_scope() -> String {
    "https://graph.microsoft.com/.default".to_string()
}

fn default_purge_folder() -> String {
    "deleteditems".to_string()
}

/// An application password as `GET /applications/{id}` lists it; Graph
/// never returns the secret itself after creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordCredential {
    pub key_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub end_date_time: Option<String>,
    #[serde(default)]
    pub hint: Option<String>,
}

/// Carries out identity and mailbox actions through Microsoft Graph.
pub struct GraphConnector {
    name: String,
    base: Url,
    http: Http,
    tokens: ClientCredentials,
    purge_mailboxes: Vec<String>,
    purge_folder: String,
    rules: RuleCheck,
    inventory: Arc<Inventory>,
    rotation: Option<Arc<SecretStore>>,
    ledger: Ledger,
}

#[derive(Deserialize)]
struct Collection<T> {
    #[serde(default = "Vec::new")]
    value: Vec<T>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageRef {
    id: String,
    #[serde(default)]
    parent_folder_id: Option<String>,
}

impl GraphConnector {
    /// Builds the connector and reads its client secret.
    ///
    /// # Errors
    ///
    /// Returns [`ConfigError`] for an invalid URL or an unreadable secret.
    pub fn new(config: &GraphConfig) -> Result<Self, ConfigError> {
        let name = config.name.clone();
        let base = parse_base_url(&name, "base_url", &config.base_url)?;
        let token_url = parse_base_url(&name, "token_url", &config.token_url)?;
        let secret = read_secret(&name, "client_secret", &config.client_secret)?;
        Ok(GraphConnector {
            http: Http::new(&name, &config.http)?,
            tokens: ClientCredentials::new(token_url, config.client_id.clone(), secret, config.scope.clone()),
            base,
            purge_mailboxes: config.purge_mailboxes.clone(),
            purge_folder: config.purge_folder.clone(),
            rules: config.rules.clone(),
            inventory: Arc::new(Inventory::default()),
            rotation: None,
            ledger: Ledger::default(),
            name,
        })
    }

    /// Stores the application secrets that rotation issues in `store`.
    pub(crate) fn with_rotation(mut self, store: Arc<SecretStore>) -> Self {
        self.rotation = Some(store);
        self
    }

    /// Uses `inventory` to find the Entra application secrets that
    /// revoke_credentials removes.
    pub fn with_inventory(mut self, inventory: Arc<Inventory>) -> Self {
        self.inventory = inventory;
        self
    }

    /// Lists a user's inbox rules.
    ///
    /// # Errors
    ///
    /// Returns the failed request after retries.
    pub async fn list_message_rules(&self, user: &str) -> Result<Vec<MessageRule>, CallError> {
        let tally = Tally::default();
        let url = endpoint(&self.base, &["users", user, "mailFolders", "inbox", "messageRules"]);
        let reply = self.call(Method::GET, url, None, &tally).await?;
        Ok(reply.json::<Collection<MessageRule>>()?.value)
    }

    /// Lists the passwords (client secrets) of every application, each once
    /// per owner of its application (`GET /applications`, following
    /// `@odata.nextLink` on the same host; `GET /applications/{id}/owners`;
    /// permission Application.Read.All). Applications without a person as
    /// owner are reported, not listed.
    pub async fn list_entra_credentials(&self) -> Listed {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            value: Vec<Application>,
            #[serde(rename = "@odata.nextLink")]
            next_link: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Application {
            id: String,
            #[serde(default)]
            display_name: Option<String>,
            #[serde(default)]
            password_credentials: Vec<PasswordCredential>,
        }

        let tally = Tally::default();
        let mut listed = Listed::default();
        let url = endpoint(&self.base, &["applications"]);
        let mut call =
            Call::new(Method::GET, url, Auth::None).query("$select", "id,appId,displayName,passwordCredentials");
        for _ in 0..1_000 {
            let page = match self.send(call, &tally).await.and_then(|reply| reply.json::<Page>()) {
                Ok(page) => page,
                Err(error) => {
                    listed.problem(format!("listing Entra applications failed: {error}; grant Application.Read.All"));
                    return listed;
                }
            };
            for application in page.value.into_iter().filter(|a| !a.password_credentials.is_empty()) {
                let name = application.display_name.unwrap_or_else(|| application.id.clone());
                let owners = match self.application_owners(&application.id, &tally).await {
                    Ok(owners) if owners.is_empty() => {
                        listed.problem(format!("Entra application {name} has secrets but no person as owner"));
                        continue;
                    }
                    Ok(owners) => owners,
                    Err(error) => {
                        listed.problem(format!("listing the owners of Entra application {name} failed: {error}"));
                        continue;
                    }
                };
                for owner in &owners {
                    for password in &application.password_credentials {
                        listed.credentials.push(listed_credential(
                            Provider::Entra,
                            NhiKind::OauthApp,
                            owner,
                            &password.key_id,
                            Some(&application.id),
                            format!("Entra application {name}"),
                        ));
                    }
                }
            }
            match page.next_link.map(|link| Url::parse(&link)) {
                Some(Ok(next)) if next.origin() == self.base.origin() => {
                    call = Call::new(Method::GET, next, Auth::None)
                }
                Some(_) => {
                    listed.problem("Graph sent a next page on another host; the listing stops there".to_string());
                    return listed;
                }
                None => return listed,
            }
        }
        listed
    }

    /// Returns the addresses of the people who own an application.
    async fn application_owners(&self, application: &str, tally: &Tally) -> Result<Vec<String>, CallError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Owner {
            #[serde(default)]
            mail: Option<String>,
            #[serde(default)]
            user_principal_name: Option<String>,
        }

        let url = endpoint(&self.base, &["applications", application, "owners"]);
        let call = Call::new(Method::GET, url, Auth::None).query("$select", "mail,userPrincipalName");
        let owners = self.send(call, tally).await?.json::<Collection<Owner>>()?.value;
        Ok(owners
            .into_iter()
            .filter_map(|owner| owner.mail.or(owner.user_principal_name))
            .filter(|address| address.contains('@'))
            .map(|address| address.to_lowercase())
            .collect())
    }

    /// Lists an application's passwords (client secrets) by its object id.
    ///
    /// # Errors
    ///
    /// Returns the failed request after retries.
    pub async fn list_application_passwords(&self, application: &str) -> Result<Vec<PasswordCredential>, CallError> {
        self.application_passwords(application, &Tally::default()).await
    }

    /// Runs an advanced hunting query over Defender's `UrlClickEvents` for
    /// the last `lookback_minutes` (`POST /security/runHuntingQuery`,
    /// permission ThreatHunting.Read.All) and returns the reply body, which
    /// [`crate::parse_url_click_events`] reads.
    ///
    /// # Errors
    ///
    /// Returns the failed request after retries.
    pub async fn url_click_events(&self, lookback_minutes: u64) -> Result<String, CallError> {
        let query = format!(
            "UrlClickEvents | where Timestamp > ago({lookback_minutes}m) \
             | project Timestamp, Url, ActionType, AccountUpn, IPAddress, IsClickedThrough"
        );
        let url = endpoint(&self.base, &["security", "runHuntingQuery"]);
        let reply =
            self.call(Method::POST, url, Some(serde_json::json!({ "Query": query })), &Tally::default()).await?;
        Ok(reply.body)
    }

    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<serde_json::Value>,
        tally: &Tally,
    ) -> Result<crate::http::Reply, CallError> {
        let mut call = Call::new(method, url, Auth::None);
        if let Some(body) = body {
            call = call.json(body);
        }
        self.send(call, tally).await
    }

    /// Sends `call` with the cached token. A 401 may mean the token was
    /// revoked before its expiry, so the token is renewed and the call
    /// sent once more.
    async fn send(&self, mut call: Call, tally: &Tally) -> Result<crate::http::Reply, CallError> {
        call.auth = Auth::Bearer(self.tokens.token(&self.http, tally).await?);
        match self.http.send(&call, tally).await {
            Err(CallError::Permission { status: 401, .. }) => {
                self.tokens.forget().await;
                call.auth = Auth::Bearer(self.tokens.token(&self.http, tally).await?);
                self.http.send(&call, tally).await
            }
            other => other,
        }
    }

    async fn dispatch(&self, action: &PlannedAction, tally: &Tally) -> Result<String, Failure> {
        match action.kind {
            ActionKind::RevokeSessions => self.revoke_sessions(person(action)?, tally).await,
            ActionKind::ResetPassword => self.reset_password(person(action)?, tally).await,
            ActionKind::RemoveMailboxRules => self.remove_mailbox_rules(person(action)?, tally).await,
            ActionKind::PurgeCopies => self.move_copies(action, tally, Direction::Purge).await,
            ActionKind::RevokeCredentials => self.revoke_credentials(action, tally).await,
            ActionKind::RotateCredentials => self.rotate_credentials(action, tally).await,
            _ => Err(unsupported(&self.name, action)),
        }
    }

    async fn revoke_sessions(&self, user: &str, tally: &Tally) -> Result<String, Failure> {
        let url = endpoint(&self.base, &["users", user, "revokeSignInSessions"]);
        let what = format!("user {user}");
        let reply = self
            .call(Method::POST, url, None, tally)
            .await
            .map_err(|e| Failure::from_call(&what, "User.RevokeSessions.All", e))?;
        let value = reply.json::<serde_json::Value>().ok().and_then(|v| v.get("value").and_then(|v| v.as_bool()));
        match value {
            Some(false) => {
                Err(Failure::Failed(format!("Graph returned value false for revoking the sessions of {what}")))
            }
            _ => Ok(format!("revoked the sign-in sessions of {what}")),
        }
    }

    async fn reset_password(&self, user: &str, tally: &Tally) -> Result<String, Failure> {
        let url = endpoint(&self.base, &["users", user]);
        let body = serde_json::json!({ "passwordProfile": { "forceChangePasswordNextSignIn": true } });
        let what = format!("user {user}");
        self.call(Method::PATCH, url, Some(body), tally)
            .await
            .map_err(|e| Failure::from_call(&what, "User-PasswordProfile.ReadWrite.All", e))?;
        Ok(format!("{what} must change the password at next sign-in"))
    }

    async fn remove_mailbox_rules(&self, user: &str, tally: &Tally) -> Result<String, Failure> {
        let what = format!("mailbox of {user}");
        let permission = "MailboxSettings.ReadWrite";
        let rules_url = endpoint(&self.base, &["users", user, "mailFolders", "inbox", "messageRules"]);
        let reply = self
            .call(Method::GET, rules_url, None, tally)
            .await
            .map_err(|e| Failure::from_call(&what, permission, e))?;
        let rules =
            reply.json::<Collection<MessageRule>>().map_err(|e| Failure::from_call(&what, permission, e))?.value;
        let folder_names = self.folder_names(user, &rules, tally).await;
        let flagged: Vec<FlaggedRule> =
            self.rules.flag_rules(&rules, &folder_names).into_iter().filter(|r| r.attacker_like).collect();

        let mut removed = Vec::new();
        for rule in &flagged {
            let url = endpoint(&self.base, &["users", user, "mailFolders", "inbox", "messageRules", &rule.id]);
            match self.call(Method::DELETE, url, None, tally).await {
                Ok(_) | Err(CallError::NotFound { .. }) => removed.push(describe_rule(rule)),
                Err(error) => {
                    let what = format!("rule {:?} of {user}", rule.display_name);
                    return Err(Failure::from_call(&what, permission, error));
                }
            }
        }

        let rules_of = |count: usize| if count == 1 { "1 rule".to_string() } else { format!("{count} rules") };
        let kept = rules_of(rules.len() - flagged.len());
        if removed.is_empty() {
            return Ok(format!("no attacker-like rule in the {what}; {kept} kept"));
        }
        Ok(format!("removed {} from the {what}: {}; {kept} kept", rules_of(removed.len()), removed.join("; ")))
    }

    /// Looks up the display names of the folders that rules move mail to.
    /// A folder that cannot be read keeps its id, so the check still runs.
    async fn folder_names(&self, user: &str, rules: &[MessageRule], tally: &Tally) -> BTreeMap<String, String> {
        let mut names = BTreeMap::new();
        let ids = rules.iter().filter_map(|r| r.actions.as_ref()?.move_to_folder.clone());
        for id in ids {
            if names.contains_key(&id) {
                continue;
            }
            let url = endpoint(&self.base, &["users", user, "mailFolders", &id]);
            let Ok(reply) = self.call(Method::GET, url.clone(), None, tally).await else { continue };
            let name =
                reply.json::<serde_json::Value>().ok().and_then(|v| v.get("displayName")?.as_str().map(str::to_string));
            if let Some(name) = name {
                names.insert(id, name);
            }
        }
        names
    }

    /// Moves every copy of the message in the configured mailboxes: to the
    /// purge folder, or back to the inbox for an undo. Copies already in
    /// the destination are left alone, so a repeat moves nothing.
    async fn move_copies(
        &self,
        action: &PlannedAction,
        tally: &Tally,
        direction: Direction,
    ) -> Result<String, Failure> {
        let Target::Message { message_id: Some(message_id), .. } = &action.target else {
            return Err(Failure::Unsupported(
                "purge_copies through Graph needs a message target with a Message-ID".to_string(),
            ));
        };
        if self.purge_mailboxes.is_empty() {
            return Err(Failure::Failed(
                "no mailboxes to search: set purge_mailboxes in the graph connector".to_string(),
            ));
        }
        let (source, destination) = match direction {
            Direction::Purge => (None, self.purge_folder.as_str()),
            Direction::Restore => (Some(self.purge_folder.as_str()), "inbox"),
        };

        let mut moved = 0;
        let mut problems = Vec::new();
        for mailbox in &self.purge_mailboxes {
            match self.move_in_mailbox(mailbox, message_id, source, destination, tally).await {
                Ok(count) => moved += count,
                Err(Failure::Failed(text) | Failure::Unsupported(text)) => problems.push(text),
            }
        }

        let summary = format!(
            "moved {moved} copies of <{message_id}> to {destination} across {} mailboxes",
            self.purge_mailboxes.len()
        );
        if problems.is_empty() {
            Ok(summary)
        } else {
            Err(Failure::Failed(format!("{summary}; {} mailboxes failed: {}", problems.len(), problems.join("; "))))
        }
    }

    async fn move_in_mailbox(
        &self,
        mailbox: &str,
        message_id: &str,
        source: Option<&str>,
        destination: &str,
        tally: &Tally,
    ) -> Result<usize, Failure> {
        let what = format!("mailbox {mailbox}");
        let permission = "Mail.ReadWrite";
        let folder_url = endpoint(&self.base, &["users", mailbox, "mailFolders", destination]);
        let folder = self
            .call(Method::GET, folder_url, None, tally)
            .await
            .map_err(|e| Failure::from_call(&what, permission, e))?;
        let destination_id = folder.json::<MessageRef>().map_err(|e| Failure::from_call(&what, permission, e))?.id;

        let search_url = match source {
            None => endpoint(&self.base, &["users", mailbox, "messages"]),
            Some(folder) => endpoint(&self.base, &["users", mailbox, "mailFolders", folder, "messages"]),
        };
        let filter = format!("internetMessageId eq '<{}>'", message_id.replace('\'', "''"));
        let call = Call::new(Method::GET, search_url, Auth::None)
            .query("$filter", &filter)
            .query("$select", "id,parentFolderId");
        let reply = self.send(call, tally).await.map_err(|e| Failure::from_call(&what, permission, e))?;
        let copies =
            reply.json::<Collection<MessageRef>>().map_err(|e| Failure::from_call(&what, permission, e))?.value;

        let mut moved = 0;
        for copy in copies.iter().filter(|c| c.parent_folder_id.as_deref() != Some(destination_id.as_str())) {
            let url = endpoint(&self.base, &["users", mailbox, "messages", &copy.id, "move"]);
            let body = serde_json::json!({ "destinationId": destination });
            match self.call(Method::POST, url, Some(body), tally).await {
                Ok(_) => moved += 1,
                // The copy was deleted or moved since the search.
                Err(CallError::NotFound { .. }) => {}
                Err(error) => return Err(Failure::from_call(&what, permission, error)),
            }
        }
        Ok(moved)
    }

    async fn revoke_credentials(&self, action: &PlannedAction, tally: &Tally) -> Result<String, Failure> {
        for_each_credential(&self.inventory, action, Provider::Entra, |credential| async move {
            self.remove_password(&credential, tally).await
        })
        .await
    }

    async fn rotate_credentials(&self, action: &PlannedAction, tally: &Tally) -> Result<String, Failure> {
        for_each_credential(&self.inventory, action, Provider::Entra, |credential| async move {
            let application = credential.parent.as_deref().unwrap_or_default();
            let what = format!(
                "secret {} of application {application} (inventory id {})",
                credential.reference, credential.id
            );
            rotate(self, self.rotation.as_deref(), &credential, &what, tally).await
        })
        .await
    }

    async fn remove_password(&self, credential: &NhiCredential, tally: &Tally) -> Result<String, Failure> {
        let application = credential.parent.as_deref().unwrap_or_default();
        let what = format!("application {application} (inventory id {})", credential.id);
        let permission = "Application.ReadWrite.OwnedBy";
        let passwords = self
            .application_passwords(application, tally)
            .await
            .map_err(|e| Failure::from_call(&what, permission, e))?;
        if !passwords.iter().any(|p| p.key_id.eq_ignore_ascii_case(&credential.reference)) {
            return Ok(format!("secret {} of {what} was already removed", credential.reference));
        }

        let url = endpoint(&self.base, &["applications", application, "removePassword"]);
        let body = serde_json::json!({ "keyId": credential.reference });
        match self.call(Method::POST, url, Some(body), tally).await {
            Ok(_) => Ok(format!("removed secret {} of {what}", credential.reference)),
            // Removed by someone else between the listing and the request.
            Err(CallError::NotFound { .. }) => {
                Ok(format!("secret {} of {what} was already removed", credential.reference))
            }
            Err(error) => Err(Failure::from_call(&what, permission, error)),
        }
    }

    async fn application_passwords(
        &self,
        application: &str,
        tally: &Tally,
    ) -> Result<Vec<PasswordCredential>, CallError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Application {
            #[serde(default)]
            password_credentials: Vec<PasswordCredential>,
        }

        let url = endpoint(&self.base, &["applications", application]);
        let call = Call::new(Method::GET, url, Auth::None).query("$select", "id,passwordCredentials");
        let reply = self.send(call, tally).await?;
        Ok(reply.json::<Application>()?.password_credentials)
    }
}

#[derive(Clone, Copy)]
enum Direction {
    Purge,
    Restore,
}

fn describe_rule(rule: &FlaggedRule) -> String {
    let reasons: Vec<String> = rule
        .reasons
        .iter()
        .map(|r| {
            serde_json::to_value(r).ok().and_then(|v| v.get("reason")?.as_str().map(str::to_string)).unwrap_or_default()
        })
        .collect();
    format!("{:?} ({})", rule.display_name, reasons.join(", "))
}

#[async_trait]
impl Connector for GraphConnector {
    fn name(&self) -> &str {
        &self.name
    }

    async fn execute(&self, action: &PlannedAction) -> Outcome {
        let tally = Tally::default();
        run(&self.name, &self.ledger, action, Operation::Execute, &tally, self.dispatch(action, &tally)).await
    }

    /// Restores purged copies from the purge folder to the inbox. Nothing
    /// else can be undone.
    async fn undo(&self, action: &PlannedAction) -> Outcome {
        if action.kind != ActionKind::PurgeCopies {
            let details = format!("{} cannot be undone", action.kind);
            return Outcome::new(&self.name, action, Operation::Undo, OutcomeStatus::Unsupported, details);
        }
        let tally = Tally::default();
        let work = self.move_copies(action, &tally, Direction::Restore);
        run(&self.name, &self.ledger, action, Operation::Undo, &tally, work).await
    }
}

/// The part of `addPassword`'s reply that rotation keeps.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddedPassword {
    key_id: String,
    secret_text: String,
    #[serde(default)]
    end_date_time: Option<String>,
}

#[async_trait]
impl Issuer for GraphConnector {
    /// Checks that the old secret still exists, then adds a password to the
    /// same application (`POST /applications/{id}/addPassword`, sent once).
    async fn issue(&self, old: &NhiCredential, tally: &Tally) -> Result<Issued, Failure> {
        let application = old.parent.as_deref().unwrap_or_default();
        let what = format!("application {application} (inventory id {})", old.id);
        let permission = "Application.ReadWrite.OwnedBy";
        let passwords = self
            .application_passwords(application, tally)
            .await
            .map_err(|e| Failure::from_call(&what, permission, e))?;
        if !passwords.iter().any(|p| p.key_id.eq_ignore_ascii_case(&old.reference)) {
            return Err(Failure::Failed(format!(
                "target missing: secret {} of {what} no longer exists, so no new secret was issued; \
                 remove it from the inventory",
                old.reference
            )));
        }

        let url = endpoint(&self.base, &["applications", application, "addPassword"]);
        let body = serde_json::json!({
            "passwordCredential": { "displayName": format!("phishloop rotation of {}", old.reference) }
        });
        let reply = self
            .send(Call::new(Method::POST, url, Auth::None).json(body).once(), tally)
            .await
            .map_err(|e| Failure::from_call(&what, permission, e))?;
        // The reply contains the new secret, so a decoding error names no
        // part of it.
        let added: AddedPassword = serde_json::from_str(&reply.body).map_err(|error| {
            Failure::Failed(format!(
                "the addPassword reply for {what} is not a passwordCredential ({:?} error at line {} column {}); \
                 check the application for a secret named \"phishloop rotation of {}\" and remove it",
                error.classify(),
                error.line(),
                error.column(),
                old.reference
            ))
        })?;
        let mut fields = vec![
            ("client_secret", Secret::new(added.secret_text)),
            ("key_id", Secret::new(added.key_id.clone())),
            ("application", Secret::new(application)),
        ];
        if let Some(end) = added.end_date_time {
            fields.push(("expires", Secret::new(end)));
        }
        Ok(Issued { id: added.key_id, fields })
    }

    async fn discard(&self, old: &NhiCredential, new_id: &str, tally: &Tally) -> Result<(), Failure> {
        let application = old.parent.as_deref().unwrap_or_default();
        let url = endpoint(&self.base, &["applications", application, "removePassword"]);
        let what = format!("secret {new_id} of application {application}");
        self.call(Method::POST, url, Some(serde_json::json!({ "keyId": new_id })), tally)
            .await
            .map_err(|e| Failure::from_call(&what, "Application.ReadWrite.OwnedBy", e))?;
        Ok(())
    }

    async fn retire(&self, old: &NhiCredential, tally: &Tally) -> Result<String, Failure> {
        self.remove_password(old, tally).await
    }
}
