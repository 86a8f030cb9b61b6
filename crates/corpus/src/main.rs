//! `corpus`: build a token corpus from multilingual text, inspect one, or verify its shards.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args as ClapArgs, Parser, Subcommand};
use corpus::{BuildConfig, BuildStatus, DocumentMode, OnInvalid, TokenizerKind};

#[derive(Parser)]
#[command(version, about = "Sharded multilingual text → memory-mapped token ids")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Builds a corpus directory: tokenizer.json, token shards per split and language, manifest.json.
    Build(BuildArgs),
    /// Prints a corpus's languages, documents, tokens, bytes, sampling probabilities and fertility.
    Inspect {
        /// The corpus directory.
        dir: PathBuf,
        /// Print the whole manifest as JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Re-hashes every shard in parallel and compares it with manifest.json; exits 1 on any
    /// mismatch, or when the manifest (version 1) records no hashes to compare with.
    Verify {
        /// The corpus directory.
        dir: PathBuf,
        /// Hashing threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
    },
}

#[derive(ClapArgs)]
struct BuildArgs {
    /// A TOML build configuration (see configs/corpus/); excludes --input.
    #[arg(long, conflicts_with = "input")]
    config: Option<PathBuf>,
    /// Input directory: one sub-directory per language, <input>/<lang>/**/*.txt|*.jsonl[.gz|.zst].
    #[arg(long, required_unless_present = "config", requires = "output")]
    input: Option<PathBuf>,
    /// Output corpus directory (overrides the config's `output`).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Train a tokenizer with this vocabulary size.
    #[arg(long, conflicts_with = "tokenizer")]
    vocab_size: Option<usize>,
    /// Use this Hugging Face tokenizer.json instead of training one.
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Subword model to train.
    #[arg(long, value_enum, conflicts_with = "tokenizer")]
    tokenizer_kind: Option<TokenizerKind>,
    /// WordPiece: keep in the alphabet each language's characters covering this share of its text
    /// (0 = off).
    #[arg(long, conflicts_with = "tokenizer")]
    character_coverage: Option<f64>,
    /// Exponent of the language sampling probabilities (p_i ∝ n_i^alpha).
    #[arg(long)]
    alpha: Option<f64>,
    /// Fraction of each language's documents held out for validation.
    #[arg(long)]
    val_fraction: Option<f64>,
    /// At least this many validation documents per language (at most a quarter of its documents).
    #[arg(long)]
    min_val_docs: Option<usize>,
    /// How .txt files are cut into documents.
    #[arg(long, value_enum)]
    documents: Option<DocumentMode>,
    /// Error on malformed documents, or skip and count them.
    #[arg(long, value_enum)]
    on_invalid: Option<OnInvalid>,
    /// Rebuild even if the output is up to date, replacing the corpus there.
    #[arg(long)]
    force: bool,
    /// Encoding threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

impl BuildArgs {
    /// The configuration: the TOML file or the defaults, then the flags on top.
    fn resolve(&self) -> anyhow::Result<BuildConfig> {
        let (mut config, origin) = match (&self.config, &self.input, &self.output) {
            (Some(path), _, _) => (BuildConfig::from_toml_file(path)?, path.display().to_string()),
            (None, Some(input), Some(output)) => {
                (BuildConfig::for_directory(input.clone(), output.clone()), "command line".to_string())
            }
            _ => anyhow::bail!("give --config FILE, or --input DIR and --output DIR"),
        };
        if self.config.is_none() && self.vocab_size.is_none() && self.tokenizer.is_none() {
            anyhow::bail!("give --vocab-size N to train a tokenizer, or --tokenizer tokenizer.json");
        }
        if let Some(output) = &self.output {
            config.output = output.clone();
        }
        if let Some(n) = self.vocab_size {
            config.tokenizer.vocab_size = n;
            config.tokenizer.path = None;
        }
        if let Some(path) = &self.tokenizer {
            config.tokenizer.path = Some(path.clone());
        }
        if let Some(kind) = self.tokenizer_kind {
            config.tokenizer.kind = kind;
        }
        if let Some(coverage) = self.character_coverage {
            config.tokenizer.character_coverage = coverage;
        }
        if let Some(alpha) = self.alpha {
            config.alpha = alpha;
        }
        if let Some(f) = self.val_fraction {
            config.val_fraction = f;
        }
        if let Some(n) = self.min_val_docs {
            config.min_val_docs = n;
        }
        if let Some(d) = self.documents {
            config.documents = d;
        }
        if let Some(o) = self.on_invalid {
            config.on_invalid = o;
        }
        config.validate(&origin)?;
        Ok(config)
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Build(args) => {
            if let Some(threads) = args.threads {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build_global()
                    .context("setting the number of threads")?;
            }
            let config = args.resolve()?;
            let outcome = corpus::build(&config, args.force)?;
            if outcome.status == BuildStatus::Built {
                eprintln!("built {}", outcome.output.display());
            }
            print!("{}", corpus::inspect::summary(&outcome.manifest));
        }
        Command::Verify { dir, threads } => {
            if let Some(threads) = threads {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build_global()
                    .context("setting the number of threads")?;
            }
            let corpus = corpus::Corpus::open(&dir)?;
            let report = corpus.verify(true)?;
            println!(
                "{}: {} shards, {} of token data in {:.2} s ({:.2} GB/s), {} mismatching",
                dir.display(),
                report.shards,
                indicatif::HumanBytes(report.bytes),
                report.seconds,
                report.gb_per_s(),
                report.mismatches.len()
            );
            for m in &report.mismatches {
                eprintln!("mismatch: {m}");
            }
            if !report.mismatches.is_empty() {
                anyhow::bail!(
                    "{}: {} of {} shards do not match manifest.json (listed above): corrupted or modified after the build; rebuild the corpus",
                    dir.display(),
                    report.mismatches.len(),
                    report.shards
                );
            }
            if !report.unverified.is_empty() {
                anyhow::bail!(
                    "{}: {} of {} shards cannot be verified: manifest version {} records no hashes (ids and headers were checked); `corpus build --force` rebuilds the corpus with them",
                    dir.display(),
                    report.unverified.len(),
                    report.shards,
                    corpus.manifest().version
                );
            }
        }
        Command::Inspect { dir, json } => {
            let manifest = corpus::Corpus::open(&dir)?.manifest().clone();
            if json {
                println!("{}", serde_json::to_string_pretty(&manifest)?);
            } else {
                print!("{}", corpus::inspect::summary(&manifest));
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
