//! Deterministic per-document decisions, from a hash of the document's text: which split it
//! belongs to, and whether it joins the tokenizer's training sample. The same text always lands in
//! the same split, whatever the file order, thread count or machine, and duplicates never leak
//! across splits.

use sha2::{Digest, Sha256};

/// The rule, as recorded in the manifest.
pub const SPLIT_RULE: &str = "validation iff (u64_le(sha256(utf8 text)[0..8]) >> 11) / 2^53 < val_fraction";

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
    unit_interval(&hash[0..8]) < val_fraction
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
        let sampled = docs.iter().filter(|d| in_sample(&document_hash(d), 0.25)).count();
        assert!((4_600..5_400).contains(&sampled), "{sampled}");
    }
}
