//! Raw reported messages, stored once per SHA-256 of their bytes and
//! compressed with zstd.
//!
//! A row records the original size beside the compressed bytes, so reading
//! allocates at most that size, and rejects a row whose bytes decompress to
//! another size or hash to another SHA-256.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::db::{Sql, on_reader, on_writer, sqlite_now};
use crate::error::{Result, StoreError};
use crate::store::Store;

/// A SHA-256 digest as 64 lowercase hexadecimal characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256Hex(String);

impl Sha256Hex {
    /// Computes the SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(format!("{:x}", Sha256::digest(bytes)))
    }

    /// Parses 64 lowercase hexadecimal characters.
    pub fn parse(value: &str) -> Result<Self> {
        let is_hex = value.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if value.len() != 64 || !is_hex {
            return Err(StoreError::InvalidSha256 { value: value.chars().take(80).collect() });
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Hex({})", self.0)
    }
}

impl AsRef<str> for Sha256Hex {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for Sha256Hex {
    type Err = StoreError;

    fn from_str(value: &str) -> Result<Self> {
        Self::parse(value)
    }
}

impl TryFrom<String> for Sha256Hex {
    type Error = StoreError;

    fn try_from(value: String) -> Result<Self> {
        Self::parse(&value)
    }
}

impl From<Sha256Hex> for String {
    fn from(value: Sha256Hex) -> Self {
        value.0
    }
}

const COUNT_RAW: Sql = Sql::same("SELECT count(*) FROM raw_messages WHERE sha256 = $1");

pub(crate) const INSERT_RAW: Sql = Sql::each(
    concat!(
        "INSERT INTO raw_messages (sha256, size, compression, data, stored_at) VALUES ($1, $2, 'zstd', $3, ",
        sqlite_now!(),
        ") ON CONFLICT (sha256) DO NOTHING"
    ),
    "INSERT INTO raw_messages (sha256, size, compression, data, stored_at) VALUES ($1, $2, 'zstd', $3, now()) \
     ON CONFLICT (sha256) DO NOTHING",
);

const SELECT_RAW: Sql = Sql::same("SELECT size, compression, data FROM raw_messages WHERE sha256 = $1");

impl Store {
    /// Stores a raw message unless a message with the same SHA-256 is stored
    /// already, and returns its SHA-256.
    ///
    /// Concurrent calls with the same bytes store one row. Fails with
    /// `MessageTooLarge` above `max_message_bytes`. Hashing and compression
    /// run on tokio's blocking thread pool.
    pub async fn put_raw(&self, message: &[u8]) -> Result<Sha256Hex> {
        let size = self.raw_size(message)?;

        let owned = message.to_vec();
        let (sha256, owned) = tokio::task::spawn_blocking(move || (Sha256Hex::of(&owned), owned)).await?;
        if self.has_raw(&sha256).await? {
            return Ok(sha256);
        }

        let level = self.config.compression_level;
        let compressed = tokio::task::spawn_blocking(move || compress(&owned, level)).await??;

        let inserted = on_writer!(&self.db, |pool, backend| {
            sqlx::query(INSERT_RAW.text(backend))
                .bind(sha256.as_str())
                .bind(size)
                .bind(&compressed)
                .execute(pool)
                .await?
                .rows_affected()
        });
        tracing::debug!(%sha256, size, compressed = compressed.len(), inserted = inserted == 1, "raw message stored");
        Ok(sha256)
    }

    /// Checks a raw message against `max_message_bytes` and returns its
    /// SHA-256, its size and its compressed bytes, computed together on
    /// tokio's blocking thread pool.
    pub(crate) async fn prepare_raw(&self, message: &[u8]) -> Result<(Sha256Hex, i64, Vec<u8>)> {
        let size = self.raw_size(message)?;
        let owned = message.to_vec();
        let level = self.config.compression_level;
        let (sha256, compressed) =
            tokio::task::spawn_blocking(move || (Sha256Hex::of(&owned), compress(&owned, level))).await?;
        Ok((sha256, size, compressed?))
    }

    /// Returns the size of a raw message as stored, or `MessageTooLarge`
    /// above `max_message_bytes`.
    fn raw_size(&self, message: &[u8]) -> Result<i64> {
        let limit = self.config.max_message_bytes;
        let too_large = StoreError::MessageTooLarge { size: message.len(), limit };
        if message.len() > limit {
            return Err(too_large);
        }
        i64::try_from(message.len()).map_err(|_| too_large)
    }

    /// Returns whether a raw message with this SHA-256 is stored.
    pub async fn has_raw(&self, sha256: &Sha256Hex) -> Result<bool> {
        let count: i64 = on_reader!(&self.reads, |pool, backend| {
            sqlx::query_scalar(COUNT_RAW.text(backend)).bind(sha256.as_str()).fetch_one(pool).await?
        });
        Ok(count > 0)
    }

    /// Reads and decompresses a raw message; `None` if none has this SHA-256.
    ///
    /// Fails with `CorruptRaw` when the stored bytes do not decompress to the
    /// recorded size or do not hash to `sha256`, and with `StoredRawTooLarge`
    /// when the recorded size exceeds `max_message_bytes`, before allocating.
    pub async fn get_raw(&self, sha256: &Sha256Hex) -> Result<Option<Vec<u8>>> {
        let row: Option<(i64, String, Vec<u8>)> = on_reader!(&self.reads, |pool, backend| {
            sqlx::query_as(SELECT_RAW.text(backend)).bind(sha256.as_str()).fetch_optional(pool).await?
        });
        let Some((size, compression, data)) = row else {
            return Ok(None);
        };

        let stored = StoredRaw { sha256: sha256.clone(), size, compression, data };
        let limit = self.config.max_message_bytes;
        let message = tokio::task::spawn_blocking(move || stored.decode(limit)).await??;
        Ok(Some(message))
    }
}

/// A `raw_messages` row as read.
struct StoredRaw {
    sha256: Sha256Hex,
    size: i64,
    compression: String,
    data: Vec<u8>,
}

impl StoredRaw {
    fn decode(self, limit: usize) -> Result<Vec<u8>> {
        if self.compression != "zstd" {
            return Err(self.corrupt(format!("unknown compression {:?}", self.compression)));
        }
        let Ok(size) = usize::try_from(self.size) else {
            return Err(self.corrupt(format!("invalid recorded size {}", self.size)));
        };
        if size > limit {
            return Err(StoreError::StoredRawTooLarge { sha256: self.sha256, size: size as u64, limit });
        }

        // The capacity bounds the output: a frame that expands past the
        // recorded size fails here instead of allocating more.
        let message = match zstd::bulk::decompress(&self.data, size) {
            Ok(message) => message,
            Err(e) => return Err(self.corrupt(format!("zstd cannot decompress it to {size} bytes: {e}"))),
        };

        if message.len() != size {
            return Err(self.corrupt(format!("it decompresses to {} bytes, but the row records {size}", message.len())));
        }
        let actual = Sha256Hex::of(&message);
        if actual != self.sha256 {
            return Err(self.corrupt(format!("its content hashes to {actual}")));
        }
        Ok(message)
    }

    fn corrupt(&self, reason: String) -> StoreError {
        StoreError::CorruptRaw { sha256: self.sha256.clone(), reason }
    }
}

/// Compresses a raw message with zstd at `level`.
fn compress(message: &[u8], level: i32) -> Result<Vec<u8>> {
    zstd::bulk::compress(message, level)
        .map_err(|e| StoreError::InvalidInput { field: "message", reason: format!("zstd compression failed: {e}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_empty_input() {
        assert_eq!(Sha256Hex::of(b"").as_str(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn sha256_parse_rejects_invalid_text() {
        let valid = Sha256Hex::of(b"x").to_string();

        assert!(Sha256Hex::parse(&valid).is_ok());
        assert!(Sha256Hex::parse(&valid.to_uppercase()).is_err());
        assert!(Sha256Hex::parse(&valid[1..]).is_err());
        assert!(Sha256Hex::parse(&format!("{}g", &valid[1..])).is_err());
        assert!(Sha256Hex::parse("").is_err());
    }

    #[test]
    fn sha256_serde_validates() {
        let parsed: std::result::Result<Sha256Hex, _> = serde_json::from_str("\"abc\"");

        assert!(parsed.is_err());
    }

    fn stored(message: &[u8]) -> StoredRaw {
        let data = zstd::bulk::compress(message, 3).expect("compress");
        StoredRaw { sha256: Sha256Hex::of(message), size: message.len() as i64, compression: "zstd".into(), data }
    }

    #[test]
    fn decode_round_trip() {
        let message = b"From: a@example.org\r\n\r\nhello".repeat(100);

        assert_eq!(stored(&message).decode(1 << 20).expect("decode"), message);
    }

    #[test]
    fn decode_rejects_wrong_size() {
        let mut row = stored(b"hello world");
        row.size = 5;

        let error = row.decode(1 << 20).expect_err("size 5 must not match 11 bytes");

        assert!(matches!(error, StoreError::CorruptRaw { .. }), "{error}");
    }

    #[test]
    fn decode_rejects_size_over_limit() {
        let row = stored(&[b'a'; 100]);

        let error = row.decode(99).expect_err("100 bytes exceed the limit of 99");

        assert!(matches!(error, StoreError::StoredRawTooLarge { size: 100, limit: 99, .. }), "{error}");
    }

    #[test]
    fn decode_rejects_other_content() {
        let mut row = stored(b"hello world");
        row.data = zstd::bulk::compress(b"HELLO WORLD", 3).expect("compress");

        let error = row.decode(1 << 20).expect_err("content differs");

        assert!(error.to_string().contains("hashes to"), "{error}");
    }
}
