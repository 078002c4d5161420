//! The `ldap` connector: forces a password change and disables accounts in
//! Active Directory or OpenLDAP.
//!
//! | operation | Active Directory | OpenLDAP with the ppolicy overlay |
//! |---|---|---|
//! | reset_password | `pwdLastSet: 0` | `pwdReset: TRUE` |
//! | [`LdapConnector::disable_account`] | `userAccountControl` with bit `0x2` (ACCOUNTDISABLE) set | `pwdAccountLockedTime: 000001010000Z` (locked until an administrator unlocks) |
//! | [`LdapConnector::enable_account`] | bit `0x2` cleared | `pwdAccountLockedTime` removed |
//!
//! On OpenLDAP, `pwdReset` makes the server demand a new password only
//! when the user's password policy has `pwdMustChange: TRUE`. Without the
//! overlay the attribute does not exist, so the modify fails.
//!
//! The user is found with `user_filter` under `base_dn`; exactly one entry
//! must match. Result code 49 (invalid credentials) and 50 (insufficient
//! access) are reported as `permission denied`, no match as `target
//! missing`. Codes 51 (busy) and 52 (unavailable) and connection failures
//! are retried with back-off.

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use ldap3::{LdapConnAsync, LdapConnSettings, LdapError, Mod, Scope, SearchEntry};
use phishloop_response::{ActionKind, Connector, Operation, Outcome, OutcomeStatus, PlannedAction, SecretSource};
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::http::{HttpConfig, Tally};
use crate::runner::{Failure, Ledger, person, run, run_keyed, unsupported};
use crate::secret::{Secret, read_secret};

/// The `userAccountControl` flag of a disabled account.
const ACCOUNT_DISABLE: u32 = 0x2;

/// The kind of directory server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DirectorySchema {
    ActiveDirectory,
    Openldap,
}

/// Configuration of an [`LdapConnector`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    #[serde(default = "default_ldap_name")]
    pub name: String,
    /// `ldaps://host:636` or `ldap://host:389`; plain `ldap://` without
    /// `starttls` only to a loopback address.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS.
    #[serde(default)]
    pub starttls: bool,
    /// DN of the account that binds, such as
    /// `cn=phishloop,ou=service,dc=example,dc=com`.
    pub bind_dn: String,
    pub bind_password: SecretSource,
    /// Base DN of the user search, with subtree scope.
    pub base_dn: String,
    /// Filter that finds a user; `{address}` is replaced by the escaped
    /// address.
    #[serde(default = "default_user_filter")]
    pub user_filter: String,
    pub schema: DirectorySchema,
    /// Time limit, attempts and back-off; `timeout_ms` applies to the
    /// connection and to each operation.
    #[serde(default)]
    pub retry: HttpConfig,
}

fn default_ldap_name() -> String {
    "ldap".to_string()
}

fn default_user_filter() -> String {
    "(&(objectClass=person)(mail={address}))".to_string()
}

/// Changes accounts in an LDAP directory.
pub struct LdapConnector {
    config: LdapConfig,
    password: Secret,
    ledger: Ledger,
}

/// The failure of one LDAP operation.
enum LdapFailure {
    /// Worth another attempt: connection failure, busy, unavailable.
    Transient(String),
    Final(Failure),
}

impl LdapConnector {
    /// Builds the connector and reads the bind password. No connection is
    /// made until an action runs.
    ///
    /// # Errors
    ///
    /// Returns [`ConfigError`] for an invalid URL or filter, or an
    /// unreadable password.
    pub fn new(config: &LdapConfig) -> Result<Self, ConfigError> {
        let invalid = |field: &'static str, value: &str, reason: &str| ConfigError::InvalidValue {
            connector: config.name.clone(),
            field,
            value: value.to_string(),
            reason: reason.to_string(),
        };
        let url = url::Url::parse(&config.url)
            .map_err(|e| invalid("url", &config.url, &format!("{e}; write ldaps://host:636")))?;
        let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
        let loopback =
            host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        match url.scheme() {
            "ldaps" => {}
            "ldap" if config.starttls || loopback => {}
            "ldap" => {
                return Err(invalid(
                    "url",
                    &config.url,
                    "plain ldap is allowed only to a loopback address; use ldaps:// or set starttls",
                ));
            }
            other => return Err(invalid("url", &config.url, &format!("scheme {other} is not ldap or ldaps"))),
        }
        if !config.user_filter.contains("{address}") {
            return Err(invalid("user_filter", &config.user_filter, "it must contain {address}"));
        }
        Ok(LdapConnector {
            password: read_secret(&config.name, "bind_password", &config.bind_password)?,
            config: config.clone(),
            ledger: Ledger::default(),
        })
    }

    /// Disables the account of the person the action targets. Its ledger
    /// key is the action's key with `:disable_account` appended, so that
    /// a reset_password of the same action does not count as done here.
    pub async fn disable_account(&self, action: &PlannedAction) -> Outcome {
        self.account_state(action, Operation::Execute, true).await
    }

    /// Enables an account that [`LdapConnector::disable_account`] disabled;
    /// recorded as the undo of `action`.
    pub async fn enable_account(&self, action: &PlannedAction) -> Outcome {
        self.account_state(action, Operation::Undo, false).await
    }

    async fn account_state(&self, action: &PlannedAction, operation: Operation, disable: bool) -> Outcome {
        let tally = Tally::default();
        let work = async {
            let address = person(action)?;
            self.with_retries(&tally, || self.set_disabled(address, disable)).await
        };
        let key = format!("{}:{}", action.idempotency_key, if disable { "disable_account" } else { "enable_account" });
        run_keyed(&self.config.name, &self.ledger, action, operation, key, &tally, work).await
    }

    async fn with_retries<F, Fut>(&self, tally: &Tally, operation: F) -> Result<String, Failure>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<String, LdapFailure>>,
    {
        let max_attempts = self.config.retry.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            tally.add();
            match operation().await {
                Ok(details) => return Ok(details),
                Err(LdapFailure::Final(failure)) => return Err(failure),
                Err(LdapFailure::Transient(detail)) if attempt >= max_attempts => {
                    return Err(Failure::Failed(format!("gave up after {attempt} attempts: {detail}")));
                }
                Err(LdapFailure::Transient(detail)) => {
                    let factor = 2u32.saturating_pow(attempt - 1);
                    let delay = Duration::from_millis(self.config.retry.initial_backoff_ms)
                        .saturating_mul(factor)
                        .min(Duration::from_millis(self.config.retry.max_backoff_ms));
                    tracing::warn!(connector = %self.config.name, attempt, delay_ms = delay.as_millis() as u64, "LDAP operation failed, retrying: {detail}");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn connect(&self) -> Result<ldap3::Ldap, LdapFailure> {
        let timeout = Duration::from_millis(self.config.retry.timeout_ms);
        let settings = LdapConnSettings::new().set_conn_timeout(timeout).set_starttls(self.config.starttls);
        let (connection, mut ldap) = LdapConnAsync::with_settings(settings, &self.config.url)
            .await
            .map_err(|e| LdapFailure::Transient(format!("failed to connect to {}: {e}", self.config.url)))?;
        ldap3::drive!(connection);
        let bound = ldap.with_timeout(timeout).simple_bind(&self.config.bind_dn, self.password.expose()).await;
        let what = format!("bind as {}", self.config.bind_dn);
        bound.map_err(|e| classify(&what, e))?.success().map_err(|e| classify(&what, e))?;
        Ok(ldap)
    }

    /// Finds the one entry of `address`; returns its DN and attributes.
    async fn find_user(
        &self,
        ldap: &mut ldap3::Ldap,
        address: &str,
        attributes: &[&str],
    ) -> Result<SearchEntry, LdapFailure> {
        let filter = self.config.user_filter.replace("{address}", &ldap3::ldap_escape(address));
        let what = format!("user {address}");
        let timeout = Duration::from_millis(self.config.retry.timeout_ms);
        let result =
            ldap.with_timeout(timeout).search(&self.config.base_dn, Scope::Subtree, &filter, attributes.to_vec()).await;
        let (entries, _) = result.map_err(|e| classify(&what, e))?.success().map_err(|e| classify(&what, e))?;
        match entries.len() {
            0 => Err(LdapFailure::Final(Failure::Failed(format!(
                "target missing: {what} was not found under {} with filter {filter}",
                self.config.base_dn
            )))),
            1 => Ok(SearchEntry::construct(
                entries.into_iter().next().ok_or_else(|| LdapFailure::Transient("empty result".to_string()))?,
            )),
            count => Err(LdapFailure::Final(Failure::Failed(format!(
                "{count} entries match {what} with filter {filter}; make user_filter match exactly one"
            )))),
        }
    }

    async fn replace(
        &self,
        ldap: &mut ldap3::Ldap,
        dn: &str,
        modification: Mod<String>,
        what: &str,
    ) -> Result<(), LdapFailure> {
        let timeout = Duration::from_millis(self.config.retry.timeout_ms);
        let result = ldap.with_timeout(timeout).modify(dn, vec![modification]).await;
        result.map_err(|e| classify(what, e))?.success().map_err(|e| classify(what, e))?;
        Ok(())
    }

    async fn force_change(&self, address: &str) -> Result<String, LdapFailure> {
        let mut ldap = self.connect().await?;
        let entry = self.find_user(&mut ldap, address, &["1.1"]).await?;
        let what = format!("user {address} ({})", entry.dn);
        let modification = match self.config.schema {
            DirectorySchema::ActiveDirectory => replace_with("pwdLastSet", "0"),
            DirectorySchema::Openldap => replace_with("pwdReset", "TRUE"),
        };
        self.replace(&mut ldap, &entry.dn, modification, &what).await?;
        let _ = ldap.unbind().await;
        Ok(format!("{what} must change the password at next logon"))
    }

    async fn set_disabled(&self, address: &str, disable: bool) -> Result<String, LdapFailure> {
        let mut ldap = self.connect().await?;
        let entry = self.find_user(&mut ldap, address, &["userAccountControl", "pwdAccountLockedTime"]).await?;
        let what = format!("user {address} ({})", entry.dn);
        let modification = match self.config.schema {
            DirectorySchema::ActiveDirectory => {
                let current =
                    entry.attrs.get("userAccountControl").and_then(|v| v.first()).and_then(|v| v.parse::<u32>().ok());
                let Some(current) = current else {
                    return Err(LdapFailure::Final(Failure::Failed(format!(
                        "{what} has no readable userAccountControl; check that the bind account may read it"
                    ))));
                };
                let flags = if disable { current | ACCOUNT_DISABLE } else { current & !ACCOUNT_DISABLE };
                Some(replace_with("userAccountControl", &flags.to_string()))
            }
            DirectorySchema::Openldap if disable => Some(replace_with("pwdAccountLockedTime", "000001010000Z")),
            DirectorySchema::Openldap if entry.attrs.contains_key("pwdAccountLockedTime") => {
                Some(Mod::Delete("pwdAccountLockedTime".to_string(), HashSet::new()))
            }
            DirectorySchema::Openldap => None,
        };
        if let Some(modification) = modification {
            self.replace(&mut ldap, &entry.dn, modification, &what).await?;
        }
        let _ = ldap.unbind().await;
        Ok(if disable { format!("disabled {what}") } else { format!("enabled {what}") })
    }
}

fn replace_with(attribute: &str, value: &str) -> Mod<String> {
    Mod::Replace(attribute.to_string(), HashSet::from([value.to_string()]))
}

/// Sorts an LDAP error into a permission failure, a transient one or
/// another failure.
fn classify(what: &str, error: LdapError) -> LdapFailure {
    let LdapError::LdapResult { result } = &error else {
        return LdapFailure::Transient(format!("{what}: {error}"));
    };
    let text = if result.text.is_empty() { String::new() } else { format!(": {}", result.text) };
    match result.rc {
        49 | 50 => LdapFailure::Final(Failure::Failed(format!(
            "permission denied (LDAP result {}) for {what}{text}; check bind_dn, bind_password and the account's rights",
            result.rc
        ))),
        32 => {
            LdapFailure::Final(Failure::Failed(format!("target missing: base_dn or entry not found for {what}{text}")))
        }
        51 | 52 => LdapFailure::Transient(format!("{what}: LDAP result {}{text}", result.rc)),
        rc => LdapFailure::Final(Failure::Failed(format!("failed for {what}: LDAP result {rc}{text}"))),
    }
}

#[async_trait]
impl Connector for LdapConnector {
    fn name(&self) -> &str {
        &self.config.name
    }

    async fn execute(&self, action: &PlannedAction) -> Outcome {
        let tally = Tally::default();
        let work = async {
            if action.kind != ActionKind::ResetPassword {
                return Err(unsupported(&self.config.name, action));
            }
            let address = person(action)?;
            self.with_retries(&tally, || self.force_change(address)).await
        };
        run(&self.config.name, &self.ledger, action, Operation::Execute, &tally, work).await
    }

    /// Returns `unsupported`, because a forced password change cannot be
    /// undone.
    async fn undo(&self, action: &PlannedAction) -> Outcome {
        let details = format!("{} cannot be undone", action.kind);
        Outcome::new(&self.config.name, action, Operation::Undo, OutcomeStatus::Unsupported, details)
    }
}
