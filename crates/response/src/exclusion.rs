//! Which targets must never be blocked, and why.
//!
//! Blocking a domain that many people use (a free-mail provider, a URL
//! wrapper, a large platform) or one of the organisation's own domains
//! would cut off legitimate mail and sites for everyone. The planner drops
//! such targets and records the reason in the plan.

use phishloop_model::{MessageAnalysis, UrlIndicator, UrlSourceKind};
use serde::{Deserialize, Serialize};

use crate::config::ResponseConfig;

/// Reason a target was left out of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The step is configured `off`.
    StepOff,
    /// The selector found nothing in this message or case.
    NoTargets,
    /// A domain of the organisation.
    Internal,
    /// A domain on the `never_block` list of the configuration.
    NeverBlock,
    /// A free-mail provider, URL wrapper or large platform that many
    /// legitimate senders and sites share.
    SharedService,
    /// The real domain of a known brand; the lure imitates it.
    BrandDomain,
    /// A free hosting or site-builder domain: the exact URL is blocked, the
    /// domain is not.
    FreeHosting,
    /// A URL shortener domain: the exact URL is blocked, the domain is not.
    Shortener,
    /// A URL wrapper that could not be unwrapped; blocking it would block
    /// every wrapped link.
    UrlWrapper,
    /// An IP address host has no domain to block.
    IpAddress,
    /// Not a web URL (`mailto:`, `tel:`, `data:`).
    NotWeb,
    /// An image, style or script reference that the reader does not follow.
    EmbeddedResource,
    /// Authorised simulations are never acted on.
    Simulation,
}

/// Shared services that are never blocked as a whole domain: free mail,
/// URL wrappers and shorteners, and large platforms that host both
/// legitimate and malicious pages. A subdomain of an entry matches too
/// (`matches_any`, tested below).
const SHARED_DOMAINS: &[&str] = &[
    // Free mail.
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "yahoo.com",
    "ymail.com",
    "aol.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "proton.me",
    "protonmail.com",
    "gmx.com",
    "gmx.net",
    "gmx.de",
    "web.de",
    "mail.com",
    "mail.ru",
    "yandex.ru",
    "yandex.com",
    "zoho.com",
    "fastmail.com",
    "tutanota.com",
    "qq.com",
    "163.com",
    "126.com",
    // URL wrappers and link-protection services.
    "proofpoint.com",
    "urldefense.com",
    "mimecast.com",
    "cudasvc.com",
    "barracudanetworks.com",
    "symantec.com",
    "trendmicro.com",
    // URL shorteners.
    "bit.ly",
    "t.co",
    "tinyurl.com",
    "ow.ly",
    "goo.gl",
    "is.gd",
    "buff.ly",
    "rebrand.ly",
    "lnkd.in",
    // Large platforms.
    "google.com",
    "googleusercontent.com",
    "microsoft.com",
    "office.com",
    "sharepoint.com",
    "windows.net",
    "azurewebsites.net",
    "amazonaws.com",
    "cloudfront.net",
    "github.com",
    "githubusercontent.com",
    "dropbox.com",
    "box.com",
    "apple.com",
    "linkedin.com",
    "facebook.com",
    "cloudflare.com",
];

/// Hosts of link wrappers whose URL still points at the wrapper when
/// unwrapping failed.
const WRAPPER_HOSTS: &[&str] = &[
    "safelinks.protection.outlook.com",
    "urldefense.com",
    "urldefense.proofpoint.com",
    "mimecast.com",
    "linkprotect.cudasvc.com",
    "secure-web.cisco.com",
    "clicktime.symantec.com",
];

/// Sources of URLs that a reader follows or submits to.
const FOLLOWED_SOURCES: &[UrlSourceKind] = &[
    UrlSourceKind::Text,
    UrlSourceKind::HtmlHref,
    UrlSourceKind::HtmlFormAction,
    UrlSourceKind::HtmlMetaRefresh,
    UrlSourceKind::HtmlText,
    UrlSourceKind::Calendar,
    UrlSourceKind::Attachment,
    UrlSourceKind::QrCode,
];

/// A reason to leave a target out, with words for the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exclusion {
    pub reason: SkipReason,
    pub explanation: String,
}

impl Exclusion {
    fn new(reason: SkipReason, explanation: String) -> Self {
        Exclusion { reason, explanation }
    }
}

/// The domains one plan must not block.
#[derive(Debug)]
pub(crate) struct ExclusionPolicy {
    internal: Vec<String>,
    never_block: Vec<String>,
}

impl ExclusionPolicy {
    pub fn new(config: &ResponseConfig, message: Option<&MessageAnalysis>) -> Self {
        let mut internal: Vec<String> = config.internal_domains.iter().map(|domain| normalize(domain)).collect();
        if let Some(message) = message {
            internal.extend(message.domains.iter().filter(|d| d.internal).map(|d| normalize(&d.domain)));
            if message.sender.from_internal {
                internal.extend(message.sender.from_registrable_domain.as_deref().map(normalize));
            }
        }
        let never_block = config.never_block.iter().map(|domain| normalize(domain)).collect();
        ExclusionPolicy { internal, never_block }
    }

    /// Checks a domain against the organisation's domains, the
    /// configuration's `never_block` list and the shared services.
    pub fn check_domain(&self, domain: &str) -> Option<Exclusion> {
        if matches_any(domain, self.internal.iter().map(String::as_str)) {
            return Some(Exclusion::new(
                SkipReason::Internal,
                format!("{domain} is one of the organisation's domains"),
            ));
        }
        if matches_any(domain, self.never_block.iter().map(String::as_str)) {
            return Some(Exclusion::new(SkipReason::NeverBlock, format!("{domain} is on the never_block list")));
        }
        if matches_any(domain, SHARED_DOMAINS.iter().copied()) {
            return Some(Exclusion::new(
                SkipReason::SharedService,
                format!("{domain} is a service shared by many legitimate users"),
            ));
        }
        None
    }

    /// Checks whether the organisation's domains or `never_block` cover a
    /// host; shared services are allowed because only one URL is at stake.
    pub fn check_url_host(&self, url: &UrlIndicator) -> Option<Exclusion> {
        let host = url.host.as_deref().unwrap_or_default();
        let domain = url.registrable_domain.as_deref().unwrap_or(host);
        if matches_any(domain, self.internal.iter().map(String::as_str))
            || matches_any(host, self.internal.iter().map(String::as_str))
        {
            return Some(Exclusion::new(SkipReason::Internal, format!("{host} is one of the organisation's hosts")));
        }
        if matches_any(domain, self.never_block.iter().map(String::as_str)) {
            return Some(Exclusion::new(SkipReason::NeverBlock, format!("{domain} is on the never_block list")));
        }
        None
    }
}

/// Checks that a URL is a web link the reader follows.
pub(crate) fn check_followed_web_url(url: &UrlIndicator) -> Option<Exclusion> {
    if !matches!(url.scheme.as_str(), "http" | "https" | "ftp") || url.host.is_none() {
        return Some(Exclusion::new(SkipReason::NotWeb, format!("{} is not a web address", url.effective)));
    }
    let followed = url.sources.iter().any(|source| FOLLOWED_SOURCES.contains(&source.kind));
    if !followed {
        return Some(Exclusion::new(
            SkipReason::EmbeddedResource,
            format!("{} is only loaded as an image, style or script", url.effective),
        ));
    }
    None
}

/// Checks the URL-level reasons not to block an exact URL.
pub(crate) fn check_blockable_url(url: &UrlIndicator) -> Option<Exclusion> {
    let host = url.host.as_deref().unwrap_or_default();
    if matches_any(host, WRAPPER_HOSTS.iter().copied()) {
        return Some(Exclusion::new(
            SkipReason::UrlWrapper,
            format!("{host} is a link wrapper that could not be unwrapped"),
        ));
    }
    if let Some(brand) = url.brand.as_deref().filter(|_| !url.free_hosting) {
        return Some(Exclusion::new(SkipReason::BrandDomain, format!("{host} is a real domain of {brand}")));
    }
    None
}

/// Checks the URL-level reasons not to block a URL's whole domain.
pub(crate) fn check_blockable_url_domain(url: &UrlIndicator) -> Option<Exclusion> {
    let host = url.host.as_deref().unwrap_or_default();
    if url.host_is_ip {
        return Some(Exclusion::new(SkipReason::IpAddress, format!("{host} is an IP address")));
    }
    if let Some(brand) = url.brand.as_deref() {
        return Some(Exclusion::new(SkipReason::BrandDomain, format!("{host} is a real domain of {brand}")));
    }
    if url.free_hosting {
        return Some(Exclusion::new(
            SkipReason::FreeHosting,
            format!("{host} is on a free hosting service; only the exact URL is blocked"),
        ));
    }
    if url.shortener {
        return Some(Exclusion::new(
            SkipReason::Shortener,
            format!("{host} is a URL shortener; only the exact URL is blocked"),
        ));
    }
    None
}

pub(crate) fn normalize(domain: &str) -> String {
    domain.trim().trim_matches('.').to_ascii_lowercase()
}

/// True when `domain` equals an entry or is a subdomain of one.
fn matches_any<'a>(domain: &str, entries: impl IntoIterator<Item = &'a str>) -> bool {
    let domain = normalize(domain);
    entries.into_iter().any(|entry| {
        !entry.is_empty() && (domain == entry || domain.strip_suffix(entry).is_some_and(|prefix| prefix.ends_with('.')))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_subdomains_only_at_label_boundary() {
        assert!(matches_any("mail.gmail.com", ["gmail.com"]));
        assert!(matches_any("GMAIL.com.", ["gmail.com"]));
        assert!(!matches_any("notgmail.com", ["gmail.com"]));
        assert!(!matches_any("gmail.com.evil.net", ["gmail.com"]));
    }
}
