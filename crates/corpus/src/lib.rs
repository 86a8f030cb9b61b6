//! The `corpus` stage: sharded multilingual text → memory-mapped token ids.
//!
//! Building (`corpus build`) runs one pipeline:
//! 1. [`source`] finds the input files: `<root>/<lang>/**/*.txt|*.jsonl` (optionally `.gz` or
//!    `.zst`) or `*.parquet` ([`parquet_file`]), or sources listed in a TOML [`config`] with explicit language codes;
//! 2. [`document`] streams documents out of each file (lines, blank-line blocks or JSONL rows),
//!    reporting malformed input by file and line;
//! 3. [`tokenizer`] loads a Hugging Face `tokenizer.json` or trains one (WordPiece, BPE or
//!    Unigram) on a language-balanced sample;
//! 4. [`encode`] tokenizes in parallel with rayon, splits train/validation by a hash of each
//!    document ([`split`]) and appends ids to [`shard`] files;
//! 5. [`builder`] writes the [`manifest`] last and renames the finished directory into place.
//!
//! Reading, for the training stages: [`Corpus`] maps the shards and checks them against the
//! manifest, [`TokenStream`] gives zero-copy windows of one (split, language), and
//! [`WindowSampler`] draws windows by the α-smoothed language probabilities as a pure function
//! of (seed, step, micro-step, rank). Every id read is checked against the vocabulary, and
//! [`Corpus::verify`] ([`verify`]) re-hashes every shard against the manifest.
//!
//! The on-disk format is documented in `docs/formats.md`.
#![deny(missing_docs)]

pub mod alphabet;
pub mod builder;
pub mod config;
pub mod dataset;
pub mod document;
pub mod encode;
pub mod error;
pub mod inspect;
pub mod manifest;
pub mod parquet_file;
mod progress;
pub mod sampler;
pub mod shard;
pub mod source;
pub mod split;
pub mod tokenizer;
pub mod verify;

pub use builder::{build, BuildOutcome, BuildStatus};
pub use config::{BuildConfig, DocumentMode, OnInvalid, SourceConfig, TokenizerConfig, TokenizerKind};
pub use dataset::{Corpus, TokenStream};
pub use error::{Error, Result};
pub use manifest::{Manifest, TRAIN, VALIDATION};
pub use sampler::{Draw, DrawKey, WindowSampler};
pub use shard::{Dtype, Shard, Tokens};
pub use verify::{Mismatch, VerifyReport};
