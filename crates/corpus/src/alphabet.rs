//! The characters a trained WordPiece vocabulary must contain.
//!
//! WordPiece turns a whole word into `[UNK]` when one of its characters is not in the vocabulary.
//! The trainer keeps the `limit_alphabet` most frequent characters of the sample, which on a
//! multilingual corpus are those of its large languages (Han alone fills thousands of slots);
//! a small language in another script — Korean, Thai, Bengali, Armenian — then loses most of its
//! words. Counting characters per language and keeping, for each, those that make up
//! `character_coverage` of its text (as SentencePiece's `character_coverage` does for a whole
//! corpus) fixes that for a few hundred extra vocabulary entries.
//!
//! CJK ideographs are left to the global ranking: BERT's normalizer makes each one a word of its
//! own, so a missing ideograph costs one `[UNK]`, not a word, and covering Chinese to 99.95%
//! would take thousands of entries.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use tokenizers::normalizers::BertNormalizer;
use tokenizers::{NormalizedString, Normalizer};
use unicode_categories::UnicodeCategories;

/// Character counts per language, of text normalised as the tokenizer will see it.
pub struct CharacterCounts {
    /// Only when lower-casing: without it, BERT's normaliser changes no character it keeps (it
    /// drops the "Other" categories and spaces out CJK), and running it costs a pass per document.
    lowercasing: Option<BertNormalizer>,
    per_language: BTreeMap<Arc<str>, HashMap<char, u64>>,
}

impl CharacterCounts {
    /// Counts characters as the WordPiece normaliser leaves them (`lowercase` as configured).
    pub fn new(lowercase: bool) -> Self {
        CharacterCounts {
            lowercasing: lowercase.then(|| BertNormalizer::new(true, true, Some(true), true)),
            per_language: BTreeMap::new(),
        }
    }

    /// Adds one document of `lang`.
    pub fn add(&mut self, lang: &Arc<str>, text: &str) {
        let counts = self.per_language.entry(lang.clone()).or_default();
        let mut count = |text: &str| {
            // What the normaliser removes or turns into spaces.
            for c in text.chars().filter(|c| !c.is_whitespace() && !c.is_other()) {
                *counts.entry(c).or_default() += 1;
            }
        };
        match &self.lowercasing {
            Some(normalizer) => {
                let mut normalized = NormalizedString::from(text);
                // BertNormalizer does not fail; should it, the raw text is counted instead.
                match normalizer.normalize(&mut normalized) {
                    Ok(()) => count(normalized.get()),
                    Err(_) => count(text),
                }
            }
            None => count(text),
        }
    }

    /// For each language, its most frequent characters (CJK ideographs aside) until they make
    /// up `coverage` of its characters; the union over languages. Empty when `coverage` is 0.
    pub fn covering(&self, coverage: f64) -> BTreeSet<char> {
        let mut chosen = BTreeSet::new();
        if coverage <= 0.0 {
            return chosen;
        }
        for counts in self.per_language.values() {
            let mut ranked: Vec<(char, u64)> =
                counts.iter().filter(|(c, _)| !is_cjk_ideograph(**c)).map(|(c, n)| (*c, *n)).collect();
            // Ties broken by character, so that the alphabet does not depend on hash order.
            ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let total: u64 = ranked.iter().map(|(_, n)| n).sum();
            let mut covered = 0u64;
            for (c, n) in ranked {
                if covered as f64 >= coverage * total as f64 {
                    break;
                }
                chosen.insert(c);
                covered += n;
            }
        }
        chosen
    }

    /// The `n` most frequent characters over all languages together.
    pub fn most_frequent(&self, n: usize) -> BTreeSet<char> {
        let mut total: HashMap<char, u64> = HashMap::new();
        for counts in self.per_language.values() {
            for (c, k) in counts {
                *total.entry(*c).or_default() += k;
            }
        }
        let mut ranked: Vec<(char, u64)> = total.into_iter().collect();
        ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.into_iter().take(n).map(|(c, _)| c).collect()
    }
}

/// The ranges tokenizers' BertNormalizer surrounds with spaces (`handle_chinese_chars`).
fn is_cjk_ideograph(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F
        | 0x2B920..=0x2CEAF
        | 0xF900..=0xFAFF
        | 0x2F800..=0x2FA1F)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_gets_the_characters_of_most_of_its_text() {
        let mut counts = CharacterCounts::new(false);
        let (big, small): (Arc<str>, Arc<str>) = ("en".into(), "ko".into());
        counts.add(&big, &"the cat sat on the mat ".repeat(1000));
        // 99 of 100 characters are 가/나; 다 is the last 1%.
        counts.add(&small, &format!("{}{}", "가나".repeat(99), "다".repeat(2)));
        let all = counts.covering(1.0);
        assert!(all.contains(&'가') && all.contains(&'나') && all.contains(&'다') && all.contains(&'t'));
        let most = counts.covering(0.98);
        assert!(most.contains(&'가') && most.contains(&'나') && !most.contains(&'다'));
        assert!(counts.covering(0.0).is_empty());
        // Globally, the small language's characters rank last.
        let top: Vec<char> = counts.most_frequent(3).into_iter().collect();
        assert!(!top.contains(&'가'), "{top:?}");
    }

    #[test]
    fn ideographs_are_left_to_the_global_ranking() {
        let mut counts = CharacterCounts::new(false);
        counts.add(&"zh".into(), "人人人人口口口 abc");
        let chosen = counts.covering(1.0);
        assert!(!chosen.contains(&'人') && !chosen.contains(&'口') && chosen.contains(&'a'));
    }

    #[test]
    fn counts_what_the_tokenizer_sees() {
        let mut counts = CharacterCounts::new(true);
        counts.add(&"de".into(), "Äpfel");
        let chosen = counts.covering(1.0);
        // Lower-cased with accents stripped, as the WordPiece normaliser does.
        assert!(chosen.contains(&'a') && !chosen.contains(&'Ä') && !chosen.contains(&'A'), "{chosen:?}");
    }
}
