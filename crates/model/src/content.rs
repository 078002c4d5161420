use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the readable body of a message contains.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BodySummary {
    /// A text/plain body part is present.
    pub has_text: bool,
    /// A text/html body part is present.
    pub has_html: bool,
    /// Characters of visible text (plain text, or the text of the HTML when
    /// there is no plain part).
    pub text_length: usize,
    /// The first 2,000 characters of visible text, whitespace collapsed and
    /// secrets redacted.
    pub excerpt: String,
    /// Features of the HTML body, if any.
    pub html: Option<HtmlSummary>,
}

/// Features of an HTML body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HtmlSummary {
    /// Content of the `<title>` element.
    pub title: Option<String>,
    pub forms: usize,
    /// `<input type="password">` elements.
    pub password_inputs: usize,
    pub scripts: usize,
    pub iframes: usize,
    /// Links (`<a href>`).
    pub links: usize,
    /// Images loaded from a remote URL.
    pub remote_images: usize,
    /// Images referring to a MIME part by `cid:`.
    pub cid_images: usize,
    /// `data:` URIs anywhere in the HTML.
    pub data_uris: usize,
    /// A `<meta http-equiv="refresh">` element is present.
    pub meta_refresh: bool,
    /// Inline CSS declarations that hide an element (`display:none`,
    /// `visibility:hidden`, a zero font size, opacity or maximum height),
    /// counted in the source. Phishing uses them to hide text from readers
    /// while filters still see it.
    pub hidden_elements: usize,
    /// The `<base href>` value, which changes how relative links resolve.
    pub base_href: Option<String>,
    /// HTML smuggling markers found in script: code that builds a file from
    /// data and hands it to the browser as a download.
    pub smuggling_markers: Vec<String>,
}

/// A social-engineering cue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cue {
    pub kind: CueKind,
    /// The phrase that matched, as written, at most 120 characters.
    pub matched: String,
    /// `subject`, `body` or an attachment name.
    pub location: String,
}

/// Kinds of social-engineering cues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CueKind {
    /// Pressure of time or consequence ("within 24 hours", "final notice").
    Urgency,
    /// A request to sign in, verify or confirm an account or password.
    CredentialRequest,
    /// A threat to suspend, lock or close an account or mailbox.
    AccountThreat,
    /// A request to pay, wire money or settle an invoice.
    PaymentRequest,
    /// A request to change bank or payment details.
    PaymentChange,
    /// A request to buy gift cards or send their codes.
    GiftCard,
    /// A request to call a telephone number (callback phishing).
    CallbackRequest,
    /// Extortion: claims of recordings or hacked devices with a ransom.
    Extortion,
    /// Prize, lottery, inheritance or investment promises.
    Prize,
    /// A cryptocurrency wallet address or payment request.
    Cryptocurrency,
    /// A shared document or file waiting to be opened (Docusign,
    /// SharePoint, voicemail, fax).
    DocumentShare,
    /// Delivery and parcel problems.
    Delivery,
    /// A request for API keys, tokens, SSH keys or other developer or
    /// service credentials.
    DeveloperCredential,
    /// A request to grant an application access (OAuth consent).
    OauthConsent,
    /// A request for secrecy or to avoid the usual channels.
    Secrecy,
}

/// A telephone number written in the content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneNumber {
    /// The number as written.
    pub raw: String,
    /// Digits only, with a leading `+` when written with one.
    pub normalized: String,
    /// Toll-free in the North American numbering plan (800, 888, 877, 866,
    /// 855, 844, 833), common in callback phishing.
    pub toll_free: bool,
    /// `subject`, `body` or an attachment name.
    pub location: String,
}

/// A secret (key, token, password) written in the content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    pub kind: SecretKind,
    /// The secret with all but a few characters at each end replaced by
    /// `*`; never the full value.
    pub redacted: String,
    /// SHA-256 of the full secret, lowercase hex, so that a later revocation
    /// can be matched without storing the secret.
    pub sha256: String,
    /// `subject`, `body` or an attachment name.
    pub location: String,
}

/// Kinds of secrets recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecretKind {
    AwsAccessKeyId,
    AwsSecretAccessKey,
    GithubToken,
    GitlabToken,
    SlackToken,
    SlackWebhook,
    GoogleApiKey,
    StripeKey,
    OpenaiKey,
    AnthropicKey,
    SendgridKey,
    TwilioKey,
    NpmToken,
    AzureStorageKey,
    PrivateKey,
    JsonWebToken,
    /// A password written next to a word such as `password:`.
    Password,
}
