//! Helpers shared by the connector tests: planned actions, secret files,
//! fast retry settings and a capture of log output.

#![allow(dead_code)]

pub mod slapd;

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use phishloop_identity::HttpConfig;
use phishloop_response::{ActionKind, Mode, PlannedAction, SecretSource, Target, idempotency_key};

/// Builds a planned action for case `case-7`.
pub fn action(kind: ActionKind, target: Target, connector: &str) -> PlannedAction {
    PlannedAction {
        case_id: "case-7".to_string(),
        kind,
        idempotency_key: idempotency_key("case-7", kind, &target, connector),
        target,
        mode: Mode::Auto,
        connector: connector.to_string(),
        playbook: "credential-phish".to_string(),
        reversible: kind.is_reversible(),
        note: None,
    }
}

pub fn person(address: &str) -> Target {
    Target::Person { address: address.to_string() }
}

/// Writes `value` to a file in `dir` and returns it as a secret source.
pub fn secret_file(dir: &tempfile::TempDir, name: &str, value: &str) -> SecretSource {
    let path: PathBuf = dir.path().join(name);
    let mut file = std::fs::File::create(&path).expect("create secret file");
    file.write_all(value.as_bytes()).expect("write secret file");
    SecretSource::File(path)
}

/// Retries that wait milliseconds, not seconds.
pub fn fast_http() -> HttpConfig {
    HttpConfig { timeout_ms: 5_000, max_attempts: 3, initial_backoff_ms: 10, max_backoff_ms: 50 }
}

/// Collects everything logged on the current thread at any level.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Starts capturing; the capture ends when the guard is dropped.
    pub fn start() -> (LogCapture, tracing::subscriber::DefaultGuard) {
        let capture = LogCapture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        // Another test thread may have cached a call site's interest before
        // this subscriber existed; without a rebuild, its events could be
        // skipped here.
        tracing::callsite::rebuild_interest_cache();
        (capture, guard)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log capture lock")).into_owned()
    }
}

impl Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log capture lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
