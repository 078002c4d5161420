//! URLs, addresses and telephone numbers written in text.

use std::sync::LazyLock;

use linkify::{LinkFinder, LinkKind};
use regex::Regex;

/// North American numbers: optional `+1`, area code and exchange starting
/// with 2-9, written with at least one separator so that order numbers and
/// timestamps do not match.
static NANP_PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:\+?1[ \t.\-]{0,2})?(?:\([2-9][0-9]{2}\)|[2-9][0-9]{2})[ \t.\-]{1,2}[2-9][0-9]{2}[ \t.\-]{1,2}[0-9]{4}(?-u:\b)")
        .expect("valid regex")
});

/// International numbers written with a leading `+` and groups of digits.
static INTERNATIONAL_PHONE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\+[1-9][0-9]{0,2}(?:[ \t.\-]?\(?[0-9]{1,4}\)?){2,5}(?-u:\b)").expect("valid regex"));

/// Finds URLs and email addresses in text.
pub(crate) struct Finds {
    pub urls: Vec<String>,
    pub emails: Vec<String>,
}

/// Finds URLs with a scheme or starting with `www.`, and email addresses.
/// Trailing punctuation and unbalanced closing brackets are trimmed.
pub(crate) fn find_links(text: &str) -> Finds {
    let mut finds = Finds { urls: Vec::new(), emails: Vec::new() };
    if !may_hold_link(text) {
        return finds;
    }
    let mut finder = LinkFinder::new();
    finder.url_must_have_scheme(false);
    for link in finder.links(text) {
        let value = link.as_str();
        match link.kind() {
            LinkKind::Url => {
                let has_scheme =
                    value.contains("://") || value.get(..4).is_some_and(|start| start.eq_ignore_ascii_case("www."));
                if has_scheme && !value.to_ascii_lowercase().starts_with("mailto:") {
                    finds.urls.push(value.to_string());
                }
            }
            LinkKind::Email => finds.emails.push(value.to_ascii_lowercase()),
            _ => {}
        }
    }
    finds
}

/// Returns whether `text` can contain a link that [`find_links`] keeps. Each kept
/// URL contains `://` or starts with `www.` in any case, and each address
/// contains `@`, so text with none of them needs no link search.
fn may_hold_link(text: &str) -> bool {
    let bytes = text.as_bytes();
    if memchr::memchr(b'@', bytes).is_some() || memchr::memmem::find(bytes, b"://").is_some() {
        return true;
    }
    memchr::memchr_iter(b'.', bytes).any(|dot| dot >= 3 && bytes[dot - 3..dot].eq_ignore_ascii_case(b"www"))
}

/// A telephone number found in text.
pub(crate) struct Phone {
    pub raw: String,
    pub normalized: String,
    pub toll_free: bool,
}

/// Finds telephone numbers.
pub(crate) fn find_phones(text: &str) -> Vec<Phone> {
    let mut phones: Vec<Phone> = Vec::new();
    // Every number kept has 10 digits or more, so text with fewer digits
    // needs no regex search.
    if text.bytes().filter(u8::is_ascii_digit).nth(9).is_none() {
        return phones;
    }
    for found in NANP_PHONE.find_iter(text).chain(INTERNATIONAL_PHONE.find_iter(text)) {
        let raw = found.as_str().trim();
        let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
        if !(10..=15).contains(&digits.len()) {
            continue;
        }
        let normalized = if raw.starts_with('+') { format!("+{digits}") } else { digits.clone() };
        let national = digits.strip_prefix('1').filter(|_| digits.len() == 11).unwrap_or(&digits);
        let toll_free =
            national.len() == 10 && ["800", "888", "877", "866", "855", "844", "833"].contains(&&national[..3]);
        let same = phones.iter().any(|phone| {
            let existing: String = phone.normalized.chars().filter(char::is_ascii_digit).collect();
            existing.ends_with(national) || national.ends_with(existing.as_str())
        });
        if !same {
            phones.push(Phone { raw: raw.to_string(), normalized, toll_free });
        }
    }
    phones
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_boundaries() {
        let text = "Portal:https://portal.example-billing.net: support@example-billing.net\n\nFill in https://forms.example-survey.net/f/88213, then reply.\nReference (see https://wiki.example.org/Invoice_(billing)) for details.\nYour statement: https://files.example-billing.net/s/AbC123.\nOld link (https://old.example-billing.net/path/) is retired.";
        let finds = find_links(text);
        assert_eq!(
            finds.urls,
            vec![
                "https://portal.example-billing.net",
                "https://forms.example-survey.net/f/88213",
                "https://wiki.example.org/Invoice_(billing)",
                "https://files.example-billing.net/s/AbC123",
                "https://old.example-billing.net/path/",
            ]
        );
        assert_eq!(finds.emails, vec!["support@example-billing.net"]);
    }

    #[test]
    fn www_without_scheme_and_bare_domains() {
        let finds = find_links("See www.example.net/path and example.org for more.");
        assert_eq!(finds.urls, vec!["www.example.net/path"]);
    }

    #[test]
    fn text_without_link_markers() {
        for text in ["", "no links here.", "example.org and example.net", "ww.example.net", "a:/b", "w@"] {
            let finds = find_links(text);
            let expected_address = text.contains('@');
            assert_eq!(may_hold_link(text), expected_address, "{text:?}");
            assert!(finds.urls.is_empty(), "{text:?}");
        }
        assert!(may_hold_link("see WwW.example.net"));
        assert!(may_hold_link("x://y"));
        assert_eq!(find_links("Visit WWW.Example.net/x now").urls, vec!["WWW.Example.net/x"]);
    }

    #[test]
    fn phone_numbers() {
        let phones = find_phones("Call +1 (888) 555-0142 now, or 1-800-555-0199. Order 2024-03-05 #4412345678.");
        let normalized: Vec<&str> = phones.iter().map(|phone| phone.normalized.as_str()).collect();
        assert_eq!(normalized, vec!["+18885550142", "18005550199"]);
        assert!(phones.iter().all(|phone| phone.toll_free));
        assert!(find_phones("Call 555-0142 or +1 555").is_empty());
        let international = find_phones("Ring +44 20 7946 0958 today");
        assert_eq!(international.len(), 1);
        assert_eq!(international[0].normalized, "+442079460958");
        assert!(!international[0].toll_free);
    }
}
