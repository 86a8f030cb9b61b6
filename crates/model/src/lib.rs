//! BERT on libtorch through `tch`, with Hugging Face names and numerics.
//!
//! The model follows transformers' `modeling_bert.py` one struct per module, each named as its
//! parameters are on disk:
//! - [`BertConfig`] (`config.json`), [`BertModel`] = [`embeddings`] + [`encoder`] (layers of
//!   [`attention`] and feed-forward) + pooler;
//! - [`heads`]: [`BertForLM`] (`BertLMHeadModel`/`BertForMaskedLM`, decoder tied to the word
//!   embeddings), [`BertForSequenceClassification`], [`BertForTokenClassification`],
//!   [`BertForQuestionAnswering`];
//! - [`AttentionMask`]: bidirectional with padding, causal, or causal limited to the previous k
//!   tokens, through `scaled_dot_product_attention` (written out on CPU in training, where SDPA's
//!   dropout path is slow);
//! - [`dropout`]: the same distribution as libtorch's, with fast CPU masks;
//! - [`ModelDir`] and [`weights`]: model directories (`config.json`, `model.safetensors`,
//!   `tokenizer.json` or `vocab.txt`) loaded with a report of missing and unexpected keys, and
//!   saved so that transformers' `from_pretrained` reads them;
//! - [`checksums`]: every file's SHA-256, recorded while writing and verified before loading;
//! - `device`: `cpu`, `cuda`, `cuda:N`, `auto`.
//!
//! On CPU in f32 every linear layer runs on oneDNN rather than MKL's sgemm ([`linear::linear`]):
//! exact f32, and faster where MKL does not use AVX-512, as on AMD CPUs (figures:
//! docs/benchmarks.md, model).
//!
//! Parameters are f32; setting [`BertModel::compute_kind`] to bf16 runs the matmuls in bf16
//! with LayerNorm in f32 (autocast by hand).
#![deny(missing_docs)]

pub mod attention;
pub mod bert;
pub mod checksums;
pub mod config;
mod device;
pub mod dropout;
pub mod embeddings;
pub mod encoder;
pub mod error;
pub mod heads;
pub mod linear;
pub mod model_dir;
pub mod tokenizer;
pub mod weights;

/// Held by the unit tests that seed or draw from libtorch's process-wide generator: run side by
/// side, one test's draws would land between another's seed and its draws.
#[cfg(test)]
pub(crate) fn global_rng() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

pub use attention::AttentionMask;
pub use bert::{BertModel, BertModelOutput, Inputs};
pub use config::{BertConfig, HiddenAct};
pub use device::{parse_device, runtime_report, DeviceError, DeviceSetting, RuntimeReport};
pub use error::{Error, Result};
pub use heads::{
    BertForLM, BertForQuestionAnswering, BertForSequenceClassification, BertForTokenClassification, Pooling,
};
pub use model_dir::ModelDir;
pub use weights::LoadReport;
