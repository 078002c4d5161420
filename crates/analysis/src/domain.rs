//! Domain names: normalisation, registrable domains and lookalikes.

use std::net::IpAddr;

use phishloop_model::{LookalikeKind, LookalikeMatch, LookalikeTechnique};

use crate::Analyzer;
use crate::brands::Brand;

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
    analyzer.organization_domains().iter().any(|domain| host == domain || host.ends_with(&format!(".{domain}")))
}

/// Finds the organisation domains and brands that `host` imitates.
pub(crate) fn lookalikes(analyzer: &Analyzer, host: &str) -> Vec<LookalikeMatch> {
    let Some(registrable_domain) = registrable(host) else {
        return Vec::new();
    };
    if is_internal(analyzer, host) {
        return Vec::new();
    }
    let candidate = Candidate::new(host, &registrable_domain);

    let mut matches = Vec::new();
    for domain in analyzer.organization_domains() {
        if let Some((technique, distance)) = candidate.imitates_domain(domain, &[]) {
            matches.push(LookalikeMatch {
                target: domain.clone(),
                brand: None,
                kind: LookalikeKind::Organization,
                technique,
                distance,
            });
        }
    }
    for brand in analyzer.brands().iter() {
        if brand.owns(&registrable_domain) {
            continue;
        }
        if let Some((technique, distance)) = candidate.imitates_brand(brand) {
            matches.push(LookalikeMatch {
                target: brand.main_domain().to_string(),
                brand: Some(brand.name.clone()),
                kind: LookalikeKind::Brand,
                technique,
                distance,
            });
        }
    }
    matches
}

/// A host split into the parts lookalike checks compare.
struct Candidate {
    /// Registrable domain without its public suffix (`paypa1` of
    /// `login.paypa1.com`).
    label: String,
    /// The label in Unicode, for confusable checks of IDNs.
    label_unicode: String,
    suffix: String,
    /// Labels left of the registrable domain (`login`).
    subdomain: String,
}

impl Candidate {
    fn new(host: &str, registrable_domain: &str) -> Self {
        let (label, suffix) = split_registrable(registrable_domain);
        let label_unicode = if label.starts_with("xn--") { idna::domain_to_unicode(&label).0 } else { label.clone() };
        let subdomain = host.strip_suffix(registrable_domain).unwrap_or_default().trim_end_matches('.').to_string();
        Candidate { label, label_unicode, suffix, subdomain }
    }

    /// Checks the candidate against one legitimate domain.
    fn imitates_domain(&self, domain: &str, keywords: &[String]) -> Option<(LookalikeTechnique, Option<u32>)> {
        let (target_label, target_suffix) = split_registrable(domain);
        if target_label.len() < 3 {
            return None;
        }
        if self.label == target_label {
            return (self.suffix != target_suffix).then_some((LookalikeTechnique::SuffixSwap, None));
        }
        if skeleton(&self.label_unicode) == skeleton(&target_label) {
            return Some((LookalikeTechnique::Confusable, None));
        }
        if self.subdomain_contains(domain) {
            return Some((LookalikeTechnique::Subdomain, None));
        }
        let distance = damerau_levenshtein(&self.label, &target_label);
        let allowed = if target_label.len() >= 9 { 2 } else { 1 };
        if target_label.len() >= 5 && distance <= allowed {
            return Some((LookalikeTechnique::Typo, Some(distance as u32)));
        }
        let words: Vec<&str> =
            std::iter::once(target_label.as_str()).chain(keywords.iter().map(String::as_str)).collect();
        if words.iter().any(|word| contains_word(&self.label, word)) {
            return Some((LookalikeTechnique::Combosquat, None));
        }
        None
    }

    fn imitates_brand(&self, brand: &Brand) -> Option<(LookalikeTechnique, Option<u32>)> {
        for domain in &brand.domains {
            let Some((technique, distance)) = self.imitates_domain(domain, &brand.keywords) else {
                continue;
            };
            // Brands own many country domains (amazon.de); a different
            // country suffix alone is not a lookalike.
            if technique == LookalikeTechnique::SuffixSwap && is_country_suffix(&self.suffix) {
                continue;
            }
            return Some((technique, distance));
        }
        let in_subdomain = brand.keywords.iter().any(|keyword| {
            self.subdomain
                .split(['.', '-'])
                .any(|label| label == keyword || (keyword.len() >= 6 && label.contains(keyword.as_str())))
        });
        in_subdomain.then_some((LookalikeTechnique::Subdomain, None))
    }

    /// True when the labels left of the registrable domain spell out
    /// `domain` (`paypal.com.secure-login.net`).
    fn subdomain_contains(&self, domain: &str) -> bool {
        let subdomain = format!(".{}.", self.subdomain);
        subdomain.contains(&format!(".{domain}."))
    }
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

/// A word inside a label at a boundary (`-`, digit or the label's ends);
/// words of six letters or more also match inside longer runs of letters
/// (`paypalsecure`). Shorter words would match inside ordinary words
/// (`apple` in `pineapple`).
fn contains_word(label: &str, word: &str) -> bool {
    if word.len() >= 6 {
        return label.contains(word);
    }
    label.split(|c: char| c == '-' || c.is_ascii_digit()).any(|part| part == word)
}

/// UTS #39 confusable skeleton, lowercase, for comparing two labels.
pub(crate) fn skeleton(text: &str) -> String {
    unicode_security::skeleton(text).collect::<String>().to_lowercase()
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
    fn edit_distance() {
        assert_eq!(damerau_levenshtein("paypal", "paypla"), 1);
        assert_eq!(damerau_levenshtein("microsoft", "micros0ft"), 1);
        assert_eq!(damerau_levenshtein("abc", "abc"), 0);
    }
}
