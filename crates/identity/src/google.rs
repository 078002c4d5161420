//! The `google` connector: Google Workspace through the Admin SDK Directory
//! API and the Gmail API, with a service-account key and domain-wide
//! delegation.
//!
//! | action | requests | acting as, scope |
//! |---|---|---|
//! | revoke_sessions | `POST admin/directory/v1/users/{userKey}/signOut` | `admin_subject`, admin.directory.user.security |
//! | revoke_credentials | `DELETE admin/directory/v1/users/{userKey}/tokens/{clientId}` | `admin_subject`, admin.directory.user.security |
//! | purge_copies | `GET gmail/v1/users/{user}/messages?q=rfc822msgid:<id>`, `POST .../messages/{id}/trash` | each mailbox, gmail.modify |
//!
//! Google has no API to force a password change without setting a new
//! password, so reset_password is not supported here.

use async_trait::async_trait;
use phishloop_response::{
    ActionKind, Connector, Operation, Outcome, OutcomeStatus, PlannedAction, SecretSource, Target,
};
use reqwest::{Method, Url};
use serde::{Deserialize, Serialize};

use crate::auth::GoogleServiceAccount;
use crate::error::ConfigError;
use crate::http::{Auth, Call, CallError, Http, HttpConfig, Reply, Tally, endpoint, parse_base_url};
use crate::runner::{Failure, Ledger, person, run, unsupported};
use crate::secret::read_secret;

/// Scope of the Directory API calls.
pub const DIRECTORY_SCOPE: &str = "https://www.googleapis.com/auth/admin.directory.user.security";
/// Scope of the Gmail API calls.
pub const GMAIL_SCOPE: &str = "https://www.googleapis.com/auth/gmail.modify";

/// Configuration of a [`GoogleConnector`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleConfig {
    /// The name steps use in `connector`.
    #[serde(default = "default_google_name")]
    pub name: String,
    /// Admin SDK root, such as `https://admin.googleapis.com`.
    pub directory_base_url: String,
    /// Gmail API root, such as `https://gmail.googleapis.com`.
    pub gmail_base_url: String,
    /// Token endpoint, such as `https://oauth2.googleapis.com/token`; it is
    /// also the audience of the signed assertion.
    pub token_url: String,
    /// Source of the service-account key file (JSON).
    pub service_account_key: SecretSource,
    /// The administrator that Directory API calls act as.
    pub admin_subject: String,
    /// OAuth client ids whose tokens revoke_credentials deletes. When
    /// empty, it deletes every token the user has issued.
    #[serde(default)]
    pub oauth_client_ids: Vec<String>,
    /// Mailboxes that purge_copies searches.
    #[serde(default)]
    pub purge_mailboxes: Vec<String>,
    #[serde(default)]
    pub http: HttpConfig,
}

fn default_google_name() -> String {
    "google".to_string()
}

/// Carries out identity and mailbox actions in Google Workspace.
pub struct GoogleConnector {
    name: String,
    directory: Url,
    gmail: Url,
    http: Http,
    directory_tokens: GoogleServiceAccount,
    gmail_tokens: GoogleServiceAccount,
    admin_subject: String,
    client_ids: Vec<String>,
    purge_mailboxes: Vec<String>,
    ledger: Ledger,
}

#[derive(Deserialize)]
struct MessageList {
    #[serde(default)]
    messages: Vec<MessageRef>,
}

#[derive(Deserialize)]
struct MessageRef {
    id: String,
}

impl GoogleConnector {
    /// Builds the connector and reads the service-account key.
    ///
    /// # Errors
    ///
    /// Returns [`ConfigError`] for an invalid URL or an unreadable key.
    pub fn new(config: &GoogleConfig) -> Result<Self, ConfigError> {
        let name = config.name.clone();
        let token_url = parse_base_url(&name, "token_url", &config.token_url)?;
        let key = read_secret(&name, "service_account_key", &config.service_account_key)?;
        let directory_scopes = [DIRECTORY_SCOPE.to_string()];
        let gmail_scopes = [GMAIL_SCOPE.to_string()];
        Ok(GoogleConnector {
            directory: parse_base_url(&name, "directory_base_url", &config.directory_base_url)?,
            gmail: parse_base_url(&name, "gmail_base_url", &config.gmail_base_url)?,
            http: Http::new(&name, &config.http)?,
            directory_tokens: GoogleServiceAccount::from_key_json(&name, &key, token_url.clone(), &directory_scopes)?,
            gmail_tokens: GoogleServiceAccount::from_key_json(&name, &key, token_url, &gmail_scopes)?,
            admin_subject: config.admin_subject.clone(),
            client_ids: config.oauth_client_ids.clone(),
            purge_mailboxes: config.purge_mailboxes.clone(),
            ledger: Ledger::default(),
            name,
        })
    }

    async fn directory_call(&self, method: Method, segments: &[&str], tally: &Tally) -> Result<Reply, CallError> {
        let token = self.directory_tokens.token(&self.http, tally, &self.admin_subject).await?;
        let mut all = vec!["admin", "directory", "v1"];
        all.extend_from_slice(segments);
        self.http.send(&Call::new(method, endpoint(&self.directory, &all), Auth::Bearer(token)), tally).await
    }

    async fn dispatch(&self, action: &PlannedAction, tally: &Tally) -> Result<String, Failure> {
        match action.kind {
            ActionKind::RevokeSessions => self.sign_out(person(action)?, tally).await,
            ActionKind::RevokeCredentials => self.delete_tokens(person(action)?, tally).await,
            ActionKind::PurgeCopies => self.move_copies(action, tally, Direction::Trash).await,
            _ => Err(unsupported(&self.name, action)),
        }
    }

    async fn sign_out(&self, user: &str, tally: &Tally) -> Result<String, Failure> {
        let what = format!("user {user}");
        self.directory_call(Method::POST, &["users", user, "signOut"], tally)
            .await
            .map_err(|e| Failure::from_call(&what, DIRECTORY_SCOPE, e))?;
        Ok(format!("signed {what} out of all web and device sessions"))
    }

    async fn delete_tokens(&self, user: &str, tally: &Tally) -> Result<String, Failure> {
        let what = format!("user {user}");
        let clients = if self.client_ids.is_empty() {
            self.issued_clients(user, tally).await.map_err(|e| Failure::from_call(&what, DIRECTORY_SCOPE, e))?
        } else {
            self.client_ids.clone()
        };
        for client in &clients {
            match self.directory_call(Method::DELETE, &["users", user, "tokens", client], tally).await {
                // The token is already gone.
                Ok(_) | Err(CallError::NotFound { .. }) => {}
                Err(error) => {
                    return Err(Failure::from_call(&format!("client {client} of {what}"), DIRECTORY_SCOPE, error));
                }
            }
        }
        Ok(format!("deleted the OAuth tokens of {what} for {} clients: {}", clients.len(), clients.join(", ")))
    }

    /// Lists the client ids of the user's tokens (`GET .../users/{userKey}/tokens`).
    async fn issued_clients(&self, user: &str, tally: &Tally) -> Result<Vec<String>, CallError> {
        #[derive(Deserialize)]
        struct Tokens {
            #[serde(default)]
            items: Vec<Token>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Token {
            client_id: String,
        }

        let reply = self.directory_call(Method::GET, &["users", user, "tokens"], tally).await?;
        Ok(reply.json::<Tokens>()?.items.into_iter().map(|t| t.client_id).collect())
    }

    /// Trashes every copy in the configured mailboxes, or untrashes them
    /// for an undo. The list without `includeSpamTrash` skips trashed
    /// copies, so a repeat trashes nothing.
    async fn move_copies(
        &self,
        action: &PlannedAction,
        tally: &Tally,
        direction: Direction,
    ) -> Result<String, Failure> {
        let Target::Message { message_id: Some(message_id), .. } = &action.target else {
            return Err(Failure::Unsupported(
                "purge_copies through Gmail needs a message target with a Message-ID".to_string(),
            ));
        };
        if self.purge_mailboxes.is_empty() {
            return Err(Failure::Failed(
                "no mailboxes to search: set purge_mailboxes in the google connector".to_string(),
            ));
        }

        let mut moved = 0;
        let mut problems = Vec::new();
        for mailbox in &self.purge_mailboxes {
            match self.move_in_mailbox(mailbox, message_id, direction, tally).await {
                Ok(count) => moved += count,
                Err(Failure::Failed(text) | Failure::Unsupported(text)) => problems.push(text),
            }
        }

        let verb = match direction {
            Direction::Trash => "trashed",
            Direction::Untrash => "restored from trash",
        };
        let summary =
            format!("{verb} {moved} copies of <{message_id}> across {} mailboxes", self.purge_mailboxes.len());
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
        direction: Direction,
        tally: &Tally,
    ) -> Result<usize, Failure> {
        let what = format!("mailbox {mailbox}");
        let token = self
            .gmail_tokens
            .token(&self.http, tally, mailbox)
            .await
            .map_err(|e| Failure::from_call(&what, GMAIL_SCOPE, e))?;
        let list_url = endpoint(&self.gmail, &["gmail", "v1", "users", mailbox, "messages"]);
        let mut list = Call::new(Method::GET, list_url, Auth::Bearer(token.clone()));
        list = match direction {
            Direction::Trash => list.query("q", &format!("rfc822msgid:{message_id}")),
            Direction::Untrash => {
                list.query("q", &format!("rfc822msgid:{message_id} in:trash")).query("includeSpamTrash", "true")
            }
        };
        let reply = self.http.send(&list, tally).await.map_err(|e| Failure::from_call(&what, GMAIL_SCOPE, e))?;
        let copies = reply.json::<MessageList>().map_err(|e| Failure::from_call(&what, GMAIL_SCOPE, e))?.messages;

        let verb = match direction {
            Direction::Trash => "trash",
            Direction::Untrash => "untrash",
        };
        let mut moved = 0;
        for copy in &copies {
            let url = endpoint(&self.gmail, &["gmail", "v1", "users", mailbox, "messages", &copy.id, verb]);
            match self.http.send(&Call::new(Method::POST, url, Auth::Bearer(token.clone())), tally).await {
                Ok(_) => moved += 1,
                Err(CallError::NotFound { .. }) => {}
                Err(error) => return Err(Failure::from_call(&what, GMAIL_SCOPE, error)),
            }
        }
        Ok(moved)
    }
}

#[derive(Clone, Copy)]
enum Direction {
    Trash,
    Untrash,
}

#[async_trait]
impl Connector for GoogleConnector {
    fn name(&self) -> &str {
        &self.name
    }

    async fn execute(&self, action: &PlannedAction) -> Outcome {
        let tally = Tally::default();
        run(&self.name, &self.ledger, action, Operation::Execute, &tally, self.dispatch(action, &tally)).await
    }

    /// Restores trashed copies; nothing else can be undone.
    async fn undo(&self, action: &PlannedAction) -> Outcome {
        if action.kind != ActionKind::PurgeCopies {
            let details = format!("{} cannot be undone", action.kind);
            return Outcome::new(&self.name, action, Operation::Undo, OutcomeStatus::Unsupported, details);
        }
        let tally = Tally::default();
        let work = self.move_copies(action, &tally, Direction::Untrash);
        run(&self.name, &self.ledger, action, Operation::Undo, &tally, work).await
    }
}
