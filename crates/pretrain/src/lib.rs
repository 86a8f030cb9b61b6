//! The `pretrain` stage: trains the `model` crate's BERT on a corpus directory.
//!
//! - [`config`]: the TOML configuration with typed `--set` overrides;
//! - [`context`]: what every row is — its length, the context window k, the objective's targets
//!   — and the attention mask that follows;
//! - [`batch`]: micro-batches drawn from the corpus as a pure function of (seed, step,
//!   micro-step, rank), for the causal window objective L_pre or MLM;
//! - [`lm_loss`]: the LM head and its loss, forward and backward in chunks of rows;
//! - [`eval`]: per-language loss, perplexity and bits per byte, and the `--text` protocol;
//! - [`trainer`]: the run — resume, the training step, logging, evaluation, checkpoints.
#![deny(missing_docs)]

pub mod batch;
pub mod config;
pub mod context;
pub mod eval;
pub mod lm_loss;
pub mod trainer;

pub use config::{Objective, PretrainConfig};
pub use trainer::{process_group, train, train_data_parallel, Outcome, Resume};
