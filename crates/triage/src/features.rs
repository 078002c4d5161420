//! Features of a message for the statistical model: hashed words of the
//! subject and visible text, and named properties of the analysis.
//!
//! Every feature is a string, hashed into a fixed number of buckets
//! (feature hashing), so the model needs no vocabulary. Features that
//! describe the mailbox a message was collected from rather than the
//! message are left out on purpose: Received hosts, header names of the
//! receiving mail system, Authentication-Results (added by the receiving
//! system, and only present in some collections) and List-Id (every
//! mailing-list archive has one). In a training corpus they tell
//! collections apart, not phishing from legitimate mail, and a model that
//! learnt them would fail on mail from elsewhere. Rules still use them.

use phishloop_model::{AnalysisRecord, MessageAnalysis};

/// Number of hash buckets (2^16).
pub const BUCKETS: usize = 1 << 16;
/// Version of the feature set; a model trained on another version is
/// rejected.
pub const FEATURE_VERSION: u32 = 3;

/// The features of a record as bucket indices (with repeats).
pub fn extract(record: &AnalysisRecord) -> Vec<u32> {
    collect(record, &[]).buckets
}

/// Readable names of the features that fall into `buckets`, in the order of
/// `buckets` (for explaining a model's output).
pub fn names_of(record: &AnalysisRecord, buckets: &[u32]) -> Vec<String> {
    let features = collect(record, buckets);
    buckets
        .iter()
        .filter_map(|bucket| features.names.iter().find(|(found, _)| found == bucket).map(|(_, name)| name.clone()))
        .collect()
}

fn collect(record: &AnalysisRecord, wanted: &[u32]) -> Features {
    let mut features = Features { buckets: Vec::with_capacity(512), names: Vec::new(), wanted: wanted.to_vec() };
    collect_into(record, &mut features);
    features
}

fn collect_into(record: &AnalysisRecord, features: &mut Features) {
    let Some(message) = &record.message else {
        features.add2("flag", "no_original");
        return;
    };

    if let Some(subject) = &message.headers.subject {
        features.words("subject", subject);
    }
    features.words("body", &message.body.excerpt);
    sender(features, message);
    urls(features, message);
    attachments(features, message);
    content(features, message);
}

struct Features {
    buckets: Vec<u32>,
    /// The first name found for each bucket in `wanted`. Names are only
    /// built for those buckets, because formatting every feature would
    /// cost more than hashing it.
    names: Vec<(u32, String)>,
    wanted: Vec<u32>,
}

impl Features {
    /// Adds the feature `prefix: value`.
    fn add2(&mut self, prefix: &str, value: &str) {
        self.add_parts(prefix, &[value]);
    }

    /// Adds the feature `prefix: ` followed by `parts` joined with spaces,
    /// hashed without building the string.
    fn add_parts(&mut self, prefix: &str, parts: &[&str]) {
        let mut hash = fnv1a(FNV_OFFSET, prefix.as_bytes());
        hash = fnv1a(hash, b":");
        for (index, part) in parts.iter().enumerate() {
            if index > 0 {
                hash = fnv1a(hash, b" ");
            }
            hash = fnv1a(hash, part.as_bytes());
        }
        let bucket = (hash % BUCKETS as u64) as u32;
        self.buckets.push(bucket);
        if self.wanted.contains(&bucket) && !self.names.iter().any(|(found, _)| *found == bucket) {
            self.names.push((bucket, format!("{prefix}: {}", parts.join(" "))));
        }
    }

    /// Lowercase words of 2 to 24 letters or digits, and pairs of
    /// neighbouring words. Words of digits alone are left out: they are
    /// mostly dates and years, which tell when a collection was gathered.
    fn words(&mut self, prefix: &str, text: &str) {
        let mut previous = String::new();
        let mut word = String::new();
        for found in text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|word| (2..=24).contains(&word.chars().count()) && !word.bytes().all(|byte| byte.is_ascii_digit()))
            .take(600)
        {
            word.clear();
            if found.is_ascii() {
                word.push_str(found);
                word.make_ascii_lowercase();
            } else {
                word.push_str(&found.to_lowercase());
            }
            self.add2(prefix, &word);
            if !previous.is_empty() {
                self.add_parts(prefix, &[&previous, &word]);
            }
            std::mem::swap(&mut previous, &mut word);
        }
    }

    fn flag(&mut self, name: &str, set: bool) {
        if set {
            self.add2("flag", name);
        }
    }

    /// A count in buckets 0, 1, 2, 3-5, 6-10, 11-30, more.
    fn count(&mut self, name: &str, count: usize) {
        let band = match count {
            0 => "0",
            1 => "1",
            2 => "2",
            3..=5 => "3-5",
            6..=10 => "6-10",
            11..=30 => "11-30",
            _ => "31+",
        };
        self.add2(name, band);
    }
}

fn sender(features: &mut Features, message: &MessageAnalysis) {
    let sender = &message.sender;
    features.flag("from_malformed", sender.from_malformed);
    features.flag("from_free_mail", sender.from_free_mail);
    features.flag("from_internal", sender.from_internal);
    features.flag("reply_to_differs", sender.reply_to_differs);
    features.flag("return_path_differs", sender.return_path_differs);
    features.flag("display_name_address_differs", sender.display_name_address_differs);
    features.flag("display_name_brand", sender.display_name_brand.is_some());
    features.flag("from_lookalike", !sender.from_lookalikes.is_empty());
    if let Some(domain) = &sender.from_registrable_domain {
        features.add2("from_domain", domain);
        if let Some(suffix) = domain.split_once('.').map(|(_, suffix)| suffix) {
            features.add2("from_suffix", suffix);
        }
    }
    if let Some(name) = message.headers.from.first().and_then(|from| from.name.as_deref()) {
        features.words("from_name", name);
    }
    features.flag("list_unsubscribe", message.headers.list_unsubscribe);
    features.flag("undisclosed_recipients", message.headers.to.mailboxes.is_empty());
}

fn urls(features: &mut Features, message: &MessageAnalysis) {
    features.count("urls", message.urls.len());
    let mut domains: Vec<&str> = Vec::new();
    for url in &message.urls {
        features.flag("url_deceptive", url.deceptive.is_some());
        features.flag("url_lookalike", !url.lookalikes.is_empty());
        features.flag("url_embedded_recipient", url.embedded_recipient.is_some());
        features.flag("url_ip_host", url.host_is_ip);
        features.flag("url_shortener", url.shortener);
        features.flag("url_free_hosting", url.free_hosting);
        features.flag("url_credentials", url.has_credentials);
        features.flag("url_wrapped", !url.unwrapped.is_empty());
        features.flag("url_not_https", url.scheme == "http");
        features.flag("url_punycode", url.host_unicode.is_some());
        for source in &url.sources {
            features.add2("url_source", &format!("{:?}", source.kind));
        }
        if let Some(domain) = url.registrable_domain.as_deref()
            && !domains.contains(&domain)
        {
            domains.push(domain);
            features.add2("url_domain", domain);
            if let Some((_, suffix)) = domain.split_once('.') {
                features.add2("url_suffix", suffix);
            }
        }
    }
    features.count("url_domains", domains.len());
    let from = message.sender.from_registrable_domain.as_deref();
    let foreign = message.urls.iter().filter(|url| url.registrable_domain.as_deref() != from).count();
    features.count("urls_foreign", foreign);
}

fn attachments(features: &mut Features, message: &MessageAnalysis) {
    features.count("attachments", message.attachments.len());
    for attachment in &message.attachments {
        if let Some(extension) = &attachment.extension {
            features.add2("attachment_extension", extension);
        }
        if let Some(detected) = &attachment.detected_type {
            features.add2("attachment_type", detected);
        }
        let flags = &attachment.flags;
        features.flag("attachment_executable", flags.executable);
        features.flag("attachment_double_extension", flags.double_extension);
        features.flag("attachment_macros", flags.macros);
        features.flag("attachment_encrypted", flags.encrypted);
        features.flag("attachment_smuggling", !flags.html_smuggling.is_empty());
        features.flag("attachment_credential_form", flags.credential_form);
        features.flag("attachment_qr", !attachment.qr_codes.is_empty());
    }
}

fn content(features: &mut Features, message: &MessageAnalysis) {
    for cue in &message.cues {
        features.add2("cue", &format!("{:?}", cue.kind));
    }
    features.count("phones", message.phone_numbers.len());
    features.flag("toll_free", message.phone_numbers.iter().any(|phone| phone.toll_free));
    features.count("secrets", message.secrets.len());
    features.flag("html_only", message.body.has_html && !message.body.has_text);
    if let Some(html) = &message.body.html {
        features.flag("html_form", html.forms > 0);
        features.flag("html_password", html.password_inputs > 0);
        features.flag("html_hidden", html.hidden_elements > 0);
        features.flag("html_script", html.scripts > 0);
        features.count("html_remote_images", html.remote_images);
    }
    features.count("text_length_hundreds", message.body.text_length / 100);
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// 64-bit FNV-1a: stable across platforms and versions, which a model file
/// needs; `std`'s hasher is not.
fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_is_stable() {
        assert_eq!(fnv1a(FNV_OFFSET, b""), FNV_OFFSET);
        assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
