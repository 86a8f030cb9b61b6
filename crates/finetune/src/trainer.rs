//! Fine-tuning: L_fine = −(1/M) Σ log p(y_j | x_j; θ) over the M labelled targets (examples for
//! sequence classification; first sub-tokens of words for token classification; the answer's
//! start and end in every window for QA), with the shared training machinery (AdamW, schedule,
//! clipping), dynamic padding in batches of similar length, evaluation per language, early
//! stopping, the best checkpoint kept by the chosen metric, and step checkpoints to resume from
//! bit for bit (`--resume`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Context};
use model::{BertConfig, Inputs, ModelDir};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tch::nn::VarStore;
use tch::Tensor;
use tokenizers::Tokenizer;
use training::progress::{StepProgress, Throughput};
use training::{
    checkpoint, plots, AdamW, AdamWConfig, Metrics, Resume, ResumeSettings, RunDir, Schedule, TrainerState,
};

use crate::config::{FinetuneConfig, Task};
use crate::encode::{collate, read_and_encode, Encoded, Encoder, Rows, IGNORE};
use crate::evaluate::{average_over_languages, default_metric, evaluate, truncating, Setting};
use crate::task_model::{architecture, mask_of, record_training, TaskModel};

/// What a run reports.
#[derive(Debug)]
pub struct Outcome {
    /// Run directory.
    pub output_dir: PathBuf,
    /// Best evaluation: overall, per language, and the average over languages.
    pub best: serde_json::Value,
    /// Optimizer steps done.
    pub steps: u64,
    /// Runtime, throughput and mean loss of the training, as Trainer reports them.
    pub train: TrainSummary,
    /// True when stopped early by SIGINT/SIGTERM: a checkpoint of the last step was written,
    /// and `final/`, `eval_results.json` and the summary row wait for the resumed run.
    pub interrupted: bool,
}

/// How the training went, with the names of Trainer's final metrics. After a resume the
/// runtime and throughput are this process's; the loss is the mean over the whole run.
#[derive(Debug, Clone, Serialize)]
pub struct TrainSummary {
    /// Seconds spent in the training loop (evaluations and checkpoints included).
    pub train_runtime: f64,
    /// Training examples (QA: windows) per second.
    pub train_samples_per_second: f64,
    /// Optimizer steps per second.
    pub train_steps_per_second: f64,
    /// Mean training loss over the run's steps.
    pub train_loss: f64,
}

/// The key that marks the summary row a finished run ends its `metrics.jsonl` with.
const SUMMARY_KEY: &str = "train_runtime";

/// The example order of an epoch: shuffled by (seed, epoch), then grouped into runs of similar
/// length so that padding stays small, and the batches shuffled again.
fn epoch_batches(data: &[Encoded], batch: usize, seed: u64, epoch: u64) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..data.len()).collect();
    let key = |i: usize| {
        training::seed::mix(seed ^ training::seed::mix(epoch ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)))
    };
    order.sort_by_key(|&i| key(i));
    let mut batches: Vec<Vec<usize>> = Vec::new();
    for pool in order.chunks(batch * 50) {
        let mut pool = pool.to_vec();
        pool.sort_by_key(|&i| data[i].ids.len());
        batches.extend(pool.chunks(batch).map(<[usize]>::to_vec));
    }
    batches.sort_by_key(|b| key(b[0] + data.len()));
    batches
}

/// What a run writes into its output directory.
const RUN_OUTPUTS: [&str; 8] = [
    "metrics.jsonl",
    "eval_results.json",
    "config.toml",
    "training.png",
    "validation.png",
    "best",
    "final",
    CHECKPOINTS,
];

/// The step checkpoints under the output directory.
const CHECKPOINTS: &str = "checkpoints";

/// Refuses a directory that holds an earlier run (whose metrics the new one would be appended
/// to), or with `overwrite` deletes that run's outputs, and only those.
fn clear_earlier_run(dir: &Path, overwrite: bool) -> anyhow::Result<()> {
    let earlier: Vec<&str> = RUN_OUTPUTS.iter().copied().filter(|name| dir.join(name).exists()).collect();
    if earlier.is_empty() {
        return Ok(());
    }
    if !overwrite {
        let resume = if earlier.contains(&CHECKPOINTS) { "continue it with --resume, " } else { "" };
        bail!(
            "output_dir {} holds an earlier run ({}): {resume}choose another output_dir, or start over there with \
             --set overwrite_output_dir=true",
            dir.display(),
            earlier.join(", ")
        );
    }
    for name in earlier {
        let path = dir.join(name);
        let removed = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        removed.with_context(|| format!("removing {} of the earlier run", path.display()))?;
    }
    Ok(())
}

/// The encoder to start from: its configuration, weights (none from scratch) and tokenizer.
fn initial_model(c: &FinetuneConfig) -> anyhow::Result<(BertConfig, Option<ModelDir>, Tokenizer)> {
    if c.model_name_or_path.is_empty() {
        let tokenizer =
            Tokenizer::from_file(&c.scratch_tokenizer).map_err(|e| anyhow::anyhow!("{}: {e}", c.scratch_tokenizer))?;
        // The size of the tiny pretraining preset, so that scratch and pretrained runs compare.
        let config = BertConfig {
            vocab_size: tokenizer.get_vocab_size(true) as i64,
            hidden_size: 128,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            intermediate_size: 512,
            max_position_embeddings: c.max_seq_length as i64,
            ..BertConfig::default()
        };
        Ok((config, None, tokenizer))
    } else {
        let dir = ModelDir::open(Path::new(&c.model_name_or_path))?;
        let tokenizer = dir.tokenizer()?;
        Ok((dir.config.clone(), Some(dir), tokenizer))
    }
}

/// `training.png` (loss, learning rate) and `validation.png` (the metric per language, and
/// over all rows) next to `metrics.jsonl`.
fn write_plots(run: &Path, metric: &str, schedule: &Schedule) -> anyhow::Result<()> {
    let per_language = |row: &serde_json::Value| -> Vec<(String, f64)> {
        let scores = row["scores"].as_object().into_iter().flatten();
        scores.filter_map(|(lang, s)| Some((lang.clone(), s[metric].as_f64()?))).collect()
    };
    Ok(plots::write_run_charts(run, schedule, (&format!("validation {metric}"), metric), per_language)?)
}

/// Where the loop stands besides the weights and the optimizer's moments: what a checkpoint's
/// `trainer_state.json` carries (`extra.position`), so that a resumed run continues bit for bit.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Position {
    /// The epoch under way (its batches are a pure function of seed and epoch; the steps done
    /// in it are the run's steps less those of the epochs before).
    epoch: u64,
    /// Training examples (QA: windows) trained on.
    samples_seen: u64,
    /// The sum of the step losses, for `train_loss`.
    loss_sum: f64,
    /// The best evaluation row so far (null before the first evaluation).
    best: serde_json::Value,
    /// Its metric, larger = better.
    best_value: Option<f64>,
    /// Evaluations since the best, for early stopping.
    since_best: usize,
}

/// What the periodic actions of the loop share: the run's directory, model and settings.
struct Run<'a> {
    c: &'a FinetuneConfig,
    dir: &'a Path,
    bert_config: &'a BertConfig,
    vs: &'a VarStore,
    tokenizer: &'a Tokenizer,
    settings: ResumeSettings,
    schedule: Schedule,
    steps_per_epoch: u64,
    total: u64,
}

impl Run<'_> {
    /// The fractional epoch after `step`, as Trainer logs it.
    fn epoch_at(&self, step: u64) -> f64 {
        step as f64 / self.steps_per_epoch.max(1) as f64
    }

    fn evaluates_at(&self, step: u64) -> bool {
        let c = self.c;
        (c.eval_steps > 0 && step.is_multiple_of(c.eval_steps))
            || (c.eval_steps == 0 && step.is_multiple_of(self.steps_per_epoch))
            || step == self.total
    }

    fn saves_at(&self, step: u64) -> bool {
        self.c.save_steps > 0 && step.is_multiple_of(self.c.save_steps)
    }

    /// `best/` or `final/`: a model directory transformers loads.
    fn save_model(&self, name: &str) -> anyhow::Result<()> {
        Ok(model::model_dir::save(&self.dir.join(name), self.bert_config, self.vs, Some(self.tokenizer))?)
    }

    /// `checkpoints/step-NNNNNNN/` (written atomically, checksummed), then the oldest pruned
    /// to `save_total_limit`.
    fn save_checkpoint(&self, opt: &AdamW, step: u64, lr: f64, position: &Position) -> anyhow::Result<()> {
        let state = TrainerState {
            version: checkpoint::STATE_VERSION,
            step,
            tokens_seen: position.samples_seen,
            seed: self.c.seed,
            lr,
            config_hash: self.settings.hash(),
            // Retention here is by age (save_total_limit); best/ keeps the best weights.
            metric: None,
            extra: json!({"settings": self.settings.to_json(), "position": position}),
        };
        let tokenizer_json = self.tokenizer.to_string(true).map_err(|e| anyhow::anyhow!("tokenizer: {e}"))?;
        let root = self.dir.join(CHECKPOINTS);
        let dir = checkpoint::write(&root, self.bert_config, self.vs, tokenizer_json.as_bytes(), opt, &state)?;
        if self.c.save_total_limit > 0 {
            checkpoint::prune(&root, self.c.save_total_limit, 0)?;
        }
        tracing::debug!("wrote {}", dir.display());
        Ok(())
    }

    /// Why the run stops at step `step + 1`, and what to do: resume from the newest checkpoint
    /// (weights that trained without diverging) with a lower learning rate, or start over.
    fn non_finite_advice(&self, step: u64, loss: f64, grad_norm: f64, position: &Position) -> String {
        let advice = checkpoint::non_finite_advice(step, loss, grad_norm, &self.dir.join(CHECKPOINTS));
        match position.best["step"].as_u64() {
            Some(at) => format!(
                "{advice}; {} holds the best finite weights so far (step {at})",
                self.dir.join("best").display()
            ),
            None => advice,
        }
    }
}

/// Prepares the output directory and returns the step to start at and the loop's position:
/// with a checkpoint to resume (see [`Resume::checkpoint`]) its weights, moments and position
/// are restored, after refusing settings that must not change, and the metrics rows written
/// after its step are dropped; otherwise the run starts at step 0 in a directory without an
/// earlier run (with `overwrite_output_dir`, that run's outputs are deleted first).
fn start_or_resume(run: &Run, resume: &Resume, opt: &mut AdamW) -> anyhow::Result<(u64, Position)> {
    let checkpoints = run.dir.join(CHECKPOINTS);
    // Holding the lock, whatever is half-written here belongs to a run that is gone.
    checkpoint::remove_partials(run.dir)?;
    checkpoint::remove_partials(&checkpoints)?;
    let Some((state, from)) = resume.checkpoint(&checkpoints)? else {
        clear_earlier_run(run.dir, run.c.overwrite_output_dir)?;
        return Ok((0, Position::default()));
    };
    run.settings.check(&state, &from)?;
    let parent = |p: &Path| p.canonicalize().ok().and_then(|d| d.parent().map(Path::to_path_buf));
    let own = parent(&from).is_some() && parent(&from) == checkpoints.canonicalize().ok();
    if !own {
        // The run it belongs to lives elsewhere: this directory starts a log of its own.
        clear_earlier_run(run.dir, run.c.overwrite_output_dir)?;
    } else if run.c.overwrite_output_dir {
        tracing::warn!("--resume: overwrite_output_dir = true ignored; the run continues in {}", run.dir.display());
    }
    let position: Position = serde_json::from_value(state.extra["position"].clone())
        .with_context(|| format!("{}: no fine-tuning position in {}", from.display(), checkpoint::STATE_FILE))?;
    let in_epoch = state.step.checked_sub(position.epoch * run.steps_per_epoch);
    if in_epoch.is_none_or(|n| n > run.steps_per_epoch) {
        bail!(
            "{}: step {} is not in epoch {} of {} steps",
            from.display(),
            state.step,
            position.epoch,
            run.steps_per_epoch
        );
    }
    ModelDir::open(&from)?.load_weights(run.vs, false)?;
    opt.load(&from.join(checkpoint::OPTIMIZER_FILE))?;
    // Each step once, ending where the weights are, and no summary row yet: the resumed run
    // ends with its own (resuming a finished run would otherwise log two).
    let dropped = Metrics::retain(&run.dir.join(training::run_dir::METRICS_FILE), |row| {
        row["step"].as_u64().is_some_and(|s| s <= state.step) && row.get(SUMMARY_KEY).is_none()
    })?;
    if dropped > 0 {
        tracing::warn!(
            "metrics.jsonl: dropped {dropped} rows written after step {} (or the summary closing the run)",
            state.step
        );
    }
    tracing::info!("resumed from {} at step {} (epoch {:.2})", from.display(), state.step, run.epoch_at(state.step));
    Ok((state.step, position))
}

/// How training batches are collated and scored.
struct Batching<'a> {
    data: &'a [Encoded],
    pad: i64,
    per_token: bool,
    mask: model::AttentionMask,
    device: tch::Device,
}

/// Forward and backward over the micro-batches of one optimizer step; returns the step's loss.
/// M is the labelled targets of the whole step, so that accumulated micro-batches give the
/// update of one large batch.
fn accumulate_gradients(model: &TaskModel, group: &[Vec<usize>], b: &Batching) -> anyhow::Result<f64> {
    let targets: usize =
        group.iter().flatten().map(|&i| b.data[i].labels.iter().filter(|&&l| l != IGNORE).count()).sum();
    let mut loss_sum = 0.0;
    for batch in group {
        let items: Vec<&Encoded> = batch.iter().map(|&i| &b.data[i]).collect();
        let (ids, mask, types, y) = collate(&items, b.pad, b.per_token, b.device);
        let inputs = Inputs { input_ids: &ids, attention_mask: Some(&mask), token_type_ids: Some(&types) };
        let loss = model.flat_scores(inputs, b.mask, true)?.cross_entropy_loss::<Tensor>(
            &y.view([-1]),
            None,
            tch::Reduction::Sum,
            IGNORE,
            0.0,
        ) / targets.max(1) as f64;
        loss.backward();
        loss_sum += loss.double_value(&[]);
    }
    Ok(loss_sum)
}

/// The logging row of `step`, and the same figures on the progress bar (or a log line).
struct StepLog {
    step: u64,
    loss: f64,
    lr: f64,
    grad_norm: f64,
}

/// Writes the row of a logged step; `throughput` counts samples since the last one.
fn log_step(
    run: &Run,
    metrics: &mut Metrics,
    progress: &StepProgress,
    throughput: &mut Throughput<1>,
    samples_seen: u64,
    s: StepLog,
) -> anyhow::Result<()> {
    let [samples_per_s] = throughput.rates([samples_seen]);
    metrics.write(&json!({"step": s.step, "epoch": run.epoch_at(s.step), "loss": s.loss, "lr": s.lr,
        "grad_norm": s.grad_norm, "samples_per_s": samples_per_s}))?;
    progress.report(s.step, format!("loss {:.4} lr {:.2e} {samples_per_s:.1} samples/s", s.loss, s.lr));
    Ok(())
}

/// What an evaluation needs: the model, the data and how to score it.
struct Evaluation<'a> {
    model: &'a TaskModel,
    rows: &'a Rows,
    data: &'a crate::encode::Encodings,
    setting: Setting<'a>,
}

/// Evaluates at `step`, logs the row, redraws the plots, keeps `best/` when it improved;
/// returns true when early stopping says to stop.
fn evaluate_and_keep_best(
    run: &Run,
    e: &Evaluation,
    metrics: &mut Metrics,
    step: u64,
    position: &mut Position,
) -> anyhow::Result<bool> {
    let c = run.c;
    let scores = evaluate(e.model, e.rows, e.data, &e.setting)?;
    let overall = &scores["all"];
    let metric = match c.metric_for_best_model.as_str() {
        "" => default_metric(c.task, overall),
        named => named,
    };
    let value = overall
        .higher_is_better(metric)
        .with_context(|| format!("metric_for_best_model = {metric:?} is not computed for this task and data"))?;
    let row = json!({"step": step, "epoch": run.epoch_at(step), "split": "validation", "metric": metric,
        "scores": scores, "average_over_languages": average_over_languages(&scores)});
    metrics.write(&row)?;
    write_plots(run.dir, metric, &run.schedule)?;
    tracing::info!("step {step}: validation {metric} {:.4} (loss {:.4})", value.abs(), overall.loss);
    if position.best_value.is_none_or(|best| value > best) {
        (position.best_value, position.best, position.since_best) = (Some(value), row, 0);
        run.save_model("best")?;
        return Ok(false);
    }
    position.since_best += 1;
    let stop = c.early_stopping_patience > 0 && position.since_best >= c.early_stopping_patience;
    if stop {
        tracing::info!("early stop: {} evaluations without improvement", position.since_best);
    }
    Ok(stop)
}

/// Trains and evaluates as `c` says, from step 0.
pub fn train(c: &FinetuneConfig) -> anyhow::Result<Outcome> {
    train_resuming(c, &Resume::No, &AtomicBool::new(false))
}

/// Trains and evaluates as `c` says, continuing the checkpoint `resume` names, if any; once
/// `stop` is raised (SIGINT/SIGTERM) it finishes the step, checkpoints it and returns.
pub fn train_resuming(c: &FinetuneConfig, resume: &Resume, stop: &AtomicBool) -> anyhow::Result<Outcome> {
    // Loaded configs were checked with the origin of each value; one built in code is checked here.
    c.validate().map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let device = model::parse_device(&c.device)?;
    let (mut bert_config, init, tokenizer) = initial_model(c)?;
    let train_rows = Rows::read(c.task, &c.train_file, &c.fields, None)?;
    let label_list = train_rows.training_labels(&c.train_file)?;
    let labels: BTreeMap<String, i64> = label_list.iter().enumerate().map(|(i, l)| (l.clone(), i as i64)).collect();
    let architecture = architecture(c.task);
    if let Some(existing) = bert_config.labels() {
        let fine_tuned = bert_config.architectures.iter().flatten().any(|a| a == architecture);
        if fine_tuned && c.task != Task::QuestionAnswering && existing != label_list {
            bail!(
                "{}: the checkpoint's labels {existing:?} differ from the data's {label_list:?} \
                 (start from its encoder instead, or relabel the data)",
                c.model_name_or_path
            );
        }
    }
    if c.max_seq_length as i64 > bert_config.max_position_embeddings {
        bail!(
            "max_seq_length = {} exceeds the model's max_position_embeddings = {}",
            c.max_seq_length,
            bert_config.max_position_embeddings
        );
    }
    if c.task != Task::QuestionAnswering {
        bert_config.set_labels(&label_list);
    }
    bert_config.architectures = Some(vec![architecture.into()]);
    bert_config.is_decoder = false;
    record_training(&mut bert_config, c.attention, c.pooling, c.max_seq_length)?;
    let pad = tokenizer.token_to_id("[PAD]").map_or(bert_config.pad_token_id, i64::from);

    let truncated_tokenizer = truncating(&tokenizer, c.max_seq_length)?;
    let mut encoder = Encoder {
        tokenizer: &truncated_tokenizer,
        labels: Some(&labels),
        label_all_tokens: c.label_all_tokens,
        max_seq_length: c.max_seq_length,
        doc_stride: c.doc_stride,
    };
    let train = train_rows.encode(&encoder, &c.train_file)?;
    let (train_data, train_truncated) = (train.items, train.truncated);
    encoder.label_all_tokens = false; // scores stay per word
    let (eval_rows, eval_data) = read_and_encode(c.task, &c.evaluation_files(), &c.fields, &encoder)?;
    if train_truncated + eval_data.truncated > 0 {
        tracing::warn!(
            "{train_truncated} training and {} evaluation inputs longer than max_seq_length = {}{}",
            eval_data.truncated,
            c.max_seq_length,
            if c.task == Task::QuestionAnswering { " (split into windows)" } else { " (truncated)" }
        );
    }

    tch::manual_seed(c.seed as i64);
    let vs = VarStore::new(device);
    let mut model = TaskModel::new(&vs, c.task, &bert_config, label_list.len() as i64, c.pooling);
    if c.bf16 {
        model.set_compute_kind(tch::Kind::BFloat16);
    }
    if let Some(dir) = &init {
        let report = dir.load_weights(&vs, false)?;
        tracing::info!("init {}: {report}", dir.path.display());
    }
    let steps_per_epoch =
        train_data.len().div_ceil(c.per_device_train_batch_size * c.gradient_accumulation_steps) as u64;
    let total = if c.max_steps > 0 { c.max_steps } else { (c.num_train_epochs * steps_per_epoch as f64).ceil() as u64 };
    let schedule = Schedule {
        lr: c.learning_rate,
        min_lr: 0.0,
        warmup_steps: c.warmup_steps,
        total_steps: total,
        decay: c.lr_scheduler_type,
    };
    let mut opt = AdamW::new(
        &vs,
        AdamWConfig { beta1: c.adam_beta1, beta2: c.adam_beta2, eps: c.adam_epsilon, weight_decay: c.weight_decay },
    );
    let settings = c.resume_settings()?;
    // Only once the inputs and the init are known good does the run touch its directory, so a
    // run refused for them leaves nothing behind that would block its rerun.
    let lock = RunDir::lock(&c.output_dir)?;
    let run = Run {
        c,
        dir: lock.path(),
        bert_config: &bert_config,
        vs: &vs,
        tokenizer: &tokenizer,
        settings,
        schedule,
        steps_per_epoch,
        total,
    };
    let (mut step, mut position) = start_or_resume(&run, resume, &mut opt)?;
    training::run_dir::write_config(run.dir, c)?;
    let mut metrics_log = lock.metrics()?;
    metrics_log.report_to(&c.report_to)?;
    let mask_kind = mask_of(c.attention);
    let batching =
        Batching { data: &train_data, pad, per_token: c.task == Task::TokenClassification, mask: mask_kind, device };
    let evaluation = Evaluation {
        model: &model,
        rows: &eval_rows,
        data: &eval_data,
        setting: Setting {
            labels: &label_list,
            mask: mask_kind,
            pad,
            batch_size: c.per_device_eval_batch_size,
            decoding: c.decoding(),
            device,
        },
    };
    let what = match c.task {
        Task::QuestionAnswering => "windows".to_string(),
        _ => format!("inputs, {} labels", label_list.len()),
    };
    tracing::info!("{} training {what}, {total} steps ({steps_per_epoch} per epoch)", train_data.len());
    if c.warmup_steps > total {
        tracing::warn!(
            "warmup_steps = {} exceeds the run's {total} steps: the learning rate never reaches learning_rate",
            c.warmup_steps
        );
    }

    let started = (std::time::Instant::now(), step, position.samples_seen);
    let mut throughput = Throughput::since([position.samples_seen]);
    let progress = StepProgress::new("finetune", total, step, true);
    let mut interrupted = false;
    'training: while step < total {
        let batches = epoch_batches(&train_data, c.per_device_train_batch_size, c.seed, position.epoch);
        let done_in_epoch = (step - position.epoch * steps_per_epoch) as usize;
        for group in batches.chunks(c.gradient_accumulation_steps).skip(done_in_epoch) {
            training::seed::seed_step(c.seed, step);
            let lr = run.schedule.lr_at(step);
            opt.zero_grad();
            let loss = accumulate_gradients(&model, group, &batching)?;
            let grad_norm = opt.clip_grad_norm(c.max_grad_norm);
            if !loss.is_finite() || !grad_norm.is_finite() {
                bail!("{}", run.non_finite_advice(step, loss, grad_norm, &position));
            }
            opt.step(lr);
            step += 1;
            position.samples_seen += group.iter().map(Vec::len).sum::<usize>() as u64;
            position.loss_sum += loss;
            progress.advance(step);
            if step % c.logging_steps.max(1) == 0 {
                let log = StepLog { step, loss, lr, grad_norm };
                log_step(&run, &mut metrics_log, &progress, &mut throughput, position.samples_seen, log)?;
            }
            if run.evaluates_at(step)
                && evaluate_and_keep_best(&run, &evaluation, &mut metrics_log, step, &mut position)?
            {
                break 'training;
            }
            let stopping = stop.load(Ordering::Relaxed) && step < total;
            if run.saves_at(step) || stopping {
                run.save_checkpoint(&opt, step, lr, &position)?;
            }
            if stopping {
                tracing::warn!("stopped by a signal after step {step}; continue with --resume");
                interrupted = true;
                break 'training;
            }
            if step >= total {
                break 'training;
            }
        }
        position.epoch += 1;
    }
    progress.finish();
    let seconds = started.0.elapsed().as_secs_f64().max(1e-9);
    let summary = TrainSummary {
        train_runtime: seconds,
        train_samples_per_second: (position.samples_seen - started.2) as f64 / seconds,
        train_steps_per_second: (step - started.1) as f64 / seconds,
        train_loss: position.loss_sum / step.max(1) as f64,
    };
    let output_dir = run.dir.to_path_buf();
    if interrupted {
        // The checkpoint holds the run; what marks it finished waits for the resumed run.
        return Ok(Outcome { output_dir, best: position.best, steps: step, train: summary, interrupted });
    }
    let mut row = serde_json::to_value(&summary)?;
    row["step"] = json!(step);
    row["epoch"] = json!(run.epoch_at(step));
    metrics_log.write(&row)?;
    tracing::info!(
        "train_runtime {:.1} s, {:.1} samples/s, {:.2} steps/s, train_loss {:.4}",
        summary.train_runtime,
        summary.train_samples_per_second,
        summary.train_steps_per_second,
        summary.train_loss
    );
    run.save_model("final")?;
    let results = run.dir.join("eval_results.json");
    training::run_dir::write_atomically(&results, serde_json::to_string_pretty(&position.best)?.as_bytes())?;
    Ok(Outcome { output_dir, best: position.best, steps: step, train: summary, interrupted })
}
