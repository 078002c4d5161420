//! Domain lists: free mail providers, free hosting, URL shorteners and the
//! mail infrastructure of large providers.
//!
//! Entries are registrable domains or, where the provider hands out
//! subdomains, the domain under which every customer's host sits; a host
//! matches an entry when it is the entry or a subdomain of it.

use std::collections::HashSet;
use std::sync::LazyLock;

/// Free webmail providers: anyone can send from these domains.
const FREE_MAIL: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "hotmail.co.uk",
    "hotmail.fr",
    "hotmail.de",
    "hotmail.it",
    "hotmail.es",
    "live.com",
    "live.co.uk",
    "live.fr",
    "msn.com",
    "outlook.fr",
    "outlook.de",
    "yahoo.com",
    "yahoo.co.uk",
    "yahoo.fr",
    "yahoo.de",
    "yahoo.co.jp",
    "yahoo.com.br",
    "ymail.com",
    "rocketmail.com",
    "aol.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "proton.me",
    "protonmail.com",
    "pm.me",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "gmx.at",
    "web.de",
    "mail.com",
    "email.com",
    "yandex.ru",
    "yandex.com",
    "mail.ru",
    "bk.ru",
    "inbox.ru",
    "list.ru",
    "zoho.com",
    "zohomail.com",
    "tutanota.com",
    "tuta.io",
    "qq.com",
    "163.com",
    "126.com",
    "sina.com",
    "naver.com",
    "daum.net",
    "libero.it",
    "virgilio.it",
    "orange.fr",
    "free.fr",
    "laposte.net",
    "sfr.fr",
    "t-online.de",
    "seznam.cz",
    "wp.pl",
    "o2.pl",
    "interia.pl",
    "onet.pl",
    "rediffmail.com",
    "att.net",
    "comcast.net",
    "verizon.net",
    "sbcglobal.net",
    "bellsouth.net",
    "cox.net",
    "earthlink.net",
    "juno.com",
    "fastmail.com",
    "hushmail.com",
    "inbox.com",
    "mail.ee",
    "abv.bg",
    "rambler.ru",
    "ukr.net",
    "bol.com.br",
    "uol.com.br",
    "terra.com.br",
    "btinternet.com",
];

/// Hosting, site-builder, file-sharing and form services on which anyone
/// can publish a page under the provider's domain.
const FREE_HOSTING: &[&str] = &[
    "000webhostapp.com",
    "weebly.com",
    "weeblysite.com",
    "wixsite.com",
    "wix.com",
    "blogspot.com",
    "wordpress.com",
    "sites.google.com",
    "docs.google.com",
    "forms.gle",
    "drive.google.com",
    "storage.googleapis.com",
    "firebasestorage.googleapis.com",
    "web.app",
    "firebaseapp.com",
    "appspot.com",
    "pages.dev",
    "workers.dev",
    "netlify.app",
    "vercel.app",
    "herokuapp.com",
    "glitch.me",
    "repl.co",
    "replit.app",
    "replit.dev",
    "github.io",
    "gitlab.io",
    "azurewebsites.net",
    "blob.core.windows.net",
    "web.core.windows.net",
    "s3.amazonaws.com",
    "r2.dev",
    "ipfs.io",
    "dweb.link",
    "cloudflare-ipfs.com",
    "surge.sh",
    "square.site",
    "webflow.io",
    "carrd.co",
    "godaddysites.com",
    "mystrikingly.com",
    "jimdosite.com",
    "yolasite.com",
    "site123.me",
    "framer.app",
    "framer.website",
    "notion.site",
    "typeform.com",
    "jotform.com",
    "formstack.com",
    "forms.office.com",
    "dropbox.com",
    "dropboxusercontent.com",
    "wetransfer.com",
    "we.tl",
    "mediafire.com",
    "4shared.com",
    "sendspace.com",
    "1drv.ms",
    "onedrive.live.com",
    "canva.site",
    "my.canva.site",
    "linktr.ee",
    "ngrok.io",
    "ngrok-free.app",
    "ngrok.app",
    "trycloudflare.com",
    "duckdns.org",
    "ddns.net",
    "no-ip.org",
    "telegra.ph",
    "glide.page",
    "bubbleapps.io",
    "webnode.page",
    "ukit.me",
    "tilda.ws",
    "wixstudio.com",
    "editorx.io",
    "mailchi.mp",
    "sharepoint.com",
    "translate.goog",
    "amplifyapp.com",
    "onrender.com",
    "fly.dev",
    "deno.dev",
    "pythonanywhere.com",
    "freewebhostmost.com",
    "infinityfreeapp.com",
    "rf.gd",
    "epizy.com",
];

/// URL shorteners and QR-code redirect services.
const SHORTENERS: &[&str] = &[
    "bit.ly",
    "bitly.com",
    "t.co",
    "tinyurl.com",
    "goo.gl",
    "ow.ly",
    "is.gd",
    "buff.ly",
    "rebrand.ly",
    "cutt.ly",
    "shorturl.at",
    "rb.gy",
    "t.ly",
    "s.id",
    "tiny.cc",
    "bl.ink",
    "soo.gd",
    "lnkd.in",
    "qrco.de",
    "v.gd",
    "x.co",
    "surl.li",
    "urlz.fr",
    "clck.ru",
    "shorturl.gg",
    "tr.ee",
    "me-qr.com",
    "qr-codes.io",
    "t.me",
    "u.to",
    "2no.co",
    "bit.do",
    "short.io",
    "shrtco.de",
    "kutt.it",
    "tiny.one",
    "lnk.bio",
    "qrfy.io",
    "qrcodechimp.com",
    "l.ead.me",
];

/// Registrable domains of established services whose names sit one edit
/// away from a brand's domain (pCloud and iCloud): never reported as
/// lookalikes.
const DISTINCT_SERVICES: &[&str] = &["pcloud.com", "pcloud.link"];

/// Groups of registrable domains that run one provider's mail
/// infrastructure, so that a Received hop between two of them is internal to
/// that provider.
const PROVIDER_FAMILIES: &[&[&str]] = &[
    &[
        "outlook.com",
        "office365.com",
        "microsoft.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "outlook.cn",
        "office365.us",
    ],
    &["google.com", "gmail.com", "googlemail.com"],
    &["yahoo.com", "yahoodns.net", "yahoo.net", "aol.com", "aol.net", "yahoo.co.jp"],
    &["icloud.com", "apple.com", "me.com"],
    &["protonmail.ch", "proton.me", "protonmail.com"],
    &["zoho.com", "zohomail.com", "zoho.eu"],
    &["mimecast.com", "mimecast-offshore.com"],
    &["pphosted.com", "proofpoint.com", "ppe-hosted.com"],
    &["messagelabs.com", "symantec.com"],
    &["barracudanetworks.com", "cudasvc.com", "barracuda.com"],
    &["iphmx.com", "cisco.com"],
    &["fastmail.com", "messagingengine.com"],
    &["gmx.net", "gmx.com", "web.de", "kundenserver.de", "ionos.com"],
    &["yandex.net", "yandex.ru"],
    &["mail.ru", "corp.mail.ru"],
];

/// True when `host` or one of its parent domains is in `set`: one hash
/// look-up per label instead of a comparison per entry.
fn matches(host: &str, set: &HashSet<&'static str>) -> bool {
    let mut rest = host;
    loop {
        if set.contains(rest) {
            return true;
        }
        match rest.split_once('.') {
            Some((_, parent)) => rest = parent,
            None => return false,
        }
    }
}

static FREE_HOSTING_SET: LazyLock<HashSet<&'static str>> = LazyLock::new(|| FREE_HOSTING.iter().copied().collect());
static SHORTENER_SET: LazyLock<HashSet<&'static str>> = LazyLock::new(|| SHORTENERS.iter().copied().collect());

pub(crate) fn is_distinct_service(registrable_domain: &str) -> bool {
    DISTINCT_SERVICES.contains(&registrable_domain)
}

pub(crate) fn is_free_mail(domain: &str) -> bool {
    FREE_MAIL.contains(&domain)
}

pub(crate) fn is_free_hosting(host: &str) -> bool {
    matches(host, &FREE_HOSTING_SET)
}

pub(crate) fn is_shortener(host: &str) -> bool {
    matches(host, &SHORTENER_SET)
}

/// True when two registrable domains belong to the same provider.
pub(crate) fn same_provider(left: &str, right: &str) -> bool {
    left == right || PROVIDER_FAMILIES.iter().any(|family| family.contains(&left) && family.contains(&right))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomains_match_entries() {
        assert!(is_free_hosting("evil.web.app"));
        assert!(is_free_hosting("web.app"));
        assert!(!is_free_hosting("myweb.app"));
        assert!(is_shortener("bit.ly"));
        assert!(!is_shortener("orbit.ly"));
    }

    #[test]
    fn provider_families() {
        assert!(same_provider("outlook.com", "office365.com"));
        assert!(!same_provider("outlook.com", "locaweb.com.br"));
    }
}
