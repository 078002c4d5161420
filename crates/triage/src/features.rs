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
pub const FEATURE_VERSION: u32 = 4;

/// The features of a record as bucket indices (with repeats), in the order
/// they are collected.
pub fn extract(record: &AnalysisRecord) -> Vec<u32> {
    let mut features = Features { buckets: Vec::with_capacity(512), naming: None, position: 0, origins: None };
    collect_into(record, &mut features);
    features.buckets
}

/// The places of the words among a record's features, with which
/// [`names_from_origins`] names them without splitting the texts again.
#[derive(Debug, Default)]
pub struct Origins {
    /// The feature position after each run of words (one call of
    /// `Features::words`), in order.
    run_ends: Vec<usize>,
    /// For each feature position, the byte offset of its word in its text,
    /// shifted left by one, with the lowest bit set for a pair of words,
    /// whose offset is that of the first word. Other features have 0.
    words: Vec<u64>,
}

/// Like [`extract`], also recording where each word was found.
pub fn extract_with_origins(record: &AnalysisRecord) -> (Vec<u32>, Origins) {
    let origins = Origins { run_ends: Vec::new(), words: Vec::with_capacity(512) };
    let mut features = Features { buckets: Vec::with_capacity(512), naming: None, position: 0, origins: Some(origins) };
    collect_into(record, &mut features);
    (features.buckets, features.origins.unwrap_or_default())
}

/// Returns each bucket of `features` once, in ascending order, as the
/// model reads them.
pub fn distinct(features: &[u32]) -> Vec<u32> {
    // Sorting costs more than a pass over a bit set of all buckets for the
    // hundreds of features of most messages, but less for a few.
    if features.len() < 128 {
        let mut distinct = features.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        return distinct;
    }
    SEEN.with_borrow_mut(|seen| {
        // One bit per word of `seen` that has a bucket set, so that only
        // those words are read, and cleared for the next call.
        let mut used = [0u64; BUCKETS / 64 / 64];
        for &bucket in features {
            let word = bucket as usize / 64;
            seen[word] |= 1 << (bucket % 64);
            used[word / 64] |= 1 << (word % 64);
        }
        let mut distinct = Vec::with_capacity(features.len());
        for (used_index, &used_word) in used.iter().enumerate() {
            let mut words = used_word;
            while words != 0 {
                let word = used_index * 64 + words.trailing_zeros() as usize;
                words &= words - 1;
                let mut rest = std::mem::take(&mut seen[word]);
                while rest != 0 {
                    distinct.push(word as u32 * 64 + rest.trailing_zeros());
                    rest &= rest - 1;
                }
            }
        }
        distinct
    })
}

thread_local! {
    /// The bit set of [`distinct`], one bit per bucket, all zero between
    /// calls. It is kept per thread so that no call zeroes 8 KiB.
    static SEEN: std::cell::RefCell<Vec<u64>> = std::cell::RefCell::new(vec![0u64; BUCKETS / 64]);
}

/// Readable names of the features that fall into `buckets`, in the order of
/// `buckets` (for explaining a model's output). `features` is what
/// [`extract`] returned for the same record.
pub fn names_of(record: &AnalysisRecord, features: &[u32], buckets: &[u32]) -> Vec<String> {
    name_buckets(record, features, None, buckets)
}

/// Like [`names_of`], with the `origins` that [`extract_with_origins`]
/// returned with `features`. Words are read at their recorded offsets, so
/// no text is split again.
pub fn names_from_origins(
    record: &AnalysisRecord,
    features: &[u32],
    origins: &Origins,
    buckets: &[u32],
) -> Vec<String> {
    name_buckets(record, features, Some(origins), buckets)
}

fn name_buckets(record: &AnalysisRecord, features: &[u32], origins: Option<&Origins>, buckets: &[u32]) -> Vec<String> {
    // The first feature of each bucket gives its name. Features come in the
    // same order on every pass, so the second pass formats the features at
    // those positions and hashes none.
    let mut targets: Vec<(usize, u32)> = buckets
        .iter()
        .filter_map(|&bucket| features.iter().position(|&found| found == bucket).map(|position| (position, bucket)))
        .collect();
    targets.sort_unstable();
    let Some(&(last, _)) = targets.last() else {
        return Vec::new();
    };
    let naming = Naming { targets, last, names: Vec::new(), origins, run: 0 };
    let mut naming = Features { buckets: Vec::new(), naming: Some(naming), position: 0, origins: None };
    collect_into(record, &mut naming);
    let names = naming.naming.map(|naming| naming.names).unwrap_or_default();
    buckets
        .iter()
        .filter_map(|bucket| names.iter().find(|(found, _)| found == bucket).map(|(_, name)| name.clone()))
        .collect()
}

fn collect_into(record: &AnalysisRecord, features: &mut Features<'_>) {
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

/// The features of one record, collected either as buckets or, with
/// `naming`, as the names of a few of them.
struct Features<'o> {
    buckets: Vec<u32>,
    naming: Option<Naming<'o>>,
    /// Number of features collected so far.
    position: usize,
    /// The places of words, when [`extract_with_origins`] records them.
    origins: Option<Origins>,
}

/// The second pass of [`names_of`]. Names are only built for the
/// requested features, because formatting every feature would cost more
/// than hashing it.
struct Naming<'o> {
    /// Positions of the features to name, with their buckets, in order.
    targets: Vec<(usize, u32)>,
    /// The last position in `targets`: the pass stops after it.
    last: usize,
    names: Vec<(u32, String)>,
    /// The places of words, when the first pass recorded them.
    origins: Option<&'o Origins>,
    /// The number of runs of words passed so far.
    run: usize,
}

impl Features<'_> {
    /// Adds the feature `prefix: value`.
    fn add2(&mut self, prefix: &str, value: &str) {
        self.add_parts(prefix, &[value]);
    }

    /// Adds the feature `prefix: ` followed by `parts` joined with spaces,
    /// hashed without building the string.
    fn add_parts(&mut self, prefix: &str, parts: &[&str]) {
        if let Some(naming) = &mut self.naming {
            let position = self.position;
            self.position += 1;
            if let Some(&(_, bucket)) = naming.targets.iter().find(|(target, _)| *target == position) {
                naming.names.push((bucket, format!("{prefix}: {}", parts.join(" "))));
            }
            return;
        }
        let mut hash = prefix_hash(prefix);
        for (index, part) in parts.iter().enumerate() {
            if index > 0 {
                hash = fnv1a(hash, b" ");
            }
            hash = fnv1a(hash, part.as_bytes());
        }
        self.push_hash(hash);
    }

    /// Adds a feature by the FNV-1a hash of its `prefix:parts` text, outside
    /// a naming pass.
    fn push_hash(&mut self, hash: u64) {
        self.position += 1;
        self.buckets.push((hash % BUCKETS as u64) as u32);
        if let Some(origins) = &mut self.origins {
            origins.words.push(0);
        }
    }

    /// Adds a word's feature like [`Features::push_hash`], recording its
    /// origin (see [`Origins::words`]).
    fn push_word_hash(&mut self, hash: u64, origin: u64) {
        self.push_hash(hash);
        if let Some(origins) = &mut self.origins
            && let Some(last) = origins.words.last_mut()
        {
            *last = origin;
        }
    }

    /// Names the requested features among the next run of words from the
    /// recorded origins, and moves past the run. Returns false when no
    /// origins were recorded.
    fn name_recorded_words(&mut self, prefix: &str, text: &str) -> bool {
        let Some(naming) = &mut self.naming else {
            return false;
        };
        let Some(origins) = naming.origins else {
            return false;
        };
        let end = origins.run_ends[naming.run];
        naming.run += 1;
        let start = self.position;
        for &(target, bucket) in naming.targets.iter().filter(|(target, _)| (start..end).contains(target)) {
            let origin = origins.words[target];
            let offset = usize::try_from(origin >> 1).unwrap_or(usize::MAX);
            let mut words = text_words(text.get(offset..).unwrap_or_default());
            let first = lowercase(words.next().unwrap_or_default());
            let name = if origin & 1 == 1 {
                format!("{prefix}: {first} {}", lowercase(words.next().unwrap_or_default()))
            } else {
                format!("{prefix}: {first}")
            };
            naming.names.push((bucket, name));
        }
        self.position = end;
        true
    }

    /// Returns whether a naming pass has passed its last target, so that
    /// the costly loops can stop.
    fn named_all(&self) -> bool {
        self.naming.as_ref().is_some_and(|naming| self.position > naming.last)
    }

    /// Lowercase words of 2 to 24 letters or digits, and pairs of
    /// neighbouring words. Words of digits alone are left out: they are
    /// mostly dates and years, which tell when a collection was gathered.
    ///
    /// Outside a naming pass the hashes are chained, because FNV-1a reads
    /// its input in order. The hash of `prefix:` is computed once, and the
    /// hash of a pair continues from the hash of its first word's feature.
    /// A naming pass lowercases only the words of requested features.
    fn words(&mut self, prefix: &str, text: &str) {
        if self.name_recorded_words(prefix, text) {
            return;
        }
        let prefix_hash = prefix_hash(prefix);
        let mut previous_hash = None;
        let mut previous: Option<&str> = None;
        let mut previous_origin = 0;
        for found in text_words(text).take(600) {
            if self.named_all() {
                break;
            }
            let Some(naming) = &self.naming else {
                let (word_hash, pair_hash) = word_hashes(prefix_hash, previous_hash, found);
                let origin = ((found.as_ptr() as usize - text.as_ptr() as usize) as u64) << 1;
                self.push_word_hash(word_hash, origin);
                if let Some(pair_hash) = pair_hash {
                    self.push_word_hash(pair_hash, previous_origin | 1);
                }
                previous_hash = Some(word_hash);
                previous_origin = origin;
                continue;
            };
            let position = self.position;
            let requested = naming
                .targets
                .iter()
                .any(|&(target, _)| target == position || (previous.is_some() && target == position + 1));
            if requested {
                let word = lowercase(found);
                self.add2(prefix, &word);
                if let Some(previous) = previous {
                    self.add_parts(prefix, &[&lowercase(previous), &word]);
                }
            } else {
                self.position += 1 + usize::from(previous.is_some());
            }
            previous = Some(found);
        }
        if let Some(origins) = &mut self.origins {
            origins.run_ends.push(self.position);
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

fn sender(features: &mut Features<'_>, message: &MessageAnalysis) {
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

fn urls(features: &mut Features<'_>, message: &MessageAnalysis) {
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

fn attachments(features: &mut Features<'_>, message: &MessageAnalysis) {
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

fn content(features: &mut Features<'_>, message: &MessageAnalysis) {
    for cue in &message.cues {
        features.add2("cue", &format!("{:?}", cue.kind));
    }
    features.count("phones", message.phone_numbers.len());
    features.flag("toll_free", message.phone_numbers.iter().any(|phone| phone.toll_free));
    features.count("secrets", message.secrets.len());
    // HTML without a text part is no feature. Many mailing lists reject it,
    // and they make up most of the legitimate mail in the development
    // corpus, while webmail and notices often send nothing else. A model
    // that learnt it took legitimate mail from outside lists for spam or
    // phishing.
    if let Some(html) = &message.body.html {
        features.flag("html_form", html.forms > 0);
        features.flag("html_password", html.password_inputs > 0);
        features.flag("html_hidden", html.hidden_elements > 0);
        features.flag("html_script", html.scripts > 0);
        features.count("html_remote_images", html.remote_images);
    }
    features.count("text_length_hundreds", message.body.text_length / 100);
}

/// Splits `text` into words: runs of letters and digits of 2 to 24
/// characters that are not all digits.
fn text_words(text: &str) -> TextWords<'_> {
    TextWords { text, position: 0 }
}

/// The words of a text, as `text.split(|c: char| !c.is_alphanumeric())`
/// filtered to pieces of 2 to 24 characters that are not all ASCII digits.
/// ASCII bytes are classified without decoding a `char`, which most text
/// consists of.
struct TextWords<'t> {
    text: &'t str,
    /// The start of the next piece, or past the end when the text is done.
    position: usize,
}

impl<'t> Iterator for TextWords<'t> {
    type Item = &'t str;

    fn next(&mut self) -> Option<&'t str> {
        let bytes = self.text.as_bytes();
        while self.position <= bytes.len() {
            let start = self.position;
            let mut index = start;
            let mut characters = 0usize;
            let mut all_digits = true;
            let mut separator = 0;
            while index < bytes.len() {
                let byte = bytes[index];
                let (alphanumeric, length) = if byte.is_ascii() {
                    (byte.is_ascii_alphanumeric(), 1)
                } else {
                    let character = self.text[index..].chars().next().unwrap_or(char::REPLACEMENT_CHARACTER);
                    (character.is_alphanumeric(), character.len_utf8())
                };
                if !alphanumeric {
                    separator = length;
                    break;
                }
                all_digits &= byte.is_ascii_digit();
                characters += 1;
                index += length;
            }
            // Past the separator, or past the end when the text ended.
            self.position = if separator == 0 { bytes.len() + 1 } else { index + separator };
            if (2..=24).contains(&characters) && !all_digits {
                return Some(&self.text[start..index]);
            }
        }
        None
    }
}

fn lowercase(word: &str) -> String {
    if word.is_ascii() { word.to_ascii_lowercase() } else { word.to_lowercase() }
}

/// Returns the hashes of the lowercased `word`'s feature, continued from
/// `prefix_hash`, and of its pair feature, continued from `previous_hash`
/// and a space, when there is a previous word. An ASCII word is hashed in
/// one pass without a lowercased copy.
fn word_hashes(prefix_hash: u64, previous_hash: Option<u64>, word: &str) -> (u64, Option<u64>) {
    if !word.is_ascii() {
        let word = word.to_lowercase();
        let pair_hash = previous_hash.map(|hash| fnv1a(fnv1a(hash, b" "), word.as_bytes()));
        return (fnv1a(prefix_hash, word.as_bytes()), pair_hash);
    }
    let mut word_hash = prefix_hash;
    let Some(previous_hash) = previous_hash else {
        for &byte in word.as_bytes() {
            word_hash = fnv1a_byte(word_hash, byte.to_ascii_lowercase());
        }
        return (word_hash, None);
    };
    let mut pair_hash = fnv1a(previous_hash, b" ");
    for &byte in word.as_bytes() {
        let byte = byte.to_ascii_lowercase();
        word_hash = fnv1a_byte(word_hash, byte);
        pair_hash = fnv1a_byte(pair_hash, byte);
    }
    (word_hash, Some(pair_hash))
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Returns the FNV-1a hash of `prefix:`, the start of every feature's text.
fn prefix_hash(prefix: &str) -> u64 {
    fnv1a(fnv1a(FNV_OFFSET, prefix.as_bytes()), b":")
}

/// 64-bit FNV-1a: stable across platforms and versions, which a model file
/// needs; `std`'s hasher is not.
fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &byte in bytes {
        hash = fnv1a_byte(hash, byte);
    }
    hash
}

fn fnv1a_byte(hash: u64, byte: u8) -> u64 {
    (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each name must hash back to the bucket it was requested for.
    #[test]
    fn names_hash_to_their_buckets() {
        let analyzer =
            phishloop_analysis::Analyzer::new(phishloop_analysis::Config::default(), phishloop_analysis::Mode::Auto)
                .expect("default analysis configuration");
        let message = "From: Support <help@example-billing.net>\r\nTo: dana.lee@corp-example.com\r\n\
                       Subject: Verify your account now\r\nDate: Tue, 11 Mar 2025 09:14:00 +0000\r\n\
                       Message-ID: <n1@example-billing.net>\r\n\r\n\
                       Your mailbox is full. Sign in at https://login.example-billing.net/verify today.\r\n";
        let records = analyzer.analyze_input(Some("example"), message.as_bytes()).expect("analyses");
        let features = extract(&records[0]);
        let mut distinct = features.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(distinct.len() > 20, "{} features", distinct.len());

        let names = names_of(&records[0], &features, &distinct);
        assert_eq!(names.len(), distinct.len());
        for (name, bucket) in names.iter().zip(&distinct) {
            let hashed = name.replacen(": ", ":", 1);
            assert_eq!((fnv1a(FNV_OFFSET, hashed.as_bytes()) % BUCKETS as u64) as u32, *bucket, "{name}");
        }
        assert!(names_of(&records[0], &features, &[]).is_empty());
    }

    /// Naming from recorded origins must give the names of a second full
    /// pass, for every feature of the examples of the built-in rules, and
    /// extraction must give the same buckets with and without recording.
    #[test]
    fn names_from_origins_match_full_pass() {
        let rules = crate::rules::RuleSet::load(true, &[]).expect("built-in rules compile");
        let analyzer =
            phishloop_analysis::Analyzer::new(phishloop_analysis::Config::default(), phishloop_analysis::Mode::Auto)
                .expect("default analysis configuration");
        let mut named = 0;
        for example in rules.rules().iter().flat_map(|rule| &rule.examples) {
            let records = analyzer.analyze_input(Some("example"), example.message.as_bytes()).expect("analyses");
            for record in &records {
                let (features, origins) = extract_with_origins(record);
                assert_eq!(features, extract(record));
                let buckets = distinct(&features);
                let names = names_from_origins(record, &features, &origins, &buckets);
                assert_eq!(names, names_of(record, &features, &buckets));
                assert_eq!(names.len(), buckets.len());
                named += names.len();
            }
        }
        assert!(named > 5000, "{named} features named");
    }

    #[test]
    fn text_words_match_split() {
        let texts = [
            "",
            "a",
            "Verify your account now",
            "  leading and trailing  ",
            "2025 dates 11 and a1 b22 333x 4444",
            "größe ÄRGER İstanbul naïve café",
            "word—dash word\u{a0}nbsp 🙂emoji🙂 tab\tend",
            "١٢٣ arabic-indic ٤٥",
            "abcdefghijklmnopqrstuvwx abcdefghijklmnopqrstuvwxy x",
            "https://login.example-billing.net/verify?id=12345&user=dana.lee",
            "ends with separator.",
            "日本語のテキスト 中文",
        ];
        for text in texts {
            let expected: Vec<&str> = text
                .split(|c: char| !c.is_alphanumeric())
                .filter(|word| {
                    (2..=24).contains(&word.chars().count()) && !word.bytes().all(|byte| byte.is_ascii_digit())
                })
                .collect();
            assert_eq!(text_words(text).collect::<Vec<_>>(), expected, "{text:?}");
        }
    }

    #[test]
    fn distinct_sorts_and_deduplicates() {
        for features in [vec![], vec![5, 3, 5, 0], (0..1000).map(|index| (index * 7919) % 65_536).rev().collect()] {
            let mut expected = features.clone();
            expected.sort_unstable();
            expected.dedup();
            assert_eq!(distinct(&features), expected, "{} features", features.len());
        }
        let repeated: Vec<u32> = (0..300).map(|index| [65_535, 0, 64, 63][index % 4]).collect();
        assert_eq!(distinct(&repeated), vec![0, 63, 64, 65_535]);
    }

    /// The one-pass hashes must equal hashing the lowercased text of each
    /// feature, as the model was trained on.
    #[test]
    fn word_hashes_match_feature_text() {
        let prefix = prefix_hash("body");
        for (previous, word) in
            [(None, "Verify"), (Some("your"), "ACCOUNT"), (Some("größe"), "ÄRGER"), (None, "İstanbul")]
        {
            let lower = word.to_lowercase();
            let previous_hash = previous.map(|previous: &str| fnv1a(prefix, previous.to_lowercase().as_bytes()));
            let (word_hash, pair_hash) = word_hashes(prefix, previous_hash, word);
            assert_eq!(word_hash, fnv1a(FNV_OFFSET, format!("body:{lower}").as_bytes()), "{word}");
            let expected_pair = previous
                .map(|previous| fnv1a(FNV_OFFSET, format!("body:{} {lower}", previous.to_lowercase()).as_bytes()));
            assert_eq!(pair_hash, expected_pair, "{word}");
        }
    }

    #[test]
    fn hashing_is_stable() {
        assert_eq!(fnv1a(FNV_OFFSET, b""), FNV_OFFSET);
        assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
