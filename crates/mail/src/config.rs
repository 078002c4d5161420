//! The `[mail]` configuration: reporting mailboxes (`[[mail.intake]]`), the
//! purge connector (`[mail.purge]`) and outbox delivery (`[mail.smtp]`).
//!
//! Passwords never sit in the file itself: each credential names an
//! environment variable (`password_env`) or a file (`password_file`), and
//! [`Secret::resolve`] reads it when a component is built, so a missing
//! secret fails at start-up and not at the first message.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Errors in the mail configuration or in the secrets it names.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{field}: set exactly one of password_env and password_file, not both")]
    TwoSecrets { field: String },
    #[error("{field}: missing password; set password_env to a variable name or password_file to a file path")]
    MissingSecret { field: String },
    #[error("{field}: environment variable {variable} is not set or not valid UTF-8; export it or use password_file")]
    MissingVariable { field: String, variable: String },
    #[error("{field}: cannot read password file {}: {source}; check the path and its permissions", path.display())]
    SecretFile {
        field: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{field}: security = \"plain\" sends passwords unencrypted and is only allowed for a loopback host, not {host:?}; use \"tls\" or \"starttls\""
    )]
    PlainNotLoopback { field: String, host: String },
    #[error("{field}: invalid value {value:?}: {reason}")]
    Invalid { field: String, value: String, reason: String },
    #[error("{field}: cannot read {}: {source}", path.display())]
    File {
        field: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{field}: invalid CA certificate file {}: {reason}", path.display())]
    CaFile { field: String, path: PathBuf, reason: String },
}

/// The protection of the connection to a mail server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// TLS from the first byte (IMAPS on 993, SMTPS on 465).
    Tls,
    /// A plain connection upgraded with STARTTLS before any credential is sent.
    Starttls,
    /// No encryption; only accepted for a loopback host.
    Plain,
}

/// A server's host, port, protection and CA file, validated from a
/// section's `host`, `port`, `security` and `ca_file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddress {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// PEM file with the certificates to trust instead of the system's
    /// roots, for servers with a private or self-signed certificate.
    pub ca_file: Option<PathBuf>,
}

impl ServerAddress {
    fn checked(
        field: &str,
        host: &str,
        port: u16,
        security: Security,
        ca_file: &Option<PathBuf>,
    ) -> Result<Self, ConfigError> {
        if host.trim().is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid(&format!("{field}.host"), host, "expected a host name or IP address"));
        }
        if port == 0 {
            return Err(invalid(&format!("{field}.port"), "0", "expected a port from 1 to 65535"));
        }
        if security == Security::Plain && !is_loopback(host) {
            return Err(ConfigError::PlainNotLoopback { field: field.to_string(), host: host.to_string() });
        }
        Ok(ServerAddress { host: host.to_string(), port, security, ca_file: ca_file.clone() })
    }
}

/// True for `localhost` and for IP literals in 127.0.0.0/8 or `::1`.
pub(crate) fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.eq_ignore_ascii_case("localhost") {
        return true;
    }
    bare.parse::<IpAddr>().is_ok_and(|address| address.is_loopback())
}

/// A credential named by an environment variable or a file, never inline.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
}

impl Secret {
    /// Reads the password. A file's trailing newline is dropped, so a file
    /// written with `echo` works.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when neither or both sources are set, or the source
    /// cannot be read. `field` names the section in the message.
    pub fn resolve(&self, field: &str) -> Result<String, ConfigError> {
        match (&self.password_env, &self.password_file) {
            (Some(_), Some(_)) => Err(ConfigError::TwoSecrets { field: field.to_string() }),
            (None, None) => Err(ConfigError::MissingSecret { field: field.to_string() }),
            (Some(variable), None) => std::env::var(variable)
                .map_err(|_| ConfigError::MissingVariable { field: field.to_string(), variable: variable.clone() }),
            (None, Some(path)) => read_secret_file(field, path),
        }
    }

    fn is_set(&self) -> bool {
        self.password_env.is_some() || self.password_file.is_some()
    }
}

fn read_secret_file(field: &str, path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::SecretFile {
        field: field.to_string(),
        path: path.to_path_buf(),
        source,
    })?;
    Ok(text.trim_end_matches(['\r', '\n']).to_string())
}

/// The whole `[mail]` section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    /// Reporting mailboxes to watch.
    #[serde(default)]
    pub intake: Vec<IntakeAccount>,
    pub purge: Option<PurgeConfig>,
    pub smtp: Option<SmtpConfig>,
    /// Domains whose Message-IDs mark mail that phishloop sent itself, in
    /// addition to the domain of `smtp.from`. Intake never reports such mail.
    #[serde(default)]
    pub own_domains: Vec<String>,
}

impl MailConfig {
    /// Domains that mark phishloop's own mail: `smtp.from`'s domain plus
    /// `own_domains`, lowercase and without duplicates.
    pub fn own_domains(&self) -> Vec<String> {
        let from_domain = self.smtp.as_ref().and_then(|smtp| domain_of(&smtp.from));
        let mut domains: Vec<String> = from_domain
            .into_iter()
            .chain(self.own_domains.iter().map(|domain| domain.trim().to_ascii_lowercase()))
            .filter(|domain| !domain.is_empty())
            .collect();
        domains.sort();
        domains.dedup();
        domains
    }
}

/// Returns the domain of an address in lowercase, or `None` without an `@`.
pub(crate) fn domain_of(address: &str) -> Option<String> {
    let (_, domain) = address.trim().rsplit_once('@')?;
    let domain = domain.trim_end_matches('>').trim().to_ascii_lowercase();
    (!domain.is_empty()).then_some(domain)
}

/// One reporting mailbox (`[[mail.intake]]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeAccount {
    /// Short name used in logs and in each report's source key.
    pub name: String,
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub ca_file: Option<PathBuf>,
    pub username: String,
    /// Environment variable that contains the password.
    pub password_env: Option<String>,
    /// File whose content is the password.
    pub password_file: Option<PathBuf>,
    #[serde(default = "default_inbox")]
    pub mailbox: String,
    /// Folder that receives a message once its report is stored; created if
    /// missing.
    #[serde(default = "default_processed")]
    pub processed_folder: String,
    /// Folder for bounces, auto-replies and phishloop's own mail, which are
    /// never reported; created if missing.
    #[serde(default = "default_ignored")]
    pub ignored_folder: String,
    /// Wait with IMAP IDLE when the server offers it; otherwise poll.
    #[serde(default = "default_true")]
    pub idle: bool,
    /// Seconds between polls without IDLE, and the longest IDLE wait while a
    /// message is waiting for a retry.
    #[serde(default = "default_poll_interval")]
    pub poll_interval_secs: u64,
}

impl IntakeAccount {
    /// The password source of this section.
    pub fn secret(&self) -> Secret {
        Secret { password_env: self.password_env.clone(), password_file: self.password_file.clone() }
    }

    /// The validated server address.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for an empty host, port 0 or plain text to a host
    /// that is not loopback.
    pub fn server(&self) -> Result<ServerAddress, ConfigError> {
        let field = format!("mail.intake[{}]", self.name);
        ServerAddress::checked(&field, &self.host, self.port, self.security, &self.ca_file)
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let field = format!("mail.intake[{}]", self.name);
        if self.name.is_empty() || !self.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Err(invalid(
                "mail.intake.name",
                &self.name,
                "expected letters, digits, '-', '_' or '.', because the name is part of each report's source key",
            ));
        }
        if self.poll_interval_secs == 0 {
            return Err(invalid(&format!("{field}.poll_interval_secs"), "0", "expected at least 1 second"));
        }
        let folders = [&self.mailbox, &self.processed_folder, &self.ignored_folder];
        for (index, folder) in folders.iter().enumerate() {
            check_folder_name(&field, folder)?;
            if folders[..index].contains(folder) {
                return Err(invalid(
                    &format!("{field}.processed_folder"),
                    folder,
                    "mailbox, processed_folder and ignored_folder must be three different folders",
                ));
            }
        }
        self.server()?;
        Ok(())
    }
}

/// The purge connector (`[mail.purge]`): one login per mailbox through an
/// administrator ("master") user.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurgeConfig {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub ca_file: Option<PathBuf>,
    /// How the login name is built from the mailbox user and the master
    /// user. Dovecot's default separator gives `{user}*{master}`.
    #[serde(default = "default_master_format")]
    pub master_login_format: String,
    pub master_username: String,
    /// Environment variable that contains the password.
    pub password_env: Option<String>,
    /// File whose content is the password.
    pub password_file: Option<PathBuf>,
    /// Mailbox users to search.
    #[serde(default)]
    pub users: Vec<String>,
    /// A file with one mailbox user a line; `#` starts a comment. Added to
    /// `users`.
    pub users_file: Option<PathBuf>,
    /// Folders searched for copies in each mailbox.
    #[serde(default = "default_folders")]
    pub folders: Vec<String>,
    /// Where copies are moved; created in each mailbox when missing.
    #[serde(default = "default_quarantine")]
    pub quarantine_folder: String,
    /// Mailboxes worked on at the same time.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Seconds allowed for one mailbox (connect, login, search and move).
    #[serde(default = "default_mailbox_timeout")]
    pub mailbox_timeout_secs: u64,
}

impl PurgeConfig {
    /// The password source of this section.
    pub fn secret(&self) -> Secret {
        Secret { password_env: self.password_env.clone(), password_file: self.password_file.clone() }
    }

    /// The validated server address.
    ///
    /// # Errors
    ///
    /// As for [`IntakeAccount::server`].
    pub fn server(&self) -> Result<ServerAddress, ConfigError> {
        ServerAddress::checked("mail.purge", &self.host, self.port, self.security, &self.ca_file)
    }

    /// The login name for `user`.
    pub fn login_for(&self, user: &str) -> String {
        self.master_login_format.replace("{user}", user).replace("{master}", &self.master_username)
    }

    /// Every configured mailbox user: `users`, then the lines of
    /// `users_file`, without duplicates.
    ///
    /// # Errors
    ///
    /// [`ConfigError::File`] when `users_file` cannot be read.
    pub fn all_users(&self) -> Result<Vec<String>, ConfigError> {
        let mut users = self.users.clone();
        if let Some(path) = &self.users_file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::File {
                field: "mail.purge.users_file".to_string(),
                path: path.clone(),
                source,
            })?;
            let lines = text.lines().map(|line| line.split('#').next().unwrap_or("").trim());
            users.extend(lines.filter(|line| !line.is_empty()).map(str::to_string));
        }
        let mut seen = std::collections::HashSet::new();
        users.retain(|user| seen.insert(user.clone()));
        Ok(users)
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        self.server()?;
        if !self.master_login_format.contains("{user}") {
            return Err(invalid(
                "mail.purge.master_login_format",
                &self.master_login_format,
                "expected a pattern containing {user}, such as \"{user}*{master}\"",
            ));
        }
        if self.concurrency == 0 {
            return Err(invalid("mail.purge.concurrency", "0", "expected at least 1"));
        }
        if self.mailbox_timeout_secs == 0 {
            return Err(invalid("mail.purge.mailbox_timeout_secs", "0", "expected at least 1 second"));
        }
        if self.folders.is_empty() {
            return Err(invalid("mail.purge.folders", "[]", "expected at least one folder, such as \"INBOX\""));
        }
        check_folder_name("mail.purge", &self.quarantine_folder)?;
        for folder in &self.folders {
            check_folder_name("mail.purge", folder)?;
            if folder == &self.quarantine_folder {
                return Err(invalid(
                    "mail.purge.folders",
                    folder,
                    "the quarantine folder cannot also be a folder to search",
                ));
            }
        }
        for user in &self.users {
            check_user_name(user)?;
        }
        Ok(())
    }
}

pub(crate) fn check_user_name(user: &str) -> Result<(), ConfigError> {
    if user.is_empty() || user.chars().any(|c| c.is_control() || c.is_whitespace() || c == '"' || c == '\\') {
        return Err(invalid("mail.purge.users", user, "expected a login name without spaces, quotes or backslashes"));
    }
    Ok(())
}

/// Outbox delivery (`[mail.smtp]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub ca_file: Option<PathBuf>,
    /// Login for SMTP AUTH; no authentication when absent.
    pub username: Option<String>,
    /// Environment variable that contains the password.
    pub password_env: Option<String>,
    /// File whose content is the password.
    pub password_file: Option<PathBuf>,
    /// The From address; its domain is phishloop's own Message-ID domain.
    pub from: String,
    pub from_name: Option<String>,
    /// The EHLO name; the machine's host name when absent.
    pub helo_name: Option<String>,
    /// Delivery attempts per message, the first included.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Wait before the second attempt, in milliseconds; doubled after each
    /// further failure.
    #[serde(default = "default_backoff_ms")]
    pub backoff_initial_ms: u64,
    /// Upper bound of the wait between attempts, in milliseconds.
    #[serde(default = "default_backoff_max_ms")]
    pub backoff_max_ms: u64,
    /// Seconds allowed for one SMTP command.
    #[serde(default = "default_smtp_timeout")]
    pub timeout_secs: u64,
}

impl SmtpConfig {
    /// The password source of this section.
    pub fn secret(&self) -> Secret {
        Secret { password_env: self.password_env.clone(), password_file: self.password_file.clone() }
    }

    /// The validated server address.
    ///
    /// # Errors
    ///
    /// As for [`IntakeAccount::server`].
    pub fn server(&self) -> Result<ServerAddress, ConfigError> {
        ServerAddress::checked("mail.smtp", &self.host, self.port, self.security, &self.ca_file)
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        self.server()?;
        if domain_of(&self.from).is_none() {
            return Err(invalid(
                "mail.smtp.from",
                &self.from,
                "expected an address such as phishloop@corp-example.com",
            ));
        }
        if self.username.is_none() && self.secret().is_set() {
            return Err(invalid(
                "mail.smtp.username",
                "(missing)",
                "a password is configured, so set username too, or remove the password",
            ));
        }
        if self.max_attempts == 0 {
            return Err(invalid("mail.smtp.max_attempts", "0", "expected at least 1"));
        }
        Ok(())
    }
}

fn check_folder_name(field: &str, folder: &str) -> Result<(), ConfigError> {
    if folder.is_empty() || folder.chars().any(|c| c.is_control() || c == '"' || c == '\\' || c == '*' || c == '%') {
        return Err(invalid(
            field,
            folder,
            "expected a folder name without control characters, quotes, backslashes, '*' or '%'",
        ));
    }
    Ok(())
}

fn invalid(field: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid { field: field.to_string(), value: value.to_string(), reason: reason.to_string() }
}

fn default_inbox() -> String {
    "INBOX".to_string()
}
fn default_processed() -> String {
    "Phishloop-Processed".to_string()
}
fn default_ignored() -> String {
    "Phishloop-Ignored".to_string()
}
fn default_quarantine() -> String {
    "Phishloop-Quarantine".to_string()
}
fn default_true() -> bool {
    true
}
fn default_poll_interval() -> u64 {
    60
}
fn default_master_format() -> String {
    "{user}*{master}".to_string()
}
fn default_folders() -> Vec<String> {
    vec!["INBOX".to_string()]
}
fn default_concurrency() -> usize {
    8
}
fn default_mailbox_timeout() -> u64 {
    120
}
fn default_max_attempts() -> u32 {
    5
}
fn default_backoff_ms() -> u64 {
    30_000
}
fn default_backoff_max_ms() -> u64 {
    15 * 60 * 1000
}
fn default_smtp_timeout() -> u64 {
    60
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<MailConfig, toml::de::Error> {
        toml::from_str(text)
    }

    const ACCOUNT: &str = r#"
[[intake]]
name = "reports"
host = "imap.corp-example.com"
port = 993
security = "tls"
username = "reports"
password_env = "PHISHLOOP_TEST_UNSET_VARIABLE"
"#;

    #[test]
    fn intake_defaults_apply() {
        let config = parse(ACCOUNT).expect("valid");
        let account = &config.intake[0];

        assert_eq!(account.mailbox, "INBOX");
        assert_eq!(account.processed_folder, "Phishloop-Processed");
        assert_eq!(account.ignored_folder, "Phishloop-Ignored");
        assert!(account.idle);
        assert_eq!(account.poll_interval_secs, 60);
        assert!(account.validate().is_ok());
    }

    #[test]
    fn inline_password_is_unknown_key() {
        let error = parse(&format!("{ACCOUNT}password = \"hunter2\"\n")).expect_err("inline password");
        assert!(error.to_string().contains("password"), "{error}");
    }

    #[test]
    fn unknown_section_key_is_error() {
        assert!(
            parse("[smtp]\nhost = \"x\"\nport = 1\nsecurity = \"tls\"\nfrom = \"a@b.example\"\nfrm = 1\n").is_err()
        );
        assert!(parse("[[intake]]\nnmae = \"x\"\n").is_err());
    }

    #[test]
    fn plain_is_rejected_off_loopback() {
        let text = ACCOUNT.replace("\"tls\"", "\"plain\"");
        let config = parse(&text).expect("parses");

        let error = config.intake[0].validate().expect_err("plain to a remote host");

        assert!(matches!(error, ConfigError::PlainNotLoopback { .. }), "{error}");
        assert!(error.to_string().contains("imap.corp-example.com"), "{error}");
    }

    #[test]
    fn plain_is_allowed_on_loopback() {
        for host in ["127.0.0.1", "::1", "[::1]", "localhost", "127.8.9.10"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["10.0.0.1", "imap.corp-example.com", "localhost.corp-example.com", "0.0.0.0"] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn secret_needs_exactly_one_source() {
        let both = Secret { password_env: Some("A".into()), password_file: Some("/nonexistent".into()) };
        let neither = Secret::default();
        let unset = Secret { password_env: Some("PHISHLOOP_TEST_UNSET_VARIABLE".into()), password_file: None };

        assert!(matches!(both.resolve("x"), Err(ConfigError::TwoSecrets { .. })));
        assert!(matches!(neither.resolve("x"), Err(ConfigError::MissingSecret { .. })));
        let error = unset.resolve("mail.smtp").expect_err("unset variable");
        assert!(error.to_string().contains("PHISHLOOP_TEST_UNSET_VARIABLE"), "{error}");
    }

    #[test]
    fn secret_file_drops_trailing_newline() {
        let path = std::env::temp_dir().join(format!("phishloop-mail-secret-{}", std::process::id()));
        std::fs::write(&path, "s3cret\n").expect("write");
        let secret = Secret { password_env: None, password_file: Some(path.clone()) };

        let value = secret.resolve("x");
        let _ = std::fs::remove_file(&path);

        assert_eq!(value.expect("readable"), "s3cret");
    }

    #[test]
    fn purge_rejects_quarantine_among_folders() {
        let text = r#"
[purge]
host = "127.0.0.1"
port = 143
security = "plain"
master_username = "admin"
password_env = "X"
folders = ["INBOX", "Phishloop-Quarantine"]
"#;
        let config = parse(text).expect("parses");

        let error = config.purge.as_ref().expect("purge").validate().expect_err("overlap");

        assert!(error.to_string().contains("quarantine"), "{error}");
    }

    #[test]
    fn login_format_fills_user_and_master() {
        let text = "[purge]\nhost = \"127.0.0.1\"\nport = 143\nsecurity = \"plain\"\nmaster_username = \"admin\"\npassword_env = \"X\"\n";
        let config = parse(text).expect("parses");

        assert_eq!(config.purge.expect("purge").login_for("ann"), "ann*admin");
    }

    #[test]
    fn own_domains_include_smtp_from_domain() {
        let text = "own_domains = [\"Alt.Example\"]\n[smtp]\nhost = \"127.0.0.1\"\nport = 25\nsecurity = \"plain\"\nfrom = \"phishloop@Phishloop.Example\"\n";
        let config = parse(text).expect("parses");

        assert_eq!(config.own_domains(), ["alt.example", "phishloop.example"]);
    }
}
