//! Strong keys: indicators that one sender controls, taken from the analysis
//! with shared services left out.

use std::net::IpAddr;

use phishloop_model::{Attachment, MessageAnalysis, UrlIndicator, UrlSourceKind};

use crate::config::CampaignConfig;
use crate::{KeyKind, SignatureKey};

/// URL keys longer than this keep a prefix and the BLAKE3 hash of the whole
/// URL, so the stored key stays small enough for a B-tree index entry.
const MAX_URL_KEY_BYTES: usize = 300;
const URL_PREFIX_BYTES: usize = 200;

/// Adds the URL keys of every followed link: the exact effective URL and the
/// registrable domain, with the exclusions explained in the loop.
pub(crate) fn url_keys(analysis: &MessageAnalysis, config: &CampaignConfig, keys: &mut Vec<SignatureKey>) {
    for url in &analysis.urls {
        if !matches!(url.scheme.as_str(), "http" | "https") {
            continue;
        }
        let Some(host) = url.host.as_deref() else {
            continue;
        };
        if !is_followed(url) || config.is_organization(host) {
            continue;
        }
        // A shortener's or free host's domain serves everyone; only the exact
        // link is the sender's own, even where the host belongs to a brand.
        if url.shortener || url.free_hosting {
            keys.extend(exact_url(url).map(|exact| SignatureKey::new(KeyKind::Url, url_key_value(&exact))));
            continue;
        }
        // A link to a real brand's or a shared service's own pages (privacy
        // notices, footers, fonts) does not identify the sender.
        if url.brand.is_some() || config.is_shared(host) {
            continue;
        }

        keys.extend(exact_url(url).map(|exact| SignatureKey::new(KeyKind::Url, url_key_value(&exact))));
        let domain = url.registrable_domain.as_deref().unwrap_or(host);
        keys.push(SignatureKey::new(KeyKind::Domain, domain.to_owned()));
    }
}

/// Returns whether a recipient can follow the URL: a link, a form target, a redirect,
/// a QR code or a URL in the text or an attachment. Images, scripts and
/// other embedded resources do not count, because kits load them from the
/// same image hosts, font services and CDNs.
fn is_followed(url: &UrlIndicator) -> bool {
    url.sources.iter().any(|source| {
        !matches!(source.kind, UrlSourceKind::HtmlSrc | UrlSourceKind::HtmlScript | UrlSourceKind::HtmlAttribute)
    })
}

/// Returns the effective URL without its fragment, or `None` when it has no
/// path or query beyond `/`. A bare host adds nothing to the domain key, and
/// on a shortener or free host it would link every user of that service.
fn exact_url(url: &UrlIndicator) -> Option<String> {
    let without_fragment = url.effective.split('#').next().unwrap_or_default();
    let after_scheme = without_fragment.split_once("://").map_or(without_fragment, |(_, rest)| rest);
    let path_and_query = after_scheme.find(['/', '?']).map_or("", |start| &after_scheme[start..]);
    if path_and_query.is_empty() || path_and_query == "/" {
        return None;
    }
    Some(without_fragment.to_owned())
}

fn url_key_value(url: &str) -> String {
    if url.len() <= MAX_URL_KEY_BYTES {
        return url.to_owned();
    }
    let mut end = URL_PREFIX_BYTES;
    while !url.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}#blake3:{}", &url[..end], blake3::hash(url.as_bytes()).to_hex())
}

/// Adds the SHA-256 of each attachment and of each top-level archive entry,
/// except empty files and inline images, which are mostly copied brand logos.
pub(crate) fn attachment_keys(analysis: &MessageAnalysis, keys: &mut Vec<SignatureKey>) {
    for attachment in &analysis.attachments {
        if attachment.size == 0 || is_inline_image(attachment) {
            continue;
        }
        keys.push(SignatureKey::new(KeyKind::Attachment, attachment.sha256.clone()));

        let entries = attachment.archive.iter().flat_map(|archive| &archive.entries);
        for entry in entries {
            if let Some(sha256) = &entry.sha256
                && entry.size > 0
            {
                keys.push(SignatureKey::new(KeyKind::Attachment, sha256.clone()));
            }
        }
    }
}

fn is_inline_image(attachment: &Attachment) -> bool {
    let declared_image = attachment.declared_type.to_ascii_lowercase().starts_with("image/");
    let detected_image = attachment.detected_type.as_deref().is_some_and(|kind| kind.starts_with("image/"));
    let inline = attachment.content_id.is_some() || attachment.disposition.as_deref() == Some("inline");
    (declared_image || detected_image) && inline
}

/// Adds the sender infrastructure keys: the sending and Return-Path domains,
/// the full address of a free-mail From or Reply-To, and the first external
/// IP address.
pub(crate) fn sender_keys(analysis: &MessageAnalysis, config: &CampaignConfig, keys: &mut Vec<SignatureKey>) {
    let sender = &analysis.sender;
    let from = analysis.headers.from.first();
    let from_domain = sender.from_registrable_domain.as_deref();
    let from_usable = !sender.from_internal && !sender.from_malformed && !sender.multiple_from;

    if let Some(domain) = from_domain
        && from_usable
        && !config.is_organization(domain)
    {
        if sender.from_free_mail || config.is_free_mail(domain) {
            // Anyone can send from a free-mail domain; the address is the sender's own.
            let address = from.and_then(|mailbox| mailbox.address.as_deref());
            if let Some(address) = address {
                keys.push(SignatureKey::new(KeyKind::SenderAddress, address.to_lowercase()));
            }
        } else if !config.is_shared(domain) {
            keys.push(SignatureKey::new(KeyKind::Domain, domain.to_owned()));
        }
    }

    let return_path = analysis.headers.return_path.as_ref().and_then(|mailbox| mailbox.registrable_domain.as_deref());
    if let Some(domain) = return_path
        && usable_domain(domain, config)
    {
        keys.push(SignatureKey::new(KeyKind::Domain, domain.to_owned()));
    }

    if sender.reply_to_differs {
        reply_to_keys(analysis, config, keys);
    }
    if let Some(ip) = sender_ip(analysis, config) {
        keys.push(SignatureKey::new(KeyKind::SenderIp, ip));
    }
}

fn usable_domain(domain: &str, config: &CampaignConfig) -> bool {
    !config.is_organization(domain) && !config.is_shared(domain) && !config.is_free_mail(domain)
}

/// Adds a key per Reply-To mailbox: the address when it is free mail (the
/// usual payment-fraud reply channel), else its registrable domain.
fn reply_to_keys(analysis: &MessageAnalysis, config: &CampaignConfig, keys: &mut Vec<SignatureKey>) {
    for mailbox in &analysis.headers.reply_to {
        let (Some(address), Some(domain)) = (mailbox.address.as_deref(), mailbox.registrable_domain.as_deref()) else {
            continue;
        };
        if config.is_organization(domain) {
            continue;
        }
        if config.is_free_mail(domain) || analysis.sender.reply_to_free_mail {
            keys.push(SignatureKey::new(KeyKind::ReplyToAddress, address.to_lowercase()));
        } else if !config.is_shared(domain) {
            keys.push(SignatureKey::new(KeyKind::Domain, domain.to_owned()));
        }
    }
}

/// Returns the first external hop's IP address when it is a public address
/// of a server that does not relay for everyone. A free-mail From gives none,
/// because the hop is then the provider's relay, and so does a hop whose
/// name is in a shared domain.
fn sender_ip(analysis: &MessageAnalysis, config: &CampaignConfig) -> Option<String> {
    let received = &analysis.received;
    let text = received.first_external_ip.as_deref()?;
    let ip: IpAddr = text.parse().ok()?;
    if !is_public(ip) || analysis.sender.from_free_mail {
        return None;
    }

    let boundary_hop = received.boundary.and_then(|index| received.hops.get(index));
    let names = [
        received.first_external_host.as_deref(),
        boundary_hop.and_then(|hop| hop.from_rdns.as_deref()),
        boundary_hop.and_then(|hop| hop.from_host.as_deref()),
    ];
    if names.into_iter().flatten().any(|name| config.is_shared(name) || config.is_free_mail(name)) {
        return None;
    }
    Some(ip.to_string())
}

/// Returns whether `ip` can be a sending server on the internet. Documentation
/// ranges count as public, so tests can use them.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let shared_address_space = v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64;
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || shared_address_space)
        }
        IpAddr::V6(v6) => {
            let unique_local = (v6.segments()[0] & 0xfe00) == 0xfc00;
            let link_local = (v6.segments()[0] & 0xffc0) == 0xfe80;
            !(v6.is_loopback() || v6.is_unspecified() || v6.is_multicast() || unique_local || link_local)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_addresses() {
        for (text, public) in [
            ("203.0.113.7", true),
            ("198.51.100.20", true),
            ("10.1.2.3", false),
            ("192.168.0.1", false),
            ("100.64.0.1", false),
            ("127.0.0.1", false),
            ("2001:db8::1", true),
            ("fd00::1", false),
            ("fe80::1", false),
        ] {
            let ip: IpAddr = text.parse().expect("address");
            assert_eq!(is_public(ip), public, "{text}");
        }
    }

    #[test]
    fn long_url_keys_are_bounded() {
        let url = format!("https://evil.example/{}", "a".repeat(1000));

        let value = url_key_value(&url);

        assert!(value.len() < MAX_URL_KEY_BYTES, "{}", value.len());
        assert!(value.starts_with("https://evil.example/aaa"), "{value}");
        assert_ne!(url_key_value(&format!("{url}b")), value);
    }
}
