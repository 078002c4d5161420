//! Domains that never count as campaign infrastructure.

use serde::{Deserialize, Serialize};

/// Registrable domains that many unrelated senders and links share: the
/// mail, cloud and CDN platforms of large providers, bulk-mail services
/// (whose bounce domains appear as Return-Path), link-protection services
/// and the sites that every newsletter footer links to.
const DEFAULT_SHARED_DOMAINS: &[&str] = &[
    // Large providers whose own pages and mail relays appear in unrelated mail.
    "microsoft.com",
    "office.com",
    "office365.com",
    "microsoftonline.com",
    "outlook.com",
    "live.com",
    "sharepoint.com",
    "onmicrosoft.com",
    "google.com",
    "gmail.com",
    "googlemail.com",
    "gstatic.com",
    "googleapis.com",
    "googleusercontent.com",
    "apple.com",
    "icloud.com",
    "yahoo.com",
    "amazon.com",
    // Cloud, CDN and hosting platforms.
    "amazonaws.com",
    "cloudfront.net",
    "azureedge.net",
    "windows.net",
    "akamaihd.net",
    "cloudflare.com",
    "fastly.net",
    // Bulk-mail and transactional-mail services.
    "amazonses.com",
    "sendgrid.net",
    "sendgrid.com",
    "mailchimp.com",
    "mcsv.net",
    "mcdlv.net",
    "list-manage.com",
    "mailgun.org",
    "mailgun.net",
    "sparkpostmail.com",
    "mandrillapp.com",
    "exacttarget.com",
    "salesforce.com",
    "constantcontact.com",
    "hubspot.com",
    "hubspotemail.net",
    "sendinblue.com",
    "brevo.com",
    // Link protection whose wrappers the analyser could not unwrap.
    "mimecast.com",
    "proofpoint.com",
    "urldefense.com",
    "safelinks.protection.outlook.com",
    // Footer and markup links.
    "facebook.com",
    "twitter.com",
    "x.com",
    "linkedin.com",
    "instagram.com",
    "youtube.com",
    "w3.org",
    "schema.org",
    "wikipedia.org",
    "wikimedia.org",
    // Reserved for documentation (RFC 2606); in real mail they are template
    // placeholders that phishing kits leave in.
    "example.com",
    "example.org",
    "example.net",
];

/// Free-mail domains checked for the Return-Path and Reply-To, which have
/// no free-mail flag of their own in the analysis. The From address uses
/// the analyser's `from_free_mail` flag.
const DEFAULT_FREE_MAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "yahoo.com",
    "aol.com",
    "icloud.com",
    "me.com",
    "proton.me",
    "protonmail.com",
    "gmx.com",
    "gmx.net",
    "gmx.de",
    "web.de",
    "mail.com",
    "mail.ru",
    "yandex.com",
    "yandex.ru",
    "zoho.com",
    "qq.com",
    "163.com",
];

/// Minimum number of distinct shingles for a sketch to give band keys.
/// Shorter texts ("see attached", "call me back") are near-identical across
/// unrelated messages, so their bands would link them.
const DEFAULT_MIN_SHINGLES: usize = 8;

/// Domain lists that decide which indicators a signature ignores as infrastructure.
///
/// A host matches a listed domain when it is that domain or a subdomain of
/// it. Domains are compared in lowercase ASCII (punycode for IDNs), as the
/// analysis writes them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CampaignConfig {
    /// The organisation's own domains. Spoofed or genuine internal senders
    /// and links to the organisation's sites are in every campaign aimed at
    /// it, so they never link cases.
    pub organization_domains: Vec<String>,
    /// Domains of services that many unrelated senders share.
    pub shared_domains: Vec<String>,
    /// Free-mail domains for the Return-Path and Reply-To checks.
    pub free_mail_domains: Vec<String>,
    /// Minimum number of distinct word shingles before the text sketch gives
    /// band keys.
    pub min_shingles: usize,
}

impl Default for CampaignConfig {
    fn default() -> Self {
        Self {
            organization_domains: Vec::new(),
            shared_domains: DEFAULT_SHARED_DOMAINS.iter().map(|d| (*d).to_owned()).collect(),
            free_mail_domains: DEFAULT_FREE_MAIL_DOMAINS.iter().map(|d| (*d).to_owned()).collect(),
            min_shingles: DEFAULT_MIN_SHINGLES,
        }
    }
}

impl CampaignConfig {
    pub(crate) fn is_organization(&self, host: &str) -> bool {
        host_in(host, &self.organization_domains)
    }

    pub(crate) fn is_shared(&self, host: &str) -> bool {
        host_in(host, &self.shared_domains)
    }

    pub(crate) fn is_free_mail(&self, host: &str) -> bool {
        host_in(host, &self.free_mail_domains)
    }
}

/// Returns whether `host` is one of `domains` or a subdomain of one, ignoring ASCII
/// case and a trailing dot.
fn host_in(host: &str, domains: &[String]) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    domains.iter().any(|domain| {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        host == domain || host.strip_suffix(&domain).is_some_and(|prefix| prefix.ends_with('.'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_in_matches_subdomains_only() {
        let domains = vec!["example.com".to_owned()];

        assert!(host_in("example.com", &domains));
        assert!(host_in("Mail.Example.com.", &domains));
        assert!(!host_in("badexample.com", &domains));
        assert!(!host_in("example.com.evil.net", &domains));
    }
}
