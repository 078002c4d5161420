//! Social-engineering cues: phrases that pressure, request credentials or
//! money, or threaten.
//!
//! One Aho-Corasick automaton over all phrases scans a text once, whatever
//! the number of phrases. Phrases match case-insensitively at word
//! boundaries. The lists are English with the most common French, German
//! and Spanish variants; they are evidence for triage, not verdicts.

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use phishloop_model::{Cue, CueKind};

use crate::headers::truncate;

/// Cues kept per kind and location.
const MAX_PER_KIND: usize = 3;

const PHRASES: &[(CueKind, &[&str])] = &[
    (
        CueKind::Urgency,
        &[
            "urgent",
            "urgently",
            "immediately",
            "immediate action",
            "action required",
            "action needed",
            "within 24 hours",
            "within 48 hours",
            "within 12 hours",
            "within 2 hours",
            "final notice",
            "final reminder",
            "last warning",
            "last chance",
            "expires today",
            "expire today",
            "expiring today",
            "as soon as possible",
            "asap",
            "time sensitive",
            "time-sensitive",
            "respond now",
            "act now",
            "before it is too late",
            "avoid interruption",
            "will be deleted",
            "will be terminated",
            "will be permanently",
            "dernier rappel",
            "dernière relance",
            "urgente",
            "dringend",
            "sofort",
            "inmediatamente",
            "de inmediato",
        ],
    ),
    (
        CueKind::CredentialRequest,
        &[
            "verify your account",
            "verify your identity",
            "verify your email",
            "confirm your account",
            "confirm your identity",
            "confirm your password",
            "update your password",
            "password expires",
            "password will expire",
            "password has expired",
            "reset your password",
            "validate your account",
            "validate your mailbox",
            "re-validate",
            "revalidate",
            "sign in to",
            "log in to",
            "login to",
            "login details",
            "login credentials",
            "your credentials",
            "keep your password",
            "keep same password",
            "unusual sign-in",
            "unusual sign in",
            "unusual login",
            "suspicious sign-in",
            "suspicious login",
            "security alert",
            "re-authenticate",
            "reauthenticate",
            "mailbox quota",
            "mailbox is full",
            "storage is full",
            "pending messages",
            "undelivered messages",
            "incoming messages were held",
            "unusual activity",
            "unusual signin",
            "confirm your details",
            "confirm your information",
            "update your information",
            "confirm your billing",
            "update your billing",
            "update your payment",
            "vérifier votre compte",
            "confirmer votre identité",
            "konto bestätigen",
            "passwort",
            "verifique su cuenta",
        ],
    ),
    (
        CueKind::AccountThreat,
        &[
            "account will be suspended",
            "account has been suspended",
            "account suspended",
            "account will be closed",
            "account has been locked",
            "account locked",
            "account will be locked",
            "account will be disabled",
            "account has been disabled",
            "will be suspended",
            "has been suspended",
            "will be restricted",
            "avoid suspension",
            "restore access",
            "restore your account",
            "unlock your account",
            "account is on hold",
            "temporarily suspended",
            "permanently disabled",
            "access will be revoked",
            "lose access",
            "loss of access",
            "deactivated",
            "deactivation",
            "compte sera suspendu",
            "konto wird gesperrt",
            "cuenta será suspendida",
        ],
    ),
    (
        CueKind::PaymentRequest,
        &[
            "wire transfer",
            "bank transfer",
            "make a payment",
            "make payment",
            "payment is overdue",
            "overdue invoice",
            "outstanding invoice",
            "outstanding balance",
            "unpaid invoice",
            "past due",
            "settle the invoice",
            "settle your",
            "remittance",
            "proforma invoice",
            "pro forma invoice",
            "payment confirmation",
            "process a payment",
            "process the payment",
            "swift code",
            "swift/bic",
            "swift transfer",
            "iban",
            "facture impayée",
            "virement",
            "zahlung",
            "überweisung",
            "transferencia",
            "factura pendiente",
        ],
    ),
    (
        CueKind::PaymentChange,
        &[
            "change of bank",
            "new bank details",
            "updated bank details",
            "update our bank",
            "bank details have changed",
            "new banking details",
            "change in banking",
            "changed our bank",
            "new account details",
            "update the payment details",
            "update our payment",
            "direct deposit",
            "payroll change",
            "change my direct deposit",
            "update my direct deposit",
            "nouvelles coordonnées bancaires",
            "neue bankverbindung",
            "nuevos datos bancarios",
        ],
    ),
    (
        CueKind::GiftCard,
        &[
            "gift card",
            "gift cards",
            "giftcard",
            "itunes card",
            "google play card",
            "apple card code",
            "steam card",
            "amazon card",
            "scratch the back",
            "scratch off",
            "send me the codes",
            "send the codes",
            "card codes",
            "carte cadeau",
            "geschenkkarte",
            "tarjeta de regalo",
        ],
    ),
    (
        CueKind::CallbackRequest,
        &[
            "call us",
            "call our",
            "call the number",
            "call the help desk",
            "call support",
            "help desk",
            "helpdesk",
            "call at",
            "call now",
            "call immediately",
            "contact us at",
            "toll free",
            "toll-free",
            "helpline",
            "help line",
            "billing department",
            "customer care",
            "support line",
            "to cancel",
            "cancel your subscription",
            "cancel the order",
            "cancel this order",
            "refund",
            "dispute this",
            "if you did not authorize",
            "if you didn't authorize",
            "if you did not make this",
            "not authorized this",
            "auto-renewal",
            "auto renewal",
            "has been renewed",
            "renewal",
            "your order",
            "order number",
        ],
    ),
    (
        CueKind::Extortion,
        &[
            "i hacked",
            "hacked your",
            "your device was hacked",
            "access to your device",
            "recorded you",
            "recording of you",
            "intimate video",
            "webcam",
            "adult website",
            "adult websites",
            "pornographic",
            "bitcoin wallet",
            "btc wallet",
            "send bitcoin",
            "pay in bitcoin",
            "send it to your contacts",
            "to all your contacts",
            "to all of your contacts",
            "i will send the video",
            "i will delete the video",
            "delete the recording",
            "you have 48 hours",
            "do not contact the police",
        ],
    ),
    (
        CueKind::Prize,
        &[
            "you have won",
            "you've won",
            "lucky winner",
            "you are a winner",
            "selected as a winner",
            "winner of our",
            "drawn as the winner",
            "declared the winner",
            "winning notification",
            "lottery",
            "jackpot",
            "prize",
            "claim your reward",
            "claim your prize",
            "claim your gift",
            "claim now",
            "your reward",
            "inheritance",
            "beneficiary",
            "next of kin",
            "million dollars",
            "million usd",
            "compensation fund",
            "investment opportunity",
            "guaranteed return",
            "double your money",
            "double your investment",
            "double your bitcoin",
            "crypto investment",
            "loan offer",
            "vous avez gagné",
            "gewonnen",
            "ha ganado",
        ],
    ),
    (
        CueKind::Cryptocurrency,
        &[
            "bitcoin",
            "btc",
            "ethereum",
            "usdt",
            "crypto wallet",
            "wallet address",
            "seed phrase",
            "recovery phrase",
            "metamask",
            "coinbase wallet",
        ],
    ),
    (
        CueKind::DocumentShare,
        &[
            "shared a document",
            "shared a file",
            "shared with you",
            "has shared",
            "sent you a document",
            "review and sign",
            "please review and sign",
            "docusign",
            "view document",
            "view the document",
            "open document",
            "access document",
            "secure document",
            "secure message",
            "encrypted message",
            "new voicemail",
            "voice message",
            "voicemail",
            "fax message",
            "new fax",
            "e-fax",
            "efax",
            "onedrive",
            "sharepoint",
            "dropbox",
            "wetransfer",
            "view attachment",
            "download attachment",
            "view invoice",
            "view your invoice",
            "invoice is ready",
            "invoice is available",
            "statement is ready",
            "view statement",
            "document is ready",
        ],
    ),
    (
        CueKind::Delivery,
        &[
            "your parcel",
            "your package",
            "your shipment",
            "delivery attempt",
            "failed delivery",
            "unable to deliver",
            "could not be delivered",
            "redelivery",
            "reschedule delivery",
            "customs fee",
            "shipping fee",
            "delivery fee",
            "tracking number",
            "on hold",
            "colis",
            "paket",
            "paquete",
        ],
    ),
    (
        CueKind::DeveloperCredential,
        &[
            "api key",
            "api keys",
            "api token",
            "access token",
            "personal access token",
            "secret key",
            "ssh key",
            "private key",
            "client secret",
            "service account",
            "oauth token",
            "aws credentials",
            "access keys",
            "rotate your keys",
            "your token",
            "npm token",
            "github token",
            "developer portal",
            "developer account",
            "deploy key",
            "ci/cd",
            "pipeline credentials",
            "vault token",
        ],
    ),
    (
        CueKind::OauthConsent,
        &[
            "grant access",
            "grant permission",
            "allow access",
            "authorize the application",
            "authorize this app",
            "permissions requested",
            "give consent",
            "grant consent",
            "admin consent",
            "consent to the app",
            "consent to the application",
            "accept the permissions",
            "app wants to access",
            "wants access to your",
            "connect your account",
            "authorize access",
        ],
    ),
    (
        CueKind::Secrecy,
        &[
            "keep this confidential",
            "strictly confidential",
            "keep it confidential",
            "confidential matter",
            "do not share",
            "don't share",
            "do not discuss",
            "between us",
            "i am in a meeting",
            "i'm in a meeting",
            "can't talk",
            "cannot talk",
            "are you available",
            "are you at your desk",
            "quick favor",
            "quick favour",
            "discreet",
            "discretion",
        ],
    ),
];

struct Automaton {
    matcher: AhoCorasick,
    kinds: Vec<CueKind>,
}

static AUTOMATON: LazyLock<Automaton> = LazyLock::new(|| {
    let mut patterns = Vec::new();
    let mut kinds = Vec::new();
    for (kind, phrases) in PHRASES {
        for phrase in *phrases {
            patterns.push(*phrase);
            kinds.push(*kind);
        }
    }
    let matcher = AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::LeftmostLongest)
        .kind(Some(AhoCorasickKind::DFA))
        .build(&patterns)
        .expect("valid phrase list");
    Automaton { matcher, kinds }
});

/// Finds cues in `text`, adding them to `cues` with `location`.
pub(crate) fn find_cues(text: &str, location: &str, cues: &mut Vec<Cue>) {
    // Phrases are written with single spaces; wrapped lines and runs of
    // spaces in the text must not hide them.
    let collapsed;
    let text = if text.contains(['\n', '\r', '\t']) || text.contains("  ") {
        collapsed = collapse_whitespace(text);
        collapsed.as_str()
    } else {
        text
    };
    let automaton = &*AUTOMATON;
    let bytes = text.as_bytes();
    let mut counts: Vec<(CueKind, usize)> = Vec::new();
    for found in automaton.matcher.find_iter(text) {
        let start_ok = found.start() == 0 || !is_word_byte(bytes[found.start() - 1]);
        let end_ok = found.end() == bytes.len() || !is_word_byte(bytes[found.end()]);
        if !start_ok || !end_ok {
            continue;
        }
        let kind = automaton.kinds[found.pattern().as_usize()];
        let matched = truncate(&text[found.start()..found.end()], 120);
        let count = match counts.iter_mut().find(|(counted, _)| *counted == kind) {
            Some((_, count)) => count,
            None => {
                counts.push((kind, 0));
                &mut counts.last_mut().expect("just pushed").1
            }
        };
        if *count >= MAX_PER_KIND {
            continue;
        }
        let duplicate = cues
            .iter()
            .any(|cue| cue.kind == kind && cue.location == location && cue.matched.eq_ignore_ascii_case(&matched));
        if !duplicate {
            *count += 1;
            cues.push(Cue { kind, matched, location: location.to_string() });
        }
    }
}

/// Replaces each run of white space with one space, copying the words
/// between runs whole.
fn collapse_whitespace(text: &str) -> String {
    let mut output = String::with_capacity(text.len());
    for word in text.split_ascii_whitespace() {
        if !output.is_empty() {
            output.push(' ');
        }
        output.push_str(word);
    }
    output
}

fn is_word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<CueKind> {
        let mut cues = Vec::new();
        find_cues(text, "body", &mut cues);
        cues.into_iter().map(|cue| cue.kind).collect()
    }

    #[test]
    fn finds_phrases_at_word_boundaries() {
        let found = kinds("URGENT: verify your account within 24 hours or your account will be suspended.");
        assert!(found.contains(&CueKind::Urgency));
        assert!(found.contains(&CueKind::CredentialRequest));
        assert!(found.contains(&CueKind::AccountThreat));
        assert!(kinds("The winners were announced").is_empty());
        assert!(kinds("").is_empty());
    }

    #[test]
    fn everyday_phrases_are_not_lures() {
        for text in [
            "I will send the samples on Friday, and I will delete the old price list.",
            "Thanks for the swift reply.",
            "Please return the photo consent form by Monday.",
            "Double your pipeline: meet the award winner at our booth.",
            "Update your contacts in the address book.",
        ] {
            assert!(kinds(text).is_empty(), "{text}: {:?}", kinds(text));
        }
        assert!(
            kinds("I recorded you through your webcam and will send it to your contacts").contains(&CueKind::Extortion)
        );
        assert!(kinds("Send the SWIFT code of the new account").contains(&CueKind::PaymentRequest));
    }

    #[test]
    fn threats_and_requests_without_account() {
        assert!(kinds("Confirm today or it will be suspended.").contains(&CueKind::AccountThreat));
        assert!(kinds("Sign in to restore access to your files").contains(&CueKind::AccountThreat));
        assert!(kinds("We noticed unusual activity on your profile").contains(&CueKind::CredentialRequest));
        assert!(kinds("Microsoft account unusual signin activity").contains(&CueKind::CredentialRequest));
        assert!(kinds("Please update your payment method").contains(&CueKind::CredentialRequest));
        assert!(kinds("Your reward is waiting: claim now").contains(&CueKind::Prize));
    }

    #[test]
    fn phrases_across_line_breaks() {
        assert!(kinds("Please verify your\n   account today").contains(&CueKind::CredentialRequest));
    }

    #[test]
    fn gift_card_and_payment_change() {
        let found = kinds("Buy three gift cards and send me the codes. Also note our new bank details.");
        assert!(found.contains(&CueKind::GiftCard));
        assert!(found.contains(&CueKind::PaymentChange));
    }

    #[test]
    fn caps_repeats_per_kind() {
        let mut cues = Vec::new();
        find_cues(&"urgent immediately asap act now respond now ".repeat(5), "body", &mut cues);
        assert_eq!(cues.len(), MAX_PER_KIND);
    }
}
