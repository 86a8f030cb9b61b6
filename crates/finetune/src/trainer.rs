//! Fine-tuning: L_fine = −(1/M) Σ log p(y_j | x_j; θ) over the M labelled targets (examples for
//! sequence classification; first sub-tokens of words for token classification; the answer's
//! start and end in every window for QA), with the shared training machinery (AdamW, schedule,
//! clipping), dynamic padding in batches of similar length, evaluation per language, early
//! stopping, and the best checkpoint kept by the chosen metric.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use model::{BertConfig, Inputs, ModelDir};
use serde_json::json;
use tch::nn::VarStore;
use tch::Tensor;
use tokenizers::Tokenizer;
use training::{plots, AdamW, AdamWConfig, RunDir, Schedule};

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
}

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
const RUN_OUTPUTS: [&str; 7] =
    ["metrics.jsonl", "eval_results.json", "config.toml", "training.png", "validation.png", "best", "final"];

/// Refuses a directory that holds an earlier run (whose metrics the new one would be appended
/// to), or with `overwrite` deletes that run's outputs, and only those.
fn clear_earlier_run(dir: &Path, overwrite: bool) -> anyhow::Result<()> {
    let earlier: Vec<&str> = RUN_OUTPUTS.iter().copied().filter(|name| dir.join(name).exists()).collect();
    if earlier.is_empty() {
        return Ok(());
    }
    if !overwrite {
        bail!(
            "output_dir {} holds an earlier run ({}): choose another output_dir, or start over there with \
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
    let rows = plots::read_metrics(&run.join(training::run_dir::METRICS_FILE))?;
    plots::training_curves(&rows, Some(schedule), &run.join("training.png"))?;
    let mut per_lang: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r["split"] == "validation") {
        let (Some(step), Some(scores)) = (r["step"].as_f64(), r["scores"].as_object()) else { continue };
        for (lang, s) in scores {
            if let Some(v) = s[metric].as_f64() {
                per_lang.entry(lang.clone()).or_default().push((step, v));
            }
        }
    }
    let series: Vec<plots::Series> = per_lang.into_iter().collect();
    plots::line_chart(&run.join("validation.png"), &format!("validation {metric}"), metric, &series)?;
    Ok(())
}

/// Trains and evaluates as `c` says.
pub fn train(c: &FinetuneConfig) -> anyhow::Result<Outcome> {
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
    // Only once the inputs and the init are known good does the run touch its directory, so a
    // run refused for them leaves nothing behind that would block its rerun.
    let run = RunDir::lock(&c.output_dir)?;
    clear_earlier_run(run.path(), c.overwrite_output_dir)?;
    training::checkpoint::remove_partials(run.path())?;
    training::run_dir::write_atomically(&run.path().join("config.toml"), toml::to_string_pretty(c)?.as_bytes())?;
    let mut metrics_log = run.metrics()?;
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
    let mask_kind = mask_of(c.attention);
    let per_token = c.task == Task::TokenClassification;
    let setting = Setting {
        labels: &label_list,
        mask: mask_kind,
        pad,
        batch_size: c.per_device_eval_batch_size,
        decoding: c.decoding(),
        device,
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

    let (mut step, mut epoch) = (0u64, 0u64);
    let mut timer = (std::time::Instant::now(), 0usize);
    let mut samples_seen = 0usize;
    let (mut best, mut best_value, mut since_best) = (serde_json::Value::Null, f64::NEG_INFINITY, 0usize);
    let save = |name: &str| model::model_dir::save(&run.path().join(name), &bert_config, &vs, Some(&tokenizer));
    'training: while step < total {
        let batches = epoch_batches(&train_data, c.per_device_train_batch_size, c.seed, epoch);
        for group in batches.chunks(c.gradient_accumulation_steps) {
            training::seed::seed_step(c.seed, step);
            // M: the labelled targets of the whole step, so that accumulated micro-batches give
            // the update of one large batch.
            let targets: usize =
                group.iter().flatten().map(|&i| train_data[i].labels.iter().filter(|&&l| l != IGNORE).count()).sum();
            opt.zero_grad();
            let mut loss_sum = 0.0;
            for batch in group {
                let items: Vec<&Encoded> = batch.iter().map(|&i| &train_data[i]).collect();
                let (ids, mask, types, y) = collate(&items, pad, per_token, device);
                let inputs = Inputs { input_ids: &ids, attention_mask: Some(&mask), token_type_ids: Some(&types) };
                let loss = model.flat_scores(inputs, mask_kind, true)?.cross_entropy_loss::<Tensor>(
                    &y.view([-1]),
                    None,
                    tch::Reduction::Sum,
                    IGNORE,
                    0.0,
                ) / targets.max(1) as f64;
                loss.backward();
                loss_sum += loss.double_value(&[]);
            }
            let grad_norm = opt.clip_grad_norm(c.max_grad_norm);
            if !loss_sum.is_finite() || !grad_norm.is_finite() {
                bail!(
                    "step {}: loss {loss_sum}, gradient norm {grad_norm}; the update was not applied. {}Lower \
                     learning_rate or raise warmup_steps and rerun with --set overwrite_output_dir=true",
                    step + 1,
                    if best.is_null() {
                        String::new()
                    } else {
                        format!(
                            "{} holds the best finite weights so far (step {}). ",
                            run.path().join("best").display(),
                            best["step"]
                        )
                    }
                );
            }
            let lr = schedule.lr_at(step);
            opt.step(lr);
            step += 1;
            samples_seen += group.iter().map(Vec::len).sum::<usize>();
            if step % c.logging_steps.max(1) == 0 {
                let samples_per_s = (samples_seen - timer.1) as f64 / timer.0.elapsed().as_secs_f64().max(1e-9);
                metrics_log.write(&json!({"step": step, "epoch": epoch, "loss": loss_sum, "lr": lr,
                    "grad_norm": grad_norm, "samples_per_s": samples_per_s}))?;
                timer = (std::time::Instant::now(), samples_seen);
            }
            let end_of_epoch = step % steps_per_epoch == 0;
            if (c.eval_steps > 0 && step % c.eval_steps == 0) || (c.eval_steps == 0 && end_of_epoch) || step == total {
                let scores = evaluate(&model, &eval_rows, &eval_data, &setting)?;
                let overall = &scores["all"];
                let metric = match c.metric_for_best_model.as_str() {
                    "" => default_metric(c.task, overall),
                    named => named,
                };
                let value = overall.higher_is_better(metric).with_context(|| {
                    format!("metric_for_best_model = {metric:?} is not computed for this task and data")
                })?;
                let row = json!({"step": step, "epoch": epoch, "split": "validation", "metric": metric,
                    "scores": scores, "average_over_languages": average_over_languages(&scores)});
                metrics_log.write(&row)?;
                write_plots(run.path(), metric, &schedule)?;
                tracing::info!("step {step}: validation {metric} {:.4} (loss {:.4})", value.abs(), overall.loss);
                if value > best_value {
                    (best_value, best, since_best) = (value, row, 0);
                    save("best")?;
                } else {
                    since_best += 1;
                    if c.early_stopping_patience > 0 && since_best >= c.early_stopping_patience {
                        tracing::info!("early stop: {since_best} evaluations without improvement");
                        break 'training;
                    }
                }
            }
            if step >= total {
                break 'training;
            }
        }
        epoch += 1;
    }
    save("final")?;
    let results = run.path().join("eval_results.json");
    training::run_dir::write_atomically(&results, serde_json::to_string_pretty(&best)?.as_bytes())?;
    Ok(Outcome { output_dir: run.path().to_path_buf(), best, steps: step })
}
