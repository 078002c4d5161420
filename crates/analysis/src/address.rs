//! Mailboxes: validating addresses without trusting their text.

use std::sync::LazyLock;

use phishloop_model::Mailbox;
use regex::Regex;

use crate::Analyzer;
use crate::domain;

/// An email address written inside other text (a display name, a body).
pub(crate) static EMAIL_IN_TEXT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?-u:\b)[a-z0-9._%+\-]{1,64}@(?:[a-z0-9\-]{1,63}\.)+[a-z]{2,24}(?-u:\b)").expect("valid regex")
});

/// Builds a mailbox from a display name and an address as parsed.
///
/// The domain is set only for a valid address. Anything odd (two `@`, an
/// empty part, characters no domain may contain) is reported in
/// `malformed` and leaves `domain` empty, so that `support@bank.example
/// <x@evil.example>`-style tricks never make a trusted-looking domain the
/// sender's.
pub(crate) fn mailbox(_analyzer: &Analyzer, name: Option<&str>, address: Option<&str>, group: Option<&str>) -> Mailbox {
    let name = name.map(normalize_name).filter(|name| !name.is_empty());
    let address = address.map(str::trim).filter(|address| !address.is_empty());

    let (address, domain, malformed) = match address {
        None => (None, None, Some("no address".to_string())),
        Some(address) => match validate(address) {
            Ok((local, domain)) => (Some(format!("{local}@{domain}")), Some(domain), None),
            Err(reason) => (Some(address.to_string()), None, Some(reason)),
        },
    };
    let registrable_domain = domain.as_deref().and_then(domain::registrable);
    Mailbox { name, address, domain, registrable_domain, malformed, group: group.map(str::to_string) }
}

/// Splits an address into local part and lowercase ASCII domain, or says
/// why it is not a valid address.
fn validate(address: &str) -> Result<(String, String), String> {
    let address = address.trim_matches(|c| c == '<' || c == '>');
    let at_count = address.matches('@').count();
    if at_count == 0 {
        return Err("the address has no @".to_string());
    }
    if at_count > 1 {
        return Err("the address contains more than one @".to_string());
    }
    let (local, domain_part) = address.split_once('@').unwrap_or_default();
    if local.is_empty() {
        return Err("the local part before @ is empty".to_string());
    }
    if local.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the local part contains white space or control characters".to_string());
    }
    if domain_part.is_empty() {
        return Err("the domain after @ is empty".to_string());
    }
    if let Some(literal) = domain_part.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')) {
        let ip = literal.strip_prefix("IPv6:").unwrap_or(literal);
        return match ip.parse::<std::net::IpAddr>() {
            Ok(_) => Ok((local.to_string(), format!("[{literal}]"))),
            Err(_) => Err(format!("the domain literal [{literal}] is not an IP address")),
        };
    }
    let ascii =
        domain::to_ascii_host(domain_part).ok_or_else(|| format!("{domain_part:?} is not a valid domain name"))?;
    if !ascii.contains('.') {
        return Err(format!("the domain {ascii:?} has no dot"));
    }
    if ascii.split('.').any(|label| label.starts_with('-') || label.ends_with('-')) {
        return Err(format!("a label of {ascii:?} starts or ends with a hyphen"));
    }
    Ok((local.to_string(), ascii))
}

/// Trims a display name, collapses white space and removes the quotes some
/// senders leave in.
fn normalize_name(name: &str) -> String {
    let collapsed = name.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.trim_matches(|c: char| c == '"' || c == '\'' || c.is_whitespace()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn build(name: Option<&str>, address: Option<&str>) -> Mailbox {
        let analyzer = Analyzer::new(Config::default(), crate::Mode::Auto).expect("valid");
        mailbox(&analyzer, name, address, None)
    }

    #[test]
    fn valid_address() {
        let found = build(Some(" Alice  Example "), Some("Alice@Mail.Example.CO.UK"));
        assert_eq!(found.name.as_deref(), Some("Alice Example"));
        assert_eq!(found.address.as_deref(), Some("Alice@mail.example.co.uk"));
        assert_eq!(found.domain.as_deref(), Some("mail.example.co.uk"));
        assert_eq!(found.registrable_domain.as_deref(), Some("example.co.uk"));
        assert_eq!(found.malformed, None);
    }

    #[test]
    fn two_at_signs_resolve_to_no_domain() {
        let found = build(None, Some("support@bank-example.com@evil-example.net"));
        assert_eq!(found.domain, None);
        assert!(found.malformed.expect("malformed").contains("more than one @"));
    }

    #[test]
    fn missing_and_invalid_addresses() {
        assert_eq!(build(Some("Name"), None).malformed.as_deref(), Some("no address"));
        assert!(build(None, Some("user@")).malformed.is_some());
        assert!(build(None, Some("user@localhost")).malformed.is_some());
        assert!(build(None, Some("user@exa mple.com")).malformed.is_some());
        assert!(build(None, Some("user@-bad.com")).malformed.is_some());
    }

    #[test]
    fn idn_domain_is_punycode() {
        let found = build(None, Some("info@bücher.example"));
        assert_eq!(found.domain.as_deref(), Some("xn--bcher-kva.example"));
    }
}
