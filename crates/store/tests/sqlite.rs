//! Behaviour of the SQLite back end alone: its write-ahead log and its
//! reader connections.

use std::time::{Duration, Instant};

use phishloop_store::{Sha256Hex, Store, StoreConfig};

/// Returns `size` bytes of printable text that zstd cannot shrink much, so the
/// stored message takes about as many pages as it has bytes.
fn incompressible_message(seed: u64, size: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut body = Vec::with_capacity(size);
    body.extend_from_slice(format!("Subject: filler {seed}\r\n\r\n").as_bytes());
    while body.len() < size {
        // xorshift64: cheap pseudo-random bytes, the same for each seed.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        body.push(b'!' + (state % 94) as u8);
    }
    body
}

/// Opens a store in `folder` with two reader connections and stores one
/// 4 KiB message; returns the store and the message's hash.
async fn store_with_two_readers(folder: &std::path::Path, seed: u64) -> (Store, Sha256Hex) {
    let mut config = StoreConfig::new(format!("sqlite://{}", folder.join("store.db").display()));
    config.max_connections = 2;
    let store = Store::connect_with(config).await.expect("SQLite store");
    let sha256 = store.put_raw(&incompressible_message(seed, 4096)).await.expect("store a message");
    (store, sha256)
}

/// Starts `count` concurrent reads of the message `sha256`.
fn spawn_reads(
    store: &Store,
    sha256: &Sha256Hex,
    count: usize,
) -> tokio::task::JoinSet<phishloop_store::Result<Option<Vec<u8>>>> {
    let mut reads = tokio::task::JoinSet::new();
    for _ in 0..count {
        let store = store.clone();
        let sha256 = sha256.clone();
        reads.spawn(async move { store.get_raw(&sha256).await });
    }
    reads
}

#[tokio::test]
async fn checkpointer_moves_log_into_database() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("store.db");
    let store =
        Store::connect_with(StoreConfig::new(format!("sqlite://{}", path.display()))).await.expect("SQLite store");
    let size_after_migration = std::fs::metadata(&path).expect("database file").len();

    // About 2.5 MB: below both SQLite's own threshold (1,000 pages, 4 MB)
    // and the writer's, so only the checkpointer copies these pages.
    for seed in 0..40 {
        store.put_raw(&incompressible_message(seed, 64 * 1024)).await.expect("store a message");
    }

    let deadline = Instant::now() + Duration::from_secs(5);
    let mut size = size_after_migration;
    while Instant::now() < deadline {
        size = std::fs::metadata(&path).expect("database file").len();
        if size >= size_after_migration + 2 * 1024 * 1024 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    assert!(
        size >= size_after_migration + 2 * 1024 * 1024,
        "database file grew from {size_after_migration} to only {size} bytes within 5 s"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_reads_share_few_connections() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let (store, sha256) = store_with_two_readers(folder.path(), 7).await;

    let mut reads = spawn_reads(&store, &sha256, 50);
    let mut found = 0;
    while let Some(result) = reads.join_next().await {
        let raw = result.expect("read task").expect("read through a shared connection");
        assert_eq!(raw.map(|raw| raw.len()), Some(4096));
        found += 1;
    }

    assert_eq!(found, 50);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn close_during_reads_finishes() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let (store, sha256) = store_with_two_readers(folder.path(), 9).await;

    let mut reads = spawn_reads(&store, &sha256, 50);
    let closed = tokio::time::timeout(Duration::from_secs(10), store.close()).await;

    assert!(closed.is_ok(), "closing the store with reads in flight did not finish within 10 s");
    // Every read ends, with the message or with an error for the closed store.
    while let Some(result) = reads.join_next().await {
        let _ = result.expect("read task");
    }
}
