use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The Received chain, newest hop first, and where mail entered the
/// organisation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceivedChain {
    /// Hops in header order: index 0 is the topmost Received header, added
    /// last.
    pub hops: Vec<ReceivedHop>,
    /// Index in `hops` of the first external hop: the hop at which the
    /// organisation's boundary received the message from outside.
    pub boundary: Option<usize>,
    /// How `boundary` was determined.
    pub boundary_source: BoundarySource,
    /// Connecting IP address of the first external hop.
    pub first_external_ip: Option<String>,
    /// Host name the first external hop's sender gave (HELO or reverse DNS).
    pub first_external_host: Option<String>,
}

/// How the organisation boundary in the Received chain was found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BoundarySource {
    /// From the configured internal hosts and networks.
    Configured,
    /// By a heuristic: the topmost hop from a public IP address outside the
    /// receiving provider's own infrastructure.
    Heuristic,
    /// No boundary found (no Received headers, or none from outside).
    #[default]
    None,
}

/// One Received header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceivedHop {
    /// Zero-based position of the Received header among all header fields.
    pub position: usize,
    /// Host name the sending side gave (HELO/EHLO), lowercase.
    pub from_host: Option<String>,
    /// Connecting IP address the receiving side recorded.
    pub from_ip: Option<String>,
    /// Reverse DNS name the receiving side recorded for `from_ip`.
    pub from_rdns: Option<String>,
    /// Receiving host, lowercase.
    pub by_host: Option<String>,
    /// Protocol (`ESMTPS`, `HTTP`, ...).
    pub with: Option<String>,
    /// Envelope recipient, when recorded.
    pub for_address: Option<String>,
    /// Timestamp of the hop in RFC 3339 form.
    pub date: Option<String>,
    /// The header value, unfolded, at most 1,024 characters.
    pub raw: String,
    /// True when the hop happened inside the organisation or its mail
    /// provider, above the boundary.
    pub internal: bool,
}

/// Authentication results of a message, split by trust.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Authentication {
    /// Every Authentication-Results, ARC-Authentication-Results and
    /// Received-SPF header, topmost first.
    pub headers: Vec<AuthResultsHeader>,
    /// Results from trusted headers only; all fields `None` when no header
    /// is trusted.
    pub trusted: AuthSummary,
    /// Results from untrusted headers, for information: an attacker can write
    /// these.
    pub untrusted: AuthSummary,
    /// Number of ARC-Seal headers (the length of the ARC chain).
    pub arc_chain_length: usize,
    /// The `cv=` value of the highest ARC-Seal instance, if any.
    pub arc_chain_validation: Option<String>,
}

/// One parsed Authentication-Results header (or Received-SPF, expressed as
/// an `spf` result).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthResultsHeader {
    /// Header name as written.
    pub header: String,
    /// The authserv-id: the host that added the header. Office 365 writes no
    /// authserv-id; then this is `None`.
    pub authserv_id: Option<String>,
    /// True when the header was added at or above the organisation's
    /// boundary by a trusted authserv-id.
    pub trusted: bool,
    /// Why the header is or is not trusted.
    pub trust_reason: TrustReason,
    /// Zero-based position among all header fields of the message.
    pub position: usize,
    pub results: Vec<AuthMethodResult>,
}

/// Why an authentication header is trusted or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TrustReason {
    /// Above the boundary and the authserv-id is configured as trusted.
    TrustedAuthservId,
    /// Above the boundary, and no trusted authserv-ids are configured, so
    /// the position alone decides.
    AboveBoundary,
    /// Below the boundary: written before the message entered the
    /// organisation, so the sender could have forged it.
    BelowBoundary,
    /// Above the boundary, but the authserv-id is not one of the configured
    /// trusted ones.
    UntrustedAuthservId,
    /// No boundary could be found in the Received chain.
    NoBoundary,
    /// ARC-Authentication-Results of an earlier hop; informational.
    ArcInstance,
}

/// One method result (`spf=pass smtp.mailfrom=example.net`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthMethodResult {
    /// Method name in lowercase: spf, dkim, dmarc, arc, compauth, iprev, ...
    pub method: String,
    /// Result in lowercase: pass, fail, softfail, none, neutral, temperror,
    /// permerror, bestguesspass, ...
    pub result: String,
    /// The `reason=` value or the comment after the result, if any.
    pub reason: Option<String>,
    /// Properties such as `smtp.mailfrom` or `header.d`, keyed as
    /// `ptype.property`.
    pub properties: BTreeMap<String, String>,
}

/// The results of each method from a set of headers, the topmost header
/// first. `None` means no such result was found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthSummary {
    pub spf: Option<String>,
    /// Domain SPF checked (`smtp.mailfrom`, or `smtp.helo`).
    pub spf_domain: Option<String>,
    /// Best DKIM result: `pass` if any signature passed.
    pub dkim: Option<String>,
    /// Signing domains (`header.d`) of passing DKIM signatures.
    pub dkim_pass_domains: Vec<String>,
    pub dmarc: Option<String>,
    /// Domain DMARC evaluated (`header.from`).
    pub dmarc_domain: Option<String>,
    pub arc: Option<String>,
    /// Microsoft 365 composite authentication result.
    pub compauth: Option<String>,
    /// Microsoft 365 composite authentication reason code.
    pub compauth_reason: Option<String>,
}
