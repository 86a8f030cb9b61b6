//! `finetune predict`: a fine-tuned checkpoint applied to unlabelled rows, one JSON line per row
//! (classification: `label` and `logits`; token classification: one tag and the logits behind
//! it per word, `null` for a word with no sub-token or cut by truncation; QA: the `answer` with its character offsets in
//! the context and its score).

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use serde_json::json;
use tch::Device;

use crate::config::{FinetuneConfig, Task};
use crate::data::{classification, qa, token_classification};
use crate::encode::{Encoder, Rows};
use crate::evaluate::{answers, batch_scores, span_logits, truncating};
use crate::task_model::load_finetuned;

/// Writes predictions for `input` to `output` (atomically); returns the number of rows. Inputs
/// are cut at the length the checkpoint was fine-tuned with; field names and QA decoding come
/// from `c`.
pub fn predict(
    checkpoint: &Path,
    input: &Path,
    output: &Path,
    c: &FinetuneConfig,
    device: Device,
) -> anyhow::Result<usize> {
    let f = load_finetuned(checkpoint, device)?;
    let max_seq_length = f.input_length(c.max_seq_length);
    let rows = match f.task {
        Task::Classification => Rows::Examples(classification::read_unlabelled(input, &c.fields)?),
        Task::TokenClassification => Rows::Sentences(token_classification::read(input, &c.fields)?),
        Task::QuestionAnswering => Rows::Questions(qa::read_unlabelled(input, &c.fields)?),
    };
    let tokenizer = truncating(&f.tokenizer, max_seq_length)?;
    let encoder = Encoder {
        tokenizer: &tokenizer,
        labels: None,
        label_all_tokens: false,
        max_seq_length,
        doc_stride: c.doc_stride,
    };
    let data = rows.encode(&encoder, input)?;
    let setting = f.setting(c, device);
    let mut lines: Vec<serde_json::Value> = Vec::new();
    match &rows {
        Rows::Questions(questions) => {
            let (logits, _) = span_logits(&f.model, &data, &setting)?;
            for (q, a) in questions.iter().zip(answers(&rows, &data, &logits, setting.decoding)) {
                lines.push(json!({"id": q.id, "answer": a.text, "start": a.start, "end": a.end, "score": a.score}));
            }
        }
        Rows::Examples(_) | Rows::Sentences(_) => {
            let per_token = f.task == Task::TokenClassification;
            tch::no_grad(|| -> anyhow::Result<()> {
                for chunk in data.items.chunks(setting.batch_size.max(1)) {
                    let (scores, _) = batch_scores(&f.model, chunk, &setting, per_token)?;
                    let n = scores.size()[1] as usize;
                    let best: Vec<i64> = Vec::try_from(scores.argmax(-1, false))?;
                    let values: Vec<f32> = Vec::try_from(scores.flatten(0, -1))?;
                    // Rows per input: the padded length (token classification), else 1.
                    let t = scores.size()[0] as usize / chunk.len();
                    for i in 0..chunk.len() {
                        lines.push(if per_token {
                            // Each word takes the tag of the position it starts: a word with no
                            // sub-token (normalised away) or cut by truncation has none, null.
                            let row = lines.len();
                            let words = match &rows {
                                Rows::Sentences(s) => &s[row].words,
                                _ => unreachable!("token classification reads sentences"),
                            };
                            let mut tags: Vec<Option<&str>> = vec![None; words.len()];
                            let mut logits: Vec<Option<&[f32]>> = vec![None; words.len()];
                            for (p, w) in data.word_starts[row].iter().enumerate() {
                                let Some(w) = w.filter(|&w| w < words.len()) else { continue };
                                let at = i * t + p;
                                tags[w] = Some(f.labels[best[at] as usize].as_str());
                                logits[w] = Some(&values[at * n..(at + 1) * n]);
                            }
                            json!({"tokens": words, "tags": tags, "logits": logits})
                        } else {
                            json!({"label": f.labels[best[i] as usize], "logits": &values[i * n..(i + 1) * n]})
                        });
                    }
                }
                Ok(())
            })?;
        }
    }
    let tmp = output.with_extension("jsonl.partial");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp).with_context(|| tmp.display().to_string())?);
    for line in &lines {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    drop(out);
    std::fs::rename(&tmp, output).with_context(|| output.display().to_string())?;
    Ok(lines.len())
}
