//! Evaluation: loss, perplexity and bits per byte per language on the corpus's validation
//! split, and the `pretrain eval --text` protocol for any `BertLMHeadModel` checkpoint.

use std::path::Path;

use corpus::Corpus;
use model::{BertForLM, Inputs};
use serde::Serialize;
use tch::{Device, Kind, Tensor};

use crate::context::Context;
use training::loss::{summed_cross_entropy, IGNORE};

/// The result on one text stream.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// Language code (`"all"` for a text file).
    pub lang: String,
    /// Mean cross-entropy per target token, in nats.
    pub loss: f64,
    /// Target tokens scored.
    pub tokens: u64,
    /// exp(loss).
    pub ppl: f64,
    /// Bits per UTF-8 byte of text: loss / ln 2 × (tokens per byte of the stream), comparable
    /// across tokenizers.
    pub bits_per_byte: f64,
    /// Entropy (nats) of the language's unigram token distribution, estimated on its training
    /// split: the loss of a context-free model, which a language model must beat.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unigram_entropy: Option<f64>,
}

impl Evaluation {
    fn new(lang: &str, nats: f64, tokens: u64, tokens_per_byte: f64) -> Self {
        let loss = if tokens == 0 { f64::NAN } else { nats / tokens as f64 };
        Evaluation {
            lang: lang.to_string(),
            loss,
            tokens,
            ppl: loss.exp(),
            bits_per_byte: loss / std::f64::consts::LN_2 * tokens_per_byte,
            unigram_entropy: None,
        }
    }
}

/// Summed loss and target count of `rows`, windows of `context`.
fn score_rows(model: &BertForLM, rows: &[i64], context: &Context, device: Device) -> anyhow::Result<(f64, u64)> {
    let window = context.window();
    let n = (rows.len() / window) as i64;
    let (inputs, labels): (Vec<i64>, Vec<i64>) = match &context.mlm {
        None => rows.chunks(window).flat_map(|r| r[..window - 1].iter().copied().zip(r[1..].iter().copied())).unzip(),
        Some(masking) => {
            // A fixed masking: every evaluation scores the same positions.
            let (i, l, _) = crate::batch::mlm_for_eval(rows, masking);
            (i, l)
        }
    };
    let input_ids = Tensor::from_slice(&inputs).view([n, context.seq_len]).to_device(device);
    let labels = Tensor::from_slice(&labels).view([n, context.seq_len]).to_device(device);
    let targets = labels.ne(IGNORE).sum(Kind::Int64).int64_value(&[]) as u64;
    let logits = model.forward_t(Inputs::ids(&input_ids), context.mask(), false)?;
    Ok((summed_cross_entropy(&logits, &labels).double_value(&[]), targets))
}

/// Entropy in nats of the empirical distribution of the ids in `tokens` (ids < `vocab`).
pub fn unigram_entropy(tokens: &[i64], vocab: usize) -> f64 {
    let mut counts = vec![0u64; vocab];
    for &t in tokens {
        if let Some(c) = counts.get_mut(t as usize) {
            *c += 1;
        }
    }
    let n = tokens.len() as f64;
    counts.iter().filter(|&&c| c > 0).map(|&c| c as f64 / n).map(|p| -p * p.ln()).sum()
}

/// Per-language evaluation on the validation split: windows of the training shape with stride
/// `seq_len` from token 0 (at most `max_windows` per language, 0 = all), in batches.
pub fn evaluate_corpus(
    model: &BertForLM,
    corpus: &Corpus,
    context: &Context,
    max_windows: usize,
    batch_rows: usize,
    device: Device,
) -> anyhow::Result<Vec<Evaluation>> {
    let window = context.window();
    let mut results = Vec::new();
    tch::no_grad(|| -> anyhow::Result<()> {
        for lang in corpus.languages() {
            let stream = corpus.stream(corpus::VALIDATION, lang);
            let stats = &corpus.manifest().languages[lang].validation;
            let starts: Vec<u64> = stream.windows(window, context.seq_len as usize).collect();
            let take = if max_windows == 0 { starts.len() } else { max_windows.min(starts.len()) };
            if take == 0 {
                continue;
            }
            let (mut nats, mut tokens) = (0.0, 0u64);
            for chunk in starts[..take].chunks(batch_rows.max(1)) {
                let mut rows = Vec::with_capacity(chunk.len() * window);
                for &s in chunk {
                    stream.window_into(s, window, &mut rows)?;
                }
                let (n, t) = score_rows(model, &rows, context, device)?;
                nats += n;
                tokens += t;
            }
            let tokens_per_byte = stats.tokens as f64 / stats.bytes.max(1) as f64;
            let train = corpus.stream(corpus::TRAIN, lang);
            let mut train_ids = Vec::with_capacity(train.len() as usize);
            train.window_into(0, train.len() as usize, &mut train_ids)?;
            let mut e = Evaluation::new(lang, nats, tokens, tokens_per_byte);
            e.unigram_entropy = Some(unigram_entropy(&train_ids, corpus.manifest().tokenizer.vocab_size));
            results.push(e);
        }
        Ok(())
    })?;
    Ok(results)
}

/// The `--text` protocol: every non-empty line is a document, encoded with the checkpoint's
/// tokenizer without special tokens and followed by `[SEP]`; all are concatenated; windows of
/// k + 1 tokens with stride k from token 0 (a shorter tail is dropped); the loss is the mean
/// cross-entropy over the k targets of every window, with causal attention.
pub fn evaluate_text(model_dir: &Path, text: &Path, k: Option<i64>, device: Device) -> anyhow::Result<Evaluation> {
    let dir = model::ModelDir::open(model_dir)?;
    let tokenizer = dir.tokenizer()?;
    let sep = tokenizer
        .token_to_id("[SEP]")
        .or_else(|| tokenizer.token_to_id("</s>"))
        .ok_or_else(|| anyhow::anyhow!("{}: the tokenizer has no [SEP]", model_dir.display()))?;
    let k = k.unwrap_or(dir.config.max_position_embeddings - 1);
    anyhow::ensure!(
        k >= 1 && k <= dir.config.max_position_embeddings,
        "--k {k} does not fit the model (max_position_embeddings = {})",
        dir.config.max_position_embeddings
    );
    let content = std::fs::read_to_string(text).map_err(|e| anyhow::anyhow!("{}: {e}", text.display()))?;
    let docs: Vec<&str> = content.lines().filter(|l| !l.trim().is_empty()).collect();
    let encodings =
        tokenizer.encode_batch(docs.clone(), false).map_err(|e| anyhow::anyhow!("{}: {e}", text.display()))?;
    let mut ids: Vec<i64> = Vec::new();
    for e in &encodings {
        ids.extend(e.get_ids().iter().map(|&i| i64::from(i)));
        ids.push(i64::from(sep));
    }
    let bytes: usize = docs.iter().map(|d| d.len()).sum();
    let (_vs, model) = trained_lm(&dir, device)?;
    let context = Context::causal_scoring(k);
    let window = context.window();
    let starts: Vec<usize> = if ids.len() < window {
        Vec::new()
    } else {
        (0..=(ids.len() - window) / k as usize).map(|i| i * k as usize).collect()
    };
    anyhow::ensure!(!starts.is_empty(), "{}: fewer than k + 1 = {window} tokens", text.display());
    let (mut nats, mut tokens) = (0.0, 0u64);
    tch::no_grad(|| -> anyhow::Result<()> {
        for chunk in starts.chunks(16) {
            let rows: Vec<i64> = chunk.iter().flat_map(|&s| ids[s..s + window].iter().copied()).collect();
            let (n, t) = score_rows(&model, &rows, &context, device)?;
            nats += n;
            tokens += t;
        }
        Ok(())
    })?;
    Ok(Evaluation::new("all", nats, tokens, ids.len() as f64 / bytes.max(1) as f64))
}

/// The language model of `dir`, refused when any weight (the LM head's, say: a bare `BertModel`)
/// is not in the checkpoint: scores of untrained weights would look like results.
fn trained_lm(dir: &model::ModelDir, device: Device) -> anyhow::Result<(tch::nn::VarStore, BertForLM)> {
    let vs = tch::nn::VarStore::new(device);
    let model = BertForLM::new(&vs.root(), &dir.config);
    let report = dir.load_weights(&vs, false)?;
    anyhow::ensure!(
        report.missing.is_empty(),
        "{}: not a trained language model; these weights are not in the checkpoint: {}. pretrain eval scores a \
         BertLMHeadModel or BertForMaskedLM directory, such as a pretraining run's final/",
        dir.path.display(),
        report.missing.join(", ")
    );
    Ok((vs, model))
}

/// `pretrain eval --corpus`: a checkpoint scored on every language's validation split (causal,
/// windows of k + 1 with stride k), plus the token-weighted mean as language `"all"`.
pub fn evaluate_checkpoint_on_corpus(
    model_dir: &Path,
    corpus_dir: &Path,
    k: i64,
    device: Device,
) -> anyhow::Result<Vec<Evaluation>> {
    let corpus = Corpus::open(corpus_dir)?;
    let dir = model::ModelDir::open(model_dir)?;
    anyhow::ensure!(
        dir.tokenizer()?.get_vocab(true).len() == corpus.manifest().tokenizer.vocab_size,
        "{} and {} use different tokenizers",
        model_dir.display(),
        corpus_dir.display()
    );
    let (_vs, model) = trained_lm(&dir, device)?;
    let mut rows = evaluate_corpus(&model, &corpus, &Context::causal_scoring(k), 0, 16, device)?;
    let tokens: u64 = rows.iter().map(|r| r.tokens).sum();
    let nats: f64 = rows.iter().map(|r| r.loss * r.tokens as f64).sum();
    let bits: f64 = rows.iter().map(|r| r.bits_per_byte * r.tokens as f64).sum();
    let mut all = Evaluation::new("all", nats, tokens, 1.0);
    all.bits_per_byte = bits / tokens.max(1) as f64;
    rows.push(all);
    Ok(rows)
}
