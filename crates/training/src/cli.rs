//! What the training binaries share at the top of `main`: logs through `tracing` to stderr
//! (`RUST_LOG` filters, colour only on a terminal), and one error chain printed with a non-zero
//! exit instead of a panic.

use std::io::IsTerminal;
use std::process::ExitCode;

/// Starts logging, runs `run`, and turns its result into the process exit code.
pub fn main_with(run: impl FnOnce() -> anyhow::Result<()>) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
