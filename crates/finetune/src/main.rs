//! `finetune`: fine-tune a pretrained encoder on labelled data and evaluate it per language.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Parser, Subcommand};
use finetune::FinetuneConfig;

#[derive(Parser)]
#[command(
    version,
    about = "Fine-tune a BERT on labelled data: sequence classification, token classification (NER, POS), \
             extractive QA"
)]
struct Cli {
    /// The run configuration (configs/finetune/*.toml); for eval and predict it supplies field
    /// names, max_seq_length and QA decoding (defaults otherwise).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Override a setting: --set learning_rate=3e-5 (repeatable; typed like the key).
    #[arg(long = "set", value_name = "KEY=VALUE", global = true)]
    set: Vec<String>,
    /// Continue the fine-tuning from the newest valid checkpoint of output_dir, or from PATH
    /// (checkpoints are written every save_steps).
    #[arg(long, num_args = 0..=1, default_missing_value = "", value_name = "PATH")]
    resume: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Fine-tunes as --config says (the default command).
    Train,
    /// Scores a fine-tuned checkpoint on labelled data, per language: one JSON object.
    Eval {
        /// The fine-tuned model directory (e.g. runs/<name>/best).
        #[arg(long)]
        checkpoint: PathBuf,
        /// Labelled data, `PATH` (rows may carry `lang`) or `LANG=PATH` (repeatable); default:
        /// the configuration's validation files.
        #[arg(long, value_name = "[LANG=]PATH")]
        input: Vec<String>,
        /// cpu, cuda, cuda:N or auto.
        #[arg(long, default_value = "auto")]
        device: String,
    },
    /// Applies a fine-tuned checkpoint to unlabelled rows: one JSON line per row.
    Predict {
        /// The fine-tuned model directory (e.g. runs/<name>/best).
        #[arg(long)]
        checkpoint: PathBuf,
        /// Rows: JSONL/CSV/TSV with `text` (classification), JSONL `tokens`/CoNLL/CoNLL-U
        /// (tagging), SQuAD JSON or JSONL `question`/`context` (QA).
        #[arg(long)]
        input: PathBuf,
        /// Where to write the predictions (JSONL).
        #[arg(long)]
        output: PathBuf,
        /// cpu, cuda, cuda:N or auto.
        #[arg(long, default_value = "auto")]
        device: String,
    },
    /// Checks libtorch, CPU and GPU bf16, NCCL, the launcher environment and free disk; prints the fix for each problem.
    Doctor,
}

/// The configuration of --config (with --set), or the defaults for eval and predict.
fn settings(cli: &Cli, required: bool) -> anyhow::Result<FinetuneConfig> {
    match &cli.config {
        Some(path) => FinetuneConfig::load(path, &cli.set),
        None if required => anyhow::bail!("give --config configs/finetune/<task>.toml"),
        None => Ok(training::overrides::load_with_overrides("", "--set", &cli.set)?),
    }
}

fn run(cli: Cli, stop: &AtomicBool) -> anyhow::Result<()> {
    let training = matches!(cli.command, Some(Command::Train) | None);
    if cli.resume.is_some() && !training {
        anyhow::bail!("--resume continues a fine-tuning: it goes with `finetune train`");
    }
    if !training {
        // Nothing to checkpoint: a signal ends a subcommand at once.
        stop.store(true, Ordering::Relaxed);
    }
    match &cli.command {
        Some(Command::Doctor) => {
            let (report, ok) = training::doctor::render(&training::doctor::checks(None, Path::new("runs")));
            print!("{report}");
            anyhow::ensure!(ok, "doctor found problems: apply the fixes above");
        }
        Some(Command::Predict { checkpoint, input, output, device }) => {
            let c = settings(&cli, false)?;
            let rows = finetune::predict::predict(checkpoint, input, output, &c, model::parse_device(device)?)?;
            eprintln!("{rows} predictions written to {}", output.display());
        }
        Some(Command::Eval { checkpoint, input, device }) => {
            let c = settings(&cli, false)?;
            let files: Vec<(PathBuf, Option<String>)> = if input.is_empty() {
                c.evaluation_files()
            } else {
                input
                    .iter()
                    .map(|spec| match spec.split_once('=') {
                        Some((lang, path)) if !lang.contains('/') => (PathBuf::from(path), Some(lang.to_string())),
                        _ => (PathBuf::from(spec), None),
                    })
                    .collect()
            };
            let report = finetune::evaluate::evaluate_checkpoint(checkpoint, &files, &c, model::parse_device(device)?)?;
            println!("{}", serde_json::to_string(&report)?);
        }
        Some(Command::Train) | None => {
            let config = settings(&cli, true)?;
            let resume = training::Resume::from_flag(cli.resume.as_deref());
            let outcome = finetune::trainer::train_resuming(&config, &resume, stop)?;
            if outcome.interrupted {
                eprintln!(
                    "stopped after step {}: continue with --resume ({})",
                    outcome.steps,
                    outcome.output_dir.join("checkpoints").display()
                );
                return Ok(());
            }
            eprint!("{}", finetune::evaluate::scores_table(&outcome.best));
            eprintln!(
                "done after step {}: {} (scores in {})",
                outcome.steps,
                outcome.output_dir.display(),
                outcome.output_dir.join("eval_results.json").display()
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
    training::cli::main_with(|| run(Cli::parse(), &stop))
}
