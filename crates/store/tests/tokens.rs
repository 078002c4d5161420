//! API tokens: creating, looking up by SHA-256 and revoking.

mod common;

use common::store_test;
use phishloop_store::{Sha256Hex, StoreError, TokenRole};
use uuid::Uuid;

store_test!(token_round_trip, |db| {
    let hash = Sha256Hex::of(b"plk_first-token");

    let created = db.store.create_api_token("report-button", TokenRole::Reporter, &hash).await.expect("create");
    let found = db.store.find_api_token(&hash).await.expect("find");

    assert_eq!(found.as_ref(), Some(&created));
    assert_eq!(created.name, "report-button");
    assert_eq!(created.role, TokenRole::Reporter);
    assert_eq!(created.token_sha256, hash);
    assert_eq!(created.revoked_at, None);
});

store_test!(unknown_token_hash_not_found, |db| {
    db.store.create_api_token("alice", TokenRole::Analyst, &Sha256Hex::of(b"one")).await.expect("create");

    let found = db.store.find_api_token(&Sha256Hex::of(b"another")).await.expect("find");

    assert_eq!(found, None);
});

store_test!(token_stores_only_the_hash, |db| {
    let hash = Sha256Hex::of(b"plk_secret-value");
    db.store.create_api_token("ops", TokenRole::Admin, &hash).await.expect("create");

    let stored = db.strings("SELECT token_sha256 FROM api_tokens").await;

    assert_eq!(stored.into_iter().collect::<Vec<_>>(), vec![hash.to_string()]);
});

store_test!(revoked_token_keeps_first_time, |db| {
    let hash = Sha256Hex::of(b"to revoke");
    let created = db.store.create_api_token("old", TokenRole::Analyst, &hash).await.expect("create");

    let revoked = db.store.revoke_api_token(created.id).await.expect("revoke");
    let again = db.store.revoke_api_token(created.id).await.expect("revoke again");
    let found = db.store.find_api_token(&hash).await.expect("find").expect("still stored");

    let first_time = revoked.revoked_at.expect("revocation time");
    assert_eq!(again.revoked_at, Some(first_time));
    assert_eq!(found.revoked_at, Some(first_time));
});

store_test!(revoking_unknown_token_fails, |db| {
    let id = Uuid::now_v7();

    let error = db.store.revoke_api_token(id).await.expect_err("no such token");

    assert!(matches!(error, StoreError::TokenNotFound(missing) if missing == id), "{error:?}");
});

store_test!(duplicate_token_hash_rejected, |db| {
    let hash = Sha256Hex::of(b"same");
    db.store.create_api_token("first", TokenRole::Analyst, &hash).await.expect("create");

    let error = db.store.create_api_token("second", TokenRole::Admin, &hash).await.expect_err("same hash");

    assert!(matches!(error, StoreError::TokenExists { .. }), "{error:?}");
});

store_test!(invalid_role_in_column_rejected, |db| {
    let result = db
        .execute_each(
            "INSERT INTO api_tokens (id, name, role, token_sha256, created_at) VALUES \
             (randomblob(16), 'x', 'root', '0000000000000000000000000000000000000000000000000000000000000001', 'now')",
            "INSERT INTO api_tokens (id, name, role, token_sha256, created_at) VALUES \
             (gen_random_uuid(), 'x', 'root', '0000000000000000000000000000000000000000000000000000000000000001', now())",
        )
        .await;

    assert!(result.is_err(), "the role CHECK must reject 'root'");
});

#[test]
fn token_role_parses_names() {
    assert_eq!("admin".parse::<TokenRole>().ok(), Some(TokenRole::Admin));
    assert_eq!("analyst".parse::<TokenRole>().ok(), Some(TokenRole::Analyst));
    assert_eq!("identity".parse::<TokenRole>().ok(), Some(TokenRole::Identity));
    assert_eq!("reporter".parse::<TokenRole>().ok(), Some(TokenRole::Reporter));
    assert!("Admin".parse::<TokenRole>().is_err());
}
