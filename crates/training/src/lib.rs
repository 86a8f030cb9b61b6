//! Training machinery shared by the `pretrain` and `finetune` stages:
//! - [`cli`]: logging and error reporting at the top of the binaries' `main`;
//! - [`allocator`]: jemalloc for the whole process, keeping freed pages for the next step;
//! - [`doctor`]: what the host offers (libtorch, CPU/GPU bf16, NCCL, launcher, disk) and the fixes;
//! - [`adamw`]: AdamW with moments this crate owns (saved and restored for exact resume), and
//!   gradient clipping, with the arithmetic of `torch.optim.AdamW`;
//! - [`schedule`]: warm-up then cosine or linear decay, a pure function of the step;
//! - [`loss`]: the cross-entropy of both stages and `IGNORE`, the label of positions without a
//!   target;
//! - [`checkpoint`]: atomic step checkpoints (model directory + optimizer + trainer state),
//!   newest-valid lookup, keep-last and keep-best retention;
//! - [`resume`]: `--resume [PATH]`: the checkpoint to continue from, and the settings that must
//!   not change (refused by name);
//! - [`progress`]: a progress bar on a terminal, one log line per logged step otherwise;
//! - [`run_dir`]: the run directory's lock and `metrics.jsonl` (time-stamped rows);
//! - [`tensorboard`]: `report_to = ["tensorboard"]`: the rows as TensorBoard scalars;
//! - [`overrides`]: typed TOML configs with `--set key=value`, and where each value came from;
//! - [`ranges`]: the range rules of numeric settings, with errors naming the key and its origin;
//! - [`seed`]: keyed randomness, so that resuming replays shuffles and dropout exactly;
//! - [`plots`]: PNG charts drawn from `metrics.jsonl` (training curves, values per language).
#![deny(missing_docs)]

pub mod adamw;
pub mod allocator;
pub mod checkpoint;
pub mod cli;
pub mod doctor;
pub mod error;
pub mod loss;
pub mod overrides;
pub mod plots;
pub mod progress;
pub mod ranges;
pub mod resume;
pub mod run_dir;
pub mod schedule;
pub mod seed;
pub mod tensorboard;

pub use adamw::{AdamW, AdamWConfig};
pub use checkpoint::TrainerState;
pub use error::{Error, Result};
pub use resume::{Resume, ResumeSettings};
pub use run_dir::{Metrics, RunDir};
pub use schedule::{Decay, Schedule};
pub use tensorboard::ReportTo;
