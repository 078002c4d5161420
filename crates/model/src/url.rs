use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One URL found in a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UrlIndicator {
    /// The URL in WHATWG-normalised form, as written (wrapped if wrapped).
    pub url: String,
    /// The text as found, at most 2,048 characters.
    pub raw: String,
    /// The target after removing redirect and rewriting wrappers (Safe
    /// Links, URL Defense, Mimecast, Google redirects). Equal to `url` when
    /// there is no wrapper.
    pub effective: String,
    /// Wrappers removed to reach `effective`, outermost first.
    pub unwrapped: Vec<String>,
    pub scheme: String,
    /// Host of `effective` in lowercase ASCII (IDNs as punycode).
    pub host: Option<String>,
    /// Host of `effective` in Unicode, when it is an IDN.
    pub host_unicode: Option<String>,
    /// Registrable domain of `host` by the public suffix list.
    pub registrable_domain: Option<String>,
    /// The known brand that owns `registrable_domain` (a link to the real
    /// `paypal.com` names PayPal).
    pub brand: Option<String>,
    /// The host is an IP address literal.
    pub host_is_ip: bool,
    /// The URL carries a user name or password before the host.
    pub has_credentials: bool,
    /// The host is a known URL shortener.
    pub shortener: bool,
    /// The registrable domain is a known free hosting, site-builder,
    /// file-sharing or form service on which anyone can publish a page.
    pub free_hosting: bool,
    /// Where the URL was found; one entry per distinct place.
    pub sources: Vec<UrlSource>,
    /// Link texts shown for this URL in HTML anchors.
    pub display_texts: Vec<String>,
    /// Set when a link text shows a different domain than the link's target.
    pub deceptive: Option<DeceptiveLink>,
    /// Words of the link texts that mix letters of several scripts
    /// (`pаypal` with a Cyrillic `а`) or spell a known brand in letters
    /// of another script.
    pub display_text_confusables: Vec<ConfusableWord>,
    /// Lookalike matches of `host` against the organisation's domains and
    /// known brands.
    pub lookalikes: Vec<LookalikeMatch>,
    /// A recipient address of the message written into `effective`, plain,
    /// percent-encoded or base64-encoded. Wrapper parameters do not count.
    pub embedded_recipient: Option<String>,
    /// SHA-256 of the normalised effective URL without its query values and
    /// fragment, lowercase hex; equal for copies that differ only in
    /// tracking values, so it groups URLs into campaigns.
    pub fingerprint: String,
}

/// A place where a URL was found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UrlSource {
    pub kind: UrlSourceKind,
    /// MIME part path or attachment name.
    pub location: Option<String>,
}

/// Kinds of places URLs are found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UrlSourceKind {
    /// Plain text body.
    Text,
    /// `href` of an HTML link or image-map area.
    HtmlHref,
    /// A resource the mail client loads: `src` or `srcset` of an HTML
    /// element, or the `href` of a `<link>` (style sheet, icon, font).
    HtmlSrc,
    /// `action` of an HTML form, or `formaction` of a button.
    HtmlFormAction,
    /// `<meta http-equiv="refresh">` target.
    HtmlMetaRefresh,
    /// A URL written in visible HTML text outside any link.
    HtmlText,
    /// Another HTML attribute (`background`, `data-*`, `poster`, `style`).
    HtmlAttribute,
    /// Script content of an HTML document.
    HtmlScript,
    /// An iCalendar property value.
    Calendar,
    /// Text or HTML inside an attachment.
    Attachment,
    /// A QR code in an image.
    QrCode,
}

/// A link whose shown text names a different domain than its target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeceptiveLink {
    /// The link text as shown, at most 256 characters.
    pub displayed: String,
    /// Registrable domain named by the text.
    pub displayed_domain: String,
    /// Registrable domain of the effective target.
    pub actual_domain: String,
}

/// A domain that looks like one it is not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LookalikeMatch {
    /// The imitated domain (for a brand: its main domain).
    pub target: String,
    /// Brand name, for brand matches.
    pub brand: Option<String>,
    pub kind: LookalikeKind,
    pub technique: LookalikeTechnique,
    /// Edit distance between the compared labels, for `typo` matches.
    pub distance: Option<u32>,
}

/// A word of display text (a From display name, a link text) written with
/// look-alike characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfusableWord {
    /// The word as shown, at most 64 characters.
    pub word: String,
    /// The word as a reader sees it, lowercase: each character outside
    /// ASCII is replaced by the ASCII character it imitates by the Unicode
    /// confusables data (UTS #39), `paypal` for `pаypal` with a Cyrillic
    /// `а`. A character that imitates no single ASCII character stays.
    pub reads_as: String,
    /// Unicode script names of the word's letters, sorted (`Cyrillic`,
    /// `Latin`); characters common to all scripts are left out.
    pub scripts: Vec<String>,
    /// The known brand whose name `reads_as` spells.
    pub brand: Option<String>,
}

/// Whose domain is imitated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LookalikeKind {
    /// One of the organisation's own domains.
    Organization,
    /// A commonly impersonated brand.
    Brand,
}

/// How a domain imitates another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LookalikeTechnique {
    /// Same Unicode confusable skeleton (UTS #39), for example `rn` for
    /// `m`, or Cyrillic `а` for Latin `a`.
    Confusable,
    /// A small edit distance from the imitated label.
    Typo,
    /// The imitated label with another public suffix (`example.co`).
    SuffixSwap,
    /// The brand or domain name combined with other words
    /// (`paypal-secure-login.net`).
    Combosquat,
    /// The imitated domain written as subdomain labels of another domain
    /// (`paypal.com.account-check.net`), or a brand name inside a longer
    /// subdomain label (`paypal-verify.account-check.net`).
    Subdomain,
    /// A brand name or the organisation's name as a whole subdomain label
    /// (`paypal.account-check.net`). Weaker than the others: self-hosted
    /// services use such names too (`gitlab.example.org`).
    SubdomainKeyword,
}

/// A registrable domain seen in the message and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainIndicator {
    pub domain: String,
    pub roles: Vec<DomainRole>,
    /// The domain belongs to the organisation.
    pub internal: bool,
    /// The domain's first label looks machine-generated rather than made
    /// of words: four digits in a row, letters and digits alternating
    /// twice, or five consonants in a row in letters that English letter
    /// trigrams make unlikely (`qzkrtvb`, but not `firstclassdental`).
    pub random_looking: bool,
}

/// Where a domain occurs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DomainRole {
    From,
    ReplyTo,
    ReturnPath,
    Sender,
    /// Effective target of a URL.
    Url,
    /// Address written in the content.
    ContentAddress,
    /// Signing domain of a passing DKIM signature.
    Dkim,
}
