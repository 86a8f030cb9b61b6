//! The errors of this crate: each says what went wrong and what to do about it.

use std::time::Duration;

/// Result with [`DistError`].
pub type Result<T, E = DistError> = std::result::Result<T, E>;

/// What can go wrong when launching, connecting or running collectives.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    /// A launcher variable holds a value that cannot be used.
    #[error("environment variable {var}={value:?} is not valid: {reason}")]
    BadEnv {
        /// The variable, e.g. `WORLD_SIZE`.
        var: &'static str,
        /// Its value.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// A launcher variable is missing while a related one is set.
    #[error("environment variable {var} is not set but {because} is: {hint}")]
    MissingEnv {
        /// The missing variable.
        var: &'static str,
        /// The variable whose presence requires it.
        because: &'static str,
        /// How to set it.
        hint: &'static str,
    },
    /// Rank, world size or port do not fit together.
    #[error("invalid launch: {0}")]
    BadLaunch(String),
    /// Rank 0 could not start the rendezvous store because its port is taken.
    #[error(
        "port {port} on {addr} is in use: another job or an earlier run still holds it; \
         set MASTER_PORT to a free port (or stop the process that holds it)"
    )]
    PortInUse {
        /// The store address (`MASTER_ADDR`).
        addr: String,
        /// The store port (`MASTER_PORT`).
        port: u16,
    },
    /// The backend is not part of this build.
    #[error("the {backend} backend is not compiled in: {hint}")]
    Unsupported {
        /// `gloo` or `nccl`.
        backend: String,
        /// How to get it.
        hint: String,
    },
    /// The store or the process group could not be set up.
    #[error(
        "rank {rank} of {world_size}: could not set up the {backend} process group with the store at \
         {addr}:{port}: {message}\n\
         Start every rank with the same MASTER_ADDR, MASTER_PORT and WORLD_SIZE within the timeout ({timeout:?}); \
         rank 0 must be reachable from every rank (under SLURM, start the ranks with srun)"
    )]
    Init {
        /// `gloo` or `nccl`.
        backend: String,
        /// This rank.
        rank: usize,
        /// The number of ranks.
        world_size: usize,
        /// The store address.
        addr: String,
        /// The store port.
        port: u16,
        /// The process group's timeout.
        timeout: Duration,
        /// c10d's message.
        message: String,
    },
    /// A collective did not complete within the timeout.
    #[error(
        "{op} on rank {rank} timed out after {timeout:?}: {message}\n\
         Another rank did not take part in time: it exited, crashed or is stuck (see its log), or the \
         ranks issued different collectives (e.g. different numbers of steps or tensors)"
    )]
    Timeout {
        /// The collective, e.g. `all_reduce`.
        op: &'static str,
        /// This rank.
        rank: usize,
        /// The process group's timeout.
        timeout: Duration,
        /// c10d's message.
        message: String,
    },
    /// A peer closed its connection during a collective.
    #[error(
        "{op} on rank {rank} failed: a peer rank closed its connection ({message})\n\
         Another rank exited or crashed: see its log for the first error"
    )]
    PeerLost {
        /// The collective.
        op: &'static str,
        /// This rank.
        rank: usize,
        /// c10d's message.
        message: String,
    },
    /// Any other failure of a collective.
    #[error("{op} on rank {rank} failed: {message}")]
    Collective {
        /// The collective.
        op: &'static str,
        /// This rank.
        rank: usize,
        /// c10d's message.
        message: String,
    },
    /// Ranks were started with different inputs (see [`crate::ProcessGroup::check_same`]).
    #[error(
        "ranks disagree on {what}: rank(s) {differing:?} differ from rank 0 (of {world_size}); \
         start every rank with the same {what}"
    )]
    Mismatch {
        /// What was compared, e.g. `config`.
        what: String,
        /// The ranks whose value differs from rank 0's.
        differing: Vec<usize>,
        /// The number of ranks.
        world_size: usize,
    },
    /// A tensor that a collective cannot take.
    #[error("{op}: {reason}")]
    BadTensor {
        /// The collective.
        op: &'static str,
        /// What is wrong with the tensor.
        reason: String,
    },
    /// A tensor operation around a collective failed.
    #[error(transparent)]
    Torch(#[from] tch::TchError),
}

impl DistError {
    /// Classifies a failed collective by c10d's message: timeouts and lost peers get their own
    /// variants, whose messages say what to look at.
    pub(crate) fn collective(op: &'static str, rank: usize, timeout: Duration, message: String) -> DistError {
        let lower = message.to_lowercase();
        if lower.contains("timed out") || lower.contains("timeout") {
            DistError::Timeout { op, rank, timeout, message }
        } else if lower.contains("connection closed by peer")
            || lower.contains("connection reset")
            || lower.contains("broken pipe")
            || lower.contains("read error")
        {
            DistError::PeerLost { op, rank, message }
        } else {
            DistError::Collective { op, rank, message }
        }
    }
}
