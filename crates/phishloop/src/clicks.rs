//! `phishloop clicks import`: sends a click log to a running service.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::exit;

/// The settings of `phishloop clicks import` besides the file.
#[derive(Debug)]
pub struct ImportOptions {
    pub server: String,
    pub token: String,
    pub format: String,
    pub field_map: Option<String>,
    pub case: Option<String>,
    pub campaign: Option<String>,
    pub json: bool,
}

/// Sends the log and prints what the service matched: per case the
/// entries matched and excluded, and each verdict that rose.
pub fn import(file: &Path, options: &ImportOptions) -> Result<u8> {
    let body = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .context("cannot create the HTTP client")?;
    let endpoint = format!("{}/api/v1/clicks", options.server.trim_end_matches('/'));
    let mut query: Vec<(&str, &str)> = vec![("format", options.format.as_str())];
    for (name, value) in [("field_map", &options.field_map), ("case", &options.case), ("campaign", &options.campaign)] {
        if let Some(value) = value {
            query.push((name, value));
        }
    }

    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
    let (status, summary) = runtime.block_on(async {
        let response = client
            .post(&endpoint)
            .query(&query)
            .bearer_auth(&options.token)
            .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(body)
            .send()
            .await
            .with_context(|| format!("cannot reach {endpoint}; check --server and that `phishloop serve` runs"))?;
        let status = response.status();
        let summary: Value = response.json().await.unwrap_or(Value::Null);
        Ok::<_, anyhow::Error>((status, summary))
    })?;
    if !status.is_success() {
        let reason = summary.get("error").and_then(Value::as_str).unwrap_or("no error text in the response");
        // The server names its query parameters; the command line has
        // flags for them.
        let flags = if reason.contains("field_map") || reason.contains("parameters are") {
            " (on the command line: --format, --field-map, --case and --campaign)"
        } else {
            ""
        };
        anyhow::bail!("the server responded {status}: {reason}{flags}");
    }

    let mut out = std::io::stdout().lock();
    let written = if options.json { writeln!(out, "{summary}") } else { print_summary(&mut out, &summary) };
    match written.and_then(|()| out.flush()) {
        Ok(()) => {}
        // A reader such as `head` that stops early is not an error.
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(error) => return Err(error).context("cannot write to standard output"),
    }
    let defects = summary.get("defects").and_then(Value::as_array).map_or(0, Vec::len);
    Ok(if defects > 0 { exit::INPUT_FAILED } else { exit::OK })
}

/// Writes a count with the singular or plural noun.
fn counted(count: u64, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

fn print_summary(out: &mut impl Write, summary: &Value) -> std::io::Result<()> {
    let number = |value: &Value, key: &str| value.get(key).and_then(Value::as_u64).unwrap_or(0);
    let list = |value: &Value, key: &str| value.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
    let cases = list(summary, "cases").len() as u64;
    writeln!(
        out,
        "{} read, {} checked, {} matched",
        counted(number(summary, "entries"), "entry", "entries"),
        counted(number(summary, "cases_checked"), "case", "cases"),
        counted(cases, "case", "cases"),
    )?;
    for case in list(summary, "cases") {
        writeln!(
            out,
            "case {}: {}, {} excluded, {} clicked, {} submitted credentials",
            case.get("case_id").and_then(Value::as_str).unwrap_or("?"),
            counted(number(&case, "matched"), "matching entry", "matching entries"),
            number(&case, "excluded"),
            number(&case, "clicked"),
            number(&case, "submitted_credentials"),
        )?;
        for raised in list(&case, "raised") {
            writeln!(
                out,
                "  {}\t{}",
                raised.get("address").and_then(Value::as_str).unwrap_or("?"),
                raised.get("verdict").and_then(Value::as_str).unwrap_or("?")
            )?;
        }
    }
    for column in list(summary, "missing_columns") {
        eprintln!("phishloop: the log has no column {column}; that field stays empty");
    }
    for defect in list(summary, "defects") {
        eprintln!(
            "phishloop: line {} skipped: {}",
            number(&defect, "line"),
            defect.get("reason").and_then(Value::as_str).unwrap_or("?")
        );
    }
    Ok(())
}
