//! Domain names: normalisation, registrable domains and lookalikes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::LazyLock;

use aho_corasick::AhoCorasick;
use phishloop_model::{LookalikeKind, LookalikeMatch, LookalikeTechnique};

use crate::Analyzer;
use crate::brands::BrandSet;

/// Converts a host name to lowercase ASCII, IDNs to punycode (UTS #46).
/// Returns `None` for names that are not valid host names.
pub(crate) fn to_ascii_host(host: &str) -> Option<String> {
    let host = host.trim().trim_end_matches('.');
    if host.is_empty() || host.len() > 253 {
        return None;
    }
    if host.is_ascii() {
        let lower = host.to_ascii_lowercase();
        let valid = lower.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
        });
        return valid.then_some(lower);
    }
    idna::domain_to_ascii(host).ok().filter(|ascii| !ascii.is_empty())
}

/// The Unicode form of a punycode host, when it has `xn--` labels.
pub(crate) fn unicode_host(ascii: &str) -> Option<String> {
    if !ascii.split('.').any(|label| label.starts_with("xn--")) {
        return None;
    }
    let (unicode, result) = idna::domain_to_unicode(ascii);
    result.ok().map(|()| unicode).filter(|unicode| unicode != ascii)
}

/// The registrable domain (public suffix plus one label) of an ASCII host.
pub(crate) fn registrable(host: &str) -> Option<String> {
    if host.parse::<IpAddr>().is_ok() {
        return None;
    }
    psl::domain_str(host).map(str::to_string)
}

/// The domain that owns a host, for lookalike checks: the registrable
/// domain, except under a private suffix of the public suffix list
/// (`gitlab.freedesktop.org`, `user.github.io`), where the owner is the
/// company behind the suffix and the label left of it a name its customers
/// choose.
fn owner_domain(host: &str) -> Option<String> {
    if host.parse::<IpAddr>().is_ok() {
        return None;
    }
    let suffix = psl::suffix(host.as_bytes())?;
    if suffix.typ() == Some(psl::Type::Private) && suffix.as_bytes().contains(&b'.') {
        return std::str::from_utf8(suffix.as_bytes()).ok().map(str::to_string);
    }
    registrable(host)
}

/// True when the public suffix of a host is listed (not only matched by the
/// wildcard rule), so that text such as `file.pdf` is not taken for a domain.
pub(crate) fn has_known_suffix(host: &str) -> bool {
    psl::suffix(host.as_bytes()).is_some_and(|suffix| suffix.is_known())
}

/// True for addresses routable on the internet. Documentation ranges count as
/// public because examples and test data use them for outside hosts.
pub(crate) fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let octets = v4.octets();
            let shared = octets[0] == 100 && (64..128).contains(&octets[1]);
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || shared
                || octets[0] == 0)
        }
        IpAddr::V6(v6) => {
            if let Some(mapped) = v6.to_ipv4_mapped() {
                return is_public_ip(IpAddr::V4(mapped));
            }
            let first = v6.segments()[0];
            let unique_local = first & 0xfe00 == 0xfc00;
            let link_local = first & 0xffc0 == 0xfe80;
            !(v6.is_loopback() || v6.is_unspecified() || v6.is_multicast() || unique_local || link_local)
        }
    }
}

/// True when `host` is one of the organisation's domains or a subdomain.
pub(crate) fn is_internal(analyzer: &Analyzer, host: &str) -> bool {
    analyzer.organization_domains().iter().any(|domain| is_same_or_subdomain(host, domain))
}

/// True when `host` is `domain` or ends with `.domain`.
pub(crate) fn is_same_or_subdomain(host: &str, domain: &str) -> bool {
    host == domain
        || (host.len() > domain.len()
            && host.ends_with(domain)
            && host.as_bytes()[host.len() - domain.len() - 1] == b'.')
}

/// Whose domain a lookalike target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Organization,
    /// Index into the brand set.
    Brand(usize),
}

/// A legitimate domain, prepared for lookalike comparison.
#[derive(Debug)]
struct Target {
    owner: Owner,
    domain: String,
    label: String,
    suffix: String,
    /// The ASCII bytes of `label`, as [`ascii_byte_set`] gives them.
    label_bytes: u128,
}

/// The organisation's domains and the brands' domains, indexed once per
/// analyser so that checking a host costs a few hash look-ups and one
/// automaton pass instead of a comparison with every target.
#[derive(Debug)]
pub(crate) struct LookalikeTargets {
    targets: Vec<Target>,
    by_label: HashMap<String, Vec<usize>>,
    by_skeleton: HashMap<String, Vec<usize>>,
    by_domain: HashMap<String, usize>,
    /// Targets with labels of five characters or more, by label length, for
    /// the edit-distance check.
    by_length: Vec<Vec<usize>>,
    /// Target labels and brand keywords, searched inside candidate labels.
    words: AhoCorasick,
    /// For each pattern of `words`: the target it stands for.
    word_targets: Vec<usize>,
    /// The brand that owns each brand domain, so that a brand's own domains
    /// are never its lookalikes.
    owner_of_domain: HashMap<String, usize>,
}

impl LookalikeTargets {
    pub fn new(organization_domains: &[String], brands: &BrandSet) -> Self {
        let mut targets = Vec::new();
        for domain in organization_domains {
            targets.extend(Target::new(Owner::Organization, domain));
        }
        for (index, brand) in brands.iter().enumerate() {
            targets.extend(brand.domains.iter().filter_map(|domain| Target::new(Owner::Brand(index), domain)));
        }

        let mut by_label: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_skeleton: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_domain = HashMap::new();
        let mut by_length: Vec<Vec<usize>> = Vec::new();
        let mut words: Vec<String> = Vec::new();
        let mut word_targets = Vec::new();
        for (index, target) in targets.iter().enumerate() {
            // Brands own domains named after ordinary words (live.com,
            // office.com, me.com). Only a brand's distinctive keywords are
            // compared as words or by spelling; its other domains count
            // only when written out in full or as a confusable of six or
            // more letters.
            let distinctive = match target.owner {
                Owner::Organization => true,
                Owner::Brand(brand) => brands.get(brand).keywords.contains(&target.label),
            };
            by_domain.entry(target.domain.clone()).or_insert(index);
            if distinctive || target.label.len() >= 6 {
                by_skeleton.entry(skeleton(&target.label)).or_default().push(index);
            }
            if !distinctive {
                continue;
            }
            if matches!(target.owner, Owner::Organization) || target.label.len() >= 6 {
                by_label.entry(target.label.clone()).or_default().push(index);
            }
            // Short names are one typo away from too many ordinary names
            // (gmail and qmail).
            if target.label.len() >= 6 {
                let length = target.label.len();
                if by_length.len() <= length {
                    by_length.resize_with(length + 1, Vec::new);
                }
                by_length[length].push(index);
            }
            let mut add_word = |word: &str| {
                let duplicate = words.iter().zip(&word_targets).any(|(known, &known_target): (&String, &usize)| {
                    known == word && targets[known_target].owner == target.owner
                });
                if !duplicate {
                    words.push(word.to_string());
                    word_targets.push(index);
                }
            };
            add_word(&target.label);
        }
        // Every brand's keywords, also those that are no domain label.
        for (brand_index, brand) in brands.iter().enumerate() {
            let Some(first) = targets.iter().position(|target| target.owner == Owner::Brand(brand_index)) else {
                continue;
            };
            for keyword in &brand.keywords {
                let duplicate = words.iter().zip(&word_targets).any(|(known, &known_target)| {
                    known == keyword && targets[known_target].owner == Owner::Brand(brand_index)
                });
                if !duplicate {
                    words.push(keyword.clone());
                    word_targets.push(first);
                }
            }
        }
        let owner_of_domain = targets
            .iter()
            .filter_map(|target| match target.owner {
                Owner::Brand(brand) => Some((target.domain.clone(), brand)),
                Owner::Organization => None,
            })
            .collect();
        let words = AhoCorasick::builder()
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .build(&words)
            .expect("lookalike words build an automaton");
        LookalikeTargets { targets, by_label, by_skeleton, by_domain, by_length, words, word_targets, owner_of_domain }
    }
}

impl Target {
    fn new(owner: Owner, domain: &str) -> Option<Self> {
        let (label, suffix) = split_registrable(domain);
        (label.len() >= 3).then(|| Target {
            owner,
            domain: domain.to_string(),
            label_bytes: ascii_byte_set(label.as_bytes()),
            label,
            suffix,
        })
    }
}

/// The name of the known brand that owns `registrable_domain`, if any.
pub(crate) fn owning_brand(analyzer: &Analyzer, registrable_domain: &str) -> Option<String> {
    let index = analyzer.lookalike_targets().owner_of_domain.get(registrable_domain)?;
    Some(analyzer.brands().get(*index).name.clone())
}

/// Finds the organisation domains and brands that `host` imitates: at most
/// one match per organisation domain and per brand, by the first technique
/// found in the order suffix swap, confusable, subdomain, typo, combosquat.
pub(crate) fn lookalikes(analyzer: &Analyzer, host: &str) -> Vec<LookalikeMatch> {
    let Some(registrable_domain) = owner_domain(host) else {
        return Vec::new();
    };
    if is_internal(analyzer, host) || crate::lists::is_distinct_service(&registrable_domain) {
        return Vec::new();
    }
    let index = analyzer.lookalike_targets();
    let brands = analyzer.brands();
    let candidate = Candidate::new(host, &registrable_domain);
    let mut found = Found { matches: Vec::new(), owners: Vec::new() };
    let owning_brand = index.owner_of_domain.get(&registrable_domain).copied();
    let owned = |owner: Owner| matches!(owner, Owner::Brand(brand) if Some(brand) == owning_brand);

    for &target_index in index.by_label.get(&candidate.label).into_iter().flatten() {
        let target = &index.targets[target_index];
        let country_brand = matches!(target.owner, Owner::Brand(_)) && is_country_suffix(&candidate.suffix);
        if candidate.suffix != target.suffix && !country_brand && !owned(target.owner) {
            found.add(target, brands, LookalikeTechnique::SuffixSwap, None);
        }
    }
    for &target_index in index.by_skeleton.get(&candidate.skeleton).into_iter().flatten() {
        let target = &index.targets[target_index];
        if candidate.label != target.label && !owned(target.owner) {
            found.add(target, brands, LookalikeTechnique::Confusable, None);
        }
    }
    let sublabels: Vec<&str> = candidate.subdomain.split('.').filter(|label| !label.is_empty()).collect();
    for start in 0..sublabels.len() {
        for length in 2..=4.min(sublabels.len() - start) {
            let joined = sublabels[start..start + length].join(".");
            if let Some(&target_index) = index.by_domain.get(&joined) {
                let target = &index.targets[target_index];
                if !owned(target.owner) {
                    found.add(target, brands, LookalikeTechnique::Subdomain, None);
                }
            }
        }
    }
    let length = candidate.label.len();
    let candidate_bytes = ascii_byte_set(candidate.label.as_bytes());
    for target_length in length.saturating_sub(2)..=length + 2 {
        for &target_index in index.by_length.get(target_length).into_iter().flatten() {
            let target = &index.targets[target_index];
            let allowed = if target.label.len() >= 9 { 2 } else { 1 };
            if length.abs_diff(target_length) > allowed || owned(target.owner) {
                continue;
            }
            // Exact: see `distinct_missing_bytes`. Most targets fail here
            // without a pass over either label.
            if distinct_missing_bytes(candidate_bytes, target.label_bytes) > allowed {
                continue;
            }
            if let Some(distance) = bounded_distance(&candidate.label, &target.label, allowed)
                && distance > 0
            {
                found.add(target, brands, LookalikeTechnique::Typo, Some(distance as u32));
            }
        }
    }
    for word in index.words.find_overlapping_iter(&candidate.label) {
        let target = &index.targets[index.word_targets[word.pattern().as_usize()]];
        // The same name under another suffix was judged above.
        let whole_label = word.start() == 0 && word.end() == candidate.label.len();
        if !whole_label && !owned(target.owner) && is_word_at(&candidate.label, word.start(), word.end()) {
            found.add(target, brands, LookalikeTechnique::Combosquat, None);
        }
    }
    for word in index.words.find_overlapping_iter(&candidate.subdomain) {
        let target = &index.targets[index.word_targets[word.pattern().as_usize()]];
        if owned(target.owner) || !is_label_word_at(&candidate.subdomain, word.start(), word.end()) {
            continue;
        }
        let technique = if is_whole_label(&candidate.subdomain, word.start(), word.end()) {
            LookalikeTechnique::SubdomainKeyword
        } else {
            LookalikeTechnique::Subdomain
        };
        found.add(target, brands, technique, None);
    }
    found.matches
}

/// Matches collected for one host, one per owner (organisation domain or
/// brand).
struct Found {
    matches: Vec<LookalikeMatch>,
    owners: Vec<(Owner, String)>,
}

impl Found {
    fn add(&mut self, target: &Target, brands: &BrandSet, technique: LookalikeTechnique, distance: Option<u32>) {
        // One match per brand, and per organisation domain.
        let key = match target.owner {
            Owner::Brand(_) => (target.owner, String::new()),
            Owner::Organization => (target.owner, target.domain.clone()),
        };
        if self.owners.contains(&key) {
            return;
        }
        self.owners.push(key);
        let (kind, brand, domain) = match target.owner {
            Owner::Organization => (LookalikeKind::Organization, None, target.domain.clone()),
            Owner::Brand(index) => {
                let brand = brands.get(index);
                (LookalikeKind::Brand, Some(brand.name.clone()), brand.main_domain().to_string())
            }
        };
        self.matches.push(LookalikeMatch { target: domain, brand, kind, technique, distance });
    }
}

/// A host split into the parts lookalike checks compare.
struct Candidate {
    /// Registrable domain without its public suffix (`paypa1` of
    /// `login.paypa1.com`).
    label: String,
    /// Confusable skeleton of the label in Unicode.
    skeleton: String,
    suffix: String,
    /// Labels left of the registrable domain (`login`).
    subdomain: String,
}

impl Candidate {
    fn new(host: &str, registrable_domain: &str) -> Self {
        let (label, suffix) = split_registrable(registrable_domain);
        let label_unicode = if label.starts_with("xn--") { idna::domain_to_unicode(&label).0 } else { label.clone() };
        let subdomain = host.strip_suffix(registrable_domain).unwrap_or_default().trim_end_matches('.').to_string();
        Candidate { skeleton: skeleton(&label_unicode), label, suffix, subdomain }
    }
}

/// A word found in a registrable label counts when it stands between
/// hyphens, digits or the label's ends; words of seven letters or more also
/// count inside longer runs of letters (`microsoftsecure`). Shorter words
/// would match inside ordinary words and names (`apple` in `pineapple`,
/// `icloud` in `huaweicloud`).
fn is_word_at(label: &str, start: usize, end: usize) -> bool {
    if end - start >= 7 {
        return true;
    }
    let bytes = label.as_bytes();
    let boundary = |byte: Option<&u8>| byte.is_none_or(|byte| *byte == b'-' || byte.is_ascii_digit());
    boundary(start.checked_sub(1).and_then(|before| bytes.get(before))) && boundary(bytes.get(end))
}

/// True when `start..end` is a whole dot-separated label of `subdomain`.
fn is_whole_label(subdomain: &str, start: usize, end: usize) -> bool {
    let bytes = subdomain.as_bytes();
    (start == 0 || bytes[start - 1] == b'.') && (end == bytes.len() || bytes[end] == b'.')
}

/// Like [`is_word_at`] for subdomains, where dots also separate words.
fn is_label_word_at(subdomain: &str, start: usize, end: usize) -> bool {
    if end - start >= 6 {
        return true;
    }
    let bytes = subdomain.as_bytes();
    let boundary =
        |byte: Option<&u8>| byte.is_none_or(|byte| matches!(byte, b'.' | b'-' | b'_') || byte.is_ascii_digit());
    boundary(start.checked_sub(1).and_then(|before| bytes.get(before))) && boundary(bytes.get(end))
}

/// Splits a registrable domain into its first label and public suffix.
fn split_registrable(domain: &str) -> (String, String) {
    match domain.split_once('.') {
        Some((label, suffix)) => (label.to_string(), suffix.to_string()),
        None => (domain.to_string(), String::new()),
    }
}

fn is_country_suffix(suffix: &str) -> bool {
    let last = suffix.rsplit('.').next().unwrap_or_default();
    last.len() == 2
}

/// UTS #39 confusable skeleton, lowercase, for comparing two labels.
pub(crate) fn skeleton(text: &str) -> String {
    // For ASCII text the skeleton is the concatenation of each character's
    // skeleton (normalisation leaves ASCII unchanged), so a table of 128
    // entries replaces the per-character look-ups.
    static ASCII: LazyLock<Vec<String>> = LazyLock::new(|| {
        (0u8..128)
            .map(|byte| unicode_security::skeleton(&char::from(byte).to_string()).collect::<String>().to_lowercase())
            .collect()
    });
    if text.is_ascii() {
        let table = &*ASCII;
        let mut output = String::with_capacity(text.len() + 4);
        for byte in text.bytes() {
            output.push_str(&table[usize::from(byte)]);
        }
        return output;
    }
    unicode_security::skeleton(text).collect::<String>().to_lowercase()
}

/// Edit distance with adjacent transpositions (optimal string alignment)
/// when it is at most `max`, computed without allocating for labels of up
/// to 63 bytes (the DNS limit); `None` when the distance is larger.
pub(crate) fn bounded_distance(left: &str, right: &str, max: usize) -> Option<usize> {
    let (left, right) = (left.as_bytes(), right.as_bytes());
    if left.len().abs_diff(right.len()) > max {
        return None;
    }
    if left.len() > 63 || right.len() > 63 {
        let distance = damerau_levenshtein(std::str::from_utf8(left).ok()?, std::str::from_utf8(right).ok()?);
        return (distance <= max).then_some(distance);
    }

    // The cheap lower bound rejects most unrelated labels before the table.
    if missing_bytes(left, right) > max {
        return None;
    }

    // Distances never exceed 63 here, so rows of bytes are enough; three
    // rows of 64 bytes are cheap to keep on the stack.
    const WIDTH: usize = 64;
    let mut before_previous = [0u8; WIDTH];
    let mut previous = [0u8; WIDTH];
    let mut current = [0u8; WIDTH];
    for (j, cell) in previous.iter_mut().enumerate().take(right.len() + 1) {
        *cell = j as u8;
    }
    for i in 1..=left.len() {
        current[0] = i as u8;
        let mut row_minimum = current[0];
        for j in 1..=right.len() {
            let cost = u8::from(left[i - 1] != right[j - 1]);
            let mut best = (previous[j] + 1).min(current[j - 1] + 1).min(previous[j - 1] + cost);
            if i > 1 && j > 1 && left[i - 1] == right[j - 2] && left[i - 2] == right[j - 1] {
                best = best.min(before_previous[j - 2] + 1);
            }
            current[j] = best;
            row_minimum = row_minimum.min(best);
        }
        if usize::from(row_minimum) > max {
            return None;
        }
        before_previous = previous;
        previous = current;
    }
    let distance = usize::from(previous[right.len()]);
    (distance <= max).then_some(distance)
}

/// Counts the positions of either string whose ASCII byte the other string
/// lacks and returns the larger count. It is a lower bound of the edit
/// distance with transpositions, because each such position needs an edit
/// of its own and a transposition fixes none. Non-ASCII bytes are not
/// counted, which keeps the bound valid.
fn missing_bytes(left: &[u8], right: &[u8]) -> usize {
    let byte_set =
        |bytes: &[u8]| bytes.iter().filter(|byte| byte.is_ascii()).fold(0u128, |set, &byte| set | (1u128 << byte));
    let count_missing = |bytes: &[u8], other: u128| {
        bytes.iter().filter(|byte| byte.is_ascii() && other & (1u128 << **byte) == 0).count()
    };
    count_missing(left, byte_set(right)).max(count_missing(right, byte_set(left)))
}

/// Returns the set of ASCII byte values in `bytes`, one bit per value.
/// Other bytes are left out.
fn ascii_byte_set(bytes: &[u8]) -> u128 {
    bytes.iter().filter(|byte| byte.is_ascii()).fold(0u128, |set, &byte| set | (1u128 << byte))
}

/// Counts the distinct ASCII byte values that one of two labels has and the
/// other lacks, and returns the larger count. The labels are given as
/// [`ascii_byte_set`]s. The count is a lower bound of their edit distance
/// with transpositions, in bytes or in characters, because it never exceeds
/// [`missing_bytes`]. Each such value occurs at one position at least, and
/// each of those positions needs an edit of its own. So a target whose
/// bound exceeds the allowed distance can never match.
fn distinct_missing_bytes(left: u128, right: u128) -> usize {
    (left & !right).count_ones().max((right & !left).count_ones()) as usize
}

/// Edit distance with adjacent transpositions (optimal string alignment).
pub(crate) fn damerau_levenshtein(left: &str, right: &str) -> usize {
    let left: Vec<char> = left.chars().collect();
    let right: Vec<char> = right.chars().collect();
    if left.len().abs_diff(right.len()) > 2 {
        return left.len().abs_diff(right.len());
    }
    let width = right.len() + 1;
    let mut rows = vec![0usize; (left.len() + 1) * width];
    for (i, cell) in rows.iter_mut().step_by(width).enumerate() {
        *cell = i;
    }
    for (j, cell) in rows.iter_mut().take(width).enumerate() {
        *cell = j;
    }
    for i in 1..=left.len() {
        for j in 1..=right.len() {
            let cost = usize::from(left[i - 1] != right[j - 1]);
            let mut best = (rows[(i - 1) * width + j] + 1)
                .min(rows[i * width + j - 1] + 1)
                .min(rows[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && left[i - 1] == right[j - 2] && left[i - 2] == right[j - 1] {
                best = best.min(rows[(i - 2) * width + j - 2] + 1);
            }
            rows[i * width + j] = best;
        }
    }
    rows[left.len() * width + right.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn analyzer_for(domains: &[&str]) -> Analyzer {
        let mut config = Config::default();
        config.organization.domains = domains.iter().map(|domain| domain.to_string()).collect();
        Analyzer::new(config, crate::Mode::Auto).expect("valid config")
    }

    fn techniques(analyzer: &Analyzer, host: &str) -> Vec<(String, LookalikeTechnique)> {
        lookalikes(analyzer, host).into_iter().map(|found| (found.target, found.technique)).collect()
    }

    #[test]
    fn registrable_domains() {
        assert_eq!(registrable("a.b.example.co.uk").as_deref(), Some("example.co.uk"));
        assert_eq!(registrable("user.github.io").as_deref(), Some("user.github.io"));
        assert_eq!(registrable("10.0.0.1"), None);
    }

    #[test]
    fn idn_round_trip() {
        let ascii = to_ascii_host("pаypal.com").expect("valid IDN");
        assert!(ascii.starts_with("xn--"), "{ascii}");
        assert_eq!(unicode_host(&ascii).as_deref(), Some("pаypal.com"));
        assert_eq!(to_ascii_host("bad host.com"), None);
    }

    #[test]
    fn organization_lookalikes() {
        let analyzer = analyzer_for(&["corp-example.com"]);
        assert!(
            techniques(&analyzer, "corp-exarnple.com")
                .contains(&("corp-example.com".to_string(), LookalikeTechnique::Confusable))
        );
        assert!(
            techniques(&analyzer, "corp-exmaple.com")
                .contains(&("corp-example.com".to_string(), LookalikeTechnique::Typo))
        );
        assert!(
            techniques(&analyzer, "corp-example.co")
                .contains(&("corp-example.com".to_string(), LookalikeTechnique::SuffixSwap))
        );
        assert!(
            techniques(&analyzer, "corp-example.com.evil-host.net")
                .contains(&("corp-example.com".to_string(), LookalikeTechnique::Subdomain))
        );
        assert!(techniques(&analyzer, "mail.corp-example.com").is_empty());
    }

    #[test]
    fn brand_lookalikes() {
        let analyzer = analyzer_for(&[]);
        let found = techniques(&analyzer, "paypa1.com");
        assert!(found.iter().any(|(target, _)| target == "paypal.com"), "{found:?}");
        let found = techniques(&analyzer, "secure-paypal-login.net");
        assert!(found.contains(&("paypal.com".to_string(), LookalikeTechnique::Combosquat)), "{found:?}");
        assert!(techniques(&analyzer, "www.paypal.com").is_empty());
        assert!(techniques(&analyzer, "amazon.de").is_empty());
        assert!(techniques(&analyzer, "pineapple-farm.net").is_empty());
    }

    #[test]
    fn public_addresses() {
        assert!(is_public_ip("191.252.199.157".parse().expect("ip")));
        assert!(!is_public_ip("10.1.2.3".parse().expect("ip")));
        assert!(!is_public_ip("::1".parse().expect("ip")));
        assert!(!is_public_ip("fe80::1".parse().expect("ip")));
        assert!(is_public_ip("2603:10b6:408:e1::29".parse().expect("ip")));
    }

    #[test]
    fn ascii_skeleton_matches_library() {
        for text in ["paypal", "rnicrosoft", "g00gle", "I1l|", "vvww-cl_d"] {
            let expected = unicode_security::skeleton(text).collect::<String>().to_lowercase();
            assert_eq!(skeleton(text), expected, "{text}");
        }
    }

    #[test]
    fn bounded_edit_distance() {
        assert_eq!(bounded_distance("paypal", "paypla", 1), Some(1));
        assert_eq!(bounded_distance("paypal", "paypal", 1), Some(0));
        assert_eq!(bounded_distance("microsoft", "mircosfot", 2), Some(2));
        assert_eq!(bounded_distance("microsoft", "macrohard", 2), None);
        assert_eq!(bounded_distance("abc", "abcdef", 2), None);
        for (left, right) in [("docusign", "docusing"), ("amazon", "arnazon"), ("netflix", "netfl1x")] {
            assert_eq!(bounded_distance(left, right, 3), Some(damerau_levenshtein(left, right)));
        }
    }

    #[test]
    fn bounded_distance_matches_full_distance() {
        let labels = [
            "paypal",
            "paypa1",
            "pyapal",
            "paypall",
            "apple",
            "appel",
            "aple",
            "microsoft",
            "micr0soft",
            "rnicrosoft",
            "facebook",
            "faceb00k",
            "docusign",
            "xn--pypal-4ve",
            "a-b_c",
            "abc",
            "cba",
            "bca",
            "",
        ];
        for left in labels {
            for right in labels {
                let distance = damerau_levenshtein(left, right);
                for max in 0..=2 {
                    let expected = (distance <= max && left.len().abs_diff(right.len()) <= max).then_some(distance);
                    assert_eq!(bounded_distance(left, right, max), expected, "{left:?} {right:?} {max}");
                }
            }
        }
    }

    #[test]
    fn distinct_missing_bytes_bounds_distance() {
        let labels = [
            "paypal",
            "paypa1",
            "pyapal",
            "paypall",
            "apple",
            "appel",
            "microsoft",
            "micr0soft",
            "rnicrosoft",
            "mircosfot",
            "facebook",
            "faceb00k",
            "xn--pypal-4ve",
            "a-b_c",
            "aaaaaa",
            "abcabc",
            "cbacba",
            "p\u{e4}ypal",
            "",
        ];
        for left in labels {
            for right in labels {
                let bound = distinct_missing_bytes(ascii_byte_set(left.as_bytes()), ascii_byte_set(right.as_bytes()));
                let bytes = missing_bytes(left.as_bytes(), right.as_bytes());
                assert!(bound <= bytes, "{left:?} {right:?}: {bound} > {bytes}");
                // `damerau_levenshtein` returns the length difference when
                // it exceeds 2 rather than the distance.
                if left.chars().count().abs_diff(right.chars().count()) <= 2 {
                    let distance = damerau_levenshtein(left, right);
                    assert!(bound <= distance, "{left:?} {right:?}: {bound} > {distance}");
                }
                for max in 0..bound.min(3) {
                    assert_eq!(bounded_distance(left, right, max), None, "{left:?} {right:?} {max}");
                }
            }
        }
    }

    #[test]
    fn typo_filter_keeps_matches() {
        // Every label one or two edits from the organisation's label must
        // still be found, as a typo or, where a character is confusable,
        // as a confusable.
        let analyzer = analyzer_for(&["corp-example.com"]);
        for host in ["corp-exmaple.com", "corp-exampel.com", "corp-examp1e.com", "corpexample.com", "corp-examplee.com"]
        {
            let found = techniques(&analyzer, host);
            assert!(
                found.contains(&("corp-example.com".to_string(), LookalikeTechnique::Typo))
                    || found.contains(&("corp-example.com".to_string(), LookalikeTechnique::Confusable)),
                "{host}: {found:?}"
            );
        }
    }

    #[test]
    fn edit_distance() {
        assert_eq!(damerau_levenshtein("paypal", "paypla"), 1);
        assert_eq!(damerau_levenshtein("microsoft", "micros0ft"), 1);
        assert_eq!(damerau_levenshtein("abc", "abc"), 0);
    }
}
