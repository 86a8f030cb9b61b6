//! docs/configs.md against `BuildConfig`: the keys documented under `## corpus` must be the keys
//! the config accepts, and a default written there as a TOML value must be the code's.
//!
//! The accepted keys come from serialising a config with every field set (every `Option` is
//! `Some`, every list has an entry, no field holds a value that is skipped when serialised);
//! tables are walked with their prefix (`tokenizer.vocab_size`) and arrays of tables with `[]`
//! (`sources[].path`).

use corpus::{BuildConfig, DocumentMode, OnInvalid, SourceConfig, TokenizerConfig, TokenizerKind};

const SECTION: &str = "corpus";

/// Every field set, written out in full: a new field fails to compile here until it is added.
fn every_key_set() -> BuildConfig {
    BuildConfig {
        input: Some("data/sample".into()),
        sources: vec![SourceConfig {
            path: "a.jsonl".into(),
            lang: Some("de".into()),
            documents: Some(DocumentMode::BlankLine),
            text_field: Some("body".into()),
            lang_field: Some("language".into()),
        }],
        output: "out".into(),
        alpha: 0.5,
        val_fraction: 0.1,
        min_val_docs: 3,
        shard_tokens: 1000,
        documents: DocumentMode::BlankLine,
        text_field: "content".into(),
        lang_field: "language".into(),
        on_invalid: OnInvalid::Skip,
        max_document_bytes: 1000,
        tokenizer: TokenizerConfig {
            path: Some("tokenizer.json".into()),
            kind: TokenizerKind::Unigram,
            vocab_size: 1000,
            min_frequency: 3,
            limit_alphabet: Some(100),
            character_coverage: 0.99,
            lowercase: true,
            sample_alpha: 0.5,
            sample_bytes: 1000,
        },
    }
}

/// A file with only the required keys (and one source, whose keys have no defaults).
const BASE: &str = "output = \"out\"\n[[sources]]\npath = \"a.jsonl\"\n";

#[test]
fn documented_keys_are_the_accepted_keys() {
    doc::assert_documented(SECTION, "BuildConfig", &every_key_set());
}

#[test]
fn documented_defaults_are_the_code_defaults() {
    doc::assert_defaults::<BuildConfig>(SECTION, BASE);
}

#[path = "../../../tests/config_doc.rs"]
mod doc;
