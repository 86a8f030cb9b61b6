//! Data-parallel collectives for `tch` through PyTorch's own c10d, the engine behind
//! `torch.distributed` and DDP: a c10d `TCPStore` rendezvous (compatible with torchrun's agent
//! store), `ProcessGroupGloo` on CPU and `ProcessGroupNCCL` on CUDA (cargo feature `nccl`),
//! reached through a small C++ shim (`shim/c10d.cpp`). See `docs/distributed.md` for why and how.
//!
//! - [`Launch`] (module [`env`](mod@env)) is this process's rank and rendezvous address, from torchrun or SLURM;
//! - [`ProcessGroup`] (module [`process_group`]) runs the collectives: all-reduce, bucketed
//!   all-reduce, broadcast, barrier, and a check that all ranks agree;
//! - [`DistError`] (module [`error`]) says what went wrong and what to do.
//!
//! ```no_run
//! use std::time::Duration;
//! use distributed::{Backend, Launch, ProcessGroup};
//!
//! # fn main() -> Result<(), distributed::DistError> {
//! let launch = Launch::from_env()?;
//! let pg = ProcessGroup::new(&launch, Backend::Gloo, Duration::from_secs(300))?;
//! pg.check_same("config", b"lr=1e-4")?;
//! let grads = [tch::Tensor::ones([4, 3], (tch::Kind::Float, pg.device()))];
//! pg.all_reduce_mean_flat(&grads)?;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod bucket;
pub mod env;
pub mod error;
mod ffi;
pub mod process_group;

pub use bucket::DEFAULT_BUCKET_BYTES;
pub use env::{Launch, Launcher, DEFAULT_MASTER_PORT};
pub use error::{DistError, Result};
pub use process_group::{Backend, ProcessGroup};
