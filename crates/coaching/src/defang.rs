//! Defanging: writing URLs, domains and addresses from a lure so that no
//! mail client turns them into links.

/// Longest defanged URL shown, in characters, before it is cut with `…`.
const MAX_URL_CHARS: usize = 100;

/// Defangs a URL: `https://example-phish.net/a` becomes
/// `hxxps://example-phish[.]net/a`. The scheme is rewritten, dots in the
/// host become `[.]`, and the result is cut to 100 characters.
pub fn defang_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(host_end);

    let mut out = String::new();
    if let Some(scheme) = scheme {
        out.push_str(&defang_scheme(scheme));
        out.push_str("://");
    }
    out.push_str(&authority.replace('.', "[.]"));
    out.push_str(&defang_text(path));
    truncate(&out, MAX_URL_CHARS)
}

/// Defangs a domain: every dot becomes `[.]`.
pub fn defang_domain(domain: &str) -> String {
    domain.replace('.', "[.]")
}

/// Defangs an email address: the dots of its domain become `[.]`.
pub fn defang_address(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => format!("{local}@{}", defang_domain(domain)),
        None => defang_text(address),
    }
}

/// Defangs the URLs, domains and addresses inside a longer text, such as a
/// message body, and keeps the rest as written: line breaks stay, and a
/// price such as `12.50` or an abbreviation such as `e.g.` is not touched.
/// A word counts as a link when it contains `://` or `www.`, or when its
/// last dot is followed by two letters or more (`lure.test`,
/// `a@b.example`). Brackets, quotes and punctuation around it stay as
/// written.
pub fn defang_links_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    let mut rest = text;
    // A comma separates words too, so that the fields of a CSV log line
    // are judged one by one.
    let separator = |c: char| c.is_whitespace() || c == ',';
    while !rest.is_empty() {
        let word_end = rest.find(separator).unwrap_or(rest.len());
        let (word, after) = rest.split_at(word_end);
        out.push_str(&defang_word(word));
        let space_end = after.find(|c: char| !separator(c)).unwrap_or(after.len());
        out.push_str(&after[..space_end]);
        rest = &after[space_end..];
    }
    out
}

fn defang_word(word: &str) -> String {
    let edge =
        |c: char| matches!(c, '(' | ')' | '<' | '>' | '[' | ']' | '"' | '\'' | ',' | ';' | ':' | '!' | '?' | '.');
    let start = word.find(|c: char| !edge(c)).unwrap_or(word.len());
    let end =
        word.rfind(|c: char| !edge(c)).map_or(start, |at| at + word[at..].chars().next().map_or(1, char::len_utf8));
    if start >= end {
        return word.to_owned();
    }
    let core = &word[start..end];
    let lower = core.to_ascii_lowercase();
    let tld_like = core
        .rsplit_once('.')
        .is_some_and(|(head, tld)| !head.is_empty() && tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
    if !(lower.contains("://") || lower.contains("www.") || tld_like) {
        return word.to_owned();
    }
    format!("{}{}{}", &word[..start], defang_text(core), &word[end..])
}

/// Defangs free text written by an attacker (subjects, link texts, display
/// names, file names). A dot between two letters or digits becomes `[.]`
/// and a word starting with `http` starts with `hxxp`, so that no domain
/// or URL in it is linked. Line breaks and control characters become
/// spaces.
pub fn defang_text(text: &str) -> String {
    let chars: Vec<char> = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let mut out = String::with_capacity(text.len());

    let mut index = 0;
    while index < chars.len() {
        let c = chars[index];
        let previous = index.checked_sub(1).map(|i| chars[i]);
        let next = chars.get(index + 1);
        let word_start = previous.is_none_or(|p| !p.is_alphanumeric());
        if word_start && starts_with_http(&chars[index..]) {
            out.push(c);
            out.push_str("xx");
            out.push(chars[index + 3]);
            index += 4;
            continue;
        }
        if c == '.' && previous.is_some_and(char::is_alphanumeric) && next.is_some_and(|n| n.is_alphanumeric()) {
            out.push_str("[.]");
        } else {
            out.push(c);
        }
        index += 1;
    }
    out
}

fn starts_with_http(chars: &[char]) -> bool {
    chars.len() >= 4 && chars[..4].iter().collect::<String>().eq_ignore_ascii_case("http")
}

fn defang_scheme(scheme: &str) -> String {
    match scheme.to_ascii_lowercase().as_str() {
        "http" => "hxxp".to_string(),
        "https" => "hxxps".to_string(),
        "ftp" => "fxp".to_string(),
        other => other.to_string(),
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max_chars - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_in_text_defanged_prose_kept() {
        let text = "Dear user,\nopen https://login.lure.test/a?x=1 (or www.lure.test).\nPay $12.50, e.g. today; mail it@lure.test.";
        let out = defang_links_in(text);
        assert_eq!(
            out,
            "Dear user,\nopen hxxps://login[.]lure[.]test/a?x=1 (or www[.]lure[.]test).\nPay $12.50, e.g. today; mail it@lure[.]test."
        );
        let line = "2026-12-05T10:00:00Z,bob@corp.test,GET,https://lure.test/x,Mozilla/5.0 (HTTP 404)";
        assert_eq!(
            defang_links_in(line),
            "2026-12-05T10:00:00Z,bob@corp[.]test,GET,hxxps://lure[.]test/x,Mozilla/5.0 (HTTP 404)"
        );
    }

    #[test]
    fn url_scheme_and_host_are_defanged() {
        assert_eq!(defang_url("https://example-phish.net/login"), "hxxps://example-phish[.]net/login");
        assert_eq!(defang_url("http://a.b.example/x.php?q=1"), "hxxp://a[.]b[.]example/x[.]php?q=1");
    }

    #[test]
    fn long_url_is_cut() {
        let url = format!("https://example-phish.net/{}", "a".repeat(300));
        let defanged = defang_url(&url);
        assert_eq!(defanged.chars().count(), MAX_URL_CHARS);
        assert!(defanged.ends_with('…'));
    }

    #[test]
    fn text_domains_and_links_are_defanged() {
        assert_eq!(defang_text("Visit examplebank.com now"), "Visit examplebank[.]com now");
        assert_eq!(defang_text("see https://x.example/"), "see hxxps://x[.]example/");
        assert_eq!(defang_text("HTTP://X.EXAMPLE"), "HxxP://X[.]EXAMPLE");
        assert_eq!(defang_text("End of sentence. Next"), "End of sentence. Next");
        assert_eq!(defang_text("line\r\nbreak"), "line  break");
        assert_eq!(defang_text("the httpd server"), "the hxxpd server");
    }

    #[test]
    fn address_domain_is_defanged() {
        assert_eq!(defang_address("billing@example-phish.net"), "billing@example-phish[.]net");
    }
}
