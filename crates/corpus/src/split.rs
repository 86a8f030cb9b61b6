//! Deterministic per-document decisions, from a hash of the document's text: which split it
//! belongs to, and whether it joins the tokenizer's training sample. The same text always lands in
//! the same split, whatever the file order, thread count or machine, and duplicates never leak
//! across splits.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// The rule, as recorded in the manifest.
pub const SPLIT_RULE: &str =
    "validation iff (u64_le(sha256(utf8 text)[0..8]) >> 11) / 2^53 < val_thresholds[lang] (absent: val_fraction)";

/// SHA-256 of a document's UTF-8 text.
pub fn document_hash(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

fn unit_interval(bytes: &[u8]) -> f64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[..8]);
    // 53 bits: exactly representable, uniform in [0, 1).
    (u64::from_le_bytes(word) >> 11) as f64 / (1u64 << 53) as f64
}

/// True when the document goes to the validation split.
pub fn is_validation(hash: &[u8; 32], val_fraction: f64) -> bool {
    split_unit(hash) < val_fraction
}

/// The document's position in [0, 1) that the split compares with the threshold.
pub fn split_unit(hash: &[u8; 32]) -> f64 {
    unit_interval(&hash[0..8])
}

/// The split of a corpus: `val_fraction`, raised per language where needed so that every
/// language holds out at least `min_val_docs` documents (at most a quarter of its documents): a
/// language of 30 documents otherwise has none or one to be evaluated on.
#[derive(Debug, Clone, Default)]
pub struct Split {
    /// The default threshold.
    pub val_fraction: f64,
    /// Raised thresholds, per language.
    pub thresholds: BTreeMap<String, f64>,
}

impl Split {
    /// The split from, per language, its document count and its smallest `min_val_docs` units
    /// (ascending).
    pub fn new(val_fraction: f64, min_val_docs: usize, smallest: &BTreeMap<String, (usize, Vec<f64>)>) -> Split {
        let mut thresholds = BTreeMap::new();
        for (lang, (docs, units)) in smallest {
            let wanted = min_val_docs.min(docs / 4);
            if wanted == 0 || units.len() < wanted {
                continue;
            }
            // Units are multiples of 2^-53: the next one up makes `<` take the wanted-th document.
            let threshold = units[wanted - 1] + 1.0 / (1u64 << 53) as f64;
            if threshold > val_fraction {
                thresholds.insert(lang.clone(), threshold);
            }
        }
        Split { val_fraction, thresholds }
    }

    /// True when a document of `lang` with this hash is held out.
    pub fn is_validation(&self, lang: &str, hash: &[u8; 32]) -> bool {
        split_unit(hash) < self.thresholds.get(lang).copied().unwrap_or(self.val_fraction)
    }
}

/// True when the document joins a tokenizer sample drawn at `rate` (other hash bits than the
/// split, so the sample is not biased towards documents near the validation threshold).
pub fn in_sample(hash: &[u8; 32], rate: f64) -> bool {
    unit_interval(&hash[8..16]) < rate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_stable_and_near_the_fraction() {
        let docs: Vec<String> = (0..20_000).map(|i| format!("document number {i}")).collect();
        let val = docs.iter().filter(|d| is_validation(&document_hash(d), 0.1)).count();
        assert!((1_800..2_200).contains(&val), "{val}");
        assert_eq!(is_validation(&document_hash("abc"), 0.5), is_validation(&document_hash("abc"), 0.5));
        assert!(!is_validation(&document_hash("abc"), 0.0));

        // A small language gets its minimum; a large one keeps val_fraction.
        let unit_of = |d: &String| split_unit(&document_hash(d));
        let mut small: Vec<f64> = docs.iter().take(40).map(unit_of).collect();
        small.sort_by(f64::total_cmp);
        let smallest = BTreeMap::from([
            ("xx".to_string(), (40usize, small.clone())),
            ("big".to_string(), (1_000_000usize, vec![0.0, 1e-9, 2e-9, 3e-9, 4e-9])),
        ]);
        let held =
            |split: &Split| docs.iter().take(40).filter(|d| split.is_validation("xx", &document_hash(d))).count();
        let split = Split::new(0.01, 5, &smallest);
        assert_eq!(held(&split), 5);
        assert!(!split.thresholds.contains_key("big"));
        assert_eq!(held(&Split::new(0.01, 50, &smallest)), 10, "at most a quarter is held out");
        let sampled = docs.iter().filter(|d| in_sample(&document_hash(d), 0.25)).count();
        assert!((4_600..5_400).contains(&sampled), "{sampled}");
    }
}
