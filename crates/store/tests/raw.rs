//! Raw messages: round trip, deduplication, the size limit and corruption.

mod common;

use common::{TestDb, sample_message, store_test};
use phishloop_store::{Sha256Hex, StoreError};

async fn raw_rows(db: &TestDb) -> i64 {
    db.count("SELECT count(*) FROM raw_messages").await
}

store_test!(raw_round_trip, |db| {
    let message = sample_message(200_000, 1);

    let sha256 = db.store.put_raw(&message).await.expect("put_raw");
    let read = db.store.get_raw(&sha256).await.expect("get_raw");

    assert_eq!(sha256, Sha256Hex::of(&message));
    assert_eq!(read.as_deref(), Some(message.as_slice()));
    assert!(db.store.has_raw(&sha256).await.expect("has_raw"));
});

store_test!(raw_is_compressed, |db| {
    let message = b"Received: from mx.example.org\r\n".repeat(10_000);

    db.store.put_raw(&message).await.expect("put_raw");
    let stored = db.count("SELECT CAST(max(length(data)) AS BIGINT) FROM raw_messages").await;

    assert!(stored < message.len() as i64 / 10, "{stored} bytes stored for {} bytes", message.len());
});

store_test!(raw_empty_message_round_trip, |db| {
    let sha256 = db.store.put_raw(b"").await.expect("put_raw");

    assert_eq!(db.store.get_raw(&sha256).await.expect("get_raw"), Some(Vec::new()));
});

store_test!(raw_missing_is_none, |db| {
    let absent = Sha256Hex::of(b"never stored");

    assert_eq!(db.store.get_raw(&absent).await.expect("get_raw"), None);
    assert!(!db.store.has_raw(&absent).await.expect("has_raw"));
});

store_test!(raw_put_twice_stores_once, |db| {
    let message = sample_message(5_000, 2);

    let first = db.store.put_raw(&message).await.expect("first put");
    let second = db.store.put_raw(&message).await.expect("second put");
    db.store.put_raw(&sample_message(5_000, 3)).await.expect("other message");

    assert_eq!(first, second);
    assert_eq!(raw_rows(&db).await, 2);
});

store_test!(raw_concurrent_puts_store_once, |db| {
    let message = sample_message(300_000, 4);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = db.store.clone();
        let message = message.clone();
        tasks.push(tokio::spawn(async move { store.put_raw(&message).await }));
    }

    let mut hashes = Vec::new();
    for task in tasks {
        hashes.push(task.await.expect("task").expect("put_raw"));
    }

    assert!(hashes.iter().all(|h| *h == Sha256Hex::of(&message)), "{hashes:?}");
    assert_eq!(raw_rows(&db).await, 1);
    assert_eq!(db.store.get_raw(&hashes[0]).await.expect("get_raw"), Some(message));
});

store_test!(raw_size_limit, |db| {
    let store = db.store_with(|config| config.max_message_bytes = 1_000).await;

    let error = store.put_raw(&sample_message(1_001, 5)).await.expect_err("1001 bytes exceed 1000");
    let at_limit = store.put_raw(&sample_message(1_000, 5)).await;

    assert!(matches!(error, StoreError::MessageTooLarge { size: 1_001, limit: 1_000 }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("1001 bytes"), "the message must name the size: {text}");
    assert!(text.contains("1000 bytes"), "the message must name the limit: {text}");
    assert!(text.contains("max_message_bytes"), "the message must name the setting: {text}");
    assert!(at_limit.is_ok(), "{at_limit:?}");
    assert_eq!(raw_rows(&db).await, 1);
});

store_test!(raw_corrupt_content_detected, |db| {
    // Two messages of the same size, so only the hash check can tell.
    let first = db.store.put_raw(&sample_message(4_000, 6)).await.expect("put first");
    let second = db.store.put_raw(&sample_message(4_000, 7)).await.expect("put second");
    let swap = format!(
        "UPDATE raw_messages SET data = (SELECT data FROM raw_messages WHERE sha256 = '{second}') WHERE sha256 = '{first}'"
    );
    assert_eq!(db.execute(&swap).await.expect("tamper"), 1);

    let error = db.store.get_raw(&first).await.expect_err("swapped content must be rejected");

    assert!(matches!(&error, StoreError::CorruptRaw { sha256, .. } if *sha256 == first), "{error:?}");
    assert!(error.to_string().contains(&format!("hashes to {second}")), "{error}");
});

store_test!(raw_corrupt_size_detected, |db| {
    let sha256 = db.store.put_raw(&sample_message(4_000, 8)).await.expect("put_raw");
    let grow = format!("UPDATE raw_messages SET size = size + 1 WHERE sha256 = '{sha256}'");
    db.execute(&grow).await.expect("tamper");

    let error = db.store.get_raw(&sha256).await.expect_err("wrong size must be rejected");

    assert!(matches!(error, StoreError::CorruptRaw { .. }), "{error:?}");
    assert!(error.to_string().contains("4000 bytes, but the row records 4001"), "{error}");
});

store_test!(raw_corrupt_bytes_detected, |db| {
    let sha256 = db.store.put_raw(&sample_message(4_000, 9)).await.expect("put_raw");
    db.execute_each(
        &format!("UPDATE raw_messages SET data = substr(data, 1, 20) WHERE sha256 = '{sha256}'"),
        &format!("UPDATE raw_messages SET data = substring(data from 1 for 20) WHERE sha256 = '{sha256}'"),
    )
    .await
    .expect("tamper");

    let error = db.store.get_raw(&sha256).await.expect_err("cut data must be rejected");

    assert!(matches!(error, StoreError::CorruptRaw { .. }), "{error:?}");
});

store_test!(raw_huge_recorded_size_rejected_before_allocating, |db| {
    let sha256 = db.store.put_raw(&sample_message(4_000, 10)).await.expect("put_raw");
    db.execute(&format!("UPDATE raw_messages SET size = 1000000000000 WHERE sha256 = '{sha256}'"))
        .await
        .expect("tamper");

    let error = db.store.get_raw(&sha256).await.expect_err("size above the limit");

    assert!(matches!(error, StoreError::StoredRawTooLarge { size: 1_000_000_000_000, .. }), "{error:?}");
});
