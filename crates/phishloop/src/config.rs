//! The configuration file: one TOML document with a table per stage.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;

/// The whole configuration. Unknown keys are errors, so that a misspelt
/// setting is reported instead of silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Analysis settings: the organisation, trust boundary and limits.
    pub analysis: phishloop_analysis::Config,
    /// Triage settings: thresholds, rule folders, the model.
    pub triage: phishloop_triage::Config,
    /// `phishloop serve` settings: listener, database, workers, leases.
    pub server: phishloop_server::ServerConfig,
    /// Response settings: playbooks, never-blocked domains, webhooks.
    pub response: phishloop_response::ResponseConfig,
    /// Coaching settings: organisation name, signature, template folder.
    pub coaching: phishloop_coaching::CoachingConfig,
    /// Mail settings: reporting mailboxes, the IMAP purge, SMTP delivery.
    pub mail: phishloop_mail::MailConfig,
    /// Identity settings: connectors, click evidence, the inventory of
    /// non-human credentials.
    pub identity: phishloop_identity::IdentityConfig,
}

impl Settings {
    /// Reads a configuration file, or returns the defaults when `path` is
    /// `None`.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let Some(path) = path else {
            return Ok(Settings::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read configuration file {}", path.display()))?;
        let settings: Settings = toml::from_str(&text).with_context(|| {
            format!("invalid configuration file {}; see docs/configuration.md for the keys", path.display())
        })?;
        settings.validate().with_context(|| format!("invalid configuration file {}", path.display()))?;
        Ok(settings)
    }

    /// Checks what parsing cannot: playbook names, confidence ranges,
    /// targets and connector names in `[response]`, and that the
    /// `[coaching]` template folder can be read. The connector `imap` is
    /// known only when `[mail.purge]` is set, and each identity connector
    /// when its `[identity]` table is. The `[mail]` and `[identity]`
    /// secrets are read when the service starts.
    pub fn validate(&self) -> Result<()> {
        let mut service_connectors: Vec<&str> = Vec::new();
        if self.mail.purge.is_some() {
            service_connectors.push(phishloop_mail::CONNECTOR_NAME);
        }
        service_connectors.extend(self.identity_connector_names());
        self.response.validate(&service_connectors).context(
            "invalid [response] table; see docs/response.md (connector imap needs [mail.purge], \
             identity connectors need their [identity] table)",
        )?;
        phishloop_coaching::Coach::new(self.coaching.clone()).context("invalid [coaching] table")?;
        Ok(())
    }

    /// Names of the configured identity connectors, and `identity` when at
    /// least one is configured.
    fn identity_connector_names(&self) -> Vec<&str> {
        let identity = &self.identity;
        let mut names: Vec<&str> = [
            identity.graph.as_ref().map(|c| c.name.as_str()),
            identity.okta.as_ref().map(|c| c.name.as_str()),
            identity.google.as_ref().map(|c| c.name.as_str()),
            identity.ldap.as_ref().map(|c| c.name.as_str()),
            identity.vault.as_ref().map(|c| c.name.as_str()),
            identity.github.as_ref().map(|c| c.name.as_str()),
            identity.aws.as_ref().map(|c| c.name.as_str()),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !names.is_empty() {
            names.push(phishloop_identity::IDENTITY_CONNECTOR);
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_rejected() {
        let error = toml::from_str::<Settings>("[analysis.organisation]\ndomains = []\n").expect_err("unknown key");
        assert!(error.to_string().contains("organisation"), "{error}");
    }

    #[test]
    fn server_table_parses() {
        let text = "[server]\nlisten = \"127.0.0.1:9000\"\ndatabase = \"postgres://postgres@127.0.0.1/test\"\nworkers = 4\nlease_seconds = 30\n";

        let settings: Settings = toml::from_str(text).expect("valid");

        assert_eq!(settings.server.listen.port(), 9000);
        assert_eq!(settings.server.workers, 4);
        assert_eq!(settings.server.lease_seconds, 30);
        assert_eq!(settings.server.database.as_deref(), Some("postgres://postgres@127.0.0.1/test"));
    }

    #[test]
    fn unknown_server_key_rejected() {
        let error = toml::from_str::<Settings>("[server]\nport = 80\n").expect_err("unknown key");

        assert!(error.to_string().contains("port"), "{error}");
    }

    #[test]
    fn response_and_coaching_tables_parse() {
        let text = r#"
[response]
internal_domains = ["corp-example.com"]

[[response.playbooks]]
name = "block-lures"
verdicts = ["malicious"]
steps = [{ action = "block_url", target = "urls", mode = "auto", connector = "blocklist" }]

[coaching]
organization = "Corp Example"
team = "Corp Example security"
"#;
        let settings: Settings = toml::from_str(text).expect("valid");

        assert!(settings.validate().is_ok());
        assert_eq!(settings.response.playbooks[0].name, "block-lures");
        assert_eq!(settings.response.internal_domains, vec!["corp-example.com"]);
        assert_eq!(settings.coaching.organization, "Corp Example");
    }

    #[test]
    fn mail_table_parses_and_routes_purge() {
        let text = r#"
[response.connectors]
purge_copies = "imap"

[[mail.intake]]
name = "reports"
host = "127.0.0.1"
port = 143
security = "plain"
username = "reports@corp-example.com"
password_env = "PHISHLOOP_IMAP_PASSWORD"

[mail.purge]
host = "127.0.0.1"
port = 143
security = "plain"
master_username = "admin"
password_env = "PHISHLOOP_IMAP_MASTER_PASSWORD"
users = ["ann@corp-example.com"]

[mail.smtp]
host = "127.0.0.1"
port = 25
security = "plain"
from = "phishloop@corp-example.com"
"#;
        let settings: Settings = toml::from_str(text).expect("valid");

        assert!(settings.validate().is_ok(), "{:?}", settings.validate());
        assert_eq!(settings.mail.intake[0].name, "reports");
        assert_eq!(settings.mail.purge.as_ref().map(|purge| purge.users.len()), Some(1));
        assert_eq!(settings.mail.smtp.as_ref().map(|smtp| smtp.from.as_str()), Some("phishloop@corp-example.com"));
    }

    #[test]
    fn imap_connector_needs_purge_table() {
        let settings: Settings = toml::from_str("[response.connectors]\npurge_copies = \"imap\"\n").expect("parses");

        let error = settings.validate().expect_err("imap is unknown without [mail.purge]");

        assert!(format!("{error:#}").contains("[mail.purge]"), "{error:#}");
    }

    #[test]
    fn identity_table_parses_and_names_connectors() {
        let text = r#"
[identity.okta]
base_url = "https://corp-example.okta.com"
api_token = { env = "PHISHLOOP_OKTA_TOKEN" }

[identity.inventory]
file = "/etc/phishloop/credentials.csv"

[identity.clicks]
scanner_networks = ["192.0.2.0/24"]

[identity.clicks.field_maps.squid]
time = "timestamp"
url = "request_url"

[response.connectors]
revoke_sessions = "identity"
reset_password = "okta"
"#;
        let settings: Settings = toml::from_str(text).expect("valid");

        assert!(settings.validate().is_ok(), "{:?}", settings.validate());
        assert_eq!(settings.identity.okta.as_ref().map(|okta| okta.name.as_str()), Some("okta"));
        assert_eq!(settings.identity.clicks.burst_min_users, 4, "defaults fill the rest of the table");
        assert!(settings.identity.clicks.field_map("squid").is_some());
    }

    #[test]
    fn identity_connector_needs_its_table() {
        let settings: Settings =
            toml::from_str("[response.connectors]\nreset_password = \"identity\"\n").expect("parses");

        let error = settings.validate().expect_err("no identity system is configured");

        assert!(format!("{error:#}").contains("[identity]"), "{error:#}");
    }

    #[test]
    fn unknown_identity_key_rejected() {
        let error = toml::from_str::<Settings>("[identity.clicks]\nburst_users = 3\n").expect_err("unknown key");

        assert!(error.to_string().contains("burst_users"), "{error}");
    }

    #[test]
    fn unknown_mail_key_rejected() {
        let error = toml::from_str::<Settings>("[mail]\nimap = []\n").expect_err("unknown key");

        assert!(error.to_string().contains("imap"), "{error}");
    }

    #[test]
    fn unknown_response_key_rejected() {
        let error = toml::from_str::<Settings>(
            "[response]
playbook = []
",
        )
        .expect_err("unknown key");

        assert!(error.to_string().contains("playbook"), "{error}");
    }

    #[test]
    fn unknown_connector_fails_validation() {
        let text = r#"
[[response.playbooks]]
name = "soar"
steps = [{ action = "block_sender", target = "sender", connector = "soar" }]
"#;
        let settings: Settings = toml::from_str(text).expect("parses");

        let error = settings.validate().expect_err("no webhook named soar");

        assert!(format!("{error:#}").contains("unknown connector \"soar\""), "{error:#}");
    }

    #[test]
    fn full_analysis_table_parses() {
        let text = r#"
[analysis.organization]
domains = ["corp-example.com"]
reporting_addresses = ["phishing-report@corp-example.com"]
people = ["Jane Doe"]

[analysis.trust]
authserv_ids = ["mx.corp-example.com"]
microsoft_365 = true
internal_hosts = ["*.corp-example.com"]
internal_networks = ["10.0.0.0/8"]

[analysis.limits]
max_message_bytes = 1000000
time_limit_ms = 5000

[[analysis.brands]]
name = "Contoso Bank"
domains = ["contosobank.example"]
"#;
        let settings: Settings = toml::from_str(text).expect("valid");
        assert_eq!(settings.analysis.organization.domains, vec!["corp-example.com"]);
        assert_eq!(settings.analysis.limits.max_message_bytes, 1_000_000);
        assert_eq!(settings.analysis.limits.max_urls, 1_000);
        assert_eq!(settings.analysis.brands.len(), 1);
    }
}
