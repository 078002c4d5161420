//! Helpers shared by the integration tests.
//!
//! Golden tests compare the analysis JSON of a fixture with an expected
//! file next to it. Run with `UPDATE_GOLDEN=1` to write the expected files
//! after a deliberate change of the output, then review the diff: a golden
//! file is only as good as the review it got.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use phishloop_analysis::{Analyzer, Config, Mode};
use phishloop_model::AnalysisRecord;
use serde_json::Value;

/// The folder of test data.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("data")
}

/// Reads a test data file.
pub fn read(relative: &str) -> Vec<u8> {
    let path = data_dir().join(relative);
    std::fs::read(&path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

/// An analyser with the given configuration (TOML of the `[analysis]`
/// table, empty for defaults) and report mode.
pub fn analyzer(config_toml: &str, mode: Mode) -> Analyzer {
    let config: Config = toml::from_str(config_toml).expect("valid analysis configuration");
    Analyzer::new(config, mode).expect("valid analyser")
}

/// Analyses bytes as the file `name` and returns the records.
pub fn analyze(analyzer: &Analyzer, name: &str, bytes: &[u8]) -> Vec<AnalysisRecord> {
    analyzer.analyze_input(Some(name), bytes).expect("input is readable")
}

/// Converts LF line endings to CRLF (leaving existing CRLF alone).
pub fn to_crlf(bytes: &[u8]) -> Vec<u8> {
    let mut output = Vec::with_capacity(bytes.len() + bytes.len() / 20);
    for (index, &byte) in bytes.iter().enumerate() {
        if byte == b'\n' && (index == 0 || bytes[index - 1] != b'\r') {
            output.push(b'\r');
        }
        output.push(byte);
    }
    output
}

/// The records as JSON, with the fields that depend on the line endings of
/// the input removed so that LF and CRLF forms of one fixture compare equal:
/// sizes and hashes of the input, of text attachments and of attached
/// messages sent without transfer encoding (their bytes keep the line
/// endings).
pub fn normalized_json(records: &[AnalysisRecord]) -> Value {
    let mut value = serde_json::to_value(records).expect("records serialize");
    strip_byte_dependent(&mut value);
    value
}

fn strip_byte_dependent(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(source)) = map.get_mut("source") {
                source.remove("size");
                source.remove("sha256");
            }
            let text_attachment = map.contains_key("sha256")
                && map.get("declared_type").and_then(Value::as_str).is_some_and(|kind| kind.starts_with("text/"));
            let message_candidate =
                map.contains_key("sha256") && map.get("format").and_then(Value::as_str) == Some("rfc822");
            if text_attachment || message_candidate {
                map.remove("size");
                map.remove("sha256");
                map.remove("md5");
            }
            if let Some(Value::Object(parse)) = map.get_mut("parse") {
                parse.remove("size");
                if let Some(Value::Array(defects)) = parse.get_mut("defects") {
                    // Line-ending defects differ between the LF and CRLF forms.
                    defects.retain(|defect| defect.get("code").and_then(Value::as_str) != Some("mixed_line_endings"));
                }
            }
            for child in map.values_mut() {
                strip_byte_dependent(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_byte_dependent),
        _ => {}
    }
}

/// Compares `actual` with the expected JSON file `relative` (under the
/// data folder), or writes it when `UPDATE_GOLDEN` is set.
pub fn assert_golden(relative: &str, actual: &Value) {
    let path = data_dir().join(relative);
    let rendered = serde_json::to_string_pretty(actual).expect("JSON renders") + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, rendered).unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|error| {
        panic!("cannot read {} ({error}); run with UPDATE_GOLDEN=1 to create it", path.display())
    });
    let expected: Value = serde_json::from_str(&expected).expect("expected file is JSON");
    assert_eq!(
        &expected, actual,
        "analysis of {relative} differs from the golden file; run with UPDATE_GOLDEN=1 after checking the change"
    );
}
