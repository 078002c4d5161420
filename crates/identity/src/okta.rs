//! The `okta` connector: Okta's management API with an API token
//! (`Authorization: SSWS <token>`).
//!
//! | action | requests |
//! |---|---|
//! | revoke_sessions | `DELETE /api/v1/users/{id}/sessions?oauthTokens=true` |
//! | reset_password | `POST /api/v1/users/{id}/lifecycle/expire_password` |
//! | revoke_credentials | `DELETE /api/v1/users/{id}/clients/{clientId}/tokens` per client |
//!
//! Each starts with `GET /api/v1/users/{login}` to turn the address into
//! the user id, so a missing user is reported before anything is changed.
//! Okta reports throttling with 429 and `X-Rate-Limit-Reset`, which the
//! retry honours.

use async_trait::async_trait;
use phishloop_response::{ActionKind, Connector, Operation, Outcome, OutcomeStatus, PlannedAction, SecretSource};
use reqwest::header::{AUTHORIZATION, HeaderName};
use reqwest::{Method, Url};
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::http::{Auth, Call, CallError, Http, HttpConfig, Reply, Tally, endpoint, parse_base_url};
use crate::runner::{Failure, Ledger, person, run, unsupported};
use crate::secret::{Secret, read_secret};

/// Configuration of an [`OktaConnector`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OktaConfig {
    /// The name steps use in `connector`.
    #[serde(default = "default_okta_name")]
    pub name: String,
    /// The organisation's URL, such as `https://example.okta.com`.
    pub base_url: String,
    /// Source of the API token.
    pub api_token: SecretSource,
    /// OAuth client ids whose tokens revoke_credentials revokes. When
    /// empty, it revokes the tokens of every client the user has granted.
    #[serde(default)]
    pub oauth_client_ids: Vec<String>,
    #[serde(default)]
    pub http: HttpConfig,
}

fn default_okta_name() -> String {
    "okta".to_string()
}

/// Carries out identity actions through Okta.
pub struct OktaConnector {
    name: String,
    base: Url,
    http: Http,
    token: Secret,
    client_ids: Vec<String>,
    ledger: Ledger,
}

/// The permission phrase of Okta failures: API tokens carry the rights of
/// the admin who created them.
const OKTA_PERMISSION: &str = "an admin role that manages users (or the okta.users.manage scope)";

impl OktaConnector {
    /// Builds the connector and reads its API token.
    ///
    /// # Errors
    ///
    /// Returns [`ConfigError`] for an invalid URL or an unreadable token.
    pub fn new(config: &OktaConfig) -> Result<Self, ConfigError> {
        let name = config.name.clone();
        Ok(OktaConnector {
            base: parse_base_url(&name, "base_url", &config.base_url)?,
            http: Http::new(&name, &config.http)?,
            token: read_secret(&name, "api_token", &config.api_token)?,
            client_ids: config.oauth_client_ids.clone(),
            ledger: Ledger::default(),
            name,
        })
    }

    async fn call(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        tally: &Tally,
    ) -> Result<Reply, CallError> {
        let mut all = vec!["api", "v1"];
        all.extend_from_slice(segments);
        let auth = Auth::Header { name: AUTHORIZATION, prefix: "SSWS ", value: self.token.clone() };
        let mut call = Call::new(method, endpoint(&self.base, &all), auth)
            .header(HeaderName::from_static("accept"), "application/json");
        for (name, value) in query {
            call = call.query(name, value);
        }
        self.http.send(&call, tally).await
    }

    /// Looks up the Okta user id of a login (the address).
    async fn user_id(&self, login: &str, tally: &Tally) -> Result<String, Failure> {
        #[derive(Deserialize)]
        struct User {
            id: String,
        }

        let what = format!("user {login}");
        let reply = self
            .call(Method::GET, &["users", login], &[], tally)
            .await
            .map_err(|e| Failure::from_call(&what, OKTA_PERMISSION, e))?;
        Ok(reply.json::<User>().map_err(|e| Failure::from_call(&what, OKTA_PERMISSION, e))?.id)
    }

    async fn dispatch(&self, action: &PlannedAction, tally: &Tally) -> Result<String, Failure> {
        match action.kind {
            ActionKind::RevokeSessions | ActionKind::ResetPassword | ActionKind::RevokeCredentials => {}
            _ => return Err(unsupported(&self.name, action)),
        }
        let login = person(action)?;
        let id = self.user_id(login, tally).await?;
        let what = format!("user {login}");
        match action.kind {
            ActionKind::RevokeSessions => {
                self.call(Method::DELETE, &["users", &id, "sessions"], &[("oauthTokens", "true")], tally)
                    .await
                    .map_err(|e| Failure::from_call(&what, OKTA_PERMISSION, e))?;
                Ok(format!("cleared the sessions and OAuth tokens of {what}"))
            }
            ActionKind::ResetPassword => {
                self.call(Method::POST, &["users", &id, "lifecycle", "expire_password"], &[], tally)
                    .await
                    .map_err(|e| Failure::from_call(&what, OKTA_PERMISSION, e))?;
                Ok(format!("expired the password of {what}; it must be changed at next sign-in"))
            }
            _ => self.revoke_client_tokens(login, &id, tally).await,
        }
    }

    async fn revoke_client_tokens(&self, login: &str, id: &str, tally: &Tally) -> Result<String, Failure> {
        let what = format!("user {login}");
        let clients = if self.client_ids.is_empty() {
            self.granted_clients(id, tally).await.map_err(|e| Failure::from_call(&what, OKTA_PERMISSION, e))?
        } else {
            self.client_ids.clone()
        };
        for client in &clients {
            match self.call(Method::DELETE, &["users", id, "clients", client, "tokens"], &[], tally).await {
                // No tokens of this client is the state the revoke wants.
                Ok(_) | Err(CallError::NotFound { .. }) => {}
                Err(error) => {
                    return Err(Failure::from_call(&format!("client {client} of {what}"), OKTA_PERMISSION, error));
                }
            }
        }
        Ok(format!("revoked the OAuth tokens of {what} for {} clients: {}", clients.len(), clients.join(", ")))
    }

    /// Lists the client ids the user has granted (`GET
    /// /api/v1/users/{id}/clients`).
    async fn granted_clients(&self, id: &str, tally: &Tally) -> Result<Vec<String>, CallError> {
        #[derive(Deserialize)]
        struct Client {
            client_id: String,
        }

        let reply = self.call(Method::GET, &["users", id, "clients"], &[], tally).await?;
        Ok(reply.json::<Vec<Client>>()?.into_iter().map(|c| c.client_id).collect())
    }
}

#[async_trait]
impl Connector for OktaConnector {
    fn name(&self) -> &str {
        &self.name
    }

    async fn execute(&self, action: &PlannedAction) -> Outcome {
        let tally = Tally::default();
        run(&self.name, &self.ledger, action, Operation::Execute, &tally, self.dispatch(action, &tally)).await
    }

    /// Nothing this connector does can be undone.
    async fn undo(&self, action: &PlannedAction) -> Outcome {
        let details = format!("{} cannot be undone", action.kind);
        Outcome::new(&self.name, action, Operation::Undo, OutcomeStatus::Unsupported, details)
    }
}
