//! The Received chain and the organisation boundary.
//!
//! Each MTA prepends a Received header, so the chain reads newest first.
//! The boundary is the hop at which the organisation (or its mail provider)
//! took the message from outside. Everything above it was written by
//! trusted relays; everything below it, the sender could have forged.

use std::net::IpAddr;
use std::sync::LazyLock;

use mail_parser::{Header, HeaderName, HeaderValue, Host, Message};
use phishloop_model::{BoundarySource, ReceivedChain, ReceivedHop};
use regex::Regex;

use crate::Analyzer;
use crate::config::host_matches;
use crate::domain;
use crate::headers::{raw_value, rfc3339, truncate, unfold};
use crate::lists;

static FROM_CLAUSE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^\s*from\s+([^\s;()\[\]]+)").expect("valid regex"));
static BY_CLAUSE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)\bby\s+([^\s;()\[\]]+)").expect("valid regex"));
static BRACKETED_IP: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[\[(]\s*(?:IPv6:)?([0-9A-Fa-f:.]{3,45})\s*[\])]").expect("valid regex"));

/// Reads the Received headers and finds the boundary.
pub(crate) fn read_chain(analyzer: &Analyzer, message: &Message<'_>) -> ReceivedChain {
    let raw = message.raw_message.as_ref();
    let mut hops: Vec<ReceivedHop> = message
        .headers()
        .iter()
        .enumerate()
        .filter(|(_, header)| header.name == HeaderName::Received)
        .map(|(position, header)| read_hop(header, raw, position))
        .collect();

    let configured = !analyzer.config().trust.internal_hosts.is_empty() || !analyzer.internal_networks().is_empty();
    let boundary = if configured {
        hops.iter().position(|hop| !is_internal_configured(analyzer, hop))
    } else {
        hops.iter().position(|hop| is_external_heuristic(analyzer, hop))
    };
    for hop in hops.iter_mut().take(boundary.unwrap_or(0)) {
        hop.internal = true;
    }

    let boundary_source = match (boundary, configured) {
        (None, _) => BoundarySource::None,
        (Some(_), true) => BoundarySource::Configured,
        (Some(_), false) => BoundarySource::Heuristic,
    };
    let external = boundary.and_then(|index| hops.get(index));
    ReceivedChain {
        first_external_ip: external.and_then(|hop| hop.from_ip.clone()),
        first_external_host: external.and_then(|hop| hop.from_rdns.clone().or_else(|| hop.from_host.clone())),
        boundary,
        boundary_source,
        hops,
    }
}

fn read_hop(header: &Header<'_>, raw: &[u8], position: usize) -> ReceivedHop {
    let text = unfold(raw_value(raw, header));
    let mut hop = ReceivedHop {
        position,
        from_host: None,
        from_ip: None,
        from_rdns: None,
        by_host: None,
        with: None,
        for_address: None,
        date: None,
        raw: truncate(&text, 1_024),
        internal: false,
    };

    if let HeaderValue::Received(received) = &header.value {
        match &received.from {
            Some(Host::Name(name)) => hop.from_host = Some(name.to_lowercase()),
            Some(Host::IpAddr(ip)) => hop.from_ip = Some(ip.to_string()),
            None => {}
        }
        if let Some(ip) = received.from_ip {
            hop.from_ip = Some(ip.to_string());
        }
        hop.from_rdns = received.from_iprev.as_deref().map(|name| name.trim_end_matches('.').to_lowercase());
        hop.by_host = received.by.as_ref().map(|host| match host {
            Host::Name(name) => name.to_lowercase(),
            Host::IpAddr(ip) => ip.to_string(),
        });
        hop.with = received.with.map(|protocol| format!("{protocol:?}"));
        hop.for_address = received.for_.as_deref().map(|address| address.trim_matches(['<', '>']).to_lowercase());
        hop.date = received.date.filter(|date| date.is_valid()).map(|date| rfc3339(&date));
    }

    // The parser does not read every MTA's format; fill gaps from the text.
    let from_clause = text.split(" by ").next().unwrap_or_default();
    if hop.from_host.is_none() {
        hop.from_host = FROM_CLAUSE.captures(&text).map(|captures| captures[1].to_lowercase());
    }
    if hop.from_ip.is_none() {
        hop.from_ip = BRACKETED_IP
            .captures_iter(from_clause)
            .filter_map(|captures| captures[1].parse::<IpAddr>().ok())
            .map(|ip| ip.to_string())
            .next();
    }
    if hop.by_host.is_none() {
        hop.by_host = BY_CLAUSE.captures(&text).map(|captures| captures[1].to_lowercase());
    }
    hop
}

fn is_internal_configured(analyzer: &Analyzer, hop: &ReceivedHop) -> bool {
    let trust = &analyzer.config().trust;
    let Some(ip) = hop.from_ip.as_deref().and_then(|ip| ip.parse::<IpAddr>().ok()) else {
        // No connecting address: a local submission or an internal hand-off.
        return true;
    };
    if !domain::is_public_ip(ip) || analyzer.internal_networks().iter().any(|network| network.contains(ip)) {
        return true;
    }
    [hop.from_rdns.as_deref(), hop.from_host.as_deref()]
        .into_iter()
        .flatten()
        .any(|host| host_matches(host, &trust.internal_hosts) || domain::is_internal(analyzer, host))
}

/// Without configuration: a hop is external when it came from a public IP
/// address and the sending host does not belong to the receiving host's
/// organisation or mail provider.
fn is_external_heuristic(analyzer: &Analyzer, hop: &ReceivedHop) -> bool {
    let Some(ip) = hop.from_ip.as_deref().and_then(|ip| ip.parse::<IpAddr>().ok()) else {
        return false;
    };
    if !domain::is_public_ip(ip) {
        return false;
    }
    let from_domain =
        [hop.from_rdns.as_deref(), hop.from_host.as_deref()].into_iter().flatten().find_map(domain::registrable);
    let by_domain = hop.by_host.as_deref().and_then(domain::registrable);
    match (from_domain, by_domain) {
        (Some(from), Some(by)) => {
            let internal_sender = domain::is_internal(analyzer, &from);
            !internal_sender && !lists::same_provider(&from, &by)
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn chain_of(message: &str, config: Config) -> ReceivedChain {
        let analyzer = Analyzer::new(config, crate::Mode::Auto).expect("valid");
        let parsed = mail_parser::MessageParser::default().parse(message.as_bytes()).expect("parses");
        read_chain(&analyzer, &parsed)
    }

    const OFFICE_365: &str = "Received: from MN2PR19MB4079.namprd19.prod.outlook.com (::1) by\r\n MN0PR19MB6312.namprd19.prod.outlook.com with HTTPS; Thu, 10 Nov 2022 13:05:27\r\n +0000\r\n\
Received: from BN1PR12CA0024.namprd12.prod.outlook.com (2603:10b6:408:e1::29)\r\n by MN2PR19MB4079.namprd19.prod.outlook.com (2603:10b6:208:1ef::19) with\r\n Microsoft SMTP Server id 15.20.5791.24; Thu, 10 Nov 2022 13:05:26 +0000\r\n\
Authentication-Results: spf=pass (sender IP is 198.51.100.7)\r\n smtp.mailfrom=sender-example.net; dkim=none (message not signed)\r\n header.d=none;dmarc=bestguesspass action=none\r\n header.from=sender-example.net;compauth=pass reason=109\r\n\
Received: from mail.sender-example.net (198.51.100.7) by\r\n BN1NAM02FT027.mail.protection.outlook.com (10.13.2.141) with Microsoft SMTP\r\n Server id 15.20.5813.12 via Frontend Transport; Thu, 10 Nov 2022 13:05:26\r\n +0000\r\n\
Received: from internal.sender-example.net ([10.30.189.11]) by\r\n mail.sender-example.net with mapi; Thu, 10 Nov 2022 09:52:58 -0300\r\n\
From: a@sender-example.net\r\nSubject: x\r\n\r\nbody\r\n";

    #[test]
    fn heuristic_boundary_in_office_365_chain() {
        let chain = chain_of(OFFICE_365, Config::default());
        assert_eq!(chain.hops.len(), 4);
        assert_eq!(chain.boundary, Some(2));
        assert_eq!(chain.boundary_source, BoundarySource::Heuristic);
        assert_eq!(chain.first_external_ip.as_deref(), Some("198.51.100.7"));
        assert!(chain.hops[0].internal);
        assert!(chain.hops[1].internal);
        assert!(!chain.hops[2].internal);
    }

    #[test]
    fn configured_boundary() {
        let mut config = Config::default();
        config.trust.internal_hosts = vec!["*.outlook.com".to_string()];
        let chain = chain_of(OFFICE_365, config);
        assert_eq!(chain.boundary, Some(2));
        assert_eq!(chain.boundary_source, BoundarySource::Configured);
    }

    #[test]
    fn no_received_headers() {
        let chain = chain_of("From: a@example.net\n\nbody\n", Config::default());
        assert!(chain.hops.is_empty());
        assert_eq!(chain.boundary, None);
        assert_eq!(chain.boundary_source, BoundarySource::None);
    }
}
