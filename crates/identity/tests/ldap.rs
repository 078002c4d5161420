//! The ldap connector against a real OpenLDAP server (Debian's slapd) that
//! each test starts on a free port on 127.0.0.1; see `common/slapd.rs`.

mod common;

use common::slapd::{
    ADMIN_DN, ADMIN_PASSWORD, READER_DN, READER_PASSWORD, SUFFIX, Slapd, attribute, free_port, start_slapd, user_bind,
};
use common::{LogCapture, action, person, secret_file};
use phishloop_identity::{DirectorySchema, HttpConfig, LdapConfig, LdapConnector};
use phishloop_response::{ActionKind, Connector, OutcomeStatus};

fn connector(slapd: &Slapd, schema: DirectorySchema, bind_dn: &str, password: &str) -> LdapConnector {
    let config = LdapConfig {
        name: "ldap".to_string(),
        url: slapd.url.clone(),
        starttls: false,
        bind_dn: bind_dn.to_string(),
        bind_password: secret_file(&slapd.dir, "bind-password", password),
        base_dn: format!("ou=people,{SUFFIX}"),
        user_filter: "(&(objectClass=inetOrgPerson)(mail={address}))".to_string(),
        schema,
        retry: HttpConfig { timeout_ms: 5_000, max_attempts: 2, initial_backoff_ms: 10, max_backoff_ms: 50 },
    };
    LdapConnector::new(&config).expect("ldap connector")
}

#[tokio::test]
async fn openldap_reset_sets_pwd_reset() {
    let Some(slapd) = start_slapd().await else { return };
    let connector = connector(&slapd, DirectorySchema::Openldap, ADMIN_DN, ADMIN_PASSWORD);
    let action = action(ActionKind::ResetPassword, person("alice@example.test"), "ldap");

    let before = attribute(&slapd.url, "alice", "pwdReset").await;
    let outcome = connector.execute(&action).await;
    let after = attribute(&slapd.url, "alice", "pwdReset").await;

    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.details);
    assert_eq!(before, None);
    assert_eq!(after.as_deref(), Some("TRUE"));
    assert!(outcome.details.contains("uid=alice,ou=people"), "{}", outcome.details);
}

#[tokio::test]
async fn openldap_disable_locks_account() {
    let Some(slapd) = start_slapd().await else { return };
    let connector = connector(&slapd, DirectorySchema::Openldap, ADMIN_DN, ADMIN_PASSWORD);
    let action = action(ActionKind::ResetPassword, person("alice@example.test"), "ldap");

    let bind_before = user_bind(&slapd.url, "alice").await;
    let disabled = connector.disable_account(&action).await;
    let bind_disabled = user_bind(&slapd.url, "alice").await;
    let locked = attribute(&slapd.url, "alice", "pwdAccountLockedTime").await;
    let enabled = connector.enable_account(&action).await;
    let bind_enabled = user_bind(&slapd.url, "alice").await;

    assert_eq!(bind_before, 0, "alice can bind before");
    assert_eq!(disabled.status, OutcomeStatus::Succeeded, "{}", disabled.details);
    assert_eq!(locked.as_deref(), Some("000001010000Z"));
    assert_eq!(bind_disabled, 49, "a locked account gets invalid credentials");
    assert_eq!(enabled.status, OutcomeStatus::Succeeded, "{}", enabled.details);
    assert_eq!(bind_enabled, 0, "alice can bind again");
}

#[tokio::test]
async fn active_directory_reset_and_disable() {
    let Some(slapd) = start_slapd().await else { return };
    let connector = connector(&slapd, DirectorySchema::ActiveDirectory, ADMIN_DN, ADMIN_PASSWORD);
    let action = action(ActionKind::ResetPassword, person("adam@example.test"), "ldap");

    let reset = connector.execute(&action).await;
    let disabled = connector.disable_account(&action).await;

    assert_eq!(reset.status, OutcomeStatus::Succeeded, "{}", reset.details);
    assert_eq!(attribute(&slapd.url, "adam", "pwdLastSet").await.as_deref(), Some("0"));
    assert_eq!(disabled.status, OutcomeStatus::Succeeded, "{}", disabled.details);
    assert_eq!(attribute(&slapd.url, "adam", "userAccountControl").await.as_deref(), Some("514"));
}

#[tokio::test]
async fn missing_user_is_target_missing() {
    let Some(slapd) = start_slapd().await else { return };
    let connector = connector(&slapd, DirectorySchema::Openldap, ADMIN_DN, ADMIN_PASSWORD);

    let outcome = connector.execute(&action(ActionKind::ResetPassword, person("nobody@example.test"), "ldap")).await;

    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(outcome.details.starts_with("target missing: user nobody@example.test"), "{}", outcome.details);
}

#[tokio::test]
async fn ambiguous_user_fails() {
    let Some(slapd) = start_slapd().await else { return };
    let connector = connector(&slapd, DirectorySchema::Openldap, ADMIN_DN, ADMIN_PASSWORD);

    let outcome = connector.execute(&action(ActionKind::ResetPassword, person("twin1@example.test"), "ldap")).await;

    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(outcome.details.starts_with("2 entries match"), "{}", outcome.details);
}

#[tokio::test]
async fn wrong_bind_password_is_permission_failure() {
    let Some(slapd) = start_slapd().await else { return };
    let connector = connector(&slapd, DirectorySchema::Openldap, ADMIN_DN, "not-the-password");

    let outcome = connector.execute(&action(ActionKind::ResetPassword, person("alice@example.test"), "ldap")).await;

    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(outcome.details.starts_with("permission denied (LDAP result 49)"), "{}", outcome.details);
}

#[tokio::test]
async fn read_only_account_is_permission_failure() {
    let Some(slapd) = start_slapd().await else { return };
    let connector = connector(&slapd, DirectorySchema::Openldap, READER_DN, READER_PASSWORD);

    let outcome = connector.execute(&action(ActionKind::ResetPassword, person("alice@example.test"), "ldap")).await;

    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(outcome.details.starts_with("permission denied (LDAP result 50)"), "{}", outcome.details);
    assert_eq!(attribute(&slapd.url, "alice", "pwdReset").await, None);
}

#[tokio::test]
async fn unreachable_server_gives_up() {
    let Some(slapd) = start_slapd().await else { return };
    let mut config_url = slapd.url.clone();
    config_url =
        config_url.replace(&config_url.rsplit(':').next().unwrap_or_default().to_string(), &free_port().to_string());
    let config = LdapConfig {
        name: "ldap".to_string(),
        url: config_url,
        starttls: false,
        bind_dn: ADMIN_DN.to_string(),
        bind_password: secret_file(&slapd.dir, "bind-password", ADMIN_PASSWORD),
        base_dn: SUFFIX.to_string(),
        user_filter: "(mail={address})".to_string(),
        schema: DirectorySchema::Openldap,
        retry: HttpConfig { timeout_ms: 2_000, max_attempts: 2, initial_backoff_ms: 10, max_backoff_ms: 50 },
    };
    let connector = LdapConnector::new(&config).expect("ldap connector");

    let outcome = connector.execute(&action(ActionKind::ResetPassword, person("alice@example.test"), "ldap")).await;

    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(outcome.details.starts_with("gave up after 2 attempts"), "{}", outcome.details);
    assert_eq!(outcome.attempts, 2);
}

#[test]
fn plain_ldap_to_remote_host_is_rejected() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = LdapConfig {
        name: "ldap".to_string(),
        url: "ldap://directory.example.test".to_string(),
        starttls: false,
        bind_dn: ADMIN_DN.to_string(),
        bind_password: secret_file(&dir, "bind-password", ADMIN_PASSWORD),
        base_dn: SUFFIX.to_string(),
        user_filter: "(mail={address})".to_string(),
        schema: DirectorySchema::Openldap,
        retry: HttpConfig::default(),
    };

    let Err(error) = LdapConnector::new(&config) else { panic!("plain ldap to a remote host was accepted") };

    assert!(error.to_string().contains("use ldaps:// or set starttls"), "{error}");
}

#[tokio::test]
async fn ldap_logs_no_secret() {
    let Some(slapd) = start_slapd().await else { return };
    let (capture, _guard) = LogCapture::start();
    let good = connector(&slapd, DirectorySchema::Openldap, ADMIN_DN, ADMIN_PASSWORD);
    let bad = connector(&slapd, DirectorySchema::Openldap, ADMIN_DN, "wrong-password-Qm3");

    let succeeded = good.execute(&action(ActionKind::ResetPassword, person("alice@example.test"), "ldap")).await;
    let failed = bad.execute(&action(ActionKind::ResetPassword, person("adam@example.test"), "ldap")).await;

    let logs = capture.text();
    assert_eq!(succeeded.status, OutcomeStatus::Succeeded, "{}", succeeded.details);
    assert_eq!(failed.status, OutcomeStatus::Failed);
    assert!(logs.contains("action succeeded"), "the capture saw the outcome: {logs}");
    assert!(!logs.contains(ADMIN_PASSWORD), "bind password logged: {logs}");
    assert!(!logs.contains("wrong-password-Qm3"), "bind password logged: {logs}");
}
