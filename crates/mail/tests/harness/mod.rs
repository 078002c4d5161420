//! Starts real Dovecot (IMAP and LMTP) and OpenSMTPD (SMTP) instances on
//! free loopback ports, with configurations in a temporary folder, for the
//! tests of this crate. Install the servers with `scripts/mail-servers.sh`.
//!
//! Dovecot stores mail in Maildirs owned by `nobody`, authenticates users
//! from a passwd-file with plain passwords and accepts the master user
//! `admin` as `{user}*admin`. OpenSMTPD delivers every recipient of
//! `example.test` to Dovecot over LMTP, so mail sent by SMTP lands in the
//! IMAP mailboxes. With SMTP, Dovecot's submission service also listens,
//! requiring STARTTLS and AUTH, and relays to OpenSMTPD.
//!
//! OpenSMTPD keeps its queue and control socket at fixed system paths, so
//! only one instance runs at a time. [`MailServers`] keeps a process-wide
//! lock while its SMTP server runs, and empties the queue before each
//! start: a message an earlier instance could not deliver in time would
//! otherwise reach a mailbox of a later test.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use async_imap::Session;
use futures::TryStreamExt;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub const DOMAIN: &str = "example.test";
pub const MASTER: &str = "admin";
pub const MASTER_PASSWORD: &str = "master-secret";
/// The uid and gid of `nobody` on Debian, owner of the test Maildirs.
const MAIL_OWNER: u32 = 65534;

pub fn password_of(user: &str) -> String {
    format!("{user}-password")
}

pub fn address_of(user: &str) -> String {
    format!("{user}@{DOMAIN}")
}

/// Running test servers; dropping it stops them and removes their folder.
pub struct MailServers {
    pub dir: tempfile::TempDir,
    pub imap_port: u16,
    pub imaps_port: u16,
    pub lmtp_port: u16,
    pub smtp_port: Option<u16>,
    /// Dovecot's submission service: STARTTLS and AUTH required, relays to
    /// OpenSMTPD. Debian 12's OpenSMTPD 6.8 fails TLS handshakes with
    /// OpenSSL 3 (it logs `io-error: ... SSL routines::EVP lib`), so SMTP
    /// over TLS is tested here.
    pub submission_port: Option<u16>,
    /// The CA that signed the servers' certificate, for `ca_file`.
    pub ca_file: PathBuf,
    dovecot: Child,
    smtpd: Option<Child>,
    _smtp_lock: Option<tokio::sync::OwnedMutexGuard<()>>,
}

fn smtp_lock() -> std::sync::Arc<tokio::sync::Mutex<()>> {
    static LOCK: OnceLock<std::sync::Arc<tokio::sync::Mutex<()>>> = OnceLock::new();
    LOCK.get_or_init(|| std::sync::Arc::new(tokio::sync::Mutex::new(()))).clone()
}

fn require_binary(name: &str) -> PathBuf {
    for folder in ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin"] {
        let path = Path::new(folder).join(name);
        if path.exists() {
            return path;
        }
    }
    panic!(
        "{name} is not installed; the mail tests need real servers: run `sudo scripts/mail-servers.sh` \
         (installs dovecot-imapd, dovecot-lmtpd and opensmtpd) and run the tests again"
    );
}

/// Returns `N` distinct loopback ports that were free a moment ago and were
/// not returned before in this process, so parallel tests do not collide.
/// Another process may still take one before the server binds it, so
/// [`MailServers::start_inner`] retries with new ports.
fn free_ports<const N: usize>() -> [u16; N] {
    static HANDED_OUT: OnceLock<std::sync::Mutex<std::collections::HashSet<u16>>> = OnceLock::new();
    let mut handed_out =
        HANDED_OUT.get_or_init(Default::default).lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut probes = Vec::with_capacity(N);
    let mut ports = [0; N];
    let mut chosen = 0;
    while chosen < N {
        let probe = TcpListener::bind("127.0.0.1:0").expect("bind a free port on 127.0.0.1");
        let port = probe.local_addr().expect("local address of the port probe").port();
        if handed_out.insert(port) {
            ports[chosen] = port;
            chosen += 1;
        }
        probes.push(probe);
    }
    ports
}

/// How many times Dovecot is started on new ports when it exits because
/// one of its ports was taken.
const DOVECOT_ATTEMPTS: usize = 3;

impl MailServers {
    /// Starts Dovecot with `users`.
    pub async fn start(users: &[String]) -> Self {
        Self::start_inner(users, false, None).await
    }

    /// Starts Dovecot announcing only `capability` (its `imap_capability`
    /// setting), to test clients against servers without some extensions.
    pub async fn start_with_capability(users: &[String], capability: &str) -> Self {
        Self::start_inner(users, false, Some(capability)).await
    }

    /// Starts Dovecot with `users` and OpenSMTPD delivering to it.
    pub async fn start_with_smtp(users: &[String]) -> Self {
        Self::start_inner(users, true, None).await
    }

    async fn start_inner(users: &[String], with_smtp: bool, capability: Option<&str>) -> Self {
        let dovecot_binary = require_binary("dovecot");
        let smtpd_binary = with_smtp.then(|| require_binary("smtpd"));
        let dir = tempfile::Builder::new().prefix("phishloop-mail-").tempdir().expect("create a temporary folder");
        set_mode(dir.path(), 0o755);
        let ca_file = write_certificates(dir.path());

        write_users(dir.path(), users);
        let mut attempt = 1;
        let (dovecot, [imap_port, imaps_port, lmtp_port, smtp_port, submission_port]) = loop {
            let ports = free_ports();
            let [imap_port, imaps_port, lmtp_port, smtp_port, submission_port] = ports;
            let config = write_dovecot_config(
                dir.path(),
                &DovecotPorts { imap_port, imaps_port, lmtp_port, submission_port, relay_port: smtp_port },
                capability,
            );
            let mut dovecot =
                spawn(&dovecot_binary, &["-F", "-c", config.to_str().expect("UTF-8 path")], dir.path(), "dovecot");
            let mut listening = true;
            for port in [imap_port, imaps_port, lmtp_port] {
                listening = listening && wait_for_port(port, &mut dovecot).await;
            }
            if listening {
                break (dovecot, ports);
            }
            let exited = matches!(dovecot.try_wait(), Ok(Some(_)));
            stop(&mut dovecot);
            let logs = logs_in(dir.path());
            if !exited || attempt == DOVECOT_ATTEMPTS {
                panic!(
                    "dovecot did not listen on 127.0.0.1 ports {imap_port}, {imaps_port} and {lmtp_port} \
                     (attempt {attempt} of {DOVECOT_ATTEMPTS}); logs:\n{logs}"
                );
            }
            eprintln!("harness: dovecot exited at start (attempt {attempt}), trying new ports; logs:\n{logs}");
            attempt += 1;
        };
        let mut servers = MailServers {
            dir,
            imap_port,
            imaps_port,
            lmtp_port,
            smtp_port: None,
            submission_port: None,
            ca_file,
            dovecot,
            smtpd: None,
            _smtp_lock: None,
        };

        if let Some(binary) = smtpd_binary {
            servers._smtp_lock = Some(smtp_lock().lock_owned().await);
            assert!(
                wait_for_smtpd_exit(Duration::from_secs(20)),
                "another OpenSMTPD answers on {SMTPD_SOCKET}; stop it (the tests start their own) and run the tests again"
            );
            clear_smtpd_queue();
            let config = write_smtpd_config(servers.dir.path(), smtp_port, lmtp_port);
            let child =
                spawn(&binary, &["-d", "-f", config.to_str().expect("UTF-8 path")], servers.dir.path(), "smtpd");
            servers.smtpd = Some(child);
            servers.smtp_port = Some(smtp_port);
            servers.submission_port = Some(submission_port);
            servers.wait_for_port(smtp_port, "opensmtpd").await;
            servers.wait_for_port(submission_port, "dovecot submission").await;
        }
        servers
    }

    async fn wait_for_port(&mut self, port: u16, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{what} did not listen on 127.0.0.1:{port} within 20 s; logs:\n{}", self.logs());
    }

    /// Returns the servers' logs, for failure messages.
    pub fn logs(&self) -> String {
        logs_in(self.dir.path())
    }

    /// Delivers `raw` to `recipients` straight to Dovecot over LMTP.
    pub async fn deliver(&self, from: &str, recipients: &[String], raw: &[u8]) {
        for chunk in recipients.chunks(200) {
            lmtp_deliver(self.lmtp_port, from, chunk, raw).await;
        }
    }

    /// Opens a test-side IMAP session as `user` (plain, on loopback).
    pub async fn imap(&self, user: &str) -> Session<TcpStream> {
        let stream = TcpStream::connect(("127.0.0.1", self.imap_port)).await.expect("connect to dovecot imap");
        let mut client = async_imap::Client::new(stream);
        client.read_response().await.expect("read the IMAP greeting").expect("an IMAP greeting");
        client.login(user, password_of(user)).await.map_err(|(error, _)| error).expect("test login")
    }

    /// Raw messages in `folder` of `user`, by UID order; empty when the
    /// folder does not exist.
    pub async fn messages(&self, user: &str, folder: &str) -> Vec<Vec<u8>> {
        let mut session = self.imap(user).await;
        if session.select(folder).await.is_err() {
            return Vec::new();
        }
        let fetches: Vec<_> =
            session.uid_fetch("1:*", "(UID BODY.PEEK[])").await.expect("UID FETCH").try_collect().await.expect("fetch");
        let mut messages: Vec<(u32, Vec<u8>)> =
            fetches.iter().filter_map(|fetch| Some((fetch.uid?, fetch.body()?.to_vec()))).collect();
        messages.sort_by_key(|(uid, _)| *uid);
        let _ = session.logout().await;
        messages.into_iter().map(|(_, raw)| raw).collect()
    }

    /// Number of messages in `folder` of `user`; 0 when it does not exist.
    pub async fn count(&self, user: &str, folder: &str) -> usize {
        let mut session = self.imap(user).await;
        let count = match session.select(folder).await {
            Ok(mailbox) => mailbox.exists as usize,
            Err(_) => 0,
        };
        let _ = session.logout().await;
        count
    }

    /// Waits until `folder` of `user` contains `expected` messages.
    pub async fn wait_for_count(&self, user: &str, folder: &str, expected: usize, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        loop {
            let count = self.count(user, folder).await;
            if count == expected || Instant::now() >= deadline {
                return count;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Waits up to 20 s for a listener on `port`; false when none came or
/// `server` exited first.
async fn wait_for_port(port: u16, server: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return true;
        }
        if matches!(server.try_wait(), Ok(Some(_))) {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Returns the last lines of each server log in `dir`.
fn logs_in(dir: &Path) -> String {
    let mut text = String::new();
    for name in ["dovecot.log", "dovecot.out", "smtpd.out"] {
        if let Ok(content) = std::fs::read_to_string(dir.join(name)) {
            let tail: Vec<&str> = content.lines().rev().take(40).collect();
            text.push_str(&format!("--- {name}\n"));
            for line in tail.into_iter().rev() {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    text
}

impl Drop for MailServers {
    fn drop(&mut self) {
        if let Some(child) = self.smtpd.as_mut() {
            stop(child);
            // The worker processes outlive the parent briefly; the next
            // instance must not start while they still hold the queue.
            wait_for_smtpd_exit(Duration::from_secs(10));
        }
        stop(&mut self.dovecot);
    }
}

/// OpenSMTPD's spool, fixed at build time.
const SMTPD_SPOOL: &str = "/var/spool/smtpd";

/// Removes every queued message from OpenSMTPD's spool. Runs only while
/// no OpenSMTPD runs, which the caller has checked.
fn clear_smtpd_queue() {
    for folder in ["queue", "incoming", "offline", "temporary"] {
        let Ok(entries) = std::fs::read_dir(Path::new(SMTPD_SPOOL).join(folder)) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let removed = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
            if let Err(error) = removed {
                eprintln!("harness: cannot remove {} from the OpenSMTPD spool: {error}", path.display());
            }
        }
    }
}

/// OpenSMTPD's control socket, fixed at build time.
const SMTPD_SOCKET: &str = "/var/run/smtpd.sock";

/// Waits until no OpenSMTPD accepts connections on its control socket;
/// returns false on timeout.
fn wait_for_smtpd_exit(limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while std::os::unix::net::UnixStream::connect(SMTPD_SOCKET).is_ok() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// Sends SIGTERM and waits up to 10 s, then kills. Dovecot and OpenSMTPD
/// stop their worker processes on SIGTERM; a killed master leaves them to
/// notice on their own.
fn stop(child: &mut Child) {
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn spawn(binary: &Path, arguments: &[&str], dir: &Path, name: &str) -> Child {
    let output = std::fs::File::create(dir.join(format!("{name}.out"))).expect("create the server output file");
    let errors = output.try_clone().expect("clone the output file");
    Command::new(binary)
        .args(arguments)
        .stdin(Stdio::null())
        .stdout(output)
        .stderr(errors)
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {}: {error}", binary.display()))
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("set folder permissions");
}

fn write_users(dir: &Path, users: &[String]) {
    let mut lines = String::new();
    for user in users {
        lines.push_str(&format!("{user}:{{PLAIN}}{}::::::\n", password_of(user)));
    }
    std::fs::write(dir.join("users"), lines).expect("write the users file");
    std::fs::write(dir.join("masters"), format!("{MASTER}:{{PLAIN}}{MASTER_PASSWORD}\n"))
        .expect("write the master users file");
    let mail = dir.join("mail");
    std::fs::create_dir_all(&mail).expect("create the mail folder");
    std::os::unix::fs::chown(&mail, Some(MAIL_OWNER), Some(MAIL_OWNER))
        .expect("give the mail folder to nobody; the mail tests must run as root");
}

struct DovecotPorts {
    imap_port: u16,
    imaps_port: u16,
    lmtp_port: u16,
    submission_port: u16,
    /// OpenSMTPD's port, where submission relays to.
    relay_port: u16,
}

fn write_dovecot_config(dir: &Path, ports: &DovecotPorts, capability: Option<&str>) -> PathBuf {
    let d = dir.display();
    let DovecotPorts { imap_port, imaps_port, lmtp_port, submission_port, relay_port } = ports;
    for sub in ["run", "state"] {
        std::fs::create_dir_all(dir.join(sub)).expect("create a dovecot folder");
    }
    let config = format!(
        r#"protocols = imap lmtp submission
hostname = mx.{DOMAIN}
submission_relay_host = 127.0.0.1
submission_relay_port = {relay_port}
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
listen = 127.0.0.1
ssl = yes
ssl_cert = <{d}/cert.pem
ssl_key = <{d}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_username_format = %Ln
auth_master_user_separator = *
mail_location = maildir:{d}/mail/%u
mail_uid = {MAIL_OWNER}
mail_gid = {MAIL_OWNER}
first_valid_uid = 1
default_login_user = dovenull
default_internal_user = dovecot
mail_max_userip_connections = 1000
default_process_limit = 200
passdb {{
  driver = passwd-file
  args = {d}/masters
  master = yes
  result_success = continue
}}
passdb {{
  driver = passwd-file
  args = {d}/users
}}
userdb {{
  driver = passwd-file
  args = {d}/users
  default_fields = home={d}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service submission-login {{
  inet_listener submission {{
    address = 127.0.0.1
    port = {submission_port}
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
}}
protocol lmtp {{
  postmaster_address = postmaster@{DOMAIN}
}}
"#
    );
    let config = match capability {
        Some(capability) => format!("{config}imap_capability = {capability}\n"),
        None => config,
    };
    let path = dir.join("dovecot.conf");
    std::fs::write(&path, config).expect("write dovecot.conf");
    path
}

fn write_smtpd_config(dir: &Path, smtp_port: u16, lmtp_port: u16) -> PathBuf {
    let config = format!(
        r#"table vusers {{ "@{DOMAIN}" = "nobody" }}
listen on 127.0.0.1 port {smtp_port} hostname mx.{DOMAIN}
action "deliver" lmtp "127.0.0.1:{lmtp_port}" rcpt-to virtual <vusers>
match from any for domain "{DOMAIN}" action "deliver"
"#
    );
    let path = dir.join("smtpd.conf");
    std::fs::write(&path, config).expect("write smtpd.conf");
    path
}

/// Makes a private CA and a server certificate for 127.0.0.1 signed by it
/// with the openssl command, and returns the CA's path.
fn write_certificates(dir: &Path) -> PathBuf {
    let openssl = require_binary("openssl");
    let run = |arguments: &[&str]| {
        let status = Command::new(&openssl)
            .args(arguments)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run openssl");
        assert!(status.success(), "openssl {arguments:?} failed");
    };
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write the certificate extensions");
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=phishloop test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "key.pem",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "cert.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
    dir.join("ca.pem")
}

async fn lmtp_deliver(port: u16, from: &str, recipients: &[String], raw: &[u8]) {
    let stream = TcpStream::connect(("127.0.0.1", port)).await.expect("connect to dovecot lmtp");
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    expect_reply(&mut reader, "220", "greeting").await;
    writer.write_all(b"LHLO test.example\r\n").await.expect("send LHLO");
    expect_reply(&mut reader, "250", "LHLO").await;
    writer.write_all(format!("MAIL FROM:<{from}>\r\n").as_bytes()).await.expect("send MAIL");
    expect_reply(&mut reader, "250", "MAIL FROM").await;
    for recipient in recipients {
        writer.write_all(format!("RCPT TO:<{recipient}>\r\n").as_bytes()).await.expect("send RCPT");
        expect_reply(&mut reader, "250", &format!("RCPT TO {recipient}")).await;
    }
    writer.write_all(b"DATA\r\n").await.expect("send DATA");
    expect_reply(&mut reader, "354", "DATA").await;
    writer.write_all(&dot_stuff(raw)).await.expect("send the message");
    writer.write_all(b".\r\n").await.expect("end the message");
    for recipient in recipients {
        expect_reply(&mut reader, "250", &format!("delivery to {recipient}")).await;
    }
    writer.write_all(b"QUIT\r\n").await.expect("send QUIT");
}

async fn expect_reply(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>, code: &str, step: &str) {
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.expect("read an LMTP reply");
        assert!(line.starts_with(code), "LMTP {step}: expected {code}, got {line:?}");
        if line.as_bytes().get(3) != Some(&b'-') {
            return;
        }
    }
}

/// CRLF line endings with a final CRLF, and leading dots doubled.
fn dot_stuff(raw: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw).replace("\r\n", "\n");
    let mut out = Vec::with_capacity(raw.len() + 64);
    for line in text.trim_end_matches('\n').split('\n') {
        if line.starts_with('.') {
            out.push(b'.');
        }
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}
