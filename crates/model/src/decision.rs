use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What triage decided about one reported message, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub verdict: Verdict,
    /// The kind of lure.
    pub category: Category,
    /// How sure triage is of the verdict, from 0 to 1.
    pub confidence: f64,
    /// True when a person should decide: the confidence is below the
    /// configured threshold, or the original could not be analysed.
    pub needs_review: bool,
    /// Why review is needed, when it is.
    pub review_reasons: Vec<String>,
    /// Combined risk score from 0 (harmless) to 1 (certainly malicious).
    pub score: f64,
    /// The statistical model's class probabilities, when a model is loaded.
    pub model: Option<ModelOutput>,
    /// The strongest reasons, strongest first.
    pub evidence: Vec<Evidence>,
}

/// The verdict of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A phishing or malware attack: contain it.
    Malicious,
    /// Probably an attack; a person should look.
    Suspicious,
    /// Unwanted bulk mail without an attack.
    Spam,
    /// Legitimate mail.
    Benign,
    /// An authorised phishing simulation.
    Simulation,
}

/// The kind of lure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// A fake sign-in page or a request for passwords.
    CredentialHarvesting,
    /// An attachment or download that runs code.
    MalwareDelivery,
    /// Payment fraud and business email compromise: invoices, changed bank
    /// details, urgent transfers, gift cards.
    PaymentFraud,
    /// A request to call a number (fake subscriptions, refunds, support).
    CallbackScam,
    /// Threats of exposure unless a ransom is paid.
    Extortion,
    /// Advance-fee, prize, inheritance and investment scams.
    AdvanceFee,
    /// A request to grant an application access to an account.
    OauthConsent,
    /// Lures for developer or service credentials: fake developer portals,
    /// requests for API keys or tokens, exposed secrets.
    DeveloperCredential,
    /// A lure delivered as a QR code.
    QrPhishing,
    /// A forged sender without another lure.
    Spoofing,
    /// Marketing or other bulk mail (graymail).
    Marketing,
    /// No lure.
    None,
}

/// One reason behind a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// `rule` or `model`.
    pub source: EvidenceSource,
    /// Rule id, or the model feature.
    pub id: String,
    /// What the rule or feature says, in words.
    pub description: String,
    /// The lure category the reason points to.
    pub category: Category,
    /// Contribution to the score, from 0 to 1.
    pub weight: f64,
    /// The parts of the message the reason points to: URLs, header values,
    /// attachment names.
    pub locations: Vec<String>,
}

/// Where a piece of evidence comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceSource {
    Rule,
    Model,
}

/// Class probabilities of the statistical model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelOutput {
    pub phish: f64,
    pub spam: f64,
    pub ham: f64,
    /// Name of the model, as stored in the model file.
    pub name: String,
}
