//! Click classification: matches click evidence against a campaign and
//! gives each person a verdict with the lines behind it.
//!
//! An entry counts when its host is a campaign URL's host or a campaign
//! domain (or below one). It is excluded, with the reason kept, when:
//!
//! - its user agent contains a known scanner or link-preview agent;
//! - its client IP is in a configured scanner network;
//! - it is a `HEAD` request, which browsers do not send for a click;
//! - it happened before the message was delivered;
//! - its client IP requested campaign hosts for at least
//!   `burst_min_users` different users within `burst_window_seconds`
//!   (a gateway or sandbox opening every recipient's link);
//! - Defender blocked the click and the user did not click through.
//!
//! A `POST` to a campaign host is a credential submission. A DNS lookup
//! alone makes a person `clicked`, with `dns_lookup` evidence, because a
//! lookup shows the name was resolved on their device but not that a page
//! was fetched.

mod parse;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use parse::{
    FieldMap, LogDefect, LogEntry, LogError, LogSource, ParsedLog, parse_csv, parse_json_lines, parse_url_click_events,
};

/// User-agent fragments of link previewers, crawlers and scripted
/// fetchers, matched case-insensitively. Real browsers do not send them.
pub const DEFAULT_SCANNER_AGENTS: [&str; 20] = [
    "slackbot",
    "slack-imgproxy",
    "facebookexternalhit",
    "twitterbot",
    "linkedinbot",
    "discordbot",
    "telegrambot",
    "whatsapp",
    "skypeuripreview",
    "microsoftpreview",
    "bingpreview",
    "googlebot",
    "headlesschrome",
    "python-requests",
    "python-urllib",
    "go-http-client",
    "curl/",
    "wget/",
    "urlscan",
    "virustotal",
];

/// A phishing campaign: its URLs and domains, delivery time and recipients.
///
/// A log entry counts as a visit when its host is one of `domains` or a
/// subdomain of one, or when it names one of `urls` by host and path (see
/// [`LurePage`]). Domains are for sites the attacker runs. URLs are for
/// lure pages on hosts that others share, such as a form on a form service
/// or a page on a site builder, where a visit elsewhere on the host is no
/// evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    /// Effective URLs of lure pages, after unwrapping redirectors; matched
    /// by host and path.
    pub urls: Vec<String>,
    /// Domains that serve nothing but the lure; every host under them
    /// matches, with any path.
    pub domains: Vec<String>,
    /// When the message was delivered; earlier entries are excluded.
    pub delivered_at: DateTime<Utc>,
    /// Recipient addresses.
    pub recipients: Vec<String>,
    /// Address of the person using each client IP, from DHCP or VPN
    /// records, for entries (such as DNS lookups) that name no user.
    #[serde(default)]
    pub ip_owners: BTreeMap<IpAddr, String>,
}

/// The exclusion settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickFilter {
    /// See [`DEFAULT_SCANNER_AGENTS`].
    pub scanner_user_agents: Vec<String>,
    /// Addresses or CIDR networks of scanners and sandboxes (the mail
    /// gateway's URL detonation egress, for example). None by default,
    /// because they differ per organisation and vendor.
    pub scanner_networks: Vec<String>,
    /// Distinct users from one IP that make a burst.
    pub burst_min_users: usize,
    /// Width of the burst window, in seconds.
    pub burst_window_seconds: i64,
    /// Domain appended to a bare login (`jdoe`) that matches no recipient.
    pub user_domain: Option<String>,
}

impl Default for ClickFilter {
    fn default() -> Self {
        ClickFilter {
            scanner_user_agents: DEFAULT_SCANNER_AGENTS.iter().map(|a| a.to_string()).collect(),
            scanner_networks: Vec::new(),
            burst_min_users: 4,
            burst_window_seconds: 120,
            user_domain: None,
        }
    }
}

/// A person's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    NotClicked,
    Clicked,
    SubmittedCredentials,
}

/// The kind of activity one evidence line shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    Visit,
    CredentialPost,
    DnsLookup,
    DefenderClick,
}

/// One log line behind a verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub kind: EvidenceKind,
    pub source: LogSource,
    pub line: u64,
    pub time: DateTime<Utc>,
    pub raw: String,
}

/// The verdict of one person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonVerdict {
    /// Lowercase address.
    pub address: String,
    pub verdict: Verdict,
    /// False for people who clicked but were not among the recipients
    /// (the message was forwarded to them).
    pub recipient: bool,
    pub evidence: Vec<Evidence>,
}

/// The reason a matching entry was not counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Exclusion {
    ScannerUserAgent {
        pattern: String,
    },
    ScannerNetwork {
        network: String,
    },
    HeadRequest,
    BeforeDelivery,
    Burst {
        client_ip: IpAddr,
        users: usize,
    },
    BlockedByDefender,
    /// No user in the entry and no owner of its client IP.
    Unattributed,
}

/// A matching entry that was not counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExcludedEntry {
    pub exclusion: Exclusion,
    pub source: LogSource,
    pub line: u64,
    pub time: DateTime<Utc>,
    pub user: Option<String>,
    pub client_ip: Option<IpAddr>,
    pub raw: String,
}

/// The result of [`classify_clicks`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClickReport {
    /// Every recipient, then people outside the recipient list who
    /// clicked, each sorted by address.
    pub people: Vec<PersonVerdict>,
    pub excluded: Vec<ExcludedEntry>,
    /// Entries whose host is not a campaign host.
    pub unrelated_entries: usize,
}

impl ClickReport {
    /// Finds the verdict of `address`, compared case-insensitively.
    pub fn verdict_of(&self, address: &str) -> Option<&PersonVerdict> {
        self.people.iter().find(|p| p.address.eq_ignore_ascii_case(address))
    }
}

/// Classifies every recipient from the entries of any number of logs.
pub fn classify_clicks(campaign: &Campaign, entries: &[LogEntry], filter: &ClickFilter) -> ClickReport {
    let hosts = campaign_hosts(campaign);
    let pages: Vec<LurePage> = campaign.urls.iter().filter_map(|url| LurePage::parse(url)).collect();
    let recipients: BTreeSet<String> = campaign.recipients.iter().map(|r| r.trim().to_lowercase()).collect();
    let networks: Vec<(String, Network)> =
        filter.scanner_networks.iter().filter_map(|n| Network::parse(n).map(|parsed| (n.clone(), parsed))).collect();

    let mut excluded = Vec::new();
    let mut unrelated_entries = 0;
    let mut candidates: Vec<(&LogEntry, String)> = Vec::new();
    for entry in entries {
        let on_lure_site = entry.host.as_deref().is_some_and(|h| matches_host(h, &hosts));
        let on_lure_page = || {
            let visited = entry.url.as_deref().and_then(parse::host_and_path_of);
            visited.is_some_and(|(host, path)| pages.iter().any(|page| page.matches(&host, &path)))
        };
        if !on_lure_site && (pages.is_empty() || !on_lure_page()) {
            unrelated_entries += 1;
            continue;
        }
        let person = attribute(entry, campaign, &recipients, filter);
        if let Some(exclusion) = early_exclusion(entry, campaign, filter, &networks, person.is_none()) {
            excluded.push(excluded_entry(entry, exclusion));
            continue;
        }
        if let Some(person) = person {
            candidates.push((entry, person));
        }
    }

    let bursts = burst_exclusions(&candidates, filter);
    let mut evidence: BTreeMap<String, Vec<Evidence>> = BTreeMap::new();
    for (index, (entry, person)) in candidates.iter().enumerate() {
        if let Some(exclusion) = bursts.get(&index) {
            excluded.push(excluded_entry(entry, exclusion.clone()));
            continue;
        }
        evidence.entry(person.clone()).or_default().push(evidence_of(entry));
    }

    ClickReport { people: verdicts(&recipients, evidence), excluded, unrelated_entries }
}

/// The campaign domains, lowercase.
fn campaign_hosts(campaign: &Campaign) -> BTreeSet<String> {
    let domains = campaign.domains.iter().map(|d| d.trim().trim_end_matches('.').to_lowercase());
    domains.filter(|h| !h.is_empty()).collect()
}

/// One lure page on a shared host, matched by host and path.
///
/// An entry matches when its host is the page's host and its path is the
/// page's path or lies below it. The page's parent folder matches too,
/// provided that folder is at least two segments deep: a form's
/// submissions go to a sibling of the form (`.../viewform` posts to
/// `.../formResponse`), while a one-segment folder such as `/view/` on a
/// site builder holds everyone's pages. A page at the root of its host
/// matches nothing, and neither do entries without a URL, such as DNS
/// look-ups: the host alone says nothing on a shared host.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LurePage {
    host: String,
    /// Path segments of the page, without empty segments.
    path: Vec<String>,
    /// Segments of the folder that also matches, when deep enough.
    folder: Option<Vec<String>>,
}

impl LurePage {
    fn parse(url: &str) -> Option<LurePage> {
        let (host, path) = parse::host_and_path_of(url)?;
        if path.is_empty() {
            return None;
        }
        let folder = match path.split_last() {
            Some((_, parent)) if parent.len() >= 2 => Some(parent.to_vec()),
            _ => None,
        };
        Some(LurePage { host, path, folder })
    }

    /// True when a visit to `host` and the path segments `path` is on
    /// this page.
    fn matches(&self, host: &str, path: &[String]) -> bool {
        host == self.host && (path.starts_with(&self.path) || self.folder.as_ref().is_some_and(|f| path.starts_with(f)))
    }
}

fn matches_host(host: &str, hosts: &BTreeSet<String>) -> bool {
    hosts.iter().any(|h| host == h || host.strip_suffix(h.as_str()).is_some_and(|prefix| prefix.ends_with('.')))
}

/// Finds the address of the person behind an entry: the user field as an
/// address, a login matching one recipient's local part, a login with
/// `user_domain`, or the owner of the client IP.
fn attribute(
    entry: &LogEntry,
    campaign: &Campaign,
    recipients: &BTreeSet<String>,
    filter: &ClickFilter,
) -> Option<String> {
    if let Some(user) = entry.user.as_deref() {
        let user = user.trim().to_lowercase();
        let login = user.rsplit_once('\\').map(|(_, login)| login.to_string()).unwrap_or(user);
        if login.contains('@') {
            return Some(login);
        }
        let mut matches = recipients.iter().filter(|r| r.split('@').next() == Some(login.as_str()));
        if let (Some(only), None) = (matches.next(), matches.next()) {
            return Some(only.clone());
        }
        if let Some(domain) = &filter.user_domain {
            return Some(format!("{login}@{}", domain.to_lowercase()));
        }
    }
    let ip = entry.client_ip?;
    campaign.ip_owners.get(&ip).map(|owner| owner.trim().to_lowercase())
}

fn early_exclusion(
    entry: &LogEntry,
    campaign: &Campaign,
    filter: &ClickFilter,
    networks: &[(String, Network)],
    unattributed: bool,
) -> Option<Exclusion> {
    if let Some(agent) = entry.user_agent.as_deref() {
        let agent = agent.to_lowercase();
        let found = filter.scanner_user_agents.iter().find(|p| !p.is_empty() && agent.contains(&p.to_lowercase()));
        if let Some(pattern) = found {
            return Some(Exclusion::ScannerUserAgent { pattern: pattern.clone() });
        }
    }
    if let Some(ip) = entry.client_ip
        && let Some((network, _)) = networks.iter().find(|(_, n)| n.contains(ip))
    {
        return Some(Exclusion::ScannerNetwork { network: network.clone() });
    }
    if entry.method.as_deref() == Some("HEAD") {
        return Some(Exclusion::HeadRequest);
    }
    if entry.time < campaign.delivered_at {
        return Some(Exclusion::BeforeDelivery);
    }
    if entry.allowed == Some(false) {
        return Some(Exclusion::BlockedByDefender);
    }
    unattributed.then_some(Exclusion::Unattributed)
}

/// Finds entries whose client IP served many users within the window.
/// Defender events are left out: each names the user who clicked.
fn burst_exclusions(candidates: &[(&LogEntry, String)], filter: &ClickFilter) -> BTreeMap<usize, Exclusion> {
    let mut by_ip: BTreeMap<IpAddr, Vec<usize>> = BTreeMap::new();
    for (index, (entry, _)) in candidates.iter().enumerate() {
        if let (Some(ip), false) = (entry.client_ip, entry.source == LogSource::DefenderUrlClick) {
            by_ip.entry(ip).or_default().push(index);
        }
    }

    let window = chrono::Duration::seconds(filter.burst_window_seconds.max(0));
    let mut bursts = BTreeMap::new();
    for (ip, indexes) in by_ip {
        for &index in &indexes {
            let time = candidates[index].0.time;
            let users: BTreeSet<&str> = indexes
                .iter()
                .filter(|&&other| (candidates[other].0.time - time).abs() <= window)
                .map(|&other| candidates[other].1.as_str())
                .collect();
            if users.len() >= filter.burst_min_users.max(2) {
                bursts.insert(index, Exclusion::Burst { client_ip: ip, users: users.len() });
            }
        }
    }
    bursts
}

fn evidence_of(entry: &LogEntry) -> Evidence {
    let kind = match (entry.source, entry.method.as_deref()) {
        (LogSource::DefenderUrlClick, _) => EvidenceKind::DefenderClick,
        (LogSource::Dns, _) => EvidenceKind::DnsLookup,
        (LogSource::Proxy, Some("POST")) => EvidenceKind::CredentialPost,
        (LogSource::Proxy, _) => EvidenceKind::Visit,
    };
    Evidence { kind, source: entry.source, line: entry.line, time: entry.time, raw: entry.raw.clone() }
}

fn verdicts(recipients: &BTreeSet<String>, mut evidence: BTreeMap<String, Vec<Evidence>>) -> Vec<PersonVerdict> {
    let mut people = Vec::new();
    for address in recipients {
        let found = evidence.remove(address).unwrap_or_default();
        people.push(verdict(address.clone(), true, found));
    }
    for (address, found) in evidence {
        people.push(verdict(address, false, found));
    }
    people
}

fn verdict(address: String, recipient: bool, mut evidence: Vec<Evidence>) -> PersonVerdict {
    evidence.sort_by_key(|e| e.time);
    let verdict = if evidence.iter().any(|e| e.kind == EvidenceKind::CredentialPost) {
        Verdict::SubmittedCredentials
    } else if evidence.is_empty() {
        Verdict::NotClicked
    } else {
        Verdict::Clicked
    };
    PersonVerdict { address, verdict, recipient, evidence }
}

fn excluded_entry(entry: &LogEntry, exclusion: Exclusion) -> ExcludedEntry {
    ExcludedEntry {
        exclusion,
        source: entry.source,
        line: entry.line,
        time: entry.time,
        user: entry.user.clone(),
        client_ip: entry.client_ip,
        raw: entry.raw.clone(),
    }
}

/// An IP address or CIDR network.
struct Network {
    base: IpAddr,
    prefix: u32,
}

impl Network {
    fn parse(text: &str) -> Option<Network> {
        let (address, prefix) = text.trim().split_once('/').unwrap_or((text.trim(), ""));
        let base: IpAddr = address.parse().ok()?;
        let max = if base.is_ipv4() { 32 } else { 128 };
        let prefix = if prefix.is_empty() { max } else { prefix.parse().ok().filter(|p| *p <= max)? };
        Some(Network { base, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.base, ip) {
            (IpAddr::V4(base), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix).unwrap_or(0);
                u32::from(base) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(base), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix).unwrap_or(0);
                u128::from(base) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Network;

    #[test]
    fn networks_match_by_prefix() {
        let v4 = Network::parse("192.0.2.0/25").expect("v4");
        let single = Network::parse("198.51.100.9").expect("single");
        let v6 = Network::parse("2001:db8::/32").expect("v6");

        assert!(v4.contains("192.0.2.127".parse().expect("ip")));
        assert!(!v4.contains("192.0.2.128".parse().expect("ip")));
        assert!(single.contains("198.51.100.9".parse().expect("ip")));
        assert!(!single.contains("198.51.100.10".parse().expect("ip")));
        assert!(v6.contains("2001:db8:ffff::1".parse().expect("ip")));
        assert!(!v6.contains("192.0.2.1".parse().expect("ip")));
        assert!(Network::parse("192.0.2.0/33").is_none());
        assert!(Network::parse("0.0.0.0/0").expect("all").contains("203.0.113.1".parse().expect("ip")));
    }
}
