//! The `finetune` stage (in progress, issue #5):
//! - [`config`]: the TOML configuration, with transformers' `TrainingArguments` names;
//! - [`data`]: labelled data readers — sequence classification (JSONL, CSV/TSV), token
//!   classification (JSONL, CoNLL, CoNLL-U), extractive QA (SQuAD JSON, JSONL) — with errors
//!   naming file and line;
//! - [`trainer`]: fine-tuning and per-language evaluation for sequence and token classification;
//! - [`predict`]: a fine-tuned checkpoint applied to unlabelled rows;
//! - [`metrics`]: [`metrics::seqeval`] (entity F1 for NER, token accuracy for POS),
//!   [`metrics::squad`] (exact match and F1, script-aware), [`metrics::classification`]
//!   (accuracy, macro-F1).
#![deny(missing_docs)]

pub mod config;
pub mod data;
pub mod metrics;
pub mod predict;
pub mod trainer;

pub use config::FinetuneConfig;
