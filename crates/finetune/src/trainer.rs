//! Fine-tuning: L_fine = −(1/M) Σ log p(y_j | x_j; θ) over the M labelled targets (examples for
//! sequence classification; first sub-tokens of words for token classification), with the shared
//! training machinery (AdamW, schedule, clipping), dynamic padding in batches of similar length,
//! evaluation per language, and the best checkpoint kept by the chosen metric.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use model::{AttentionMask, BertConfig, BertForSequenceClassification, BertForTokenClassification, Inputs, ModelDir};
use serde_json::json;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use tokenizers::{Tokenizer, TruncationParams};
use training::{AdamW, AdamWConfig, RunDir, Schedule};

use crate::config::{Attention, FinetuneConfig, Task};
use crate::data::classification::{self, Example};
use crate::data::token_classification::{self, Sentence};
use crate::metrics::classification::{accuracy, macro_f1};
use crate::metrics::seqeval;

/// Labels ignored by the loss (as PyTorch's `ignore_index`).
pub(crate) const IGNORE: i64 = -100;

/// One encoded example.
#[derive(Debug, Clone)]
pub(crate) struct Encoded {
    ids: Vec<i64>,
    type_ids: Vec<i64>,
    /// One label (sequence classification) or one per token, `IGNORE` off word starts.
    pub(crate) labels: Vec<i64>,
    lang: String,
}

/// Scores on one evaluation set (per language and overall).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Scores {
    /// Mean cross-entropy per target.
    pub loss: f64,
    /// Share right (examples, or words for token classification).
    pub accuracy: f64,
    /// Macro-averaged F1 over labels (tags).
    pub macro_f1: f64,
    /// Entity-level micro F1 (seqeval) when the tags are BIO/BIOES.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub f1: Option<f64>,
    /// Examples (sentences).
    pub examples: usize,
}

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

pub(crate) fn encode_examples(
    tokenizer: &Tokenizer,
    examples: &[Example],
    labels: Option<&BTreeMap<String, i64>>,
    path: &Path,
) -> anyhow::Result<(Vec<Encoded>, usize)> {
    let mut truncated = 0;
    let mut out = Vec::with_capacity(examples.len());
    for e in examples {
        // Without a label map (prediction), every example gets label 0 as a placeholder.
        let label = match labels {
            None => 0,
            Some(labels) => *labels.get(&e.label).ok_or_else(|| {
                anyhow::anyhow!(
                    "{}:{}: label {:?} is not among the training labels {:?}",
                    path.display(),
                    e.line,
                    e.label,
                    labels.keys().collect::<Vec<_>>()
                )
            })?,
        };
        let encoding = match &e.text_pair {
            Some(pair) => tokenizer.encode((e.text.as_str(), pair.as_str()), true),
            None => tokenizer.encode(e.text.as_str(), true),
        }
        .map_err(|err| anyhow::anyhow!("{}:{}: {err}", path.display(), e.line))?;
        truncated += usize::from(!encoding.get_overflowing().is_empty());
        out.push(Encoded {
            ids: encoding.get_ids().iter().map(|&i| i64::from(i)).collect(),
            type_ids: encoding.get_type_ids().iter().map(|&i| i64::from(i)).collect(),
            labels: vec![label],
            lang: e.lang.clone().unwrap_or_else(|| "all".into()),
        });
    }
    Ok((out, truncated))
}

/// Encodes sentences of words; the first sub-token of each word carries its tag, the others
/// and the special tokens are ignored (transformers' `label_all_tokens = False`).
pub(crate) fn encode_sentences(
    tokenizer: &Tokenizer,
    sentences: &[Sentence],
    labels: Option<&BTreeMap<String, i64>>,
    path: &Path,
) -> anyhow::Result<(Vec<Encoded>, usize)> {
    let mut truncated = 0;
    let mut out = Vec::with_capacity(sentences.len());
    for s in sentences {
        // Without a label map (prediction), word starts are marked with tag 0.
        let tags = s
            .tags
            .iter()
            .map(|t| match labels {
                None => Ok(0),
                Some(labels) => labels.get(t).copied().ok_or_else(|| {
                    anyhow::anyhow!("{}:{}: tag {t:?} is not among the training tags", path.display(), s.line)
                }),
            })
            .collect::<anyhow::Result<Vec<i64>>>()?;
        let words: Vec<&str> = s.words.iter().map(String::as_str).collect();
        let encoding =
            tokenizer.encode(words, true).map_err(|err| anyhow::anyhow!("{}:{}: {err}", path.display(), s.line))?;
        let mut previous = None;
        let token_labels: Vec<i64> = encoding
            .get_word_ids()
            .iter()
            .map(|w| {
                let label = match *w {
                    Some(w) if Some(w) != previous => tags[w as usize],
                    _ => IGNORE,
                };
                previous = *w;
                label
            })
            .collect();
        let kept = token_labels.iter().filter(|&&l| l != IGNORE).count();
        truncated += usize::from(kept < tags.len());
        out.push(Encoded {
            ids: encoding.get_ids().iter().map(|&i| i64::from(i)).collect(),
            type_ids: encoding.get_type_ids().iter().map(|&i| i64::from(i)).collect(),
            labels: token_labels,
            lang: s.lang.clone().unwrap_or_else(|| "all".into()),
        });
    }
    Ok((out, truncated))
}

/// Pads a batch to its longest member (dynamic padding).
pub(crate) fn collate(items: &[&Encoded], pad: i64, device: Device) -> (Tensor, Tensor, Tensor, Tensor) {
    let t = items.iter().map(|e| e.ids.len()).max().unwrap_or(1);
    let (mut ids, mut mask, mut types) = (Vec::new(), Vec::new(), Vec::new());
    for e in items {
        let n = e.ids.len();
        ids.extend(e.ids.iter().copied().chain(std::iter::repeat_n(pad, t - n)));
        types.extend(e.type_ids.iter().copied().chain(std::iter::repeat_n(0, t - n)));
        mask.extend(std::iter::repeat_n(1i64, n).chain(std::iter::repeat_n(0, t - n)));
    }
    let shape = [items.len() as i64, t as i64];
    let per_token = items.iter().any(|e| e.labels.len() > 1);
    let labels: Vec<i64> = if per_token {
        items
            .iter()
            .flat_map(|e| e.labels.iter().copied().chain(std::iter::repeat_n(IGNORE, t - e.labels.len())))
            .collect()
    } else {
        items.iter().map(|e| e.labels[0]).collect()
    };
    let labels = Tensor::from_slice(&labels);
    (
        Tensor::from_slice(&ids).view(shape).to_device(device),
        Tensor::from_slice(&mask).view(shape).to_device(device),
        Tensor::from_slice(&types).view(shape).to_device(device),
        if per_token { labels.view(shape) } else { labels }.to_device(device),
    )
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

/// The fine-tuned model of a task.
pub(crate) enum TaskModel {
    Sequence(BertForSequenceClassification),
    Token(BertForTokenClassification),
}

impl TaskModel {
    pub(crate) fn logits(&self, inputs: Inputs, mask: AttentionMask, train: bool) -> model::Result<Tensor> {
        match self {
            TaskModel::Sequence(m) => m.forward_t(inputs, mask, train),
            TaskModel::Token(m) => m.forward_t(inputs, mask, train),
        }
    }
}

/// Per-language accumulators of an evaluation.
#[derive(Default)]
struct Tally {
    truth: Vec<usize>,
    predicted: Vec<usize>,
    loss: f64,
    examples: usize,
    truth_tags: Vec<Vec<String>>,
    predicted_tags: Vec<Vec<String>>,
}

fn evaluate(
    model: &TaskModel,
    data: &[Encoded],
    label_list: &[String],
    c: &FinetuneConfig,
    pad: i64,
    device: Device,
) -> anyhow::Result<BTreeMap<String, Scores>> {
    let mask_kind = if c.attention == Attention::Causal { AttentionMask::Causal } else { AttentionMask::Bidirectional };
    let entities = label_list.iter().any(|l| l.starts_with("B-") || l.starts_with("I-") || l.starts_with("S-"));
    let mut by_lang: BTreeMap<String, Tally> = BTreeMap::new();
    tch::no_grad(|| -> anyhow::Result<()> {
        for chunk in data.chunks(c.per_device_eval_batch_size.max(1)) {
            let items: Vec<&Encoded> = chunk.iter().collect();
            let (ids, mask, types, labels) = collate(&items, pad, device);
            let inputs = Inputs { input_ids: &ids, attention_mask: Some(&mask), token_type_ids: Some(&types) };
            let logits = model.logits(inputs, mask_kind, false)?;
            let n_labels = logits.size()[logits.dim() - 1];
            let flat = logits.to_kind(Kind::Float).view([-1, n_labels]);
            let flat_labels = labels.view([-1]);
            let losses = flat.cross_entropy_loss::<Tensor>(&flat_labels, None, tch::Reduction::None, IGNORE, 0.0);
            let preds: Vec<i64> = Vec::try_from(flat.argmax(-1, false))?;
            let losses: Vec<f64> = Vec::try_from(losses.to_kind(Kind::Double))?;
            let gold: Vec<i64> = Vec::try_from(flat_labels)?;
            let per_example = gold.len() / chunk.len();
            for (i, e) in chunk.iter().enumerate() {
                let span = i * per_example..(i + 1) * per_example;
                let positions: Vec<usize> = span.filter(|&p| gold[p] != IGNORE).collect();
                let keys: &[&str] = if e.lang == "all" { &["all"] } else { &[e.lang.as_str(), "all"] };
                for key in keys {
                    let t = by_lang.entry(key.to_string()).or_default();
                    t.examples += 1;
                    for &p in &positions {
                        t.truth.push(gold[p] as usize);
                        t.predicted.push(preds[p] as usize);
                        t.loss += losses[p];
                    }
                    if entities {
                        t.truth_tags.push(positions.iter().map(|&p| label_list[gold[p] as usize].clone()).collect());
                        t.predicted_tags
                            .push(positions.iter().map(|&p| label_list[preds[p] as usize].clone()).collect());
                    }
                }
            }
        }
        Ok(())
    })?;
    Ok(by_lang
        .into_iter()
        .map(|(lang, t)| {
            let f1 = entities.then(|| seqeval::entity_scores(&t.truth_tags, &t.predicted_tags).0.f1);
            let scores = Scores {
                loss: t.loss / t.truth.len().max(1) as f64,
                accuracy: accuracy(&t.truth, &t.predicted),
                macro_f1: macro_f1(&t.truth, &t.predicted),
                f1,
                examples: t.examples,
            };
            (lang, scores)
        })
        .collect())
}

fn metric(scores: &Scores, name: &str) -> f64 {
    match name {
        "loss" => -scores.loss,
        "macro_f1" => scores.macro_f1,
        "f1" => scores.f1.unwrap_or(scores.macro_f1),
        _ => scores.accuracy,
    }
}

/// The labelled data of a task: (training, evaluation).
enum Data {
    Examples(Vec<Example>, Vec<Example>),
    Sentences(Vec<Sentence>, Vec<Sentence>),
}

/// Trains and evaluates as `c` says.
pub fn train(c: &FinetuneConfig) -> anyhow::Result<Outcome> {
    let device = model::parse_device(&c.device)?;
    let data = match c.task {
        Task::Classification => Data::Examples(
            classification::read(&c.train_file, &c.fields)?,
            classification::read(&c.validation_file, &c.fields)?,
        ),
        Task::TokenClassification => {
            Data::Sentences(token_classification::read(&c.train_file)?, token_classification::read(&c.validation_file)?)
        }
    };
    let names: std::collections::BTreeSet<String> = match &data {
        Data::Examples(train, _) => train.iter().map(|e| e.label.clone()).collect(),
        Data::Sentences(train, _) => train.iter().flat_map(|s| s.tags.iter().cloned()).collect(),
    };
    let labels: BTreeMap<String, i64> = names.iter().enumerate().map(|(i, l)| (l.clone(), i as i64)).collect();
    let label_list: Vec<String> = names.into_iter().collect();
    let architecture = match c.task {
        Task::Classification => "BertForSequenceClassification",
        Task::TokenClassification => "BertForTokenClassification",
    };

    let (mut bert_config, init, mut tokenizer) = if c.model_name_or_path.is_empty() {
        let tokenizer =
            Tokenizer::from_file(&c.scratch_tokenizer).map_err(|e| anyhow::anyhow!("{}: {e}", c.scratch_tokenizer))?;
        let config = BertConfig {
            vocab_size: tokenizer.get_vocab_size(true) as i64,
            hidden_size: 128,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            intermediate_size: 512,
            max_position_embeddings: c.max_seq_length as i64,
            ..BertConfig::default()
        };
        (config, None, tokenizer)
    } else {
        let dir = ModelDir::open(Path::new(&c.model_name_or_path))?;
        let tokenizer = dir.tokenizer()?;
        (dir.config.clone(), Some(dir), tokenizer)
    };
    if let Some(existing) = bert_config.labels() {
        let fine_tuned = bert_config.architectures.iter().flatten().any(|a| a == architecture);
        if fine_tuned && existing != label_list {
            bail!(
                "{}: the checkpoint's labels {existing:?} differ from the data's {label_list:?}",
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
    bert_config.set_labels(&label_list);
    bert_config.architectures = Some(vec![architecture.into()]);
    bert_config.is_decoder = false;
    // Recorded for `predict`: the attention and pooling the classifier was trained with
    // (transformers ignores unknown config fields and keeps them).
    bert_config.extra.insert("finetune_attention".into(), serde_json::to_value(c.attention)?);
    bert_config.extra.insert("finetune_pooling".into(), serde_json::to_value(c.pooling)?);
    tokenizer
        .with_truncation(Some(TruncationParams { max_length: c.max_seq_length, ..Default::default() }))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let pad = tokenizer.token_to_id("[PAD]").map_or(bert_config.pad_token_id, i64::from);

    let ((train_data, truncated), (eval_data, eval_truncated)) = match &data {
        Data::Examples(train, eval) => (
            encode_examples(&tokenizer, train, Some(&labels), &c.train_file)?,
            encode_examples(&tokenizer, eval, Some(&labels), &c.validation_file)?,
        ),
        Data::Sentences(train, eval) => (
            encode_sentences(&tokenizer, train, Some(&labels), &c.train_file)?,
            encode_sentences(&tokenizer, eval, Some(&labels), &c.validation_file)?,
        ),
    };
    if truncated + eval_truncated > 0 {
        tracing::warn!(
            "{truncated} training and {eval_truncated} evaluation inputs truncated to max_seq_length = {}",
            c.max_seq_length
        );
    }

    let run = RunDir::lock(&c.output_dir)?;
    std::fs::write(run.path().join("config.toml"), toml::to_string_pretty(c)?).context("writing config.toml")?;
    let mut metrics_log = run.metrics()?;
    tch::manual_seed(c.seed as i64);
    let vs = VarStore::new(device);
    let n_labels = label_list.len() as i64;
    let model = match c.task {
        Task::Classification => {
            let mut m = BertForSequenceClassification::new(&vs.root(), &bert_config, n_labels);
            m.pooling = c.pooling;
            TaskModel::Sequence(m)
        }
        Task::TokenClassification => {
            TaskModel::Token(BertForTokenClassification::new(&vs.root(), &bert_config, n_labels))
        }
    };
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
    let mask_kind = if c.attention == Attention::Causal { AttentionMask::Causal } else { AttentionMask::Bidirectional };
    tracing::info!(
        "{} training examples, {} labels, {total} steps ({steps_per_epoch} per epoch)",
        train_data.len(),
        label_list.len()
    );

    let (mut step, mut epoch) = (0u64, 0u64);
    let mut timer = (std::time::Instant::now(), 0usize);
    let mut samples_seen = 0usize;
    let (mut best, mut best_value, mut since_best) = (serde_json::Value::Null, f64::NEG_INFINITY, 0usize);
    'training: while step < total {
        let batches = epoch_batches(&train_data, c.per_device_train_batch_size, c.seed, epoch);
        for group in batches.chunks(c.gradient_accumulation_steps) {
            training::seed::seed_step(c.seed, step);
            // M: the labelled targets of the whole step (examples, or word starts), so that
            // accumulated micro-batches give the update of one large batch.
            let targets: usize =
                group.iter().flatten().map(|&i| train_data[i].labels.iter().filter(|&&l| l != IGNORE).count()).sum();
            opt.zero_grad();
            let mut loss_sum = 0.0;
            for batch in group {
                let items: Vec<&Encoded> = batch.iter().map(|&i| &train_data[i]).collect();
                let (ids, mask, types, y) = collate(&items, pad, device);
                let inputs = Inputs { input_ids: &ids, attention_mask: Some(&mask), token_type_ids: Some(&types) };
                let logits = model.logits(inputs, mask_kind, true)?;
                let n_labels = logits.size()[logits.dim() - 1];
                let loss = logits.to_kind(Kind::Float).view([-1, n_labels]).cross_entropy_loss::<Tensor>(
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
                let scores = evaluate(&model, &eval_data, &label_list, c, pad, device)?;
                let langs: Vec<&Scores> = scores.iter().filter(|(l, _)| l.as_str() != "all").map(|(_, s)| s).collect();
                let average = if langs.is_empty() {
                    None
                } else {
                    Some(langs.iter().map(|s| s.accuracy).sum::<f64>() / langs.len() as f64)
                };
                let row = json!({"step": step, "epoch": epoch, "split": "validation", "scores": scores, "average_accuracy_over_languages": average});
                metrics_log.write(&row)?;
                let value = metric(&scores["all"], &c.metric_for_best_model);
                tracing::info!(
                    "step {step}: validation accuracy {:.4}, macro-F1 {:.4}",
                    scores["all"].accuracy,
                    scores["all"].macro_f1
                );
                if value > best_value {
                    (best_value, best, since_best) = (value, row, 0);
                    model::model_dir::save(
                        &run.path().join("best"),
                        &bert_config,
                        &vs,
                        Some(&tokenizer_without_truncation(&tokenizer)),
                    )?;
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
    model::model_dir::save(
        &run.path().join("final"),
        &bert_config,
        &vs,
        Some(&tokenizer_without_truncation(&tokenizer)),
    )?;
    let results = run.path().join("eval_results.json");
    std::fs::write(&results, serde_json::to_string_pretty(&best)?).with_context(|| results.display().to_string())?;
    Ok(Outcome { output_dir: run.path().to_path_buf(), best, steps: step })
}

fn tokenizer_without_truncation(t: &Tokenizer) -> Tokenizer {
    let mut t = t.clone();
    let _ = t.with_truncation(None);
    t
}
