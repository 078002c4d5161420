//! URL collection, normalisation and unwrapping.
//!
//! Every URL found anywhere in a message goes through [`UrlCollector::add`]:
//! it is parsed with the WHATWG parser, deduplicated by its normalised form
//! and remembered with every place it was found. [`UrlCollector::finish`]
//! then removes rewriting and redirect wrappers, which hide the real target
//! (an attacker's link wrapped by the recipient's own Safe Links points at
//! Microsoft, not at the attacker), and computes the indicators of the
//! effective target.

use std::borrow::Cow;
use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use percent_encoding::percent_decode_str;
use phishloop_model::{DeceptiveLink, UrlIndicator, UrlSource, UrlSourceKind};
use url::Url;

use crate::Analyzer;
use crate::confusable_text;
use crate::domain;
use crate::headers::truncate;
use crate::lists;

/// Longest URL parsed; longer text is cut before parsing.
const MAX_URL_LENGTH: usize = 8_192;
/// Longest raw form kept in the output.
const MAX_RAW_LENGTH: usize = 2_048;
/// Maximum wrapper layers removed from one URL.
const MAX_UNWRAP_DEPTH: usize = 5;

#[derive(Debug)]
struct Entry {
    url: Url,
    raw: String,
    sources: Vec<UrlSource>,
    display_texts: Vec<String>,
}

/// Collects the URLs of one message.
pub(crate) struct UrlCollector {
    max: usize,
    entries: Vec<Entry>,
    index: HashMap<String, usize>,
    /// Parse results by text, for texts added without a base URL: the
    /// index of the entry, or `None` when the text is no accepted URL. Messages
    /// repeat the same link many times, and parsing costs far more than a
    /// look-up.
    parsed: HashMap<String, Option<usize>>,
    limit_hit: bool,
}

impl UrlCollector {
    pub fn new(max: usize) -> Self {
        UrlCollector { max, entries: Vec::new(), index: HashMap::new(), parsed: HashMap::new(), limit_hit: false }
    }

    /// True when URLs were dropped because the limit was reached.
    pub fn limit_hit(&self) -> bool {
        self.limit_hit
    }

    /// Adds a URL found at `kind`/`location`; `base` resolves relative
    /// HTML links. Returns its index, or `None` when the text is not a URL
    /// of an accepted scheme or the limit is reached.
    pub fn add(&mut self, raw: &str, kind: UrlSourceKind, location: Option<&str>, base: Option<&Url>) -> Option<usize> {
        // `parse` gives the same result for the same text when there is no
        // base, so a text seen before needs no parse.
        let index = if base.is_none() {
            match self.parsed.get(raw) {
                Some(&known) => known?,
                None => {
                    let index = match parse(raw, None) {
                        Some(url) => Some(self.entry_of(url, raw)?),
                        None => None,
                    };
                    self.parsed.insert(raw.to_string(), index);
                    index?
                }
            }
        } else {
            self.entry_of(parse(raw, base)?, raw)?
        };
        let source = UrlSource { kind, location: location.map(str::to_string) };
        let entry = &mut self.entries[index];
        if !entry.sources.contains(&source) {
            entry.sources.push(source);
        }
        Some(index)
    }

    /// Returns the index of the entry of `url`, adding it without sources
    /// when it is new, or `None` when it is new and the limit is reached.
    fn entry_of(&mut self, url: Url, raw: &str) -> Option<usize> {
        let next = self.entries.len();
        let index = match self.index.entry(url.as_str().to_string()) {
            std::collections::hash_map::Entry::Occupied(known) => return Some(*known.get()),
            std::collections::hash_map::Entry::Vacant(_) if next >= self.max => {
                self.limit_hit = true;
                return None;
            }
            std::collections::hash_map::Entry::Vacant(vacant) => *vacant.insert(next),
        };
        self.entries.push(Entry {
            url,
            raw: truncate(raw.trim(), MAX_RAW_LENGTH),
            sources: Vec::new(),
            display_texts: Vec::new(),
        });
        Some(index)
    }

    /// Records link text shown for the URL at `index`.
    pub fn add_display_text(&mut self, index: usize, text: &str) {
        if let Some(entry) = self.entries.get_mut(index) {
            let text = truncate(text, 256);
            if !entry.display_texts.contains(&text) && entry.display_texts.len() < 8 {
                entry.display_texts.push(text);
            }
        }
    }

    /// Builds the indicators. `recipients` are the message's recipient
    /// addresses in lowercase, for the embedded-recipient check.
    pub fn finish(self, analyzer: &Analyzer, recipients: &[String]) -> Vec<UrlIndicator> {
        let mut hosts = HashMap::new();
        let recipients = searchable_recipients(recipients);
        self.entries.into_iter().map(|entry| indicator(analyzer, entry, &recipients, &mut hosts)).collect()
    }
}

/// Indicator fields that depend on the host alone. Messages repeat hosts
/// across many links, so each host is looked up once per message. A URL
/// without a host has the default, empty facts.
#[derive(Clone, Default)]
struct HostFacts {
    registrable_domain: Option<String>,
    host_unicode: Option<String>,
    brand: Option<String>,
    shortener: bool,
    free_hosting: bool,
    lookalikes: Vec<phishloop_model::LookalikeMatch>,
}

impl HostFacts {
    fn new(analyzer: &Analyzer, host: &str, host_is_ip: bool) -> Self {
        let registrable_domain = if host_is_ip { None } else { domain::registrable(host) };
        HostFacts {
            host_unicode: domain::unicode_host(host),
            brand: registrable_domain.as_deref().and_then(|domain| domain::owning_brand(analyzer, domain)),
            registrable_domain,
            shortener: lists::is_shortener(host),
            free_hosting: lists::is_free_hosting(host),
            lookalikes: if host_is_ip { Vec::new() } else { domain::lookalikes(analyzer, host) },
        }
    }
}

/// Parses URL text. Accepts web, file-share and Windows protocol-handler
/// schemes (`search-ms:`, `ms-msdt:` and other `ms-` handlers, which
/// attackers use to start programs); `www.` text gets `http://`.
pub(crate) fn parse(raw: &str, base: Option<&Url>) -> Option<Url> {
    let trimmed = raw.trim().trim_matches(|c| c == '<' || c == '>' || c == '"' || c == '\'');
    // A URL within the length limit and on one line is used without a copy.
    // Others are cut to the limit and copied without line breaks and tabs.
    let cleaned: Cow<'_, str> =
        if trimmed.len() <= MAX_URL_LENGTH && memchr::memchr3(b'\r', b'\n', b'\t', trimmed.as_bytes()).is_none() {
            Cow::Borrowed(trimmed)
        } else {
            Cow::Owned(trimmed.chars().take(MAX_URL_LENGTH).filter(|c| !matches!(c, '\r' | '\n' | '\t')).collect())
        };
    if cleaned.is_empty() {
        return None;
    }
    let candidate = if cleaned.as_bytes().get(..4).is_some_and(|start| start.eq_ignore_ascii_case(b"www.")) {
        Cow::Owned(format!("http://{cleaned}"))
    } else if cleaned.starts_with("//") {
        Cow::Owned(format!("https:{cleaned}"))
    } else {
        cleaned
    };

    let url = match Url::parse(&candidate) {
        Ok(url) => url,
        Err(url::ParseError::RelativeUrlWithoutBase) => base?.join(&candidate).ok()?,
        Err(_) => return None,
    };
    let scheme = url.scheme();
    let accepted =
        matches!(scheme, "http" | "https" | "ftp" | "ftps" | "sftp" | "file" | "smb" | "search-ms" | "search")
            || scheme.starts_with("ms-");
    if !accepted {
        return None;
    }
    if matches!(scheme, "http" | "https" | "ftp") && url.host_str().is_none_or(str::is_empty) {
        return None;
    }
    Some(url)
}

/// Builds the indicator of one URL. `hosts` contains the facts of the hosts
/// seen so far in the message, keyed by lowercase host and whether it is an
/// IP address (a non-special scheme keeps `1.2.3.4` as a name).
fn indicator(
    analyzer: &Analyzer,
    entry: Entry,
    recipients: &[&String],
    hosts: &mut HashMap<(String, bool), HostFacts>,
) -> UrlIndicator {
    let (effective, unwrapped) = unwrap(&entry.url);
    let host = effective.host_str().map(|host| host.trim_matches(['[', ']']).to_ascii_lowercase());
    let host_is_ip = matches!(effective.host(), Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)));
    let facts = match &host {
        Some(host) => {
            let key = (host.clone(), host_is_ip);
            match hosts.get(&key) {
                Some(facts) => facts.clone(),
                None => hosts.entry(key).or_insert_with(|| HostFacts::new(analyzer, host, host_is_ip)).clone(),
            }
        }
        None => HostFacts::default(),
    };
    let registrable_domain = facts.registrable_domain;

    let deceptive =
        entry.display_texts.iter().find_map(|text| deception(analyzer, text, registrable_domain.as_deref()));
    let mut display_text_confusables = Vec::new();
    // Only words with a non-ASCII letter can be confusable, so ASCII texts
    // (most link texts) are not split into words at all.
    for text in entry.display_texts.iter().filter(|text| !text.is_ascii()) {
        for word in confusable_text::confusable_words(analyzer.brands(), text) {
            if !display_text_confusables.contains(&word) {
                display_text_confusables.push(word);
            }
        }
    }
    let mut sources = entry.sources;
    sources.sort();
    UrlIndicator {
        url: entry.url.as_str().to_string(),
        raw: entry.raw,
        effective: effective.as_str().to_string(),
        unwrapped,
        scheme: effective.scheme().to_string(),
        host_unicode: facts.host_unicode,
        brand: facts.brand,
        registrable_domain,
        host_is_ip,
        has_credentials: !effective.username().is_empty() || effective.password().is_some(),
        shortener: facts.shortener,
        free_hosting: facts.free_hosting,
        sources,
        display_texts: entry.display_texts,
        deceptive,
        display_text_confusables,
        lookalikes: facts.lookalikes,
        embedded_recipient: find_recipient(&effective, recipients),
        fingerprint: fingerprint(&effective),
        host,
    }
}

/// A link whose text names another registrable domain than its target.
/// Two domains of one known brand (`canadapost.ca` shown, leading to
/// `canadapost-postescanada.ca`) do not count.
fn deception(analyzer: &Analyzer, text: &str, actual: Option<&str>) -> Option<DeceptiveLink> {
    let actual = actual?;
    let displayed_domain = domain_in_text(text)?;
    if displayed_domain == actual {
        return None;
    }
    let brand = domain::owning_brand(analyzer, actual);
    if brand.is_some() && brand == domain::owning_brand(analyzer, &displayed_domain) {
        return None;
    }
    Some(DeceptiveLink { displayed: truncate(text, 256), displayed_domain, actual_domain: actual.to_string() })
}

/// The registrable domain a link text shows: the host of a URL in it, or a
/// domain-like word whose suffix is on the public suffix list.
fn domain_in_text(text: &str) -> Option<String> {
    for word in text.split(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '(' | ')' | ',')) {
        let word = word.trim_matches(|c: char| matches!(c, '.' | ':' | ';' | '!' | '?' | '\'' | '[' | ']'));
        if !word.contains('.') || word.contains('@') {
            continue;
        }
        let host = match parse(word, None) {
            // A URL shown in the text may itself be wrapped by a link
            // rewriter; what it shows is where the wrapper leads.
            Some(url) if word.contains("://") || word.to_ascii_lowercase().starts_with("www.") => {
                unwrap(&url).0.host_str().map(str::to_string)
            }
            _ => Some(word.split('/').next().unwrap_or(word).to_string()),
        };
        let Some(host) = host.and_then(|host| domain::to_ascii_host(&host)) else {
            continue;
        };
        // Host names have no underscores; `report_v2.zip` is a file name.
        if host.contains('_') {
            continue;
        }
        if host.parse::<std::net::IpAddr>().is_ok() || !domain::has_known_suffix(&host) {
            continue;
        }
        if let Some(registrable) = domain::registrable(&host) {
            return Some(registrable);
        }
    }
    None
}

/// Removes wrapper layers. Returns the effective URL and the names of the
/// wrappers removed, outermost first.
pub(crate) fn unwrap(url: &Url) -> (Url, Vec<String>) {
    let mut current = url.clone();
    let mut removed = Vec::new();
    for _ in 0..MAX_UNWRAP_DEPTH {
        let Some((name, target)) = unwrap_once(&current) else {
            break;
        };
        let Some(next) = parse(&target, None) else {
            break;
        };
        removed.push(name.to_string());
        current = next;
    }
    (current, removed)
}

fn unwrap_once(url: &Url) -> Option<(&'static str, String)> {
    let host = url.host_str()?.to_ascii_lowercase();
    let path = url.path();
    let query = |name: &str| url.query_pairs().find(|(key, _)| key == name).map(|(_, value)| value.into_owned());

    if host.ends_with("safelinks.protection.outlook.com") || host.ends_with("safelinks.protection.office365.us") {
        return query("url").map(|target| ("microsoft_safe_links", target));
    }
    if host == "urldefense.proofpoint.com" {
        if path.starts_with("/v1/") {
            return query("u").map(|target| ("proofpoint_url_defense", target));
        }
        if path.starts_with("/v2/") {
            let encoded = query("u")?.replace('-', "%").replace('_', "/");
            let decoded = percent_decode_str(&encoded).decode_utf8().ok()?.into_owned();
            return Some(("proofpoint_url_defense", decoded));
        }
    }
    if host == "urldefense.com" && path.starts_with("/v3/__") {
        return proofpoint_v3(url.as_str()).map(|target| ("proofpoint_url_defense", target));
    }
    if (host.ends_with(".mimecast.com") || host.ends_with(".mimecastprotect.com")) && path.starts_with("/s/") {
        // Mimecast keeps the target on its servers; the link carries only
        // the target's domain.
        let domain = query("domain")?;
        let domain = domain::to_ascii_host(&domain)?;
        return Some(("mimecast_url_protect", format!("https://{domain}/")));
    }
    if path == "/url" && is_google_host(&host) {
        return query("q").or_else(|| query("url")).map(|target| ("google_redirect", target));
    }
    let simple: &[(&str, &str, &str, &str)] = &[
        ("linkprotect.cudasvc.com", "/url", "a", "barracuda_link_protection"),
        ("clicktime.symantec.com", "", "u", "symantec_click_time"),
        ("l.facebook.com", "/l.php", "u", "facebook_redirect"),
        ("lm.facebook.com", "/l.php", "u", "facebook_redirect"),
        ("www.linkedin.com", "/redir/redirect", "url", "linkedin_redirect"),
        ("www.youtube.com", "/redirect", "q", "youtube_redirect"),
        ("slack-redir.net", "/link", "url", "slack_redirect"),
    ];
    for (wrapper_host, wrapper_path, parameter, name) in simple {
        if host == *wrapper_host && path.starts_with(wrapper_path) {
            return query(parameter).map(|target| (*name, target));
        }
    }
    if host.ends_with(".protection.sophos.com") {
        let encoded = query("u")?;
        let decoded = STANDARD_NO_PAD
            .decode(encoded.trim_end_matches('='))
            .or_else(|_| URL_SAFE_NO_PAD.decode(encoded.trim_end_matches('=')))
            .ok()?;
        return String::from_utf8(decoded).ok().map(|target| ("sophos_time_of_click", target));
    }
    if host == "secure-web.cisco.com" {
        let last = path.rsplit('/').next()?;
        let decoded = percent_decode_str(last).decode_utf8().ok()?.into_owned();
        return decoded.starts_with("http").then_some(("cisco_secure_email", decoded));
    }
    None
}

fn is_google_host(host: &str) -> bool {
    let host = host.strip_prefix("www.").unwrap_or(host);
    // The suffix look-up can only succeed for a host that starts so.
    host.starts_with("google.")
        && domain::registrable(host)
            .is_some_and(|registrable| registrable == host && registrable.starts_with("google."))
}

/// Decodes a Proofpoint URL Defense v3 link: `__<url>__;<replacements>!!`.
/// Characters Proofpoint could not keep in the URL are written as `*`, and
/// the base64url token after `;` holds them in order; `**` followed by a
/// length character stands for a run of several.
fn proofpoint_v3(link: &str) -> Option<String> {
    let start = link.find("/v3/__")? + "/v3/__".len();
    let rest = &link[start..];
    let end = rest.find("__;")?;
    let encoded_url = &rest[..end];
    let after = &rest[end + 3..];
    let token_end = after.find('!').unwrap_or(after.len());
    let token = &after[..token_end];
    let replacements: Vec<char> = if token.is_empty() {
        Vec::new()
    } else {
        let bytes = URL_SAFE_NO_PAD.decode(token.trim_end_matches('=')).ok()?;
        String::from_utf8(bytes).ok()?.chars().collect()
    };

    let run_lengths = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut output = String::with_capacity(encoded_url.len());
    let mut next = 0usize;
    let mut characters = encoded_url.chars().peekable();
    while let Some(character) = characters.next() {
        if character != '*' {
            output.push(character);
            continue;
        }
        if characters.peek() == Some(&'*') {
            characters.next();
            let code = characters.next()?;
            let length = run_lengths.find(code)? + 2;
            let run = replacements.get(next..next + length)?;
            output.extend(run);
            next += length;
        } else {
            output.push(*replacements.get(next)?);
            next += 1;
        }
    }
    Some(output)
}

/// [`find_recipient`] over a whole recipient list.
#[cfg(test)]
fn embedded_recipient(url: &Url, recipients: &[String]) -> Option<String> {
    find_recipient(url, &searchable_recipients(recipients))
}

/// Returns the recipient addresses worth searching for in URLs, because an
/// empty address or one without `@` would match nothing real.
fn searchable_recipients(recipients: &[String]) -> Vec<&String> {
    recipients.iter().filter(|address| address.contains('@') && address.len() > 3).collect()
}

/// Finds a recipient address written in the URL: plain, percent-encoded or
/// base64-encoded in a path segment, query value or fragment. `recipients`
/// come from [`searchable_recipients`].
fn find_recipient(url: &Url, recipients: &[&String]) -> Option<String> {
    if recipients.is_empty() {
        return None;
    }
    // Every address kept contains `@`, and the decoded URL contains `@`
    // only when the URL contains `@` or its escape `%40`.
    let text = url.as_str();
    let may_hold_at = text.contains('@') || memchr::memmem::find(text.as_bytes(), b"%40").is_some();
    if may_hold_at {
        let decoded = percent_decode_str(text).decode_utf8_lossy().to_lowercase();
        if let Some(found) = recipients.iter().find(|address| decoded.contains(address.as_str())) {
            return Some((*found).clone());
        }
    }

    let candidates = url
        .path_segments()
        .into_iter()
        .flatten()
        .map(str::to_string)
        .chain(url.query_pairs().map(|(_, value)| value.into_owned()))
        .chain(url.fragment().map(str::to_string));
    for candidate in candidates {
        let trimmed = candidate.trim_end_matches('=');
        if trimmed.len() < 8 || trimmed.len() > 2_048 {
            continue;
        }
        let bytes = STANDARD_NO_PAD.decode(trimmed).or_else(|_| URL_SAFE_NO_PAD.decode(trimmed));
        let Ok(bytes) = bytes else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes).to_lowercase();
        if let Some(found) = recipients.iter().find(|address| text.contains(address.as_str())) {
            return Some((*found).clone());
        }
    }
    None
}

/// SHA-256 of scheme, host, path and the sorted query keys.
fn fingerprint(url: &Url) -> String {
    let mut keys: Vec<Cow<'_, str>> = url.query_pairs().map(|(key, _)| key).collect();
    keys.sort();
    keys.dedup();
    let host = url.host_str().unwrap_or_default();
    let mut text = String::with_capacity(url.as_str().len() + 4);
    text.push_str(url.scheme());
    text.push_str("://");
    let host_start = text.len();
    text.push_str(host);
    text[host_start..].make_ascii_lowercase();
    text.push_str(url.path());
    text.push('?');
    for (index, key) in keys.iter().enumerate() {
        if index > 0 {
            text.push('&');
        }
        text.push_str(key);
    }
    crate::hex_sha256(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn effective(raw: &str) -> (String, Vec<String>) {
        let url = parse(raw, None).expect("valid URL");
        let (target, removed) = unwrap(&url);
        (target.to_string(), removed)
    }

    #[test]
    fn safe_links_unwrap() {
        let (target, removed) = effective(
            "https://eur01.safelinks.protection.outlook.com/?url=https%3A%2F%2Fpay-portal.example-invoice.net%2Fdoc%2F7781%3Fid%3D42&data=05%7C02%7Cuser%40corp-example.com&reserved=0",
        );
        assert_eq!(target, "https://pay-portal.example-invoice.net/doc/7781?id=42");
        assert_eq!(removed, vec!["microsoft_safe_links"]);
    }

    #[test]
    fn proofpoint_v2_unwrap() {
        let (target, _) = effective(
            "https://urldefense.proofpoint.com/v2/url?u=https-3A__login.example-2Dphish.net_path_x-3Fa-3D1&d=DwMFaQ&c=abc",
        );
        assert_eq!(target, "https://login.example-phish.net/path/x?a=1");
    }

    #[test]
    fn proofpoint_v3_unwrap() {
        // "#" replaced by "*", then a run of two characters "*/".
        let token = URL_SAFE_NO_PAD.encode("#!&");
        let link = format!("https://urldefense.com/v3/__https://files.example-phish.net/a*b**Ac__;{token}!!ABC");
        let (target, removed) = effective(&link);
        assert_eq!(target, "https://files.example-phish.net/a#b!&c");
        assert_eq!(removed, vec!["proofpoint_url_defense"]);
    }

    #[test]
    fn google_and_nested_wrappers() {
        let (target, removed) = effective(
            "https://www.google.com/url?q=https%3A%2F%2Fnam02.safelinks.protection.outlook.com%2F%3Furl%3Dhttps%253A%252F%252Fevil.example-phish.net%252F&sa=D",
        );
        assert_eq!(target, "https://evil.example-phish.net/");
        assert_eq!(removed, vec!["google_redirect", "microsoft_safe_links"]);
    }

    #[test]
    fn mimecast_gives_domain() {
        let (target, removed) = effective("https://protect-eu.mimecast.com/s/AbCdEf?domain=example-phish.net");
        assert_eq!(target, "https://example-phish.net/");
        assert_eq!(removed, vec!["mimecast_url_protect"]);
    }

    #[test]
    fn schemes_and_relative_links() {
        assert!(parse("javascript:alert(1)", None).is_none());
        assert!(parse("mailto:a@example.net", None).is_none());
        assert!(parse("search-ms:query=invoice&crumb=location:\\\\attacker.example\\share", None).is_some());
        assert_eq!(parse("www.example.net/x", None).expect("www").as_str(), "http://www.example.net/x");
        assert!(parse("/relative/path", None).is_none());
        assert_eq!(parse("WWW.example.net", None).expect("www").as_str(), "http://www.example.net/");
        assert_eq!(parse("//cdn.example.net/a", None).expect("scheme-relative").as_str(), "https://cdn.example.net/a");
        let folded = parse("<https://example.net/long\r\n\tpath>", None).expect("folded");
        assert_eq!(folded.as_str(), "https://example.net/longpath");
        let base = Url::parse("https://base.example/dir/").expect("base");
        assert_eq!(parse("page.html", Some(&base)).expect("relative").as_str(), "https://base.example/dir/page.html");
    }

    #[test]
    fn recipients_in_urls() {
        let recipients = vec!["user@corp-example.com".to_string()];
        let plain = parse("https://x.example-phish.net/r?u=user%40corp-example.com", None).expect("url");
        assert_eq!(embedded_recipient(&plain, &recipients).as_deref(), Some("user@corp-example.com"));
        let encoded = STANDARD_NO_PAD.encode("user@corp-example.com");
        let base64 = parse(&format!("https://x.example-phish.net/r#{encoded}"), None).expect("url");
        assert_eq!(embedded_recipient(&base64, &recipients).as_deref(), Some("user@corp-example.com"));
        assert_eq!(embedded_recipient(&plain, &[]), None);
        assert_eq!(embedded_recipient(&plain, &[String::new()]), None);
    }

    #[test]
    fn link_text_domains() {
        assert_eq!(domain_in_text("https://www.examplebank.com/login").as_deref(), Some("examplebank.com"));
        assert_eq!(domain_in_text("Visit paypal.com today").as_deref(), Some("paypal.com"));
        assert_eq!(domain_in_text("invoice.pdf"), None);
        assert_eq!(domain_in_text("Click here"), None);
    }

    #[test]
    fn repeated_texts_reuse_parse() {
        let mut collector = UrlCollector::new(2);
        let first = collector.add("https://a.example/x", UrlSourceKind::HtmlHref, None, None);
        let again = collector.add("https://a.example/x", UrlSourceKind::HtmlText, None, None);
        assert_eq!(first, Some(0));
        assert_eq!(again, Some(0));
        assert_eq!(collector.entries[0].sources.len(), 2);
        // Another text of the same URL joins its entry.
        assert_eq!(collector.add("HTTPS://A.example/x", UrlSourceKind::HtmlHref, None, None), Some(0));
        // Texts that are no URL stay rejected.
        assert_eq!(collector.add("javascript:x", UrlSourceKind::HtmlHref, None, None), None);
        assert_eq!(collector.add("javascript:x", UrlSourceKind::HtmlHref, None, None), None);
        // A relative text depends on its base, so it is never reused.
        let base = Url::parse("https://b.example/dir/").expect("base");
        assert_eq!(collector.add("page", UrlSourceKind::HtmlHref, None, Some(&base)), Some(1));
        assert_eq!(collector.add("page", UrlSourceKind::HtmlHref, None, None), None);
        // Past the limit a new URL is dropped every time it is added.
        assert_eq!(collector.add("https://c.example/", UrlSourceKind::HtmlHref, None, None), None);
        assert!(collector.limit_hit());
        assert_eq!(collector.add("https://c.example/", UrlSourceKind::HtmlHref, None, None), None);
        assert_eq!(collector.entries.len(), 2);
    }

    #[test]
    fn ascii_texts_have_no_confusables() {
        // `indicator` skips ASCII link texts on this ground.
        let analyzer = Analyzer::new(crate::config::Config::default(), crate::Mode::Auto).expect("valid config");
        for text in ["PayPa1 l0gin", "rnicrosoft account", "Sign in to app1e.com", "\0\x7f"] {
            assert!(confusable_text::confusable_words(analyzer.brands(), text).is_empty(), "{text:?}");
        }
        assert!(!confusable_text::confusable_words(analyzer.brands(), "p\u{430}ypal login").is_empty());
    }

    #[test]
    fn recipients_need_an_at_sign() {
        let recipients = vec!["user@corp-example.com".to_string()];
        let escaped = parse("https://x.example-phish.net/r?u=USER%40corp-example.com", None).expect("url");
        assert_eq!(embedded_recipient(&escaped, &recipients).as_deref(), Some("user@corp-example.com"));
        let plain = parse("https://x.example-phish.net/r/user@corp-example.com", None).expect("url");
        assert_eq!(embedded_recipient(&plain, &recipients).as_deref(), Some("user@corp-example.com"));
        let absent = parse("https://x.example-phish.net/r?u=user.corp-example.com", None).expect("url");
        assert_eq!(embedded_recipient(&absent, &recipients), None);
    }

    #[test]
    fn fingerprints_ignore_query_values() {
        let left = parse("https://a.example/p?id=1&t=x", None).expect("url");
        let right = parse("https://A.example/p?t=y&id=2", None).expect("url");
        assert_eq!(fingerprint(&left), fingerprint(&right));
        let expected = crate::hex_sha256(b"https://a.example/p?id&t");
        assert_eq!(fingerprint(&left), expected);
        let encoded = parse("https://A.Example/q?b%20c=1&a=2&b+c=3", None).expect("url");
        assert_eq!(fingerprint(&encoded), crate::hex_sha256(b"https://a.example/q?a&b c"));
    }
}
