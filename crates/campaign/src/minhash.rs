//! MinHash sketches of word shingles and their LSH band keys.
//!
//! A sketch keeps, for each of `SKETCH_SIZE` hash functions, the minimum hash
//! over the text's shingles. Two texts agree in one position with a
//! probability equal to the Jaccard similarity `J` of their shingle sets.
//! The positions are cut into `BANDS` bands of `ROWS` rows, and each band
//! becomes one key. Two texts share at least one band key with probability
//! `1 - (1 - J^ROWS)^BANDS`, so near-duplicates meet by exact key lookup
//! without comparing each text with every other.

use serde::{Deserialize, Serialize};

/// Number of LSH bands, and so of band keys per sketch.
pub const BANDS: usize = 18;
/// Sketch positions per band.
pub const ROWS: usize = 7;
/// Number of MinHash positions.
pub const SKETCH_SIZE: usize = BANDS * ROWS;
/// Words per shingle.
pub const SHINGLE_WORDS: usize = 3;

/// Words longer than this are identifiers or encoded data, not language.
const MAX_WORD_CHARS: usize = 30;

/// The fixed BLAKE3 key of the base hash. Changing it changes every band key,
/// so stored campaigns would no longer meet new cases by text.
const HASH_KEY: [u8; 32] = *b"phishloop campaign minhash v1 k.";

/// Stand-in for a word that contains a digit or is too long, so tracking
/// ids, amounts and dates that differ per recipient do not change shingles.
const VARIABLE_WORD: &str = "#";

/// A MinHash sketch: the minimum of each of `SKETCH_SIZE` hash functions over
/// a text's shingles.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinHashSketch {
    pub minima: Vec<u64>,
    /// Number of distinct shingles the sketch was computed from.
    pub shingle_count: usize,
}

impl MinHashSketch {
    /// Computes the sketch of `text`, or `None` when the text has no shingle.
    pub fn of_text(text: &str) -> Option<Self> {
        let words = words(text);
        let mut bases: Vec<[u64; 2]> = shingles(&words).map(|shingle| base_hash(&shingle)).collect();
        bases.sort_unstable();
        bases.dedup();
        if bases.is_empty() {
            return None;
        }

        let seeds = seeds();
        let mut minima = vec![u64::MAX; SKETCH_SIZE];
        for [first, second] in &bases {
            for (position, minimum) in minima.iter_mut().enumerate() {
                let hash = mix(first ^ seeds[position]).wrapping_add(mix(second ^ seeds[position].rotate_left(32)));
                *minimum = (*minimum).min(hash);
            }
        }
        Some(Self { minima, shingle_count: bases.len() })
    }

    /// Estimates the Jaccard similarity of the two texts' shingle sets as the
    /// share of positions where the sketches agree.
    pub fn estimate_jaccard(&self, other: &Self) -> f64 {
        let equal = self.minima.iter().zip(&other.minima).filter(|(left, right)| left == right).count();
        equal as f64 / SKETCH_SIZE as f64
    }

    /// Returns one key per band: `bNN-` and 16 hex digits of the hash of the
    /// band number and its rows.
    pub fn band_keys(&self) -> Vec<String> {
        self.minima
            .chunks(ROWS)
            .enumerate()
            .map(|(band, rows)| {
                let mut hasher = blake3::Hasher::new_keyed(&HASH_KEY);
                hasher.update(b"band");
                hasher.update(&(band as u64).to_le_bytes());
                for row in rows {
                    hasher.update(&row.to_le_bytes());
                }
                let digest = hasher.finalize();
                let mut prefix = [0u8; 8];
                prefix.copy_from_slice(&digest.as_bytes()[..8]);
                format!("b{band:02}-{:016x}", u64::from_be_bytes(prefix))
            })
            .collect()
    }
}

/// Returns the probability that two texts with Jaccard similarity `jaccard`
/// share at least one band key: `1 - (1 - J^ROWS)^BANDS`.
pub fn band_match_probability(jaccard: f64) -> f64 {
    let rows = i32::try_from(ROWS).unwrap_or(i32::MAX);
    let bands = i32::try_from(BANDS).unwrap_or(i32::MAX);
    1.0 - (1.0 - jaccard.clamp(0.0, 1.0).powi(rows)).powi(bands)
}

/// Splits text into lowercase words of letters and digits. Words with a
/// digit or of more than 30 characters become `#`.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| {
            if word.chars().any(|c| c.is_numeric()) || word.chars().count() > MAX_WORD_CHARS {
                VARIABLE_WORD.to_owned()
            } else {
                word.to_lowercase()
            }
        })
        .collect()
}

/// Returns the shingles of `words`: every run of `SHINGLE_WORDS` words, or
/// the whole text when it is shorter.
fn shingles(words: &[String]) -> impl Iterator<Item = String> + '_ {
    let width = SHINGLE_WORDS.min(words.len()).max(1);
    words.windows(width).map(|window| window.join(" "))
}

/// Hashes a shingle to 128 bits with the fixed-key BLAKE3.
fn base_hash(shingle: &str) -> [u64; 2] {
    let digest = blake3::keyed_hash(&HASH_KEY, shingle.as_bytes());
    let bytes = digest.as_bytes();
    let mut first = [0u8; 8];
    let mut second = [0u8; 8];
    first.copy_from_slice(&bytes[..8]);
    second.copy_from_slice(&bytes[8..16]);
    [u64::from_le_bytes(first), u64::from_le_bytes(second)]
}

/// Returns the per-position seeds, a fixed SplitMix64 sequence.
fn seeds() -> [u64; SKETCH_SIZE] {
    let mut state: u64 = 0x0070_6869_7368_6c6f;
    std::array::from_fn(|_| {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(state)
    })
}

/// Applies the SplitMix64 finaliser, a bijection on 64 bits whose output bits each
/// depend on every input bit.
fn mix(value: u64) -> u64 {
    let mut z = value;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LURE: &str = "Your mailbox has reached its storage limit. To avoid losing incoming messages, \
        confirm your account within 24 hours using the secure portal below. Failure to verify \
        will result in permanent suspension of your email services. Thank you, IT Service Desk";

    #[test]
    fn sketch_is_deterministic() {
        let first = MinHashSketch::of_text(LURE).expect("sketch");
        let second = MinHashSketch::of_text(LURE).expect("sketch");

        assert_eq!(first, second);
        assert_eq!(first.band_keys(), second.band_keys());
        assert_eq!(first.band_keys().len(), BANDS);
    }

    #[test]
    fn sketch_ignores_case_digits_and_punctuation() {
        let first = MinHashSketch::of_text("Invoice 4471 is due, pay by Friday please").expect("sketch");
        let second = MinHashSketch::of_text("INVOICE 9012 is due; pay by friday PLEASE").expect("sketch");

        assert_eq!(first, second);
    }

    #[test]
    fn estimate_tracks_jaccard() {
        let base = MinHashSketch::of_text(LURE).expect("sketch");
        let renamed = MinHashSketch::of_text(&format!("Dear Alice, {LURE}")).expect("sketch");
        let other = MinHashSketch::of_text(
            "The quarterly all-hands meeting moves to the main auditorium on Thursday afternoon; \
             bring questions for the leadership team and remember to register for the lunch.",
        )
        .expect("sketch");

        assert!(base.estimate_jaccard(&renamed) > 0.8, "{}", base.estimate_jaccard(&renamed));
        assert!(base.estimate_jaccard(&other) < 0.1, "{}", base.estimate_jaccard(&other));
    }

    #[test]
    fn empty_text_has_no_sketch() {
        assert_eq!(MinHashSketch::of_text(" ,;. "), None);
    }

    #[test]
    fn band_probability_curve() {
        assert!(band_match_probability(0.4) < 0.05, "{}", band_match_probability(0.4));
        assert!(band_match_probability(0.5) < 0.15, "{}", band_match_probability(0.5));
        assert!(band_match_probability(0.8) > 0.95, "{}", band_match_probability(0.8));
        assert!(band_match_probability(0.9) > 0.999, "{}", band_match_probability(0.9));
        assert_eq!(band_match_probability(1.0), 1.0);
    }
}
