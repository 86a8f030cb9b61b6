//! What the training binaries share at the top of `main`: logs through `tracing` to stderr
//! (`RUST_LOG` filters, colour only on a terminal; under a data-parallel launcher only rank 0
//! logs below warnings, and errors name their rank), one thread budget for libtorch and for the
//! rayon work beside it (the model's CPU dropout masks), a oneDNN primitive cache large enough for
//! dynamic padding, one error chain printed with a non-zero exit instead of a panic, and the
//! SIGINT/SIGTERM handling that lets a training stop after its step with a checkpoint.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// oneDNN primitives (the CPU f32 matmuls, see `model::linear`) cached per process, unless
/// `ONEDNN_PRIMITIVE_CACHE_CAPACITY` is set. oneDNN's default, 1,024, is outgrown by fine-tuning
/// with dynamic padding: every new padded length needs its own primitive for each layer shape
/// and pass (~15 for a BERT layer and its head), and recreating evicted ones slowed Turkish POS
/// fine-tuning down in its later epochs; this capacity costs some RSS (figures:
/// docs/benchmarks.md, finetune).
const ONEDNN_CACHE_CAPACITY: &str = "8192";

/// A flag raised by SIGINT or SIGTERM, for a training loop to finish its step, write a
/// checkpoint and stop. A second signal, or any signal once the flag is raised (as subcommands
/// with nothing to save raise it), ends the process at once. Call it first thing in `main`, so
/// that a signal during start-up stops the run after its first step instead of killing it
/// before anything is written.
pub fn stop_on_signals() -> std::io::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_default(signal, stop.clone())?;
        signal_hook::flag::register(signal, stop.clone())?;
    }
    Ok(stop)
}

/// Starts logging, runs `run`, and turns its result into the process exit code.
pub fn main_with(run: impl FnOnce() -> anyhow::Result<()>) -> ExitCode {
    // Read by oneDNN when it makes its first primitive; no thread has started yet.
    if std::env::var_os("ONEDNN_PRIMITIVE_CACHE_CAPACITY").is_none() {
        std::env::set_var("ONEDNN_PRIMITIVE_CACHE_CAPACITY", ONEDNN_CACHE_CAPACITY);
    }
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
