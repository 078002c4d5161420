//! The non-human identity inventory: import and lookups.

use phishloop_identity::{Inventory, InventoryError, NhiKind, Provider};

const CSV: &str = "\
id,kind,owner,provider,reference,parent,reaches,secret_sha256
svc-build,service_account,Erin@Example.com,entra,5f1c0e0a-1111-4c2b-9a4e-000000000001,app-object-1,build pipeline,
key-s3,api_key,erin@example.com,aws,AKIAIOSFODNN7EXAMPLE,ci-deployer,production buckets,9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08
lease-db,token,frank@example.com,vault,database/creds/billing/h2k9,,billing database,
";

#[test]
fn csv_import_and_owner_lookup() {
    let inventory = Inventory::from_csv(CSV.as_bytes()).expect("inventory");

    let erin: Vec<&str> = inventory.credentials_owned_by("ERIN@example.com").iter().map(|c| c.id.as_str()).collect();

    assert_eq!(inventory.credentials().len(), 3);
    assert_eq!(erin, vec!["svc-build", "key-s3"]);
    assert_eq!(inventory.credentials()[0].kind, NhiKind::ServiceAccount);
    assert_eq!(inventory.credentials()[2].parent, None);
}

#[test]
fn secret_hash_lookup_ignores_case() {
    let inventory = Inventory::from_csv(CSV.as_bytes()).expect("inventory");

    let found = inventory.credentials_with_secret("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");

    assert_eq!(found.len(), 1);
    assert_eq!(found[0].provider, Provider::Aws);
}

#[test]
fn json_array_and_lines_import() {
    let array = r#"[{"id":"gh-1","kind":"token","owner":"a@example.com","provider":"github","reference":"4211","parent":"example-org"}]"#;
    let lines = "{\"id\":\"o-1\",\"kind\":\"oauth_app\",\"owner\":\"b@example.com\",\"provider\":\"other\",\"reference\":\"app-9\"}\n\n";

    let from_array = Inventory::from_json(array).expect("array");
    let from_lines = Inventory::from_json(lines).expect("lines");

    assert_eq!(from_array.credentials()[0].reference, "4211");
    assert_eq!(from_lines.credentials()[0].provider, Provider::Other);
}

#[test]
fn invalid_rows_name_line_and_fix() {
    let bad_kind = "id,kind,owner,provider,reference\nx,robot,a@example.com,aws,AKIA\n";
    let no_parent = "id,kind,owner,provider,reference\nx,api_key,a@example.com,aws,AKIA\n";
    let duplicate =
        "id,kind,owner,provider,reference\nx,token,a@example.com,vault,l1\nx,token,a@example.com,vault,l2\n";
    let bad_hash = "id,kind,owner,provider,reference,secret_sha256\nx,token,a@example.com,vault,l1,abc\n";

    let errors: Vec<InventoryError> = [bad_kind, no_parent, duplicate, bad_hash]
        .iter()
        .map(|csv| Inventory::from_csv(csv.as_bytes()).expect_err("error"))
        .collect();

    assert!(
        matches!(&errors[0], InventoryError::Invalid { line: 2, reason } if reason.contains("service_account, api_key")),
        "{}",
        errors[0]
    );
    assert!(errors[1].to_string().contains("needs parent"), "{}", errors[1]);
    assert_eq!(errors[2], InventoryError::DuplicateId { id: "x".to_string(), line: 3 });
    assert!(errors[3].to_string().contains("not 64 hex digits"), "{}", errors[3]);
}
