//! Analysis settings: what the organisation looks like and the bounds that
//! keep hostile input cheap.

use std::net::IpAddr;
use std::str::FromStr;

use serde::Deserialize;

/// Analysis settings. Read from the `[analysis]` table of the configuration
/// file; every key is optional and unknown keys are errors.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub organization: Organization,
    pub trust: Trust,
    pub limits: Limits,
    /// Brands to add to the built-in list of commonly impersonated brands.
    pub brands: Vec<BrandConfig>,
}

/// The organisation whose mail is analysed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Organization {
    /// The organisation's own mail domains (`corp-example.com`). Used for
    /// internal-sender checks, lookalike detection and report recognition.
    pub domains: Vec<String>,
    /// Addresses of the reporting mailboxes that users forward reports to.
    pub reporting_addresses: Vec<String>,
    /// Display names of executives and staff that attackers impersonate
    /// (`Jane Doe`); a message from outside the organisation that uses one
    /// is flagged.
    pub people: Vec<String>,
}

/// Where the organisation's mail boundary is, for trusting
/// Authentication-Results.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Trust {
    /// authserv-ids of the organisation's border MTAs
    /// (`mx.corp-example.com`). Authentication-Results from other ids are
    /// untrusted. A leading `*.` matches any subdomain. When empty, a
    /// header's position above the boundary alone decides.
    pub authserv_ids: Vec<String>,
    /// Trust Office 365 headers, which carry no authserv-id, when they sit
    /// above the boundary. Set this for Microsoft 365 tenants.
    pub microsoft_365: bool,
    /// Host names of the organisation's and its mail provider's relays
    /// (`*.corp-example.com`, `*.protection.outlook.com`). Together with
    /// `internal_networks`, they define the boundary: the first Received hop
    /// from a host outside them. When both are empty, a heuristic is used.
    pub internal_hosts: Vec<String>,
    /// Internal networks in CIDR form (`10.0.0.0/8`, `2001:db8::/32`).
    pub internal_networks: Vec<String>,
}

/// Bounds for hostile input. Every limit that is hit is recorded as a
/// defect; none stops the analysis of the rest of the message.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Maximum message size in bytes; the rest of a larger message is not
    /// read.
    pub max_message_bytes: usize,
    /// Maximum MIME nesting depth analysed.
    pub max_mime_depth: usize,
    /// Maximum number of MIME parts analysed.
    pub max_mime_parts: usize,
    /// Maximum depth of attached messages analysed (a message in a message
    /// is depth 1).
    pub max_nested_messages: usize,
    /// Maximum number of distinct URLs kept per message.
    pub max_urls: usize,
    /// Maximum bytes of one text or HTML part scanned for indicators.
    pub max_scan_bytes: usize,
    /// Maximum archive entries listed.
    pub max_archive_entries: usize,
    /// Maximum bytes decompressed from one archive to inspect entries.
    pub max_archive_bytes: u64,
    /// Maximum archive nesting inspected (an archive in an archive is 2).
    pub max_archive_depth: usize,
    /// Maximum ratio of uncompressed to compressed size before an entry is
    /// treated as a decompression bomb and not decompressed.
    pub max_compression_ratio: u64,
    /// Maximum encoded image size in bytes searched for QR codes.
    pub max_image_bytes: usize,
    /// Maximum image size in pixels (width times height) decoded.
    pub max_image_pixels: u64,
    /// Maximum number of images searched for QR codes per message.
    pub max_qr_images: usize,
    /// Time budget per message in milliseconds; work left when it runs out
    /// is skipped and recorded.
    pub time_limit_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 50 * 1024 * 1024,
            max_mime_depth: 20,
            max_mime_parts: 1_000,
            max_nested_messages: 3,
            max_urls: 1_000,
            max_scan_bytes: 4 * 1024 * 1024,
            max_archive_entries: 2_000,
            max_archive_bytes: 64 * 1024 * 1024,
            max_archive_depth: 2,
            max_compression_ratio: 200,
            max_image_bytes: 8 * 1024 * 1024,
            max_image_pixels: 16_000_000,
            max_qr_images: 16,
            time_limit_ms: 10_000,
        }
    }
}

/// A brand to check lookalikes against.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrandConfig {
    /// Name shown in findings (`Contoso Bank`).
    pub name: String,
    /// The brand's legitimate registrable domains; the first is its main
    /// domain.
    pub domains: Vec<String>,
    /// Distinctive words that name the brand in domains and display names
    /// (`contoso`). Defaults to the first label of the main domain.
    #[serde(default)]
    pub keywords: Vec<String>,
}

/// An IP network in CIDR form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(network) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(network) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Network {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address.trim().parse().map_err(|_| {
            format!("invalid network {text:?}: expected an IP address with an optional /prefix, such as 10.0.0.0/8")
        })?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= max)
                .ok_or_else(|| format!("invalid prefix length in {text:?}: expected 0 to {max}"))?,
            None => max,
        };
        Ok(Network { address, prefix })
    }
}

/// Matches a host name against patterns: an exact name or `*.domain` for
/// any subdomain of `domain` (and `domain` itself).
pub(crate) fn host_matches(host: &str, patterns: &[String]) -> bool {
    patterns.iter().any(|pattern| {
        let pattern = pattern.trim().to_ascii_lowercase();
        match pattern.strip_prefix("*.") {
            Some(domain) => host == domain || host.ends_with(&format!(".{domain}")),
            None => host == pattern,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_contains_addresses() {
        let network: Network = "10.0.0.0/8".parse().expect("valid");
        assert!(network.contains("10.20.30.40".parse().expect("ip")));
        assert!(!network.contains("11.0.0.1".parse().expect("ip")));
        let v6: Network = "2001:db8::/32".parse().expect("valid");
        assert!(v6.contains("2001:db8::1".parse().expect("ip")));
        assert!(!v6.contains("10.0.0.1".parse().expect("ip")));
    }

    #[test]
    fn network_rejects_bad_prefix() {
        let error = "10.0.0.0/33".parse::<Network>().expect_err("invalid");
        assert!(error.contains("0 to 32"), "{error}");
        assert!("not-an-ip/8".parse::<Network>().is_err());
    }

    #[test]
    fn host_patterns() {
        let patterns = vec!["*.corp-example.com".to_string(), "mx.example.net".to_string()];
        assert!(host_matches("a.b.corp-example.com", &patterns));
        assert!(host_matches("corp-example.com", &patterns));
        assert!(!host_matches("evilcorp-example.com", &patterns));
        assert!(host_matches("mx.example.net", &patterns));
    }
}
