//! What `corpus build` is asked to do: inputs, tokenizer, split and sharding, from a TOML file or
//! from command-line flags. Unknown keys are refused, so a typo never silently falls back to a
//! default.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How a `.txt` file is cut into documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DocumentMode {
    /// One document per line.
    Line,
    /// Documents separated by one or more blank lines; lines inside are joined with `\n`.
    BlankLine,
}

/// What to do with a malformed document (invalid UTF-8, NUL byte, bad JSON, too long).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum OnInvalid {
    /// Stop with an error naming the file and line.
    Error,
    /// Skip the document, count it by reason, and report the counts.
    Skip,
}

/// The subword model trained when no tokenizer file is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum TokenizerKind {
    /// BERT's WordPiece (BertNormalizer, BertPreTokenizer, `##` continuation).
    Wordpiece,
    /// Byte-level BPE (RoBERTa/GPT-2): no unknown tokens in any script.
    Bpe,
    /// SentencePiece-style Unigram with a Metaspace pre-tokenizer (XLM-R).
    Unigram,
}

/// Where the tokenizer comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizerConfig {
    /// An existing Hugging Face `tokenizer.json` to use as is (e.g. mBERT's). When set, the
    /// training keys below are ignored.
    pub path: Option<PathBuf>,
    /// Subword model to train.
    #[serde(default = "default_kind")]
    pub kind: TokenizerKind,
    /// Vocabulary size to train, special tokens included.
    #[serde(default = "default_vocab_size")]
    pub vocab_size: usize,
    /// Minimum frequency of a merge or piece.
    #[serde(default = "default_min_frequency")]
    pub min_frequency: u64,
    /// Most distinct characters kept in the initial alphabet (default: a quarter of the
    /// vocabulary), so that rare characters do not crowd out subwords.
    pub limit_alphabet: Option<usize>,
    /// WordPiece: the characters that make up this share of each language's text (CJK
    /// ideographs aside) join the alphabet whatever their global rank, so that small languages
    /// in other scripts are not left as `[UNK]` (SentencePiece's `character_coverage`). 0: off.
    #[serde(default = "default_character_coverage")]
    pub character_coverage: f64,
    /// Lower-case (and strip accents) before WordPiece; mBERT-cased keeps case.
    #[serde(default)]
    pub lowercase: bool,
    /// Exponent of the language-balanced training sample: language i contributes in proportion
    /// to n_i^sample_alpha (mBERT used 0.7), so small languages are not drowned.
    #[serde(default = "default_sample_alpha")]
    pub sample_alpha: f64,
    /// Size of the training sample in UTF-8 bytes of text.
    #[serde(default = "default_sample_bytes")]
    pub sample_bytes: u64,
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        TokenizerConfig {
            path: None,
            kind: default_kind(),
            vocab_size: default_vocab_size(),
            min_frequency: default_min_frequency(),
            limit_alphabet: None,
            character_coverage: default_character_coverage(),
            lowercase: false,
            sample_alpha: default_sample_alpha(),
            sample_bytes: default_sample_bytes(),
        }
    }
}

/// One input: a file or a directory of files, with an explicit language or not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// A `.txt`/`.jsonl` file (optionally `.gz`/`.zst`), a `.parquet` file, or a directory
    /// searched recursively.
    pub path: PathBuf,
    /// Language code of every document; when absent, each JSONL or Parquet row must carry one
    /// (in `lang_field`).
    pub lang: Option<String>,
    /// Overrides the top-level `documents` for this source.
    pub documents: Option<DocumentMode>,
    /// Overrides the top-level `text_field` for this source.
    pub text_field: Option<String>,
    /// Overrides the top-level `lang_field` for this source.
    pub lang_field: Option<String>,
}

/// A whole `corpus build` configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildConfig {
    /// A directory with one sub-directory per language: `<input>/<lang>/**/*.txt|*.jsonl|*.parquet`.
    pub input: Option<PathBuf>,
    /// Explicit sources, in addition to `input`.
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
    /// The corpus directory to create.
    pub output: PathBuf,
    /// Exponent of the language sampling probabilities p_i ∝ n_i^alpha (XLM-R: 0.3).
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Fraction of each language's documents held out for validation.
    #[serde(default = "default_val_fraction")]
    pub val_fraction: f64,
    /// At least this many validation documents per language (at most a quarter of its
    /// documents), raising that language's threshold: small languages get a validation set to
    /// be evaluated on. 0 = `val_fraction` everywhere.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub min_val_docs: usize,
    /// Most tokens in one shard file before a new one is started.
    #[serde(default = "default_shard_tokens")]
    pub shard_tokens: u64,
    /// How `.txt` files are cut into documents.
    #[serde(default = "default_documents")]
    pub documents: DocumentMode,
    /// JSONL field (Parquet column) holding the text.
    #[serde(default = "default_text_field")]
    pub text_field: String,
    /// JSONL field (Parquet column) holding the language, read where the source gives none.
    #[serde(default = "default_lang_field", skip_serializing_if = "is_default_lang_field")]
    pub lang_field: String,
    /// What to do with a malformed document.
    #[serde(default = "default_on_invalid")]
    pub on_invalid: OnInvalid,
    /// Longest document (or line) accepted, in bytes; longer ones are malformed input.
    #[serde(default = "default_max_document_bytes")]
    pub max_document_bytes: usize,
    /// The tokenizer to load or train.
    #[serde(default)]
    pub tokenizer: TokenizerConfig,
}

fn default_kind() -> TokenizerKind {
    TokenizerKind::Wordpiece
}
fn default_vocab_size() -> usize {
    32_000
}
fn default_min_frequency() -> u64 {
    2
}
fn default_sample_alpha() -> f64 {
    0.7
}
fn default_character_coverage() -> f64 {
    0.9995
}
fn default_sample_bytes() -> u64 {
    100_000_000
}
fn default_alpha() -> f64 {
    0.3
}
fn is_zero(n: &usize) -> bool {
    *n == 0
}
fn default_val_fraction() -> f64 {
    0.01
}
fn default_shard_tokens() -> u64 {
    1 << 28
}
fn default_documents() -> DocumentMode {
    DocumentMode::Line
}
fn default_text_field() -> String {
    "text".to_string()
}
pub(crate) fn default_lang_field() -> String {
    "lang".to_string()
}
// Left out of the serialised settings at its default, so that the fingerprints of corpora built
// before the key existed stay the same.
pub(crate) fn is_default_lang_field(field: &str) -> bool {
    field == "lang"
}
fn default_on_invalid() -> OnInvalid {
    OnInvalid::Error
}
fn default_max_document_bytes() -> usize {
    16 << 20
}

impl BuildConfig {
    /// A configuration with every default, reading `input` and writing `output`.
    pub fn for_directory(input: PathBuf, output: PathBuf) -> Self {
        BuildConfig {
            input: Some(input),
            sources: Vec::new(),
            output,
            alpha: default_alpha(),
            val_fraction: default_val_fraction(),
            min_val_docs: 0,
            shard_tokens: default_shard_tokens(),
            documents: default_documents(),
            text_field: default_text_field(),
            lang_field: default_lang_field(),
            on_invalid: default_on_invalid(),
            max_document_bytes: default_max_document_bytes(),
            tokenizer: TokenizerConfig::default(),
        }
    }

    /// Reads a TOML file; unknown keys and wrong types are errors naming the key.
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let config: BuildConfig = toml::from_str(&text)
            .map_err(|e| Error::Config { origin: path.display().to_string(), reason: e.to_string() })?;
        config.validate(&path.display().to_string())?;
        Ok(config)
    }

    /// Checks values that the types alone do not rule out; `origin` names where they came from.
    pub fn validate(&self, origin: &str) -> Result<()> {
        let fail = |reason: String| Err(Error::Config { origin: origin.to_string(), reason });
        if self.input.is_none() && self.sources.is_empty() {
            return fail("no input: set `input` (a directory of language sub-directories) or add [[sources]]".into());
        }
        if !(self.alpha > 0.0 && self.alpha <= 1.0) {
            return fail(format!("alpha = {}: must be in (0, 1]", self.alpha));
        }
        if !(0.0..1.0).contains(&self.val_fraction) {
            return fail(format!("val_fraction = {}: must be in [0, 1)", self.val_fraction));
        }
        if self.shard_tokens == 0 {
            return fail("shard_tokens = 0: must be positive".into());
        }
        if self.max_document_bytes == 0 {
            return fail("max_document_bytes = 0: must be positive".into());
        }
        if self.text_field.is_empty() {
            return fail("text_field is empty".into());
        }
        if self.lang_field.is_empty() {
            return fail("lang_field is empty".into());
        }
        let t = &self.tokenizer;
        if t.path.is_none() {
            if t.vocab_size < 100 {
                return fail(format!("tokenizer.vocab_size = {}: must be at least 100", t.vocab_size));
            }
            if !(t.sample_alpha > 0.0 && t.sample_alpha <= 1.0) {
                return fail(format!("tokenizer.sample_alpha = {}: must be in (0, 1]", t.sample_alpha));
            }
            if !(0.0..=1.0).contains(&t.character_coverage) {
                return fail(format!("tokenizer.character_coverage = {}: must be in [0, 1]", t.character_coverage));
            }
            if t.sample_bytes == 0 {
                return fail("tokenizer.sample_bytes = 0: must be positive".into());
            }
        }
        for source in &self.sources {
            if let Some(lang) = &source.lang {
                crate::source::check_language_code(lang).map_err(|reason| Error::Config {
                    origin: origin.to_string(),
                    reason: format!("sources.lang = {lang:?} ({}): {reason}", source.path.display()),
                })?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_with_sources_parses_and_defaults_apply() {
        let config: BuildConfig = toml::from_str(
            r#"
            output = "out"
            alpha = 0.5
            [tokenizer]
            kind = "unigram"
            vocab_size = 8000
            [[sources]]
            path = "a.jsonl"
            lang = "de"
            documents = "blank-line"
            "#,
        )
        .unwrap();
        assert_eq!(config.alpha, 0.5);
        assert_eq!(config.val_fraction, 0.01);
        assert_eq!(config.tokenizer.kind, TokenizerKind::Unigram);
        assert_eq!(config.sources[0].documents, Some(DocumentMode::BlankLine));
        config.validate("test").unwrap();
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let err = toml::from_str::<BuildConfig>("output = \"o\"\nalhpa = 0.3\n").unwrap_err();
        assert!(err.to_string().contains("alhpa"), "{err}");
        let mut config = BuildConfig::for_directory("in".into(), "out".into());
        config.val_fraction = 1.5;
        let err = config.validate("cfg.toml").unwrap_err().to_string();
        assert!(err.contains("cfg.toml") && err.contains("val_fraction"), "{err}");
        config.val_fraction = 0.1;
        config.sources.push(SourceConfig {
            path: "x.txt".into(),
            lang: Some("English!".into()),
            documents: None,
            text_field: None,
            lang_field: None,
        });
        let err = config.validate("cfg.toml").unwrap_err().to_string();
        assert!(err.contains("English!"), "{err}");
    }
}
