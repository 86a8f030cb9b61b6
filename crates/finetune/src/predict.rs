//! `finetune predict`: a fine-tuned checkpoint applied to unlabelled rows, one JSON line per row
//! (classification: `label` and `logits`; token classification: one tag per word).

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context};
use model::{AttentionMask, BertForSequenceClassification, BertForTokenClassification, Inputs, ModelDir, Pooling};
use serde_json::json;
use tch::nn::VarStore;
use tch::{Device, Kind};
use tokenizers::TruncationParams;

use crate::config::Attention;
use crate::data::{classification, token_classification};
use crate::trainer::{collate, encode_examples, encode_sentences, TaskModel, IGNORE};

/// Writes predictions for `input` to `output` (atomically); returns the number of rows.
pub fn predict(checkpoint: &Path, input: &Path, output: &Path, device: Device) -> anyhow::Result<usize> {
    let dir = ModelDir::open(checkpoint)?;
    let c = &dir.config;
    let labels = c.labels().with_context(|| format!("{}: config.json has no id2label", checkpoint.display()))?;
    let mut tokenizer = dir.tokenizer()?;
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: c.max_position_embeddings as usize,
            ..Default::default()
        }))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let attention: Attention = c
        .extra
        .get("finetune_attention")
        .cloned()
        .map(serde_json::from_value)
        .transpose()?
        .unwrap_or(Attention::Bidirectional);
    let pooling: Pooling =
        c.extra.get("finetune_pooling").cloned().map(serde_json::from_value).transpose()?.unwrap_or(Pooling::Cls);
    let mask = if attention == Attention::Causal { AttentionMask::Causal } else { AttentionMask::Bidirectional };
    let vs = VarStore::new(device);
    let n = labels.len() as i64;
    let arch = c.architectures.as_ref().and_then(|a| a.first()).map(String::as_str).unwrap_or("");
    let (model, encoded, words): (TaskModel, _, Option<Vec<Vec<String>>>) = match arch {
        "BertForSequenceClassification" => {
            let mut m = BertForSequenceClassification::new(&vs.root(), c, n);
            m.pooling = pooling;
            let rows = classification::read_unlabelled(input, &classification::Fields::default())?;
            (TaskModel::Sequence(m), encode_examples(&tokenizer, &rows, None, input)?.0, None)
        }
        "BertForTokenClassification" => {
            let m = BertForTokenClassification::new(&vs.root(), c, n);
            let sentences = token_classification::read(input)?;
            let words = sentences.iter().map(|s| s.words.clone()).collect();
            (TaskModel::Token(m), encode_sentences(&tokenizer, &sentences, None, input)?.0, Some(words))
        }
        other => bail!("{}: architectures = {other:?}; expected a fine-tuned classifier", checkpoint.display()),
    };
    let report = dir.load_weights(&vs, false)?;
    if !report.missing.is_empty() {
        bail!("{}: {report}", checkpoint.display());
    }
    let pad = tokenizer.token_to_id("[PAD]").map_or(c.pad_token_id, i64::from);
    let tmp = output.with_extension("jsonl.partial");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp).with_context(|| tmp.display().to_string())?);
    let mut row = 0;
    tch::no_grad(|| -> anyhow::Result<()> {
        for chunk in encoded.chunks(64) {
            let items: Vec<_> = chunk.iter().collect();
            let (ids, attention_mask, types, _) = collate(&items, pad, device);
            let inputs =
                Inputs { input_ids: &ids, attention_mask: Some(&attention_mask), token_type_ids: Some(&types) };
            let logits = model.logits(inputs, mask, false)?.to_kind(Kind::Float);
            let best: Vec<i64> = Vec::try_from(logits.argmax(-1, false).flatten(0, -1))?;
            match &words {
                None => {
                    let values: Vec<f32> = Vec::try_from(logits.flatten(0, -1))?;
                    for (i, chunk_logits) in values.chunks(n as usize).enumerate() {
                        writeln!(out, "{}", json!({"label": labels[best[i] as usize], "logits": chunk_logits}))?;
                        row += 1;
                    }
                }
                Some(words) => {
                    let t = ids.size()[1] as usize;
                    for (i, e) in chunk.iter().enumerate() {
                        // One tag per word start; words cut by truncation get none.
                        let mut tags: Vec<Option<&str>> = (0..e.labels.len())
                            .filter(|&p| e.labels[p] != IGNORE)
                            .map(|p| Some(labels[best[i * t + p] as usize].as_str()))
                            .collect();
                        tags.resize(words[row].len(), None);
                        writeln!(out, "{}", json!({"tokens": words[row], "tags": tags}))?;
                        row += 1;
                    }
                }
            }
        }
        Ok(())
    })?;
    out.flush()?;
    drop(out);
    std::fs::rename(&tmp, output).with_context(|| output.display().to_string())?;
    Ok(row)
}
