//! Look-alike characters in display text: From display names and link
//! texts.
//!
//! Domains get their confusable checks from the lookalike search (see
//! `domain`). Display text needs its own, because a reader trusts what
//! the mail client shows: `PаyPal` with a Cyrillic `а` looks like the
//! brand, and no domain comparison detects it. A word counts when it mixes
//! letters of two or more scripts, or when it is not plain ASCII and reads
//! as a known brand's name (`Аррӏе` in Cyrillic letters).
//! Han, Hiragana, Katakana, Hangul and Bopomofo are left out of the mix,
//! because Chinese, Japanese and Korean text joins them with each other and
//! with Latin words without spaces.

use phishloop_model::ConfusableWord;
use unicode_script::{Script, UnicodeScript};

use crate::brands::BrandSet;
use crate::domain;
use crate::headers::truncate;

/// Words kept per text.
const MAX_WORDS: usize = 8;

/// Returns the words of `text` written with look-alike characters, at most
/// [`MAX_WORDS`].
pub(crate) fn confusable_words(brands: &BrandSet, text: &str) -> Vec<ConfusableWord> {
    let mut found: Vec<ConfusableWord> = Vec::new();
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|word| !word.is_ascii()) {
        if found.len() >= MAX_WORDS {
            break;
        }
        let Some(confusable) = confusable_word(brands, word) else {
            continue;
        };
        if !found.iter().any(|known| known.word == confusable.word) {
            found.push(confusable);
        }
    }
    found
}

fn confusable_word(brands: &BrandSet, word: &str) -> Option<ConfusableWord> {
    let mut scripts: Vec<Script> = Vec::new();
    for c in word.chars() {
        let script = c.script();
        if !matches!(script, Script::Common | Script::Inherited | Script::Unknown) && !scripts.contains(&script) {
            scripts.push(script);
        }
    }
    let mixed = scripts.iter().filter(|script| !is_east_asian(**script)).count() >= 2;
    let reads_as = reads_as(word);
    let brand = brands.named_by_word(&reads_as).map(|brand| brand.name.clone());
    if !mixed && brand.is_none() {
        return None;
    }
    let mut script_names: Vec<String> = scripts.iter().map(|script| script.full_name().to_string()).collect();
    script_names.sort();
    Some(ConfusableWord { word: truncate(word, 64), reads_as, scripts: script_names, brand })
}

/// Lowercases `word` and replaces each character outside ASCII by the one
/// ASCII character its confusable skeleton consists of, if it has one.
fn reads_as(word: &str) -> String {
    let mut output = String::with_capacity(word.len());
    let mut buffer = [0u8; 4];
    for c in word.chars() {
        if c.is_ascii() {
            output.push(c.to_ascii_lowercase());
            continue;
        }
        let skeleton = domain::skeleton(c.encode_utf8(&mut buffer));
        let mut imitated = skeleton.chars();
        match (imitated.next(), imitated.next()) {
            (Some(ascii), None) if ascii.is_ascii() => output.push(ascii),
            _ => output.extend(c.to_lowercase()),
        }
    }
    output
}

/// Scripts that Chinese, Japanese and Korean text mixes within words.
fn is_east_asian(script: Script) -> bool {
    matches!(script, Script::Han | Script::Hiragana | Script::Katakana | Script::Hangul | Script::Bopomofo)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<ConfusableWord> {
        confusable_words(&BrandSet::new(&[]), text)
    }

    #[test]
    fn cyrillic_letter_in_latin_word() {
        let found = words("P\u{0430}yPal Support");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].word, "P\u{0430}yPal");
        assert_eq!(found[0].reads_as, "paypal");
        assert_eq!(found[0].scripts, vec!["Cyrillic".to_string(), "Latin".to_string()]);
        assert_eq!(found[0].brand.as_deref(), Some("PayPal"));
    }

    #[test]
    fn mixed_word_without_brand() {
        let found = words("Acc\u{043e}unt team");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].reads_as, "account");
        assert_eq!(found[0].brand, None);
    }

    #[test]
    fn whole_word_in_other_script_spelling_brand() {
        // "Apple" in Cyrillic letters and a Cyrillic palochka.
        let found = words("\u{0410}\u{0440}\u{0440}\u{04cf}\u{0435} ID");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].scripts, vec!["Cyrillic".to_string()]);
        assert_eq!(found[0].brand.as_deref(), Some("Apple"));
    }

    #[test]
    fn ordinary_text_is_not_confusable() {
        for text in [
            "PayPal Support",
            "Jürgen Müller",
            "Служба поддержки",
            "Amazon注文の確認",
            "iPhone手机",
            "Ελληνικά και English",
            "José Peña",
        ] {
            assert_eq!(words(text), Vec::new(), "{text}");
        }
    }
}
