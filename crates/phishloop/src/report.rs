//! `phishloop report`: submits message files to a running service.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::exit;

/// The settings `phishloop report` sends besides the files.
#[derive(Debug)]
pub struct ReportOptions {
    pub server: String,
    pub token: String,
    pub reporter: Option<String>,
    pub comment: Option<String>,
}

/// Submits each file, and each file below a folder, and prints
/// `FILE<TAB>REPORT_ID` for each accepted one. A failed file is named on
/// standard error with the reason, and the others are still sent.
pub fn run(paths: &[PathBuf], options: &ReportOptions) -> Result<u8> {
    // Each file goes on a new connection. A server that rejects a body as
    // too large responds before reading all of it and closes the
    // connection, so a reused connection would fail the next file.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .pool_max_idle_per_host(0)
        .build()
        .context("cannot create the HTTP client")?;
    let endpoint = format!("{}/api/v1/reports", options.server.trim_end_matches('/'));
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;

    let mut failed = 0usize;
    let mut files = Vec::new();
    for input in crate::files::expand(paths) {
        match input {
            crate::files::Input::File(path) => files.push(path),
            crate::files::Input::Error { path, reason } => {
                failed += 1;
                eprintln!("phishloop: cannot report {}: {reason}", path.display());
            }
        }
    }
    let total = files.len() + failed;
    for file in &files {
        match runtime.block_on(submit(&client, &endpoint, file, options)) {
            Ok(report_id) => println!("{}\t{report_id}", file.display()),
            Err(error) => {
                failed += 1;
                eprintln!("phishloop: cannot report {}: {error:#}", file.display());
            }
        }
    }
    if total > 1 || failed > 0 {
        eprintln!("phishloop: {} file(s) reported, {failed} failed", total - failed);
    }
    Ok(if failed > 0 { exit::INPUT_FAILED } else { exit::OK })
}

async fn submit(client: &reqwest::Client, endpoint: &str, file: &Path, options: &ReportOptions) -> Result<String> {
    let message = std::fs::read(file).context("cannot read the file")?;
    let mut query: Vec<(&str, &str)> = vec![("source", "cli")];
    if let Some(reporter) = &options.reporter {
        query.push(("reporter", reporter));
    }
    if let Some(comment) = &options.comment {
        query.push(("comment", comment));
    }

    let response = client
        .post(endpoint)
        .query(&query)
        .bearer_auth(&options.token)
        .header(reqwest::header::CONTENT_TYPE, "message/rfc822")
        .body(message)
        .send()
        .await
        .with_context(|| {
            format!(
                "cannot send it to {endpoint}: the connection failed or the server closed it during the upload, \
                 which it does for a message over its server.max_message_bytes; check the file's size, --server \
                 and that `phishloop serve` runs"
            )
        })?;

    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status != reqwest::StatusCode::ACCEPTED {
        let reason = body.get("error").and_then(Value::as_str).unwrap_or("no error text in the response");
        anyhow::bail!("the server responded {status}: {reason}");
    }
    body.get("report_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("the server accepted the file but sent no report_id: {body}"))
}
