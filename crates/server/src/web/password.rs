//! Password hashing of web accounts: Argon2id with the argon2 crate's
//! default parameters (19 MiB of memory, 2 passes, 1 lane in version 0.6)
//! and a random salt per hash, stored as a PHC string that carries its own
//! parameters, so hashes made with other parameters still verify.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::error::ServiceError;

/// The shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The longest password accepted, in bytes; hashing cost grows with it.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Hashes a new password after checking its length. Slow on purpose (tens
/// of milliseconds): call it off the async threads.
pub fn hash_password(password: &str) -> Result<String, ServiceError> {
    let characters = password.chars().count();
    if characters < MIN_PASSWORD_CHARS {
        return Err(ServiceError::BadRequest(format!(
            "the password has {characters} characters; use at least {MIN_PASSWORD_CHARS}, such as four random words"
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ServiceError::BadRequest(format!(
            "the password is {} bytes long; use at most {MAX_PASSWORD_BYTES}",
            password.len()
        )));
    }
    let hash = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|error| ServiceError::Config(format!("hashing the password failed: {error}")))?;
    Ok(hash.to_string())
}

/// Returns whether `password` matches the PHC string `hash`. A hash that
/// cannot be parsed matches nothing. Slow on purpose, like `hash_password`.
pub(crate) fn verify_password(password: &str, hash: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(hash) else {
        tracing::warn!("a stored password hash cannot be parsed; set a new password with `phishloop user password`");
        return false;
    };
    Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
}

/// A valid hash of a random password, verified against when a sign-in
/// names an unknown account, so that the answer takes as long as for a
/// known one.
pub(crate) fn decoy_hash() -> &'static str {
    static DECOY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let mut bytes = [0u8; 24];
        let _ = getrandom::fill(&mut bytes);
        let password: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
        hash_password(&password).unwrap_or_default()
    });
    &DECOY
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_verifies_same_password_only() {
        let hash = hash_password("correct horse battery").expect("hash");

        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse battery!", &hash));
    }

    #[test]
    fn short_password_rejected() {
        let error = hash_password("short").expect_err("too short");

        assert!(error.to_string().contains("5 characters"), "{error}");
    }

    #[test]
    fn unparsable_hash_matches_nothing() {
        assert!(!verify_password("anything at all", "not a phc string"));
    }

    #[test]
    fn decoy_hash_is_valid() {
        assert!(decoy_hash().starts_with("$argon2id$"));
    }
}
