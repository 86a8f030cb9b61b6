//! The `finetune` stage:
//! - [`config`]: the TOML configuration, with transformers' `TrainingArguments` names;
//! - [`data`]: labelled data readers — sequence classification (JSONL, CSV/TSV), token
//!   classification (JSONL, CoNLL, CoNLL-U), extractive QA (SQuAD JSON, JSONL) — with errors
//!   naming file and line;
//! - `encode`: rows to model inputs (sub-token label alignment, dynamic padding);
//! - [`extractive_qa`]: context windows with a stride, answer positions, n-best span decoding;
//! - `task_model`: the encoder with the task's head, and fine-tuned checkpoints reopened;
//! - [`trainer`]: fine-tuning with evaluation, early stopping and the best checkpoint kept;
//! - [`evaluate`]: scores per language and their average (`finetune eval`);
//! - [`predict`]: a fine-tuned checkpoint applied to unlabelled rows;
//! - [`metrics`]: [`metrics::seqeval`] (entity F1 for NER, token accuracy for POS),
//!   [`metrics::squad`] (exact match and F1, script-aware), [`metrics::classification`]
//!   (accuracy, macro-F1).
#![deny(missing_docs)]

pub mod config;
pub mod data;
mod encode;
pub mod evaluate;
pub mod extractive_qa;
pub mod metrics;
pub mod predict;
mod task_model;
pub mod trainer;

pub use config::FinetuneConfig;
