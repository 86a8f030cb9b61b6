//! The training run: set-up (corpus, model, optimizer, resume), then one loop you can read top to
//! bottom: lr → micro-batches → backward → clip → AdamW → log → evaluate → checkpoint.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use corpus::{Corpus, WindowSampler};
use distributed::{Backend, Launch, ProcessGroup};
use model::{BertConfig, BertForLM, Inputs, ModelDir};
use serde_json::json;
use tch::nn::VarStore;
use tch::{Device, Kind};
use training::{checkpoint, plots, AdamW, AdamWConfig, RunDir, Schedule, TrainerState};

use crate::batch::{self, BatchSpec};
use crate::config::{Objective, PretrainConfig};
use crate::eval::{attention_for, evaluate_corpus, Evaluation};
use crate::lm_loss::backward_lm_loss;

/// Where to resume from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// Start at step 0 (the run directory must not hold checkpoints).
    No,
    /// The newest valid checkpoint of the run.
    Latest,
    /// This checkpoint directory.
    From(PathBuf),
}

/// What a finished run reports.
#[derive(Debug)]
pub struct Outcome {
    /// The run directory.
    pub run_dir: PathBuf,
    /// Steps done in total.
    pub steps: u64,
    /// Mean training loss of the last logged step.
    pub last_loss: f64,
    /// Final per-language validation results.
    pub eval: Vec<Evaluation>,
    /// True when stopped early by SIGINT/SIGTERM (a checkpoint was written).
    pub interrupted: bool,
}

/// The model config: the init checkpoint's, or one built from the TOML and the corpus.
fn model_config(config: &PretrainConfig, corpus: &Corpus) -> anyhow::Result<(BertConfig, Option<ModelDir>)> {
    let vocab = corpus.manifest().tokenizer.vocab_size as i64;
    let causal = config.objective.kind == Objective::Causal;
    if !config.model_name_or_path.is_empty() {
        let dir = ModelDir::open(Path::new(&config.model_name_or_path))?;
        check_same_tokenizer(&dir, corpus)?;
        let mut c = dir.config.clone();
        if c.vocab_size < vocab {
            bail!(
                "model_name_or_path {}: vocab_size = {} but the corpus tokenizer has {vocab} ids",
                config.model_name_or_path,
                c.vocab_size
            );
        }
        record_pretraining(&mut c, config);
        return Ok((c, Some(dir)));
    }
    let m = &config.model;
    let mut c = BertConfig {
        vocab_size: vocab,
        hidden_size: m.hidden_size,
        num_hidden_layers: m.num_hidden_layers,
        num_attention_heads: m.num_attention_heads,
        intermediate_size: m.intermediate_size,
        hidden_dropout_prob: m.hidden_dropout_prob,
        attention_probs_dropout_prob: m.attention_probs_dropout_prob,
        max_position_embeddings: m.max_position_embeddings,
        pad_token_id: corpus.manifest().tokenizer.special_ids.pad.map_or(0, i64::from),
        architectures: Some(vec![if causal { "BertLMHeadModel" } else { "BertForMaskedLM" }.to_string()]),
        ..BertConfig::default()
    };
    record_pretraining(&mut c, config);
    c.validate().map_err(|e| anyhow::anyhow!("[model]: {e}"))?;
    Ok((c, None))
}

/// Records how the encoder was pretrained in keys of our own, and leaves `is_decoder` false:
/// with it true, transformers' `AutoModelFor…` would run causal attention, and a classifier's
/// `[CLS]` would see only itself. Causal scoring in Python passes `is_decoder=True` itself.
fn record_pretraining(c: &mut BertConfig, config: &PretrainConfig) {
    let objective = config.objective.kind;
    let window = config.seq_len() + i64::from(objective == Objective::Causal);
    c.is_decoder = false;
    c.extra.insert("pretraining_objective".into(), json!(objective));
    c.extra.insert("pretraining_k".into(), json!(config.objective.k));
    c.extra.insert("pretraining_max_length".into(), json!(window));
}

/// Refuses a `model_name_or_path` checkpoint whose tokenizer is not the corpus's (ids would mean other words).
fn check_same_tokenizer(dir: &ModelDir, corpus: &Corpus) -> anyhow::Result<()> {
    let theirs = dir.tokenizer()?.get_vocab(true);
    let ours = tokenizers::Tokenizer::from_file(corpus.tokenizer_path())
        .map_err(|e| anyhow::anyhow!("{}: {e}", corpus.tokenizer_path().display()))?
        .get_vocab(true);
    if theirs != ours {
        bail!(
            "the corpus {} was built with another tokenizer than model_name_or_path {} ({} vs {} tokens); rebuild it with \
             `corpus build --tokenizer {}/tokenizer.json`",
            corpus.dir().display(),
            dir.path.display(),
            ours.len(),
            theirs.len(),
            dir.path.display()
        );
    }
    Ok(())
}

/// The device of this rank (under data parallelism, `auto`/`cuda` mean the GPU of the local
/// rank) and the compute dtype.
fn device_and_kind(config: &PretrainConfig, local_rank: usize) -> anyhow::Result<(Device, Kind)> {
    let device = match (model::parse_device(&config.device)?, config.device.as_str()) {
        (Device::Cuda(_), "auto" | "cuda") => Device::Cuda(local_rank),
        (device, _) => device,
    };
    Ok((device, if config.bf16 { Kind::BFloat16 } else { Kind::Float }))
}

/// Trains as `config` says in this process alone; `stop` is raised by SIGINT/SIGTERM.
pub fn train(config: &PretrainConfig, resume: Resume, stop: Arc<AtomicBool>) -> anyhow::Result<Outcome> {
    let single = ProcessGroup::new(&Launch::single(), Backend::Gloo, Duration::from_secs(1))?;
    train_data_parallel(config, resume, stop, &single)
}

/// The process group of this launch (torchrun, SLURM or `scripts/launch.sh`; a single process
/// when none of their variables is set), on the backend `config` asks for.
pub fn process_group(config: &PretrainConfig) -> anyhow::Result<ProcessGroup> {
    let launch = Launch::from_env()?;
    let (device, _) = device_and_kind(config, launch.local_rank())?;
    let backend = match config.ddp_backend.as_str() {
        "nccl" => Backend::Nccl,
        "gloo" => Backend::Gloo,
        _ => Backend::for_device(device),
    };
    let timeout = Duration::from_secs(config.ddp_timeout.max(1));
    let pg = ProcessGroup::new(&launch, backend, timeout)?;
    Ok(pg.with_bucket_bytes(config.ddp_bucket_cap_mb.max(1) << 20))
}

/// Trains as `config` says, as one rank of `pg`: every rank draws its own rows of each step,
/// gradients are summed over the ranks after backward (each rank's loss is divided by the
/// job's target count, so the sum is the job's mean), then clipped and applied identically
/// everywhere. Only rank 0 writes the run directory.
pub fn train_data_parallel(
    config: &PretrainConfig,
    resume: Resume,
    stop: Arc<AtomicBool>,
    pg: &ProcessGroup,
) -> anyhow::Result<Outcome> {
    let (rank, world, main) = (pg.rank(), pg.world_size(), pg.is_main());
    // Loaded configs were checked with the origin of each value; one built in code is checked here.
    config.validate().map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let corpus = Corpus::open(&config.corpus).with_context(|| format!("corpus = {}", config.corpus.display()))?;
    if config.data.verify && pg.launch().local_rank() == 0 {
        // Once per node: its ranks read the same files.
        let report = corpus.verify(main)?;
        report
            .check()
            .context("data.verify (turn it off with --set data.verify=false to train on this corpus anyway)")?;
        tracing::info!(
            "corpus verified: {} shards, {:.2} GB in {:.1} s",
            report.shards,
            report.bytes as f64 / 1e9,
            report.seconds
        );
    }
    let (bert_config, init) = model_config(config, &corpus)?;
    let seq_len = config.seq_len();
    let k = config.objective.k;
    let window = seq_len + i64::from(config.objective.kind == Objective::Causal);
    if window > bert_config.max_position_embeddings {
        bail!(
            "objective.k/seq_len need {window} positions but the model has max_position_embeddings = {}",
            bert_config.max_position_embeddings
        );
    }
    let (device, kind) = device_and_kind(config, pg.launch().local_rank())?;
    if world > 1 {
        // Ranks started with other settings or data would train different models in lockstep.
        let mut settings = config.clone();
        settings.device = String::new();
        pg.check_same("the configuration (after --set)", toml::to_string(&settings)?.as_bytes())?;
        pg.check_same("the corpus", corpus.manifest().fingerprint.as_bytes())?;
    }
    let tokenizer_json = std::fs::read(corpus.tokenizer_path())?;
    let special = corpus.manifest().tokenizer.special_ids;

    let run_path = config.output_dir.clone();
    let run = if main { Some(RunDir::lock(&run_path)?) } else { None };
    let checkpoints = run_path.join("checkpoints");
    tch::manual_seed(config.seed as i64);
    let vs = VarStore::new(device);
    let mut model = BertForLM::new(&vs.root(), &bert_config);
    model.bert.compute_kind = kind;
    if let Some(dir) = &init {
        let report = dir.load_weights(&vs, false)?;
        tracing::info!("model_name_or_path {}: {report}", dir.path.display());
    }
    let c = config;
    let mut opt = AdamW::new(
        &vs,
        AdamWConfig { beta1: c.adam_beta1, beta2: c.adam_beta2, eps: c.adam_epsilon, weight_decay: c.weight_decay },
    );
    let schedule = Schedule {
        lr: c.learning_rate,
        min_lr: c.min_lr,
        warmup_steps: c.warmup_steps,
        total_steps: c.max_steps,
        decay: c.lr_scheduler_type,
    };
    let config_hash = config.resume_hash(&corpus.manifest().fingerprint, world);
    let settings = config.resume_settings(&corpus.manifest().fingerprint, world);

    let (mut step, mut targets_seen) = (0u64, 0u64);
    let mut restored_drawn = std::collections::BTreeMap::<String, u64>::new();
    if main {
        // Holding the lock, whatever is half-written here belongs to a run that is gone.
        checkpoint::remove_partials(&run_path)?;
        checkpoint::remove_partials(&checkpoints)?;
    }
    let from = match resume {
        Resume::No => {
            if main && !checkpoint::list(&checkpoints).is_empty() {
                bail!(
                    "{} holds checkpoints of an earlier run: pass --resume to continue it, or choose another output_dir",
                    run_path.display()
                );
            }
            None
        }
        Resume::Latest => {
            let found = checkpoint::newest_verified(&checkpoints);
            if found.is_none() {
                tracing::warn!("--resume: no valid checkpoint in {}; starting at step 0", checkpoints.display());
            }
            found
        }
        Resume::From(p) => Some((checkpoint::verify(&p).with_context(|| format!("--resume {}", p.display()))?, p)),
    };
    if let Some((state, dir)) = from {
        check_resumable(&settings, &config_hash, &state, &dir, matches!(device, Device::Cuda(_)))?;
        ModelDir::open(&dir)?.load_weights(&vs, false)?;
        opt.load(&dir.join(checkpoint::OPTIMIZER_FILE))?;
        (step, targets_seen) = (state.step, state.tokens_seen);
        restored_drawn = serde_json::from_value(state.extra["tokens_drawn"].clone()).unwrap_or_default();
        tracing::info!("resumed from {} at step {step}", dir.display());
    }
    if main {
        // Each step once, ending where the weights are (step 0: no checkpoint to continue).
        let dropped = training::Metrics::truncate_after(&run_path.join(training::run_dir::METRICS_FILE), step)?;
        if dropped > 0 {
            tracing::warn!("metrics.jsonl: dropped {dropped} rows written after step {step} by a run that crashed");
        }
    }
    if world > 1 {
        // Every rank resumes from the same step (the run directory is shared) and holds rank 0's
        // weights: the moments are read by each rank, the parameters broadcast.
        pg.check_same("the step resumed from", &step.to_le_bytes())?;
        // In name order: the variable map's own order differs between processes.
        let variables: std::collections::BTreeMap<String, tch::Tensor> = vs.variables().into_iter().collect();
        pg.broadcast(&variables.into_values().collect::<Vec<_>>(), 0)?;
    }
    let mut metrics = match &run {
        Some(run) => {
            write_resolved_config(run.path(), config)?;
            let mut metrics = run.metrics()?;
            metrics.report_to(&config.report_to)?;
            Some(metrics)
        }
        None => None,
    };

    let sampler = WindowSampler::new(&corpus, corpus::TRAIN, config.data.alpha, window as usize, config.seed)?;
    let languages = sampler.languages();
    let spec = BatchSpec {
        objective: config.objective.kind,
        rows: config.per_device_train_batch_size,
        seq_len,
        mlm_probability: config.objective.mlm_probability,
        mask_id: special.mask.map_or(-1, i64::from),
        sep_id: i64::from(special.sep),
        vocab_size: bert_config.vocab_size,
        seed: config.seed,
    };
    if spec.objective == Objective::Mlm && spec.mask_id < 0 {
        bail!("objective.kind = \"mlm\" needs a [MASK] token; the corpus tokenizer has none");
    }
    let mask = attention_for(config.objective.kind, k, seq_len);
    let parameters: i64 = vs.trainable_variables().iter().map(|t| t.numel() as i64).sum();
    // PaLM's estimate of training FLOPs per token: 6N + 12·L·H·Q·T.
    let c = &bert_config;
    // Per input token: every token of a row goes through the model, whatever the objective.
    let flops_per_token =
        6.0 * parameters as f64 + 12.0 * (c.num_hidden_layers * c.num_attention_heads * c.head_dim() * seq_len) as f64;
    let (rows, accumulation) = (config.per_device_train_batch_size, config.gradient_accumulation_steps);
    let global_batch = rows * i64::from(accumulation) * world as i64;
    tracing::info!(
        "{parameters} parameters, {} languages, global batch {global_batch} rows ({} per micro-batch × {} micro-steps × {world} ranks) × {seq_len} tokens, k = {k}, {kind:?} on {device:?}",
        languages.len(),
        rows,
        accumulation
    );
    // The fractional epoch: tokens drawn for training over the tokens of the training split.
    let train_tokens = corpus.manifest().languages.values().map(|l| l.train.tokens).sum::<u64>().max(1) as f64;
    let progress = (main && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(config.max_steps);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg} ETA {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_prefix("pretrain");
        bar.set_position(step);
        bar
    });

    let mut last_loss = f64::NAN;
    let mut last_eval = Vec::new();
    let mut drawn: Vec<u64> = languages.iter().map(|l| restored_drawn.get(*l).copied().unwrap_or(0)).collect();
    let input_tokens = |drawn: &[u64]| drawn.iter().sum::<u64>();
    let mut throughput = Throughput::since(input_tokens(&drawn), targets_seen); // after a resume, from there
    let mut interrupted = false;
    // Dropout masks differ between ranks (their rows differ too); rank 0 keeps the run's seed.
    let dropout_seed = if rank == 0 { config.seed } else { training::seed::mix(config.seed ^ rank as u64) };
    while step < config.max_steps {
        // Dropout (and nothing else random in libtorch) is a pure function of (seed, rank, step).
        training::seed::seed_step(dropout_seed, step);
        let lr = schedule.lr_at(step);
        let batches: Vec<_> = (0..accumulation)
            .map(|micro| {
                let first_row = batch::first_row(&spec, rank as u32, micro, accumulation);
                batch::draw(&sampler, &spec, step, first_row, device)
            })
            .collect::<corpus::Result<_>>()?;
        // The step's counts over all ranks: targets, stop requests, rows per language.
        let mut counts = vec![batches.iter().map(|b| b.targets).sum::<i64>(), i64::from(stop.load(Ordering::Relaxed))];
        counts.extend((0..languages.len()).map(|l| batches.iter().map(|b| b.rows_per_language[l] as i64).sum::<i64>()));
        if world > 1 {
            let shared = tch::Tensor::from_slice(&counts);
            pg.all_reduce_sum(&shared)?;
            counts = Vec::try_from(&shared)?;
        }
        // Normalise by the real number of targets of the whole step (all micro-batches, all
        // ranks), so that accumulation and data parallelism give the update of one large batch.
        let targets = counts[0];
        let stopping = counts[1] > 0;
        for (d, n) in drawn.iter_mut().zip(&counts[2..]) {
            *d += *n as u64 * seq_len as u64;
        }
        opt.zero_grad();
        let mut loss_sum = tch::Tensor::zeros([], (Kind::Float, device));
        for b in &batches {
            let hidden = model.bert.forward_t(Inputs::ids(&b.input_ids), mask, true)?.last_hidden_state;
            let summed = backward_lm_loss(&model, &hidden, &b.labels, 1.0 / targets.max(1) as f64);
            loss_sum += summed / targets.max(1) as f64;
        }
        if world > 1 {
            let mut reduced: Vec<tch::Tensor> = opt.gradients();
            reduced.push(loss_sum.shallow_clone());
            pg.all_reduce_sum_flat(&reduced)?;
        }
        let loss = loss_sum.double_value(&[]);
        let grad_norm = opt.clip_grad_norm(config.max_grad_norm);
        if !loss.is_finite() || !grad_norm.is_finite() {
            bail!("{}", non_finite_advice(step, loss, grad_norm, &checkpoints));
        }
        opt.step(lr);
        step += 1;
        targets_seen += targets as u64;
        last_loss = loss;

        if step % config.logging_steps.max(1) == 0 || step == config.max_steps {
            let tokens_seen = input_tokens(&drawn);
            let (tokens_per_s, targets_per_s) = throughput.rates(tokens_seen, targets_seen);
            let epoch = tokens_seen as f64 / train_tokens;
            let per_lang: serde_json::Map<String, serde_json::Value> =
                languages.iter().zip(&drawn).map(|(l, n)| (l.to_string(), json!(n))).collect();
            let mut row = json!({"step": step, "epoch": epoch, "loss": loss, "lr": lr, "grad_norm": grad_norm,
                "tokens_per_s": tokens_per_s, "targets_per_s": targets_per_s,
                "num_input_tokens_seen": tokens_seen, "targets_seen": targets_seen, "tokens_drawn": per_lang});
            let mut msg = format!("loss {loss:.4} lr {lr:.2e} {tokens_per_s:.0} tok/s");
            if config.objective.kind == Objective::Mlm {
                msg += &format!(" ({targets_per_s:.0} targets/s)");
            }
            msg += &format!(" epoch {epoch:.2}");
            if config.log.peak_tflops > 0.0 {
                let mfu = tokens_per_s * flops_per_token / (config.log.peak_tflops * 1e12);
                row["mfu"] = json!(mfu);
                msg += &format!(" MFU {:.1}%", 100.0 * mfu);
            }
            if let Some(metrics) = &mut metrics {
                metrics.write(&row)?;
            }
            match &progress {
                Some(bar) => {
                    bar.set_position(step);
                    bar.set_message(msg);
                }
                None if main => tracing::info!("step {step}/{}: {msg}", config.max_steps),
                None => {}
            }
        }
        let last = step == config.max_steps;
        let mut metric = None;
        if main && ((config.eval_steps > 0 && step % config.eval_steps == 0) || last) {
            last_eval = evaluate_corpus(
                &model,
                &corpus,
                &spec,
                k,
                config.eval.max_windows,
                config.per_device_eval_batch_size as usize,
                device,
            )?;
            if let Some(metrics) = &mut metrics {
                for e in &last_eval {
                    metrics.write(&json!({"step": step, "split": "validation", "lang": e.lang, "loss": e.loss,
                        "ppl": e.ppl, "bits_per_byte": e.bits_per_byte, "tokens": e.tokens,
                        "unigram_entropy": e.unigram_entropy}))?;
                }
            }
            write_plots(&run_path, &schedule)?;
            let mean = last_eval.iter().map(|e| e.loss).sum::<f64>() / last_eval.len().max(1) as f64;
            tracing::info!("step {step}: validation loss {mean:.4} (mean over {} languages)", last_eval.len());
            metric = Some(mean);
        }
        if main && ((config.save_steps > 0 && step % config.save_steps == 0) || last || stopping) {
            let state = TrainerState {
                version: checkpoint::STATE_VERSION,
                step,
                tokens_seen: targets_seen,
                seed: config.seed,
                lr,
                config_hash: config_hash.clone(),
                metric,
                extra: json!({
                    "tokens_drawn": languages.iter().zip(&drawn).map(|(l, n)| (l.to_string(), *n)).collect::<std::collections::BTreeMap<_, _>>(),
                    "settings": &settings,
                }),
            };
            let dir = checkpoint::write(&checkpoints, &bert_config, &vs, &tokenizer_json, &opt, &state)?;
            // transformers' save_total_limit: 0 (its None) keeps every checkpoint.
            let keep_last = if config.save_total_limit == 0 { usize::MAX } else { config.save_total_limit };
            checkpoint::prune(&checkpoints, keep_last, config.checkpoint.keep_best)?;
            tracing::debug!("wrote {}", dir.display());
        }
        if stopping && !last {
            tracing::warn!("stopped by a signal after step {step}; resume with --resume");
            interrupted = true;
            break;
        }
    }
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    if main && !interrupted {
        let tokenizer = tokenizers::Tokenizer::from_bytes(&tokenizer_json).map_err(|e| anyhow::anyhow!("{e}"))?;
        model::model_dir::save(&run_path.join("final"), &bert_config, &vs, Some(&tokenizer))?;
    }
    Ok(Outcome { run_dir: run_path, steps: step, last_loss, eval: last_eval, interrupted })
}

/// Input tokens (every token of every row, all ranks) and targets (the tokens with a loss: all of
/// them under the causal objective, the masked ~15 % under MLM) per second since the last call.
struct Throughput {
    since: Instant,
    tokens: u64,
    targets: u64,
}

impl Throughput {
    fn since(tokens: u64, targets: u64) -> Self {
        Throughput { since: Instant::now(), tokens, targets }
    }

    /// (tokens/s, targets/s) from the counts so far, which the next call counts from.
    fn rates(&mut self, tokens: u64, targets: u64) -> (f64, f64) {
        let secs = self.since.elapsed().as_secs_f64().max(1e-9);
        let rates = ((tokens - self.tokens) as f64 / secs, (targets - self.targets) as f64 / secs);
        *self = Throughput::since(tokens, targets);
        rates
    }
}

/// Why the run stops at step `step + 1` and where to resume: the newest checkpoint written
/// before the weights of `step`, which gave the non-finite loss or gradient; a checkpoint of
/// `step` itself holds those weights (finite, but they diverge at once).
fn non_finite_advice(step: u64, loss: f64, grad_norm: f64, checkpoints: &Path) -> String {
    let saved = checkpoint::list(checkpoints);
    let head = format!("step {}: loss {loss}, gradient norm {grad_norm}; the update was not applied", step + 1);
    let diverged = saved.iter().any(|(s, _)| s.step == step);
    let advice = match saved.iter().rev().find(|(s, _)| s.step < step) {
        Some((s, dir)) => format!(
            "the checkpoint of step {} holds finite weights that trained without diverging: resume from it with a \
             lower learning rate or a longer warm-up: --resume {} --set learning_rate=... (or --set warmup_steps=...)",
            s.step,
            dir.display()
        ),
        None => "no earlier checkpoint holds weights that trained without diverging: start over with a lower \
                 learning_rate or a longer warmup_steps"
            .to_string(),
    };
    let note = if diverged {
        format!(" (the checkpoint of step {step} holds the weights that gave it: do not resume from it)")
    } else {
        String::new()
    };
    format!("{head}{note}. {advice}")
}

/// Refuses a checkpoint written with settings that must not change on resume, naming them;
/// logs each setting that may change and did (see [`crate::config::RESUMABLE`]).
/// A checkpoint written before the keys took transformers' names is compared in the new names
/// (`on_cuda` resolves its `dtype = "auto"`).
fn check_resumable(
    now: &std::collections::BTreeMap<String, String>,
    config_hash: &str,
    state: &TrainerState,
    dir: &Path,
    on_cuda: bool,
) -> anyhow::Result<()> {
    let recorded: std::collections::BTreeMap<String, String> =
        serde_json::from_value(state.extra["settings"].clone()).unwrap_or_default();
    let (before, renamed) = crate::config::settings_in_current_names(recorded, on_cuda);
    let before_hash = if renamed {
        tracing::info!(
            "{}: written before pretrain's keys took transformers' names; its settings are compared in the new names",
            dir.display()
        );
        crate::config::settings_hash(&before)
    } else {
        state.config_hash.clone()
    };
    let changed: Vec<(&String, Option<&String>, Option<&String>)> = before
        .keys()
        .chain(now.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|k| (k, before.get(k), now.get(k)))
        .filter(|(_, b, n)| b != n)
        .collect();
    let show = |v: Option<&String>| v.map_or("(unset)".to_string(), String::clone);
    if before_hash != config_hash {
        let refused: Vec<String> = changed
            .iter()
            .filter(|(k, _, _)| !crate::config::may_change_on_resume(k))
            .map(|(k, b, n)| format!("{k} = {} (checkpoint: {})", show(*n), show(*b)))
            .collect();
        let which =
            if refused.is_empty() { "model, objective, data, optimiser or seed".into() } else { refused.join(", ") };
        bail!(
            "{}: written with other settings ({which}); these cannot change on resume (only {} may): resume with \
             the run's config.toml",
            dir.display(),
            crate::config::RESUMABLE
                .iter()
                .map(|p| p.strip_suffix('.').map_or(p.to_string(), |section| format!("[{section}]")))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for (k, b, n) in changed {
        tracing::info!("resuming with {k} = {} (the checkpoint's run had {})", show(n), show(b));
    }
    Ok(())
}

/// `training.png` (loss, learning rate) and `validation.png` (loss per language) next to
/// `metrics.jsonl`.
fn write_plots(run: &Path, schedule: &Schedule) -> anyhow::Result<()> {
    let rows = plots::read_metrics(&run.join(training::run_dir::METRICS_FILE))?;
    plots::training_curves(&rows, Some(schedule), &run.join("training.png"))?;
    let mut per_lang: std::collections::BTreeMap<String, Vec<(f64, f64)>> = Default::default();
    for r in rows.iter().filter(|r| r["split"] == "validation") {
        if let (Some(lang), Some(step), Some(loss)) = (r["lang"].as_str(), r["step"].as_f64(), r["loss"].as_f64()) {
            per_lang.entry(lang.to_string()).or_default().push((step, loss));
        }
    }
    let series: Vec<plots::Series> = per_lang.into_iter().collect();
    plots::line_chart(&run.join("validation.png"), "validation loss per language", "loss (nats/token)", &series)?;
    Ok(())
}

fn write_resolved_config(run: &Path, config: &PretrainConfig) -> anyhow::Result<()> {
    Ok(training::run_dir::write_atomically(&run.join("config.toml"), toml::to_string_pretty(config)?.as_bytes())?)
}
