//! The training run: [`prepare`] does the set-up once (corpus, model, optimizer, resume, run
//! directory); then the loop of [`train_data_parallel`] reads top to bottom, one named call per
//! periodic action: step, log, evaluate, checkpoint.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use corpus::{Corpus, WindowSampler};
use distributed::{Backend, Launch, ProcessGroup};
use model::{BertConfig, BertForLM, Inputs, ModelDir};
use serde_json::json;
use tch::nn::VarStore;
use tch::{Device, Kind};
use training::progress::{StepProgress, Throughput};
pub use training::Resume;
use training::{checkpoint, plots, AdamW, AdamWConfig, Metrics, ResumeSettings, RunDir, Schedule, TrainerState};

use crate::batch::{self, BatchSpec};
use crate::config::{Objective, PretrainConfig};
use crate::context::Context;
use crate::eval::{evaluate_corpus, Evaluation};
use crate::lm_loss::backward_lm_loss;

/// What a finished run reports.
#[derive(Debug)]
pub struct Outcome {
    /// The run directory.
    pub run_dir: PathBuf,
    /// Steps done in total.
    pub steps: u64,
    /// Mean training loss of the last step.
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
    if let Some(path) = &config.model_name_or_path {
        let dir = ModelDir::open(path)?;
        check_same_tokenizer(&dir, corpus)?;
        let mut c = dir.config.clone();
        if c.vocab_size < vocab {
            bail!(
                "model_name_or_path {}: vocab_size = {} but the corpus tokenizer has {vocab} ids",
                path.display(),
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

/// Trains as `config` says in this process alone; `stop` is raised by SIGINT/SIGTERM.
pub fn train(config: &PretrainConfig, resume: Resume, stop: Arc<AtomicBool>) -> anyhow::Result<Outcome> {
    let single = ProcessGroup::new(&Launch::single(), Backend::Gloo, Duration::from_secs(1))?;
    train_data_parallel(config, resume, stop, &single)
}

/// The process group of this launch (torchrun, SLURM or `scripts/launch.sh`; a single process
/// when none of their variables is set), on the backend `config` asks for.
pub fn process_group(config: &PretrainConfig) -> anyhow::Result<ProcessGroup> {
    let launch = Launch::from_env()?;
    let backend = config.ddp_backend.for_device(config.device.resolve(launch.local_rank())?);
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
    let corpus = open_corpus(config, pg)?;
    let mut run = prepare(config, &corpus, pg, &resume)?;
    let (mut last_loss, mut last_eval, mut interrupted) = (f64::NAN, Vec::new(), false);
    while run.step < config.max_steps {
        let s = run.train_step(&stop)?;
        last_loss = s.loss;
        let last = run.step == config.max_steps;
        if run.step % config.logging_steps.max(1) == 0 || last {
            run.log(&s)?;
        }
        let mut metric = None;
        if run.main && (is_due(run.step, config.eval_steps) || last) {
            last_eval = run.evaluate()?;
            metric = Some(last_eval.iter().map(|e| e.loss).sum::<f64>() / last_eval.len().max(1) as f64);
        }
        if run.main && (is_due(run.step, config.save_steps) || last || s.stopping) {
            run.save_checkpoint(s.lr, metric)?;
        }
        if s.stopping && !last {
            tracing::warn!("stopped by a signal after step {}; resume with --resume", run.step);
            interrupted = true;
            break;
        }
    }
    run.progress.finish();
    if run.main && !interrupted {
        run.save_final()?;
    }
    Ok(Outcome { run_dir: config.output_dir.clone(), steps: run.step, last_loss, eval: last_eval, interrupted })
}

/// True every `every` steps (never for 0).
fn is_due(step: u64, every: u64) -> bool {
    every > 0 && step.is_multiple_of(every)
}

/// The corpus of `config`, verified once per node when `data.verify` says so.
fn open_corpus(config: &PretrainConfig, pg: &ProcessGroup) -> anyhow::Result<Corpus> {
    // Loaded configs were checked with the origin of each value; one built in code is checked here.
    config.validate().map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let corpus = Corpus::open(&config.corpus).with_context(|| format!("corpus = {}", config.corpus.display()))?;
    if config.data.verify && pg.launch().local_rank() == 0 {
        // Once per node: its ranks read the same files.
        let report = corpus.verify(pg.is_main())?;
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
    Ok(corpus)
}

/// Everything the loop works with, set up once by [`prepare`], and where it stands.
struct Run<'a> {
    config: &'a PretrainConfig,
    pg: &'a ProcessGroup,
    corpus: &'a Corpus,
    /// Rank 0, the one that writes the run directory.
    main: bool,
    sampler: WindowSampler<'a>,
    spec: BatchSpec,
    bert_config: BertConfig,
    vs: VarStore,
    model: BertForLM,
    opt: AdamW,
    schedule: Schedule,
    settings: ResumeSettings,
    device: Device,
    tokenizer_json: Vec<u8>,
    /// Rank 0's lock on the run directory and its metrics log.
    log: Option<(RunDir, Metrics)>,
    progress: StepProgress,
    /// Tokens of the training split, for the fractional epoch.
    train_tokens: f64,
    /// PaLM's estimate of training FLOPs per input token, for MFU.
    flops_per_token: f64,
    /// Dropout masks differ between ranks (their rows differ too); rank 0 keeps the run's seed.
    dropout_seed: u64,
    // Where the run stands (restored on resume).
    step: u64,
    targets_seen: u64,
    /// Input tokens drawn per language (index as in the sampler).
    drawn: Vec<u64>,
    throughput: Throughput<2>,
}

/// What one optimizer step did.
struct StepResult {
    loss: f64,
    lr: f64,
    grad_norm: f64,
    /// A rank was asked to stop (SIGINT/SIGTERM): all ranks stop after this step.
    stopping: bool,
}

/// Opens the run: model, optimizer, schedule and sampler as `config` says, the checkpoint of
/// `resume` restored (after refusing settings that must not change), ranks checked to agree and
/// given rank 0's weights, and on rank 0 the locked run directory with its metrics log.
fn prepare<'a>(
    config: &'a PretrainConfig,
    corpus: &'a Corpus,
    pg: &'a ProcessGroup,
    resume: &Resume,
) -> anyhow::Result<Run<'a>> {
    let (rank, world, main) = (pg.rank(), pg.world_size(), pg.is_main());
    let (bert_config, init) = model_config(config, corpus)?;
    let manifest = corpus.manifest();
    let context = Context::of(config, manifest.tokenizer.special_ids, bert_config.vocab_size)?;
    if context.window() as i64 > bert_config.max_position_embeddings {
        bail!(
            "objective.k/seq_len need {} positions but the model has max_position_embeddings = {}",
            context.window(),
            bert_config.max_position_embeddings
        );
    }
    let device = config.device.resolve(pg.launch().local_rank())?;
    let kind = if config.bf16 { Kind::BFloat16 } else { Kind::Float };
    if world > 1 {
        // Ranks started with other settings or data would train different models in lockstep.
        let mut settings = config.clone();
        settings.device = model::DeviceSetting::Auto;
        pg.check_same("the configuration (after --set)", toml::to_string(&settings)?.as_bytes())?;
        pg.check_same("the corpus", manifest.fingerprint.as_bytes())?;
    }
    let tokenizer_json = std::fs::read(corpus.tokenizer_path())?;
    let lock = if main { Some(RunDir::lock(&config.output_dir)?) } else { None };

    tch::manual_seed(config.seed as i64);
    let vs = VarStore::new(device);
    let mut model = BertForLM::new(&vs.root(), &bert_config);
    model.bert.compute_kind = kind;
    if let Some(dir) = &init {
        let report = dir.load_weights(&vs, false)?;
        tracing::info!("model_name_or_path {}: {report}", dir.path.display());
    }
    let c = config;
    let opt = AdamW::new(
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
    let sampler = WindowSampler::new(corpus, corpus::TRAIN, config.data.alpha, context.window(), config.seed)?;
    let parameters: i64 = vs.trainable_variables().iter().map(|t| t.numel() as i64).sum();
    let b = &bert_config;
    // PaLM: 6N + 12·L·H·Q·T per token; every token of a row goes through the model, whatever
    // the objective.
    let flops_per_token = 6.0 * parameters as f64
        + 12.0 * (b.num_hidden_layers * b.num_attention_heads * b.head_dim() * context.seq_len) as f64;
    let (rows, accumulation) = (config.per_device_train_batch_size, config.gradient_accumulation_steps);
    tracing::info!(
        "{parameters} parameters, {} languages, global batch {} rows ({rows} per micro-batch × {accumulation} micro-steps × {world} ranks) × {} tokens, k = {}, {kind:?} on {device:?}",
        sampler.languages().len(),
        rows * i64::from(accumulation) * world as i64,
        context.seq_len,
        context.k,
    );
    let drawn = vec![0; sampler.languages().len()];
    let mut run = Run {
        config,
        pg,
        corpus,
        main,
        sampler,
        spec: BatchSpec { rows, context },
        bert_config,
        vs,
        model,
        opt,
        schedule,
        settings: config.resume_settings(&manifest.fingerprint, world),
        device,
        tokenizer_json,
        log: None,
        progress: StepProgress::new("pretrain", config.max_steps, 0, false),
        train_tokens: manifest.languages.values().map(|l| l.train.tokens).sum::<u64>().max(1) as f64,
        flops_per_token,
        dropout_seed: if rank == 0 { config.seed } else { training::seed::mix(config.seed ^ rank as u64) },
        step: 0,
        targets_seen: 0,
        drawn,
        throughput: Throughput::since([0, 0]),
    };
    run.restore(resume)?;
    if let Some(lock) = lock {
        training::run_dir::write_config(lock.path(), config)?;
        let mut metrics = lock.metrics()?;
        metrics.report_to(&config.report_to)?;
        run.log = Some((lock, metrics));
    }
    run.progress = StepProgress::new("pretrain", config.max_steps, run.step, main);
    run.throughput = Throughput::since([run.drawn.iter().sum(), run.targets_seen]);
    Ok(run)
}

impl Run<'_> {
    fn checkpoints(&self) -> PathBuf {
        self.config.output_dir.join("checkpoints")
    }

    /// Continues the checkpoint `resume` names, if any: weights, moments, step and counts; then
    /// drops the metrics rows written after its step, and gives every rank rank 0's weights.
    fn restore(&mut self, resume: &Resume) -> anyhow::Result<()> {
        let checkpoints = self.checkpoints();
        if self.main {
            // Holding the lock, whatever is half-written here belongs to a run that is gone.
            checkpoint::remove_partials(&self.config.output_dir)?;
            checkpoint::remove_partials(&checkpoints)?;
            if *resume == Resume::No && !checkpoint::list(&checkpoints).is_empty() {
                bail!(
                    "{} holds checkpoints of an earlier run: pass --resume to continue it, or choose another output_dir",
                    self.config.output_dir.display()
                );
            }
        }
        if let Some((state, dir)) = resume.checkpoint(&checkpoints)? {
            let on_cuda = matches!(self.device, Device::Cuda(_));
            self.settings.check_translated(&state, &dir, |recorded| {
                crate::config::settings_in_current_names(recorded, on_cuda)
            })?;
            ModelDir::open(&dir)?.load_weights(&self.vs, false)?;
            self.opt.load(&dir.join(checkpoint::OPTIMIZER_FILE))?;
            (self.step, self.targets_seen) = (state.step, state.tokens_seen);
            let drawn: std::collections::BTreeMap<String, u64> =
                serde_json::from_value(state.extra["tokens_drawn"].clone()).unwrap_or_default();
            self.drawn = self.sampler.languages().iter().map(|l| drawn.get(*l).copied().unwrap_or(0)).collect();
            tracing::info!("resumed from {} at step {}", dir.display(), self.step);
        }
        if self.main {
            // Each step once, ending where the weights are (step 0: no checkpoint to continue).
            let metrics = self.config.output_dir.join(training::run_dir::METRICS_FILE);
            let dropped = Metrics::truncate_after(&metrics, self.step)?;
            if dropped > 0 {
                tracing::warn!(
                    "metrics.jsonl: dropped {dropped} rows written after step {} by a run that crashed",
                    self.step
                );
            }
        }
        if self.pg.world_size() > 1 {
            // Every rank resumes from the same step (the run directory is shared) and holds rank
            // 0's weights: the moments are read by each rank, the parameters broadcast.
            self.pg.check_same("the step resumed from", &self.step.to_le_bytes())?;
            // In name order: the variable map's own order differs between processes.
            let variables: std::collections::BTreeMap<String, tch::Tensor> = self.vs.variables().into_iter().collect();
            self.pg.broadcast(&variables.into_values().collect::<Vec<_>>(), 0)?;
        }
        Ok(())
    }

    /// One optimizer step: this rank's micro-batches drawn, forward and backward, gradients and
    /// loss summed over the ranks, clipped, and applied unless the loss or the gradient norm is
    /// not finite (then the run stops, naming the checkpoint to resume from).
    fn train_step(&mut self, stop: &AtomicBool) -> anyhow::Result<StepResult> {
        let (step, accumulation) = (self.step, self.config.gradient_accumulation_steps);
        // Dropout (and nothing else random in libtorch) is a pure function of (seed, rank, step).
        training::seed::seed_step(self.dropout_seed, step);
        let lr = self.schedule.lr_at(step);
        let batches: Vec<_> = (0..accumulation)
            .map(|micro| {
                let first_row = batch::first_row(&self.spec, self.pg.rank() as u32, micro, accumulation);
                batch::draw(&self.sampler, &self.spec, step, first_row, self.device)
            })
            .collect::<corpus::Result<_>>()?;
        // The step's counts over all ranks: targets, stop requests, rows per language.
        let mut counts = vec![batches.iter().map(|b| b.targets).sum::<i64>(), i64::from(stop.load(Ordering::Relaxed))];
        counts
            .extend((0..self.drawn.len()).map(|l| batches.iter().map(|b| b.rows_per_language[l] as i64).sum::<i64>()));
        if self.pg.world_size() > 1 {
            let shared = tch::Tensor::from_slice(&counts);
            self.pg.all_reduce_sum(&shared)?;
            counts = Vec::try_from(&shared)?;
        }
        // Normalise by the real number of targets of the whole step (all micro-batches, all
        // ranks), so that accumulation and data parallelism give the update of one large batch.
        let targets = counts[0];
        for (d, n) in self.drawn.iter_mut().zip(&counts[2..]) {
            *d += *n as u64 * self.spec.context.seq_len as u64;
        }
        self.opt.zero_grad();
        let mask = self.spec.context.mask();
        let mut loss_sum = tch::Tensor::zeros([], (Kind::Float, self.device));
        for b in &batches {
            let hidden = self.model.bert.forward_t(Inputs::ids(&b.input_ids), mask, true)?.last_hidden_state;
            let summed = backward_lm_loss(&self.model, &hidden, &b.labels, 1.0 / targets.max(1) as f64);
            loss_sum += summed / targets.max(1) as f64;
        }
        if self.pg.world_size() > 1 {
            let mut reduced: Vec<tch::Tensor> = self.opt.gradients();
            reduced.push(loss_sum.shallow_clone());
            self.pg.all_reduce_sum_flat(&reduced)?;
        }
        let loss = loss_sum.double_value(&[]);
        let grad_norm = self.opt.clip_grad_norm(self.config.max_grad_norm);
        if !loss.is_finite() || !grad_norm.is_finite() {
            bail!("{}", checkpoint::non_finite_advice(step, loss, grad_norm, &self.checkpoints()));
        }
        self.opt.step(lr);
        self.step += 1;
        self.targets_seen += targets as u64;
        self.progress.advance(self.step);
        Ok(StepResult { loss, lr, grad_norm, stopping: counts[1] > 0 })
    }

    /// The metrics row of a logged step, and its figures on the progress bar (or a log line).
    fn log(&mut self, s: &StepResult) -> anyhow::Result<()> {
        let (step, tokens_seen) = (self.step, self.drawn.iter().sum::<u64>());
        let [tokens_per_s, targets_per_s] = self.throughput.rates([tokens_seen, self.targets_seen]);
        let epoch = tokens_seen as f64 / self.train_tokens;
        let per_lang: serde_json::Map<String, serde_json::Value> =
            self.sampler.languages().iter().zip(&self.drawn).map(|(l, n)| (l.to_string(), json!(n))).collect();
        let mut row = json!({"step": step, "epoch": epoch, "loss": s.loss, "lr": s.lr, "grad_norm": s.grad_norm,
            "tokens_per_s": tokens_per_s, "targets_per_s": targets_per_s,
            "num_input_tokens_seen": tokens_seen, "targets_seen": self.targets_seen, "tokens_drawn": per_lang});
        let mut msg = format!("loss {:.4} lr {:.2e} {tokens_per_s:.0} tok/s", s.loss, s.lr);
        if self.spec.context.objective() == Objective::Mlm {
            msg += &format!(" ({targets_per_s:.0} targets/s)");
        }
        msg += &format!(" epoch {epoch:.2}");
        if self.config.log.peak_tflops > 0.0 {
            let mfu = tokens_per_s * self.flops_per_token / (self.config.log.peak_tflops * 1e12);
            row["mfu"] = json!(mfu);
            msg += &format!(" MFU {:.1}%", 100.0 * mfu);
        }
        if let Some((_, metrics)) = &mut self.log {
            metrics.write(&row)?;
            self.progress.report(step, msg);
        }
        Ok(())
    }

    /// Per-language validation (rank 0): rows in the log, the charts redrawn.
    fn evaluate(&mut self) -> anyhow::Result<Vec<Evaluation>> {
        let c = self.config;
        let results = evaluate_corpus(
            &self.model,
            self.corpus,
            &self.spec.context,
            c.eval.max_windows,
            c.per_device_eval_batch_size as usize,
            self.device,
        )?;
        if let Some((_, metrics)) = &mut self.log {
            for e in &results {
                metrics.write(&json!({"step": self.step, "split": "validation", "lang": e.lang, "loss": e.loss,
                    "ppl": e.ppl, "bits_per_byte": e.bits_per_byte, "tokens": e.tokens,
                    "unigram_entropy": e.unigram_entropy}))?;
            }
            let per_language = |r: &serde_json::Value| -> Vec<(String, f64)> {
                r["lang"].as_str().zip(r["loss"].as_f64()).map(|(l, v)| (l.to_string(), v)).into_iter().collect()
            };
            let titles = ("validation loss per language", "loss (nats/token)");
            plots::write_run_charts(&c.output_dir, &self.schedule, titles, per_language)?;
        }
        let mean = results.iter().map(|e| e.loss).sum::<f64>() / results.len().max(1) as f64;
        tracing::info!("step {}: validation loss {mean:.4} (mean over {} languages)", self.step, results.len());
        Ok(results)
    }

    /// `checkpoints/step-NNNNNNN/` (rank 0), then the older ones pruned: the newest
    /// `save_total_limit` are kept, and the `checkpoint.keep_best` with the lowest `metric`.
    fn save_checkpoint(&self, lr: f64, metric: Option<f64>) -> anyhow::Result<()> {
        let c = self.config;
        let state = TrainerState {
            version: checkpoint::STATE_VERSION,
            step: self.step,
            tokens_seen: self.targets_seen,
            seed: c.seed,
            lr,
            config_hash: self.settings.hash(),
            metric,
            extra: json!({
                "tokens_drawn": self.sampler.languages().iter().zip(&self.drawn).map(|(l, n)| (l.to_string(), *n)).collect::<std::collections::BTreeMap<_, _>>(),
                "settings": self.settings.to_json(),
            }),
        };
        let checkpoints = self.checkpoints();
        let dir =
            checkpoint::write(&checkpoints, &self.bert_config, &self.vs, &self.tokenizer_json, &self.opt, &state)?;
        // transformers' save_total_limit: 0 (its None) keeps every checkpoint.
        let keep_last = if c.save_total_limit == 0 { usize::MAX } else { c.save_total_limit };
        checkpoint::prune(&checkpoints, keep_last, c.checkpoint.keep_best)?;
        tracing::debug!("wrote {}", dir.display());
        Ok(())
    }

    /// `final/`: the encoder as a model directory transformers loads.
    fn save_final(&self) -> anyhow::Result<()> {
        let tokenizer = tokenizers::Tokenizer::from_bytes(&self.tokenizer_json).map_err(|e| anyhow::anyhow!("{e}"))?;
        model::model_dir::save(&self.config.output_dir.join("final"), &self.bert_config, &self.vs, Some(&tokenizer))?;
        Ok(())
    }
}
