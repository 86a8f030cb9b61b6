//! Evaluation: a model's scores on labelled rows, per language and over all rows ("all"), with
//! the average over languages that cross-lingual benchmarks (XTREME) report; and `finetune eval`,
//! the same for a saved checkpoint.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use model::AttentionMask;
use serde_json::json;
use tch::{Device, Kind, Tensor};

use tokenizers::{Tokenizer, TruncationParams};

use crate::config::{FinetuneConfig, Task};
use crate::encode::{collate, read_and_encode, Encoded, Encoder, Encodings, Rows, IGNORE};
use crate::extractive_qa::{self, Decoding};
use crate::metrics::classification::{accuracy, macro_f1};
use crate::metrics::{seqeval, squad};
use crate::task_model::{load_finetuned, Finetuned, TaskModel};

/// Scores on one evaluation set (one language, or all rows).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Scores {
    /// Mean cross-entropy per target (QA: mean of the start and end losses per window).
    pub loss: f64,
    /// Share right (examples, or words for token classification).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    /// Macro-averaged F1 over labels (tags).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub macro_f1: Option<f64>,
    /// Entity-level micro F1 (seqeval) for BIO/BIOES tags; SQuAD F1 for QA.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub f1: Option<f64>,
    /// SQuAD exact match (QA).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact_match: Option<f64>,
    /// Examples (sentences, questions).
    pub examples: usize,
}

impl Scores {
    /// The named metric, larger = better (`loss` is negated); `None` if this task has none.
    pub fn higher_is_better(&self, metric: &str) -> Option<f64> {
        match metric {
            "loss" => Some(-self.loss),
            "accuracy" => self.accuracy,
            "macro_f1" => self.macro_f1,
            "f1" => self.f1,
            "exact_match" => self.exact_match,
            _ => None,
        }
    }
}

/// The metric that picks the best checkpoint when the configuration names none.
pub(crate) fn default_metric(task: Task, scores: &Scores) -> &'static str {
    match task {
        Task::Classification => "accuracy",
        Task::TokenClassification if scores.f1.is_some() => "f1",
        Task::TokenClassification => "accuracy",
        Task::QuestionAnswering => "f1",
    }
}

/// What an evaluation needs besides the model and the data.
pub(crate) struct Setting<'a> {
    pub(crate) labels: &'a [String],
    pub(crate) mask: AttentionMask,
    pub(crate) pad: i64,
    pub(crate) batch_size: usize,
    pub(crate) decoding: Decoding,
    pub(crate) device: Device,
}

impl Finetuned {
    /// How to evaluate this checkpoint: its labels, attention and padding, with the batch size
    /// and QA decoding of `c`.
    pub(crate) fn setting(&self, c: &FinetuneConfig, device: Device) -> Setting<'_> {
        Setting {
            labels: &self.labels,
            mask: self.mask,
            pad: self.pad,
            batch_size: c.per_device_eval_batch_size,
            decoding: c.decoding(),
            device,
        }
    }
}

/// Scores per language and for "all".
pub(crate) fn evaluate(
    model: &TaskModel,
    rows: &Rows,
    data: &Encodings,
    s: &Setting,
) -> anyhow::Result<BTreeMap<String, Scores>> {
    match rows {
        Rows::Questions(_) => evaluate_spans(model, rows, data, s),
        _ => evaluate_labels(model, data, s),
    }
}

/// Per-language accumulators of a classification evaluation.
#[derive(Default)]
struct Tally {
    truth: Vec<usize>,
    predicted: Vec<usize>,
    loss: f64,
    examples: usize,
    truth_tags: Vec<Vec<String>>,
    predicted_tags: Vec<Vec<String>>,
}

/// The language keys a row counts for.
fn keys(lang: &str) -> Vec<&str> {
    if lang == "all" {
        vec!["all"]
    } else {
        vec![lang, "all"]
    }
}

/// The scores of one evaluation batch, one row per target, and its labels flattened alike.
pub(crate) fn batch_scores(
    model: &TaskModel,
    batch: &[Encoded],
    s: &Setting,
    per_token: bool,
) -> anyhow::Result<(Tensor, Tensor)> {
    let items: Vec<_> = batch.iter().collect();
    let (ids, mask, types, labels) = collate(&items, s.pad, per_token, s.device);
    let inputs = model::Inputs { input_ids: &ids, attention_mask: Some(&mask), token_type_ids: Some(&types) };
    Ok((model.flat_scores(inputs, s.mask, false)?, labels.view([-1])))
}

fn evaluate_labels(model: &TaskModel, data: &Encodings, s: &Setting) -> anyhow::Result<BTreeMap<String, Scores>> {
    let per_token = matches!(model, TaskModel::Token(_));
    let entities = s.labels.iter().any(|l| l.starts_with("B-") || l.starts_with("I-") || l.starts_with("S-"));
    let mut by_lang: BTreeMap<String, Tally> = BTreeMap::new();
    tch::no_grad(|| -> anyhow::Result<()> {
        for chunk in data.items.chunks(s.batch_size.max(1)) {
            let (flat, flat_labels) = batch_scores(model, chunk, s, per_token)?;
            let losses = flat.cross_entropy_loss::<Tensor>(&flat_labels, None, tch::Reduction::None, IGNORE, 0.0);
            let preds: Vec<i64> = Vec::try_from(flat.argmax(-1, false))?;
            let losses: Vec<f64> = Vec::try_from(losses.to_kind(Kind::Double))?;
            let gold: Vec<i64> = Vec::try_from(flat_labels)?;
            let per_example = gold.len() / chunk.len();
            for (i, e) in chunk.iter().enumerate() {
                let span = i * per_example..(i + 1) * per_example;
                let positions: Vec<usize> = span.filter(|&p| gold[p] != IGNORE).collect();
                for key in keys(&e.lang) {
                    let t = by_lang.entry(key.to_string()).or_default();
                    t.examples += 1;
                    for &p in &positions {
                        t.truth.push(gold[p] as usize);
                        t.predicted.push(preds[p] as usize);
                        t.loss += losses[p];
                    }
                    if entities {
                        let names =
                            |ids: &[i64]| positions.iter().map(|&p| s.labels[ids[p] as usize].clone()).collect();
                        t.truth_tags.push(names(&gold));
                        t.predicted_tags.push(names(&preds));
                    }
                }
            }
        }
        Ok(())
    })?;
    Ok(by_lang
        .into_iter()
        .map(|(lang, t)| {
            let scores = Scores {
                loss: t.loss / t.truth.len().max(1) as f64,
                accuracy: Some(accuracy(&t.truth, &t.predicted)),
                macro_f1: Some(macro_f1(&t.truth, &t.predicted)),
                f1: entities.then(|| seqeval::entity_scores(&t.truth_tags, &t.predicted_tags).0.f1),
                exact_match: None,
                examples: t.examples,
            };
            (lang, scores)
        })
        .collect())
}

/// Start and end logits of one window, cut to its length.
pub(crate) type WindowLogits = (Vec<f32>, Vec<f32>);

/// The logits of every window, and the mean loss per window.
pub(crate) fn span_logits(
    model: &TaskModel,
    data: &Encodings,
    s: &Setting,
) -> anyhow::Result<(Vec<WindowLogits>, f64)> {
    let mut out = Vec::with_capacity(data.items.len());
    let mut loss = 0.0;
    tch::no_grad(|| -> anyhow::Result<()> {
        for chunk in data.items.chunks(s.batch_size.max(1)) {
            let (flat, labels) = batch_scores(model, chunk, s, false)?;
            loss +=
                flat.cross_entropy_loss::<Tensor>(&labels, None, tch::Reduction::Sum, IGNORE, 0.0).double_value(&[]);
            let t = flat.size()[1] as usize;
            let values: Vec<f32> = Vec::try_from(flat.flatten(0, -1))?;
            for (i, e) in chunk.iter().enumerate() {
                let n = e.ids.len();
                let start = values[2 * i * t..2 * i * t + n].to_vec();
                let end = values[(2 * i + 1) * t..(2 * i + 1) * t + n].to_vec();
                out.push((start, end));
            }
        }
        Ok(())
    })?;
    Ok((out, loss / (2 * data.items.len().max(1)) as f64))
}

/// Decoded answers, one per question.
pub(crate) fn answers(
    rows: &Rows,
    data: &Encodings,
    logits: &[WindowLogits],
    d: Decoding,
) -> Vec<extractive_qa::Answer> {
    let questions = rows.questions();
    let mut windows: Vec<Vec<usize>> = vec![Vec::new(); questions.len()];
    for (w, span) in data.spans.iter().enumerate() {
        windows[span.question].push(w);
    }
    questions
        .iter()
        .zip(&windows)
        .map(|(q, ws)| {
            let parts: Vec<_> =
                ws.iter().map(|&w| (&data.spans[w], logits[w].0.as_slice(), logits[w].1.as_slice())).collect();
            extractive_qa::decode(q, &parts, d)
        })
        .collect()
}

fn evaluate_spans(
    model: &TaskModel,
    rows: &Rows,
    data: &Encodings,
    s: &Setting,
) -> anyhow::Result<BTreeMap<String, Scores>> {
    let (logits, loss) = span_logits(model, data, s)?;
    let predicted = answers(rows, data, &logits, s.decoding);
    let mut by_lang: BTreeMap<String, (f64, f64, usize)> = BTreeMap::new();
    for (q, a) in rows.questions().iter().zip(&predicted) {
        let gold: Vec<String> = q.answers.iter().map(|(t, _)| t.clone()).collect();
        let em = squad::best_over(&gold, &a.text, squad::exact_match);
        let f1 = squad::best_over(&gold, &a.text, squad::f1);
        for key in keys(q.lang.as_deref().unwrap_or("all")) {
            let t = by_lang.entry(key.to_string()).or_default();
            (t.0, t.1, t.2) = (t.0 + em, t.1 + f1, t.2 + 1);
        }
    }
    Ok(by_lang
        .into_iter()
        .map(|(lang, (em, f1, n))| {
            let n_f = n.max(1) as f64;
            // The loss is over windows, which do not split by language.
            let scores =
                Scores { loss, exact_match: Some(em / n_f), f1: Some(f1 / n_f), examples: n, ..Scores::default() };
            (lang, scores)
        })
        .collect())
}

/// Every metric averaged over the languages (not "all"); `None` with fewer than two languages.
pub(crate) fn average_over_languages(scores: &BTreeMap<String, Scores>) -> Option<BTreeMap<&'static str, f64>> {
    let langs: Vec<&Scores> = scores.iter().filter(|(l, _)| l.as_str() != "all").map(|(_, s)| s).collect();
    if langs.len() < 2 {
        return None;
    }
    let mut out = BTreeMap::new();
    for name in ["accuracy", "macro_f1", "f1", "exact_match"] {
        let values: Vec<f64> = langs.iter().filter_map(|s| s.higher_is_better(name)).collect();
        if values.len() == langs.len() {
            out.insert(name, values.iter().sum::<f64>() / values.len() as f64);
        }
    }
    Some(out)
}

/// The best evaluation row of a run (see `eval_results.json`) as a short table: per language,
/// its rows, the chosen metric and the loss, then all rows together.
pub fn scores_table(best: &serde_json::Value) -> String {
    let Some(scores) = best["scores"].as_object() else { return "no evaluation\n".into() };
    let metric = best["metric"].as_str().unwrap_or("loss");
    let mut out =
        format!("best at step {}\n{:<10} {:>6} {:>11} {:>8}\n", best["step"], "language", "rows", metric, "loss");
    let langs = scores.iter().filter(|(l, _)| l.as_str() != "all");
    for (lang, s) in langs.chain(scores.get_key_value("all")) {
        let value = s[metric].as_f64().map_or("-".into(), |v| format!("{v:.4}"));
        let loss = s["loss"].as_f64().unwrap_or(f64::NAN);
        out += &format!("{lang:<10} {:>6} {value:>11} {loss:>8.4}\n", s["examples"].as_u64().unwrap_or(0));
    }
    out
}

/// `finetune eval`: scores of a fine-tuned checkpoint on labelled files (each with an optional
/// language), as JSON with per-language scores and their average. Inputs are cut at the length
/// the checkpoint was fine-tuned with; field names and QA decoding come from `c` (a
/// configuration or the defaults).
pub fn evaluate_checkpoint(
    checkpoint: &Path,
    files: &[(PathBuf, Option<String>)],
    c: &FinetuneConfig,
    device: Device,
) -> anyhow::Result<serde_json::Value> {
    let f = load_finetuned(checkpoint, device)?;
    let max_seq_length = f.input_length(c.max_seq_length);
    let label_ids: BTreeMap<String, i64> = f.labels.iter().enumerate().map(|(i, l)| (l.clone(), i as i64)).collect();
    let tokenizer = truncating(&f.tokenizer, max_seq_length)?;
    let encoder = Encoder {
        tokenizer: &tokenizer,
        labels: Some(&label_ids),
        label_all_tokens: false,
        max_seq_length,
        doc_stride: c.doc_stride,
    };
    let (rows, data) = read_and_encode(f.task, files, &c.fields, &encoder)?;
    if data.truncated > 0 {
        let what = if f.task == Task::QuestionAnswering { "split into windows" } else { "truncated" };
        tracing::warn!("{} inputs longer than {max_seq_length} tokens ({what})", data.truncated);
    }
    let setting = f.setting(c, device);
    let scores = evaluate(&f.model, &rows, &data, &setting)?;
    Ok(json!({"checkpoint": checkpoint, "scores": scores, "average_over_languages": average_over_languages(&scores)}))
}

/// `tokenizer` cutting inputs at `max_length` tokens, without padding of its own: batches are
/// padded to their longest member and masked (a tokenizer.json may pad every input to a fixed
/// length, as all-MiniLM-L6-v2's does, and transformers ignores that setting too).
pub(crate) fn truncating(tokenizer: &Tokenizer, max_length: usize) -> anyhow::Result<Tokenizer> {
    let mut t = tokenizer.clone();
    t.with_padding(None);
    t.with_truncation(Some(TruncationParams { max_length, ..Default::default() }))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(t)
}
