//! Identity containment: who clicked, the identity connectors, attacker
//! mailbox rules and the non-human identity inventory.
//!
//! - [`classify_clicks`] turns proxy, DNS and Defender evidence
//!   ([`parse_csv`], [`parse_json_lines`], [`parse_url_click_events`]) into
//!   a [`Verdict`] per person. It is pure: no I/O.
//! - [`RuleCheck`] flags attacker-like inbox rules and forwarding.
//! - [`Inventory`] lists non-human credentials with their owners.
//! - The connectors implement [`phishloop_response::Connector`]:
//!   [`GraphConnector`], [`OktaConnector`], [`GoogleConnector`],
//!   [`LdapConnector`], [`VaultConnector`], [`AwsIamConnector`] and
//!   [`GithubConnector`]. Each reads its credential from the environment or
//!   a file when built, never logs it, retries throttled requests with
//!   bounded back-off, and does not repeat an action whose idempotency key
//!   already succeeded. Failures are outcomes, never errors or panics.
//! - [`IdentityConfig`] is the service's `[identity]` table, and
//!   [`IdentitySystems`] builds its connectors, among them the
//!   [`IdentityConnector`] that carries one action out on every system.

mod auth;
mod clicks;
mod config;
mod error;
mod fanout;
mod google;
mod graph;
mod http;
mod ldap;
mod listing;
mod nhi;
mod okta;
mod rotation;
mod rules;
mod runner;
mod secret;
mod secrets;

pub use clicks::{
    Campaign, ClickFilter, ClickReport, DEFAULT_SCANNER_AGENTS, Evidence, EvidenceKind, ExcludedEntry, Exclusion,
    FieldMap, LogDefect, LogEntry, LogError, LogSource, ParsedLog, PersonVerdict, Verdict, classify_clicks, parse_csv,
    parse_json_lines, parse_url_click_events,
};
pub use config::{ClickSettings, DefenderPolling, IdentityConfig, IdentitySystems, InventorySource};
pub use error::ConfigError;
pub use fanout::{IDENTITY_CONNECTOR, IdentityConnector};
pub use google::{DIRECTORY_SCOPE, GMAIL_SCOPE, GoogleConfig, GoogleConnector};
pub use graph::{GraphConfig, GraphConnector, PasswordCredential};
pub use http::{CallError, HttpConfig};
pub use ldap::{DirectorySchema, LdapConfig, LdapConnector};
pub use listing::{AwsListing, GithubListing, Listed, VaultListing};
pub use nhi::{Inventory, InventoryError, NhiCredential, NhiKind, Provider};
pub use okta::{OktaConfig, OktaConnector};
pub use rotation::RotationConfig;
pub use rules::{
    DEFAULT_KEYWORDS, DEFAULT_OBSCURE_FOLDERS, EmailAddress, FlaggedRule, MessageRule, Recipient, RuleActions,
    RuleCheck, RulePredicates, RuleReason,
};
pub use secrets::{AwsIamConfig, AwsIamConnector, GithubConfig, GithubConnector, VaultConfig, VaultConnector};
