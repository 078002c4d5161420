//! Secrets written in content: cloud keys, tokens, private keys and
//! passwords. Only a redacted form and a SHA-256 leave this module.
//!
//! Patterns follow the documented formats of each provider's tokens
//! (prefixes such as `AKIA`, `ghp_`, `xoxb-`, `sk_live_`), which keeps false
//! positives low. The password pattern is looser: it catches the
//! "password: ..." lines that come with encrypted-archive lures.

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickKind};
use phishloop_model::{Secret, SecretKind};
use regex::Regex;

use crate::hex_sha256;

/// Secrets kept per message.
const MAX_SECRETS: usize = 50;

const PATTERNS: &[(SecretKind, &str)] = &[
    (SecretKind::AwsAccessKeyId, r"\b((?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16})\b"),
    (SecretKind::AwsSecretAccessKey, r#"(?i)aws_?secret_?access_?key\s*[:=]\s*["']?([A-Za-z0-9/+=]{40})\b"#),
    (SecretKind::GithubToken, r"\b((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b"),
    (SecretKind::GitlabToken, r"\b(glpat-[A-Za-z0-9_\-]{20,})\b"),
    (SecretKind::SlackWebhook, r"(https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+)"),
    (SecretKind::SlackToken, r"\b(xox[baprse]-[A-Za-z0-9\-]{10,})\b"),
    (SecretKind::GoogleApiKey, r"\b(AIza[0-9A-Za-z_\-]{35})\b"),
    (SecretKind::StripeKey, r"\b((?:sk|rk)_live_[0-9a-zA-Z]{16,})\b"),
    (SecretKind::AnthropicKey, r"\b(sk-ant-[A-Za-z0-9_\-]{20,})\b"),
    (SecretKind::OpenaiKey, r"\b(sk-(?:proj-|svcacct-)?[A-Za-z0-9_\-]{32,})\b"),
    (SecretKind::SendgridKey, r"\b(SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43})\b"),
    (SecretKind::TwilioKey, r"\b(SK[0-9a-f]{32})\b"),
    (SecretKind::NpmToken, r"\b(npm_[A-Za-z0-9]{36})\b"),
    (SecretKind::AzureStorageKey, r"AccountKey=([A-Za-z0-9+/]{86}==)"),
    (SecretKind::PrivateKey, r"(-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----)"),
    (SecretKind::JsonWebToken, r"\b(eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,})"),
    (
        SecretKind::Password,
        r"(?i)\b(?:password|passwort|passwd|pwd|passcode|kennwort|mot de passe|contraseña|senha)\s*(?:is)?\s*[:=]\s*([^\s<>]{4,64})",
    ),
];

/// The patterns, compiled once. Word boundaries are ASCII-only: Unicode
/// boundaries cost a table look-up per character, and every token format
/// here is ASCII.
static COMPILED: LazyLock<Vec<(SecretKind, Regex)>> = LazyLock::new(|| {
    PATTERNS
        .iter()
        .map(|(kind, pattern)| (*kind, Regex::new(&pattern.replace(r"\b", r"(?-u:\b)")).expect("valid pattern")))
        .collect()
});

/// Literal text every match of a pattern contains, by pattern index in
/// [`PATTERNS`]. One case-insensitive pass over the text for all of them
/// decides which patterns to run, so ordinary text costs one scan instead
/// of one per pattern. An empty list means the pattern always runs.
const ANCHORS: &[&[&str]] = &[
    &["akia", "asia", "agpa", "aida", "aroa", "aipa", "anpa", "anva", "apka"],
    &["secret"],
    &["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"],
    &["glpat-"],
    &["hooks.slack.com"],
    &["xoxb-", "xoxa-", "xoxp-", "xoxr-", "xoxs-", "xoxe-"],
    &["aiza"],
    &["_live_"],
    &["sk-ant-"],
    &["sk-"],
    &["sg."],
    &[],
    &["npm_"],
    &["accountkey="],
    &["private key"],
    &["eyj"],
    &["passw", "pwd", "passcode", "kennwort", "mot de passe", "contrase", "senha"],
];

static ANCHOR_SCANNER: LazyLock<(AhoCorasick, Vec<usize>)> = LazyLock::new(|| {
    let mut patterns = Vec::new();
    let mut owners = Vec::new();
    for (index, anchors) in ANCHORS.iter().enumerate() {
        for anchor in *anchors {
            patterns.push(*anchor);
            owners.push(index);
        }
    }
    let scanner = AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .kind(Some(AhoCorasickKind::DFA))
        .build(&patterns)
        .expect("valid anchors");
    (scanner, owners)
});

/// Finds secrets in `text` and adds them, redacted, to `secrets`. The full
/// values go to `values`, only so that the caller can remove them from
/// other output (the body excerpt); they are never serialized.
pub(crate) fn find_secrets(text: &str, location: &str, secrets: &mut Vec<Secret>, values: &mut Vec<String>) {
    let (scanner, owners) = &*ANCHOR_SCANNER;
    let mut candidates: Vec<bool> = ANCHORS.iter().map(|anchors| anchors.is_empty()).collect();
    for found in scanner.find_overlapping_iter(text) {
        candidates[owners[found.pattern().as_usize()]] = true;
    }

    for (index, (kind, regex)) in COMPILED.iter().enumerate() {
        if !candidates[index] {
            continue;
        }
        for captures in regex.captures_iter(text) {
            if secrets.len() >= MAX_SECRETS {
                return;
            }
            let Some(found) = captures.get(1) else {
                continue;
            };
            let value = found.as_str();
            let full = match kind {
                SecretKind::PrivateKey => private_key_block(text, found.start()),
                _ => value,
            };
            if *kind == SecretKind::Password && !plausible_password(value) {
                continue;
            }
            if *kind == SecretKind::AwsAccessKeyId && in_presigned_url(text, found.start()) {
                continue;
            }
            // A key block is hashed without white space, so that copies with
            // other line endings or wrapping give the same hash.
            let identity: String = match kind {
                SecretKind::PrivateKey => full.chars().filter(|c| !c.is_whitespace()).collect(),
                _ => full.to_string(),
            };
            let sha256 = hex_sha256(identity.as_bytes());
            if secrets.iter().any(|secret| secret.sha256 == sha256) {
                continue;
            }
            secrets.push(Secret {
                kind: *kind,
                redacted: redact(*kind, value),
                sha256,
                location: location.to_string(),
            });
            values.push(full.to_string());
        }
    }
}

/// The whole key block from BEGIN to END, so its hash identifies the key.
fn private_key_block(text: &str, start: usize) -> &str {
    let rest = &text[start..];
    match rest.find("-----END ") {
        Some(end) => {
            let after = &rest[end..];
            let close = after[9..].find("-----").map_or(after.len(), |position| position + 9 + 5);
            &rest[..end + close]
        }
        // Without an END line, the first 4 KiB, cut at a character boundary.
        None => &rest[..rest.floor_char_boundary(4096)],
    }
}

/// Query parameters that carry an access key id in a presigned S3 URL
/// (signature version 4, then version 2), lowercase.
const PRESIGNED_KEY_PARAMETERS: &[&str] = &["x-amz-credential=", "awsaccesskeyid="];

/// True when the access key id at `start` is the value of a presigned URL's
/// key parameter. Legitimate mail that shares a file often carries such
/// links. They name the key id on purpose, beside a signature that
/// expires, and the id alone grants nothing.
fn in_presigned_url(text: &str, start: usize) -> bool {
    let before = &text.as_bytes()[start.saturating_sub(17)..start];
    PRESIGNED_KEY_PARAMETERS.iter().any(|parameter| {
        before.len() >= parameter.len()
            && before[before.len() - parameter.len()..].eq_ignore_ascii_case(parameter.as_bytes())
    })
}

/// Filters out prose and links after "password:" such as "reset",
/// "expired" or a URL.
fn plausible_password(value: &str) -> bool {
    let lower_start: String = value.chars().take(8).collect::<String>().to_lowercase();
    if value.contains("://") || lower_start.starts_with("www.") || lower_start.starts_with("http") {
        return false;
    }
    let has_letter = value.chars().any(char::is_alphabetic);
    let has_other = value.chars().any(|c| c.is_ascii_digit() || c.is_ascii_punctuation());
    let lower = value.to_lowercase();
    let prose = ["expired", "expires", "reset", "required", "change", "changed", "below", "here"];
    (has_other || !has_letter) && !prose.iter().any(|word| lower.starts_with(word))
}

/// Replaces every secret value in `text` (whitespace-collapsed or not)
/// with a redacted form.
pub(crate) fn redact_all(text: &str, values: &[String]) -> String {
    let mut output = text.to_string();
    for value in values {
        let collapsed = value.split_whitespace().collect::<Vec<_>>().join(" ");
        for form in [value.as_str(), collapsed.as_str()] {
            if !form.is_empty() && output.contains(form) {
                output = output.replace(form, "[secret redacted]");
            }
        }
    }
    output
}

/// Keeps a few characters at each end of long secrets, none of short ones.
fn redact(kind: SecretKind, value: &str) -> String {
    if kind == SecretKind::PrivateKey {
        return format!("{value} (key body redacted)");
    }
    let characters: Vec<char> = value.chars().collect();
    let (head, tail) = match characters.len() {
        0..=8 => (0, 0),
        9..=16 => (2, 2),
        _ => (4, 4),
    };
    let hidden = characters.len() - head - tail;
    let mut redacted: String = characters[..head].iter().collect();
    redacted.push_str(&"*".repeat(hidden.min(24)));
    redacted.extend(&characters[characters.len() - tail..]);
    redacted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<Secret> {
        let mut secrets = Vec::new();
        find_secrets(text, "body", &mut secrets, &mut Vec::new());
        secrets
    }

    #[test]
    fn key_hash_ignores_line_endings() {
        let lf = "-----BEGIN RSA PRIVATE KEY-----\nMIIB\nAAAA\n-----END RSA PRIVATE KEY-----";
        let crlf = lf.replace('\n', "\r\n");
        assert_eq!(found(lf)[0].sha256, found(&crlf)[0].sha256);
    }

    #[test]
    fn aws_key_is_redacted() {
        let secrets = found("key: AKIAABCDEFGHIJKLMNOP and more");
        assert_eq!(secrets.len(), 1);
        assert_eq!(secrets[0].kind, SecretKind::AwsAccessKeyId);
        assert_eq!(secrets[0].redacted, "AKIA************MNOP");
        assert!(!secrets[0].redacted.contains("ABCDEFGH"));
        assert_eq!(secrets[0].sha256, hex_sha256(b"AKIAABCDEFGHIJKLMNOP"));
    }

    #[test]
    fn presigned_url_key_ids() {
        let v4 = "https://files.s3.amazonaws.com/q3.pdf?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAABCDEFGHIJKLMNOP%2F20261201%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=ab12";
        let v2 =
            "https://files.s3.amazonaws.com/q3.pdf?awsaccesskeyid=AKIAQRSTUVWXYZ234567&Expires=1796116500&Signature=x";
        assert!(found(v4).is_empty(), "{:?}", found(v4));
        assert!(found(v2).is_empty(), "{:?}", found(v2));
        assert_eq!(found("id=AKIAABCDEFGHIJKLMNOP").len(), 1, "other parameters still count");
    }

    #[test]
    fn tokens_of_several_providers() {
        let text = format!(
            "gh: ghp_{} slack: xoxb-1234567890-abcdefghij stripe: sk_live_{} \n-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----",
            "a".repeat(36),
            "b".repeat(24)
        );
        let kinds: Vec<SecretKind> = found(&text).into_iter().map(|secret| secret.kind).collect();
        assert!(kinds.contains(&SecretKind::GithubToken));
        assert!(kinds.contains(&SecretKind::SlackToken));
        assert!(kinds.contains(&SecretKind::StripeKey));
        assert!(kinds.contains(&SecretKind::PrivateKey));
    }

    #[test]
    fn anchors_line_up_with_patterns() {
        assert_eq!(ANCHORS.len(), PATTERNS.len());
    }

    #[test]
    fn archive_password_is_found_but_prose_is_not() {
        assert_eq!(found("The archive password: Inv2024!").len(), 1);
        assert!(found("Your password: expired yesterday").is_empty());
        assert!(found("Keep your password: https://login.example-phish.net/").is_empty());
        assert!(found("nothing to see").is_empty());
    }
}
