//! A real OpenLDAP server (Debian's slapd) for the tests. Each call of
//! [`start_slapd`] writes a configuration to a temporary folder and starts
//! slapd on a free port on 127.0.0.1 with a test base. The server stops
//! when the returned value is dropped.
//!
//! Without slapd installed (`scripts/ldap-server.sh` installs it) the
//! LDAP tests fail with a message naming that script.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ldap3::{LdapConnAsync, Scope, SearchEntry};

pub const SLAPD: &str = "/usr/sbin/slapd";
pub const SUFFIX: &str = "dc=example,dc=test";
pub const ADMIN_DN: &str = "cn=admin,dc=example,dc=test";
pub const ADMIN_PASSWORD: &str = "admin-secret-Lk4w";
pub const READER_DN: &str = "cn=reader,dc=example,dc=test";
pub const READER_PASSWORD: &str = "reader-secret-Vb6q";
pub const USER_PASSWORD: &str = "user-password-Tz1";

/// Attributes and an auxiliary class with Active Directory's names and
/// OIDs, so the AD code path runs against slapd.
const AD_TEST_SCHEMA: &str = "\
attributetype ( 1.2.840.113556.1.4.96 NAME 'pwdLastSet' EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl' EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.4203.666.99.1 NAME 'phishloopAdTestUser' AUXILIARY MAY ( pwdLastSet $ userAccountControl ) )
";

/// A DN and its attributes, for an add.
type Entry = (String, Vec<(&'static str, HashSet<&'static str>)>);

/// A running slapd; stopped when dropped.
pub struct Slapd {
    child: Child,
    pub url: String,
    pub dir: tempfile::TempDir,
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Returns true when slapd is installed, and fails the test when it is not:
/// a test that passes without its server would prove nothing.
fn slapd_available() -> bool {
    assert!(Path::new(SLAPD).exists(), "{SLAPD} not found: run scripts/ldap-server.sh to install it");
    true
}

pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

fn write_config(dir: &Path) -> std::path::PathBuf {
    std::fs::create_dir(dir.join("data")).expect("data folder");
    std::fs::write(dir.join("ad-test.schema"), AD_TEST_SCHEMA).expect("schema file");
    let config = format!(
        "include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include {dir}/ad-test.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
pidfile {dir}/slapd.pid
database mdb
maxsize 10485760
suffix \"{SUFFIX}\"
rootdn \"{ADMIN_DN}\"
rootpw {ADMIN_PASSWORD}
directory {dir}/data
overlay ppolicy
ppolicy_default \"cn=default,ou=policies,{SUFFIX}\"
access to attrs=userPassword by dn.exact=\"{READER_DN}\" read by anonymous auth by self write by * none
access to * by dn.exact=\"{READER_DN}\" read by self read by * read
",
        dir = dir.display()
    );
    let path = dir.join("slapd.conf");
    std::fs::write(&path, config).expect("config file");
    path
}

pub async fn start_slapd() -> Option<Slapd> {
    if !slapd_available() {
        return None;
    }
    // A free port can be taken by another test's server between the probe
    // and slapd's bind. Such a slapd exits at once, so a few tries on new
    // ports get one that is ours.
    for _ in 0..5 {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = write_config(dir.path());
        if let Some(slapd) = spawn_on_free_port(dir, &config).await {
            load_base(&slapd.url).await;
            return Some(slapd);
        }
    }
    panic!("slapd exited on each of five free ports; run it by hand with the test configuration to see why");
}

/// Starts slapd and waits until it listens and has written its pid file,
/// which it does after binding. Returns `None` when it exited first.
async fn spawn_on_free_port(dir: tempfile::TempDir, config: &Path) -> Option<Slapd> {
    let port = free_port();
    let url = format!("ldap://127.0.0.1:{port}");
    let child = Command::new(SLAPD)
        .arg("-f")
        .arg(config)
        .arg("-h")
        .arg(format!("{url}/"))
        .arg("-d")
        .arg("0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start slapd");
    let mut slapd = Slapd { child, url, dir };
    let pid_file = slapd.dir.path().join("slapd.pid");

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if slapd.child.try_wait().expect("slapd status").is_some() {
            return None;
        }
        let listening = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        if listening && pid_file.exists() {
            return Some(slapd);
        }
        assert!(Instant::now() < deadline, "slapd did not listen on {} within 15 s", slapd.url);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn admin(url: &str) -> ldap3::Ldap {
    let (connection, mut ldap) = LdapConnAsync::new(url).await.expect("connect to slapd");
    ldap3::drive!(connection);
    ldap.simple_bind(ADMIN_DN, ADMIN_PASSWORD).await.expect("bind").success().expect("admin bind");
    ldap
}

fn set(values: &[&'static str]) -> HashSet<&'static str> {
    values.iter().copied().collect()
}

/// Loads the base: a default password policy, a read-only account and
/// three users, one of them with the AD test attributes.
async fn load_base(url: &str) {
    let mut ldap = admin(url).await;
    let entries: Vec<Entry> = vec![
        (
            SUFFIX.to_string(),
            vec![
                ("objectClass", set(&["dcObject", "organization"])),
                ("dc", set(&["example"])),
                ("o", set(&["Example"])),
            ],
        ),
        (format!("ou=people,{SUFFIX}"), vec![("objectClass", set(&["organizationalUnit"])), ("ou", set(&["people"]))]),
        (
            format!("ou=policies,{SUFFIX}"),
            vec![("objectClass", set(&["organizationalUnit"])), ("ou", set(&["policies"]))],
        ),
        (
            format!("cn=default,ou=policies,{SUFFIX}"),
            vec![
                ("objectClass", set(&["person", "pwdPolicy"])),
                ("cn", set(&["default"])),
                ("sn", set(&["policy"])),
                ("pwdAttribute", set(&["userPassword"])),
                ("pwdMustChange", set(&["TRUE"])),
                ("pwdLockout", set(&["TRUE"])),
            ],
        ),
        (
            READER_DN.to_string(),
            vec![
                ("objectClass", set(&["organizationalRole", "simpleSecurityObject"])),
                ("cn", set(&["reader"])),
                ("userPassword", set(&[READER_PASSWORD])),
            ],
        ),
        user_entry("alice", false),
        user_entry("adam", true),
        user_entry("twin1", false),
        user_entry("user05", false),
        user_entry("user12", false),
    ];
    for (dn, attributes) in entries {
        ldap.add(&dn, attributes).await.expect("add").success().unwrap_or_else(|e| panic!("add {dn}: {e}"));
    }
    // Two entries with one address, for the ambiguity test.
    let twin: Vec<(&str, HashSet<&str>)> = vec![
        ("objectClass", set(&["inetOrgPerson"])),
        ("uid", set(&["twin2"])),
        ("cn", set(&["twin2"])),
        ("sn", set(&["twin2"])),
        ("mail", set(&["twin1@example.test"])),
    ];
    ldap.add(&format!("uid=twin2,ou=people,{SUFFIX}"), twin).await.expect("add").success().expect("add twin2");
    let _ = ldap.unbind().await;
}

fn user_entry(uid: &'static str, active_directory: bool) -> Entry {
    let mail: &'static str = Box::leak(format!("{uid}@example.test").into_boxed_str());
    let mut classes = vec!["inetOrgPerson"];
    if active_directory {
        classes.push("phishloopAdTestUser");
    }
    let mut attributes = vec![
        ("objectClass", classes.into_iter().collect()),
        ("uid", set(&[uid])),
        ("cn", set(&[uid])),
        ("sn", set(&[uid])),
        ("mail", set(&[mail])),
        ("userPassword", set(&[USER_PASSWORD])),
    ];
    if active_directory {
        attributes.push(("userAccountControl", set(&["512"])));
        attributes.push(("pwdLastSet", set(&["133400000000000000"])));
    }
    (format!("uid={uid},ou=people,{SUFFIX}"), attributes)
}

/// Reads one attribute of a user as the administrator; operational
/// attributes such as `pwdReset` are requested by name.
pub async fn attribute(url: &str, uid: &str, name: &str) -> Option<String> {
    let mut ldap = admin(url).await;
    let (entries, _) = ldap
        .search(&format!("uid={uid},ou=people,{SUFFIX}"), Scope::Base, "(objectClass=*)", vec![name])
        .await
        .expect("search")
        .success()
        .expect("search result");
    let entry = SearchEntry::construct(entries.into_iter().next()?);
    entry.attrs.get(name).and_then(|values| values.first().cloned())
}

/// Binds as a user and returns the LDAP result code.
pub async fn user_bind(url: &str, uid: &str) -> u32 {
    let (connection, mut ldap) = LdapConnAsync::new(url).await.expect("connect");
    ldap3::drive!(connection);
    let result = ldap.simple_bind(&format!("uid={uid},ou=people,{SUFFIX}"), USER_PASSWORD).await.expect("bind");
    result.rc
}
