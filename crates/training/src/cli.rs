//! What the training binaries share at the top of `main`: logs through `tracing` to stderr
//! (`RUST_LOG` filters, colour only on a terminal; under a data-parallel launcher only rank 0
//! logs below warnings, and errors name their rank), one thread budget for libtorch and for the
//! rayon work beside it (the model's CPU dropout masks), and one error chain printed with a
//! non-zero exit instead of a panic.

use std::io::IsTerminal;
use std::process::ExitCode;

/// Starts logging, runs `run`, and turns its result into the process exit code.
pub fn main_with(run: impl FnOnce() -> anyhow::Result<()>) -> ExitCode {
    // torchrun sets RANK, SLURM's srun SLURM_PROCID; the other ranks' info would repeat rank 0's.
    let rank = ["RANK", "SLURM_PROCID"].iter().find_map(|v| std::env::var(v).ok()).filter(|r| r != "0");
    let default_level = if rank.is_some() { "warn" } else { "info" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    // libtorch sizes its pool from OMP_NUM_THREADS (torchrun sets 1 per rank); rayon would take
    // every core, and ranks sharing a node would oversubscribe it.
    let threads = usize::try_from(tch::get_num_threads()).unwrap_or(1).max(1);
    if let Err(e) = rayon::ThreadPoolBuilder::new().num_threads(threads).build_global() {
        tracing::warn!("rayon thread pool: {e}");
    }
    // A misspelt matmul switch would otherwise be ignored without a word.
    let result = model::linear::CpuGemm::from_env().map_err(anyhow::Error::msg).and_then(|_| run());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match rank {
                Some(rank) => eprintln!("error (rank {rank}): {e:#}"),
                None => eprintln!("error: {e:#}"),
            }
            ExitCode::from(1)
        }
    }
}
