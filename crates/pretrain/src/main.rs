//! `pretrain`: next-token (or MLM) pretraining of BERT on a corpus directory.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use pretrain::{PretrainConfig, Resume};

#[derive(Parser)]
#[command(version, about = "Pretrain a BERT on a corpus directory (next-token loss over a window k, or MLM)")]
struct Cli {
    /// The run configuration (configs/pretrain/*.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Override a setting: --set learning_rate=3e-4 (repeatable; typed like the key it replaces).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Resume from the newest valid checkpoint of the run, or from PATH.
    #[arg(long, num_args = 0..=1, default_missing_value = "")]
    resume: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Scores a checkpoint: one JSON line {"loss", "tokens", "ppl", "bits_per_byte"}.
    Eval {
        /// A model directory (ours, or any HF BertLMHeadModel).
        #[arg(long)]
        checkpoint: PathBuf,
        /// A corpus directory: per-language results on its validation split.
        #[arg(long, conflicts_with = "text", required_unless_present = "text")]
        corpus: Option<PathBuf>,
        /// A text file: one document per non-empty line.
        #[arg(long)]
        text: Option<PathBuf>,
        /// Context window (default: max_position_embeddings − 1 for --text, 128 for --corpus).
        #[arg(long)]
        k: Option<i64>,
        /// cpu, cuda, cuda:N or auto.
        #[arg(long, default_value = "auto")]
        device: String,
    },
    /// Checks libtorch, CPU and GPU bf16, NCCL, the launcher environment and free disk; prints the fix for each problem.
    Doctor,
}

fn run(cli: Cli, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    if cli.command.is_some() {
        // Nothing to checkpoint: a signal ends a subcommand at once.
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    match cli.command {
        Some(Command::Doctor) => {
            let (report, ok) = training::doctor::render(&training::doctor::checks(
                Some(distributed::Backend::Nccl.is_compiled()),
                Path::new("runs"),
            ));
            print!("{report}");
            anyhow::ensure!(ok, "doctor found problems: apply the fixes above");
        }
        Some(Command::Eval { checkpoint, corpus, text, k, device }) => {
            let device = model::parse_device(&device)?;
            if let Some(text) = text {
                let e = pretrain::eval::evaluate_text(&checkpoint, &text, k, device)?;
                println!(
                    "{}",
                    serde_json::json!({"loss": e.loss, "tokens": e.tokens, "ppl": e.ppl, "bits_per_byte": e.bits_per_byte})
                );
            } else if let Some(corpus) = corpus {
                let rows =
                    pretrain::eval::evaluate_checkpoint_on_corpus(&checkpoint, &corpus, k.unwrap_or(128), device)?;
                println!("{}", serde_json::to_string(&rows)?);
            }
        }
        None => {
            let path = cli.config.ok_or_else(|| anyhow::anyhow!("give --config configs/pretrain/<name>.toml"))?;
            let config = PretrainConfig::load(&path, &cli.set)?;
            let resume = Resume::from_flag(cli.resume.as_deref());
            let pg = pretrain::process_group(&config)?;
            let outcome = pretrain::train_data_parallel(&config, resume, stop, &pg)?;
            if !pg.is_main() {
                return Ok(());
            }
            for e in &outcome.eval {
                let h = e.unigram_entropy.map_or(String::new(), |h| format!("  unigram entropy {h:.4}"));
                eprintln!("{:<10} loss {:.4}  ppl {:>9.2}  bits/byte {:.3}{h}", e.lang, e.loss, e.ppl, e.bits_per_byte);
            }
            eprintln!(
                "{} after step {}: {}",
                if outcome.interrupted { "stopped" } else { "done" },
                outcome.steps,
                outcome.run_dir.display()
            );
        }
    }
    Ok(())
}

training::jemalloc_for_the_process!();

fn main() -> ExitCode {
    let stop = match training::cli::stop_on_signals() {
        Ok(stop) => stop,
        Err(e) => {
            eprintln!("error: cannot install the SIGINT/SIGTERM handlers: {e}");
            return ExitCode::from(1);
        }
    };
    // TF32 for any f32 matmul left on Ampere and later GPUs: tch has no switch, libtorch reads this.
    if std::env::var_os("TORCH_ALLOW_TF32_CUBLAS_OVERRIDE").is_none() {
        std::env::set_var("TORCH_ALLOW_TF32_CUBLAS_OVERRIDE", "1");
    }
    training::cli::main_with(|| run(Cli::parse(), stop))
}
