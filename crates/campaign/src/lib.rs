//! Campaign signatures: the keys under which cases of one attack meet.
//!
//! A campaign is a group of cases sent by the same attacker even when each
//! recipient got a different message. [`signature`] turns the analysis of a
//! message into keys of two strengths:
//!
//! - **Strong keys** name infrastructure that one sender controls: an exact
//!   effective URL, the registrable domain of a link, sender, Return-Path or
//!   Reply-To, the address of a free-mail sender or Reply-To, an attachment's
//!   SHA-256 and the first external IP address. Shared services never give
//!   a strong key (see [`CampaignConfig`]), so two unrelated attacks that both
//!   use a free-mail provider, a URL shortener or a free host do not meet.
//! - **Text band keys** come from a MinHash sketch of the word shingles of the
//!   subject and the body excerpt, cut into LSH bands (see [`minhash`]). They
//!   find per-recipient variants of one text (another greeting, name or
//!   tracking id) by exact key lookup.
//!
//! The functions are pure and deterministic: the same analysis gives the same
//! keys on every machine and in every release that keeps [`SIGNATURE_VERSION`].
//! The store groups cases by these keys.

mod config;
mod grouping;
mod keys;
pub mod minhash;

use phishloop_model::MessageAnalysis;
use serde::{Deserialize, Serialize};

pub use config::CampaignConfig;
pub use grouping::{CampaignGrouping, Grouped};
pub use minhash::MinHashSketch;

/// Version of the key derivation. A release that changes which keys a
/// message gives, or their text, raises it, because stored keys would then
/// no longer meet new ones.
pub const SIGNATURE_VERSION: u32 = 1;

/// The kind of a signature key, stored beside its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// An exact effective URL without its fragment.
    Url,
    /// A registrable domain that appears as a link target, From, Return-Path
    /// or Reply-To domain. One kind for every role, because a domain the
    /// attacker owns links cases whichever header or link it appears in.
    Domain,
    /// The SHA-256 of an attachment or of a file inside an attached archive.
    Attachment,
    /// The From address of a free-mail sender, in lowercase.
    SenderAddress,
    /// A free-mail Reply-To address that differs from the From, in lowercase.
    ReplyToAddress,
    /// The IP address of the first hop outside the organisation.
    SenderIp,
    /// An LSH band of the text's MinHash sketch.
    TextBand,
}

impl KeyKind {
    /// Returns the name stored in the database and used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Url => "url",
            Self::Domain => "domain",
            Self::Attachment => "attachment",
            Self::SenderAddress => "sender_address",
            Self::ReplyToAddress => "reply_to_address",
            Self::SenderIp => "sender_ip",
            Self::TextBand => "text_band",
        }
    }

    /// Parses a name written by [`KeyKind::as_str`].
    pub fn from_name(name: &str) -> Option<Self> {
        ALL_KINDS.iter().copied().find(|kind| kind.as_str() == name)
    }

    /// Returns how far a shared key of this kind links cases.
    pub fn strength(self) -> KeyStrength {
        match self {
            Self::Url | Self::Attachment | Self::SenderAddress | Self::ReplyToAddress => KeyStrength::Artefact,
            Self::Domain | Self::SenderIp => KeyStrength::Infrastructure,
            Self::TextBand => KeyStrength::Text,
        }
    }

    /// Returns whether the key names something the sender controls (an artefact or
    /// infrastructure), as opposed to a text band.
    pub fn is_strong(self) -> bool {
        self.strength() != KeyStrength::Text
    }
}

/// How far a shared key links cases, strongest first.
///
/// Grouping, in the store and in [`CampaignGrouping`], uses the strongest
/// tier that matches. Artefact keys merge every campaign they reach. Without
/// them, infrastructure keys join the campaign with the most matches, and
/// without those, text bands do. Only artefact keys merge, because single-linkage
/// merging over domains and IP addresses chains unrelated campaigns through
/// shared hosting and compromised sites: on 5,523 messages of a public
/// phishing corpus, merging on domains and IP addresses gave one group of
/// over 3,000 messages (docs/campaigns.md has the figures).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStrength {
    /// An exact URL, file hash or free-mail address: one sender's own.
    Artefact,
    /// A domain or IP address: the sender's, or shared with others.
    Infrastructure,
    /// A MinHash band of the text: likely, not certain, near-duplicate text.
    Text,
}

const ALL_KINDS: [KeyKind; 7] = [
    KeyKind::Url,
    KeyKind::Domain,
    KeyKind::Attachment,
    KeyKind::SenderAddress,
    KeyKind::ReplyToAddress,
    KeyKind::SenderIp,
    KeyKind::TextBand,
];

impl std::fmt::Display for KeyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One key of a signature.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SignatureKey {
    pub kind: KeyKind,
    pub value: String,
}

impl SignatureKey {
    pub fn new(kind: KeyKind, value: impl Into<String>) -> Self {
        Self { kind, value: value.into() }
    }
}

/// The campaign signature of one message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CampaignSignature {
    /// Distinct keys, sorted by kind and value; text bands come last.
    pub keys: Vec<SignatureKey>,
    /// The text sketch, `None` when the subject and excerpt have no word.
    pub sketch: Option<MinHashSketch>,
}

impl CampaignSignature {
    /// Returns the strong keys (every kind but text bands).
    pub fn strong_keys(&self) -> impl Iterator<Item = &SignatureKey> {
        self.keys.iter().filter(|key| key.kind.is_strong())
    }
}

/// Computes the campaign signature of an analysed message.
pub fn signature(analysis: &MessageAnalysis, config: &CampaignConfig) -> CampaignSignature {
    let mut keys = Vec::new();
    keys::url_keys(analysis, config, &mut keys);
    keys::attachment_keys(analysis, &mut keys);
    keys::sender_keys(analysis, config, &mut keys);

    let sketch = MinHashSketch::of_text(&visible_text(analysis));
    if let Some(sketch) = &sketch
        && sketch.shingle_count >= config.min_shingles
    {
        keys.extend(sketch.band_keys().into_iter().map(|band| SignatureKey::new(KeyKind::TextBand, band)));
    }

    keys.sort();
    keys.dedup();
    CampaignSignature { keys, sketch }
}

/// The subject and the body excerpt, the text a recipient reads first.
fn visible_text(analysis: &MessageAnalysis) -> String {
    let subject = analysis.headers.subject.as_deref().unwrap_or_default();
    format!("{subject}\n{}", analysis.body.excerpt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_round_trip() {
        for kind in ALL_KINDS {
            assert_eq!(KeyKind::from_name(kind.as_str()), Some(kind));
        }
        assert_eq!(KeyKind::from_name("unknown"), None);
    }

    #[test]
    fn only_artefacts_merge() {
        assert_eq!(KeyKind::Url.strength(), KeyStrength::Artefact);
        assert_eq!(KeyKind::Domain.strength(), KeyStrength::Infrastructure);
        assert_eq!(KeyKind::SenderIp.strength(), KeyStrength::Infrastructure);
        assert_eq!(KeyKind::TextBand.strength(), KeyStrength::Text);
        assert!(!KeyKind::TextBand.is_strong());
    }

    #[test]
    fn text_bands_sort_last() {
        let mut keys = [SignatureKey::new(KeyKind::TextBand, "b00-0"), SignatureKey::new(KeyKind::Url, "https://x/")];
        keys.sort();

        assert_eq!(keys[0].kind, KeyKind::Url);
    }
}
