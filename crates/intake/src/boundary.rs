//! MIME boundaries for the messages intake rebuilds (from .msg files and
//! inline forwards).
//!
//! A rebuilt message must give the same analysis every time, so its
//! boundaries are derived from the input rather than random. Each is a
//! SHA-256 prefix of the input and the part's position, which input text
//! cannot contain unless it was crafted with the digest of itself.

use mail_builder::headers::content_type::ContentType;
use mail_builder::mime::MimePart;
use sha2::{Digest, Sha256};

/// A multipart part of `subtype` (`mixed`, `alternative`) with a boundary
/// derived from `seed` and `position`.
pub(crate) fn multipart(
    subtype: &str,
    parts: Vec<MimePart<'static>>,
    seed: &[u8],
    position: usize,
) -> MimePart<'static> {
    let mut hasher = Sha256::new();
    hasher.update(seed);
    hasher.update(position.to_le_bytes());
    hasher.update(subtype.as_bytes());
    let digest = hasher.finalize();
    let hex: String = digest.iter().take(12).map(|byte| format!("{byte:02x}")).collect();
    let content_type =
        ContentType::new(format!("multipart/{subtype}")).attribute("boundary", format!("phishloop-{hex}"));
    MimePart::new(content_type, parts)
}

/// SHA-256 of the input, the seed of every boundary of one rebuilt message.
pub(crate) fn seed_of(input: &[u8]) -> Vec<u8> {
    Sha256::digest(input).to_vec()
}
