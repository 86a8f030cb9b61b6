//! Turning rows into model inputs: tokenized examples with their targets, and batches padded to
//! their longest member (dynamic padding).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use tch::{Device, Tensor};
use tokenizers::Tokenizer;

use crate::config::Task;
use crate::data::classification::{self, Example, Fields};
use crate::data::qa::{self, Question};
use crate::data::token_classification::{self, Sentence};
use crate::data::DataError;
use crate::extractive_qa::{self, Span};

pub(crate) use training::loss::IGNORE;

/// One encoded example.
#[derive(Debug, Clone)]
pub(crate) struct Encoded {
    pub(crate) ids: Vec<i64>,
    pub(crate) type_ids: Vec<i64>,
    /// One label (sequence classification), one per token with `IGNORE` off word starts (token
    /// classification), or the answer's start and end positions (QA).
    pub(crate) labels: Vec<i64>,
    /// The row's language ("all" when it has none).
    pub(crate) lang: String,
}

/// Encodes text (pair) examples with their label ids (placeholder 0 without a label map).
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

/// Encoded sentences: the encodings; for each, the word every position starts (`None` off word
/// starts); and how many sentences lost words to truncation.
type EncodedSentences = (Vec<Encoded>, Vec<Vec<Option<usize>>>, usize);

/// Encodes sentences of words; the first sub-token of each word carries its tag, the others
/// and the special tokens are ignored (transformers' `label_all_tokens = False`) unless
/// `label_all_tokens`, which tags them too (`B-X` as `I-X`).
///
/// A word the tokenizer normalises away (a zero-width space, a soft hyphen: BERT's
/// normalisation drops format characters) has no sub-token, so no position: it is neither
/// trained nor scored, as in transformers, and `predict` gives it `null`. Positions are mapped
/// to words through the tokenizer's word ids, never by counting word starts, which would give
/// every later word its neighbour's tag. Such words are reported once per file.
pub(crate) fn encode_sentences(
    tokenizer: &Tokenizer,
    sentences: &[Sentence],
    labels: Option<&BTreeMap<String, i64>>,
    label_all_tokens: bool,
    path: &Path,
) -> anyhow::Result<EncodedSentences> {
    let continuation = |id: i64| -> i64 {
        let inside = labels.and_then(|labels| {
            let name = labels.iter().find(|(_, &i)| i == id)?.0;
            labels.get(&format!("I-{}", name.strip_prefix("B-")?)).copied()
        });
        inside.unwrap_or(id)
    };
    let mut truncated = 0;
    let mut out = Vec::with_capacity(sentences.len());
    let mut starts = Vec::with_capacity(sentences.len());
    let (mut empty_words, mut first_empty) = (0usize, None);
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
        let (token_labels, word_starts): (Vec<i64>, Vec<Option<usize>>) = encoding
            .get_word_ids()
            .iter()
            .map(|w| {
                let start = w.filter(|&w| Some(w) != previous).map(|w| w as usize);
                let label = match (start, *w) {
                    (Some(w), _) => tags[w],
                    (None, Some(w)) if label_all_tokens => continuation(tags[w as usize]),
                    _ => IGNORE,
                };
                previous = *w;
                (label, start)
            })
            .unzip();
        // A word missing from the kept tokens and from the overflow has no sub-token at all;
        // one missing only from the kept tokens was cut by truncation.
        let mut present = vec![false; s.words.len()];
        let overflow = encoding.get_overflowing().iter().flat_map(|o| o.get_word_ids());
        for &w in encoding.get_word_ids().iter().chain(overflow).flatten() {
            if let Some(p) = present.get_mut(w as usize) {
                *p = true;
            }
        }
        for (i, _) in present.iter().enumerate().filter(|(_, &p)| !p) {
            empty_words += 1;
            first_empty.get_or_insert((s.line, i, s.words[i].clone()));
        }
        truncated += usize::from(!encoding.get_overflowing().is_empty());
        out.push(Encoded {
            ids: encoding.get_ids().iter().map(|&i| i64::from(i)).collect(),
            type_ids: encoding.get_type_ids().iter().map(|&i| i64::from(i)).collect(),
            labels: token_labels,
            lang: s.lang.clone().unwrap_or_else(|| "all".into()),
        });
        starts.push(word_starts);
    }
    if let Some((line, i, word)) = first_empty {
        tracing::warn!(
            "{}:{line}: word {} of the sentence ({word:?}) has no sub-token in this tokenizer: it is neither \
             trained nor scored, and predict tags it null ({empty_words} such words in this file)",
            path.display(),
            i + 1
        );
    }
    Ok((out, starts, truncated))
}

/// Pads a batch to its longest member (dynamic padding): input ids, attention mask, token type
/// ids, and labels — [B, T] padded with `IGNORE` when `per_token`, else [B, labels per example].
pub(crate) fn collate(
    items: &[&Encoded],
    pad: i64,
    per_token: bool,
    device: Device,
) -> (Tensor, Tensor, Tensor, Tensor) {
    let t = items.iter().map(|e| e.ids.len()).max().unwrap_or(1);
    let (mut ids, mut mask, mut types) = (Vec::new(), Vec::new(), Vec::new());
    for e in items {
        let n = e.ids.len();
        ids.extend(e.ids.iter().copied().chain(std::iter::repeat_n(pad, t - n)));
        types.extend(e.type_ids.iter().copied().chain(std::iter::repeat_n(0, t - n)));
        mask.extend(std::iter::repeat_n(1i64, n).chain(std::iter::repeat_n(0, t - n)));
    }
    let shape = [items.len() as i64, t as i64];
    let labels: Vec<i64> = if per_token {
        items
            .iter()
            .flat_map(|e| e.labels.iter().copied().chain(std::iter::repeat_n(IGNORE, t - e.labels.len())))
            .collect()
    } else {
        items.iter().flat_map(|e| e.labels.iter().copied()).collect()
    };
    (
        Tensor::from_slice(&ids).view(shape).to_device(device),
        Tensor::from_slice(&mask).view(shape).to_device(device),
        Tensor::from_slice(&types).view(shape).to_device(device),
        Tensor::from_slice(&labels).view([items.len() as i64, -1]).to_device(device),
    )
}

/// The rows of a task's data file(s).
pub(crate) enum Rows {
    Examples(Vec<Example>),
    Sentences(Vec<Sentence>),
    Questions(Vec<Question>),
}

/// Rows made model inputs; for QA, `spans` runs parallel to `items` (one per window).
#[derive(Default)]
pub(crate) struct Encodings {
    pub(crate) items: Vec<Encoded>,
    pub(crate) spans: Vec<Span>,
    /// Inputs cut at `max_seq_length` (QA: questions split into several windows).
    pub(crate) truncated: usize,
    /// Token classification, parallel to `items`: the word each position starts (`None` off
    /// word starts), so that tags go back to their words.
    pub(crate) word_starts: Vec<Vec<Option<usize>>>,
}

/// How rows become inputs.
pub(crate) struct Encoder<'a> {
    /// With truncation at `max_seq_length` set.
    pub(crate) tokenizer: &'a Tokenizer,
    /// Label ids; `None` for unlabelled rows (prediction).
    pub(crate) labels: Option<&'a BTreeMap<String, i64>>,
    pub(crate) label_all_tokens: bool,
    pub(crate) max_seq_length: usize,
    pub(crate) doc_stride: usize,
}

impl Rows {
    /// Reads one file of `task`; `lang` (a per-language evaluation file) overrides the rows' own.
    pub(crate) fn read(task: Task, path: &Path, fields: &Fields, lang: Option<&str>) -> Result<Rows, DataError> {
        let mut rows = match task {
            Task::Classification => Rows::Examples(classification::read(path, fields)?),
            Task::TokenClassification => Rows::Sentences(token_classification::read(path, fields)?),
            Task::QuestionAnswering => Rows::Questions(qa::read(path, fields)?),
        };
        if let Some(lang) = lang {
            let set = |l: &mut Option<String>| *l = Some(lang.to_string());
            match &mut rows {
                Rows::Examples(v) => v.iter_mut().for_each(|e| set(&mut e.lang)),
                Rows::Sentences(v) => v.iter_mut().for_each(|e| set(&mut e.lang)),
                Rows::Questions(v) => v.iter_mut().for_each(|e| set(&mut e.lang)),
            }
        }
        Ok(rows)
    }

    /// The label (tag) names the rows use; none for QA.
    pub(crate) fn label_names(&self) -> BTreeSet<String> {
        match self {
            Rows::Examples(v) => v.iter().map(|e| e.label.clone()).collect(),
            Rows::Sentences(v) => v.iter().flat_map(|s| s.tags.iter().cloned()).collect(),
            Rows::Questions(_) => BTreeSet::new(),
        }
    }

    /// The label (tag) names of a training set, in order; none for QA. Fewer than two is an
    /// error: a single class trains to loss 0 and accuracy 1 while learning nothing.
    pub(crate) fn training_labels(&self, path: &Path) -> Result<Vec<String>, DataError> {
        let names = self.label_names();
        if matches!(self, Rows::Questions(_)) || names.len() >= 2 {
            return Ok(names.into_iter().collect());
        }
        let what = if matches!(self, Rows::Sentences(_)) { "tag" } else { "label" };
        let reason = match names.first().map(String::as_str) {
            // Sentences read without tags (JSONL rows without `tags`: input for predict).
            None | Some("") => format!("no {what}s: training data needs them (rows without `tags` are predict input)"),
            Some(only) => format!(
                "every {what} is {only:?}: training needs at least two distinct {what}s (with one, it ends at loss 0 \
                 having learnt nothing)"
            ),
        };
        Err(DataError::new(path, 0, reason))
    }

    /// The questions (QA), for decoding and scoring.
    pub(crate) fn questions(&self) -> &[Question] {
        match self {
            Rows::Questions(v) => v,
            _ => &[],
        }
    }

    /// Encodes the rows of `path`.
    pub(crate) fn encode(&self, e: &Encoder, path: &Path) -> anyhow::Result<Encodings> {
        Ok(match self {
            Rows::Examples(v) => {
                let (items, truncated) = encode_examples(e.tokenizer, v, e.labels, path)?;
                Encodings { items, truncated, ..Encodings::default() }
            }
            Rows::Sentences(v) => {
                let (items, word_starts, truncated) =
                    encode_sentences(e.tokenizer, v, e.labels, e.label_all_tokens, path)?;
                Encodings { items, truncated, word_starts, ..Encodings::default() }
            }
            Rows::Questions(v) => {
                let (items, spans, truncated) =
                    extractive_qa::windows(e.tokenizer, v, e.max_seq_length, e.doc_stride, path)?;
                Encodings { items, spans, truncated, ..Encodings::default() }
            }
        })
    }

    /// Appends `other` (rows of the same task) to `self`, and its encodings to `encodings`.
    fn append(&mut self, other: Rows, encodings: &mut Encodings, mut more: Encodings) {
        let offset = self.questions().len();
        more.spans.iter_mut().for_each(|s| s.question += offset);
        encodings.items.append(&mut more.items);
        encodings.spans.append(&mut more.spans);
        encodings.word_starts.append(&mut more.word_starts);
        encodings.truncated += more.truncated;
        match (self, other) {
            (Rows::Examples(a), Rows::Examples(b)) => a.extend(b),
            (Rows::Sentences(a), Rows::Sentences(b)) => a.extend(b),
            (Rows::Questions(a), Rows::Questions(b)) => a.extend(b),
            _ => unreachable!("files of one task are read as one kind of rows"),
        }
    }
}

/// Reads and encodes several files (each with an optional language) as one set.
pub(crate) fn read_and_encode(
    task: Task,
    files: &[(PathBuf, Option<String>)],
    fields: &Fields,
    encoder: &Encoder,
) -> anyhow::Result<(Rows, Encodings)> {
    let mut all: Option<(Rows, Encodings)> = None;
    for (path, lang) in files {
        let rows = Rows::read(task, path, fields, lang.as_deref())?;
        let encodings = rows.encode(encoder, path)?;
        match &mut all {
            None => all = Some((rows, encodings)),
            Some((a, e)) => a.append(rows, e, encodings),
        }
    }
    all.ok_or_else(|| anyhow::anyhow!("no data files given"))
}
