//! `manifest.json`: what a corpus directory holds, written last so that its presence means the
//! corpus is complete.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::document::SkipCounts;
use crate::error::{Error, Result};
use crate::shard::Dtype;
use crate::source::InputFile;
use crate::tokenizer::SpecialIds;

/// Name of the manifest in a corpus directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Name of the tokenizer in a corpus directory.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// Value of the `format` field.
pub const MANIFEST_FORMAT: &str = "corpus";
/// Version of the manifest layout written here. Version 2 added each shard's `sha256` and
/// `max_token_id`.
pub const MANIFEST_VERSION: u32 = 2;
/// The oldest version still read: its shards open, but cannot be verified.
pub const OLDEST_MANIFEST_VERSION: u32 = 1;

/// The training split.
pub const TRAIN: &str = "train";
/// The held-out split.
pub const VALIDATION: &str = "validation";

/// The whole manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always `"corpus"`.
    pub format: String,
    /// Manifest layout version.
    pub version: u32,
    /// The program that wrote it.
    pub created_by: String,
    /// SHA-256 over the resolved configuration and the input files (path, size, mtime);
    /// an unchanged fingerprint makes a re-run a no-op.
    pub fingerprint: String,
    /// The tokenizer.
    pub tokenizer: TokenizerInfo,
    /// Width of the stored ids.
    pub dtype: Dtype,
    /// Header size of every shard.
    pub header_bytes: usize,
    /// Exponent of the sampling probabilities.
    pub alpha: f64,
    /// Fraction of documents held out.
    pub val_fraction: f64,
    /// Languages whose threshold was raised to hold out `min_val_docs` documents.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub val_thresholds: BTreeMap<String, f64>,
    /// How a document's split is decided.
    pub split_rule: String,
    /// Per language, in code order.
    pub languages: BTreeMap<String, LanguageStats>,
    /// Every shard, in order of (split, language, index).
    pub shards: Vec<ShardEntry>,
    /// Every input file.
    pub inputs: Vec<InputEntry>,
}

/// The tokenizer of the corpus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizerInfo {
    /// File name inside the corpus directory.
    pub file: String,
    /// SHA-256 (hex) of that file.
    pub sha256: String,
    /// Vocabulary size, added tokens included.
    pub vocab_size: usize,
    /// `"loaded"` (from `source`) or the kind trained (`wordpiece`, `bpe`, `unigram`).
    pub origin: String,
    /// The file it was loaded from, if any.
    pub source: Option<PathBuf>,
    /// Special token ids; `sep` ends every document.
    pub special_ids: SpecialIds,
}

/// Counts of one split of one language.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitStats {
    /// Documents.
    pub docs: u64,
    /// Tokens, separators included.
    pub tokens: u64,
    /// UTF-8 bytes of the text (for bits per byte).
    pub bytes: u64,
    /// Whitespace-separated words.
    pub words: u64,
    /// Unicode scalar values.
    pub chars: u64,
    /// Unknown tokens.
    pub unk_tokens: u64,
}

impl SplitStats {
    /// Adds another count.
    pub fn add(&mut self, o: &SplitStats) {
        self.docs += o.docs;
        self.tokens += o.tokens;
        self.bytes += o.bytes;
        self.words += o.words;
        self.chars += o.chars;
        self.unk_tokens += o.unk_tokens;
    }
}

/// Everything recorded about one language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageStats {
    /// Training split.
    pub train: SplitStats,
    /// Validation split.
    pub validation: SplitStats,
    /// p_i ∝ n_i^alpha over training tokens.
    pub sampling_probability: f64,
    /// Tokens per whitespace word (separators excluded), over both splits.
    pub tokens_per_word: f64,
    /// Tokens per character (separators excluded), over both splits.
    pub tokens_per_char: f64,
    /// Share of unknown tokens (separators excluded), over both splits.
    pub unk_rate: f64,
}

/// One shard file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardEntry {
    /// Path relative to the corpus directory.
    pub path: String,
    /// `train` or `validation`.
    pub split: String,
    /// Language code.
    pub lang: String,
    /// Token width.
    pub dtype: Dtype,
    /// Header size.
    pub header_bytes: usize,
    /// Tokens.
    pub tokens: u64,
    /// Documents.
    pub docs: u64,
    /// UTF-8 bytes of the documents.
    pub bytes: u64,
    /// SHA-256 (lower-case hex) of the token data, the bytes after the header; absent in
    /// manifests of version 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The largest token id in the shard; absent in manifests of version 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_token_id: Option<u32>,
}

/// One input file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputEntry {
    /// Path as given.
    pub path: PathBuf,
    /// Size on disk.
    pub bytes: u64,
    /// Its language, if fixed for the whole file.
    pub lang: Option<String>,
    /// Documents read.
    pub docs: u64,
    /// Malformed documents skipped.
    pub skipped: SkipCounts,
}

impl InputEntry {
    /// The entry for an input file with its read counts.
    pub fn new(file: &InputFile, docs: u64, skipped: SkipCounts) -> Self {
        InputEntry { path: file.path.clone(), bytes: file.bytes, lang: file.lang.clone(), docs, skipped }
    }
}

/// p_i ∝ n_i^alpha, normalised; languages with no tokens get 0.
pub fn sampling_probabilities(counts: &[u64], alpha: f64) -> Vec<f64> {
    let weights: Vec<f64> = counts.iter().map(|&n| if n == 0 { 0.0 } else { (n as f64).powf(alpha) }).collect();
    let total: f64 = weights.iter().sum();
    weights.iter().map(|w| if total > 0.0 { w / total } else { 0.0 }).collect()
}

impl LanguageStats {
    /// Derives fertility and rates from the split counts; `sep_per_doc` separators are excluded.
    pub fn new(train: SplitStats, validation: SplitStats) -> Self {
        let mut all = train;
        all.add(&validation);
        let content_tokens = all.tokens.saturating_sub(all.docs) as f64;
        let ratio = |a: f64, b: u64| if b == 0 { 0.0 } else { a / b as f64 };
        LanguageStats {
            train,
            validation,
            sampling_probability: 0.0,
            tokens_per_word: ratio(content_tokens, all.words),
            tokens_per_char: ratio(content_tokens, all.chars),
            unk_rate: ratio(all.unk_tokens as f64, all.tokens.saturating_sub(all.docs)),
        }
    }
}

impl Manifest {
    /// Reads and checks a manifest.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let manifest: Manifest =
            serde_json::from_str(&text).map_err(|e| Error::format(path, format!("not a corpus manifest: {e}")))?;
        if manifest.format != MANIFEST_FORMAT {
            return Err(Error::format(path, format!("format {:?}; expected {MANIFEST_FORMAT:?}", manifest.format)));
        }
        if !(OLDEST_MANIFEST_VERSION..=MANIFEST_VERSION).contains(&manifest.version) {
            return Err(Error::format(
                path,
                format!(
                    "manifest version {}; this build reads versions {OLDEST_MANIFEST_VERSION} to {MANIFEST_VERSION} (rebuild the corpus)",
                    manifest.version
                ),
            ));
        }
        if manifest.version >= 2 {
            // From version 2 on the fields are part of the format: one missing means an edited
            // manifest, not an old one, and reading on would silently skip the checks.
            if let Some(shard) = manifest.shards.iter().find(|s| s.sha256.is_none() || s.max_token_id.is_none()) {
                return Err(Error::format(
                    path,
                    format!(
                        "shard {} has no sha256 or max_token_id, which manifest version {} requires (edited by hand? rebuild the corpus)",
                        shard.path, manifest.version
                    ),
                ));
            }
        }
        Ok(manifest)
    }

    /// True when every shard records its hash and largest id (manifest version 2 on).
    pub fn verifiable(&self) -> bool {
        self.shards.iter().all(|s| s.sha256.is_some() && s.max_token_id.is_some())
    }

    /// The languages, in code order.
    pub fn language_codes(&self) -> Vec<&str> {
        self.languages.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpha_smoothing_flattens_towards_small_languages() {
        let p = sampling_probabilities(&[1_000_000, 10_000, 0], 0.3);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(p[2], 0.0);
        // Raw shares would be 0.99/0.01; alpha = 0.3 gives (100^0.3 = 3.98) : 1.
        assert!((p[0] / p[1] - 100f64.powf(0.3)).abs() < 1e-9);
        assert_eq!(sampling_probabilities(&[5, 5], 1.0), vec![0.5, 0.5]);
    }

    #[test]
    fn fertility_excludes_separators() {
        let train = SplitStats { docs: 2, tokens: 12, bytes: 40, words: 5, chars: 40, unk_tokens: 1 };
        let stats = LanguageStats::new(train, SplitStats::default());
        assert_eq!(stats.tokens_per_word, 2.0);
        assert_eq!(stats.tokens_per_char, 0.25);
        assert_eq!(stats.unk_rate, 0.1);
    }
}
