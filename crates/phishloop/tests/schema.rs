//! The published JSON Schema of the analysis output matches the code.

use std::path::Path;

#[test]
fn schema_file_matches_code() {
    let schema = schemars::schema_for!(phishloop_model::AnalysisRecord);
    let rendered = serde_json::to_string_pretty(&schema).expect("schema renders") + "\n";
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/analysis-schema.json");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &rendered).expect("schema file is writable");
        return;
    }
    let published = std::fs::read_to_string(&path).expect("docs/analysis-schema.json exists");
    assert_eq!(
        published, rendered,
        "docs/analysis-schema.json is out of date; run UPDATE_GOLDEN=1 cargo test -p phishloop --test schema"
    );
}

#[test]
fn schema_command_prints_schema() {
    let output =
        std::process::Command::new(env!("CARGO_BIN_EXE_phishloop")).arg("schema").output().expect("binary runs");
    assert!(output.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).expect("schema is JSON");
    assert_eq!(printed["title"], "AnalysisRecord");
}
