//! `finetune`: fine-tune a pretrained encoder on labelled data and evaluate it per language.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use finetune::FinetuneConfig;

#[derive(Parser)]
#[command(version, about = "Fine-tune a BERT on labelled data (sequence and token classification so far)")]
struct Cli {
    /// The run configuration (configs/finetune/*.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Override a setting: --set learning_rate=3e-5 (repeatable; typed like the key).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Applies a fine-tuned checkpoint to unlabelled rows: one JSON line per row.
    Predict {
        /// The fine-tuned model directory (e.g. runs/<name>/best).
        #[arg(long)]
        checkpoint: PathBuf,
        /// Rows: JSONL/CSV/TSV with `text` (classification), or JSONL `tokens`/CoNLL/CoNLL-U (tagging).
        #[arg(long)]
        input: PathBuf,
        /// Where to write the predictions (JSONL).
        #[arg(long)]
        output: PathBuf,
        /// cpu, cuda, cuda:N or auto.
        #[arg(long, default_value = "auto")]
        device: String,
    },
    /// Reports the linked libtorch and the devices it can use on this host.
    Doctor,
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Doctor) => {
            println!("{}", model::runtime_report());
            return Ok(());
        }
        Some(Command::Predict { checkpoint, input, output, device }) => {
            let rows = finetune::predict::predict(&checkpoint, &input, &output, model::parse_device(&device)?)?;
            eprintln!("{rows} predictions written to {}", output.display());
            return Ok(());
        }
        None => {}
    }
    let path = cli.config.ok_or_else(|| anyhow::anyhow!("give --config configs/finetune/<task>.toml"))?;
    let config = FinetuneConfig::load(&path, &cli.set)?;
    let outcome = finetune::trainer::train(&config)?;
    println!("{}", serde_json::to_string_pretty(&outcome.best)?);
    eprintln!("done after step {}: {}", outcome.steps, outcome.output_dir.display());
    Ok(())
}

fn main() -> ExitCode {
    training::cli::main_with(|| run(Cli::parse()))
}
