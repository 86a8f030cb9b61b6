//! The `finetune` stage (in progress, issue #5). So far: the evaluation metrics of its tasks —
//! [`metrics::seqeval`] (entity F1 for NER, token accuracy for POS), [`metrics::squad`] (exact
//! match and F1 for extractive QA, script-aware), [`metrics::classification`] (accuracy,
//! macro-F1).
#![deny(missing_docs)]

pub mod metrics;
