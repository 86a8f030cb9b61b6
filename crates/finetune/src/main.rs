//! `finetune`: fine-tuning stage: supervised loss on labelled data.
//!
//! The training itself lands with issue #5; today the binary checks the libtorch set-up.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(version, about = "Fine-tuning stage: supervised loss on labelled data")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Reports the linked libtorch and the devices it can use on this host.
    Doctor,
}

fn main() -> ExitCode {
    match Args::parse().command {
        Command::Doctor => {
            println!("{}", model::runtime_report());
            ExitCode::SUCCESS
        }
    }
}
