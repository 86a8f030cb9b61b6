//! Extractive-QA examples: SQuAD v1.1/v2 JSON (`data[].paragraphs[].qas[]`), or JSONL or
//! Parquet rows (`id`, `question`, `context`, `answers: {text: [...], answer_start: [...]}`, as
//! HF datasets). Answer offsets are character offsets into the context and are checked against
//! its text.

use std::path::Path;

use corpus::parquet_file::{Column, Kind, ParquetFile};
use serde::Deserialize;

use super::{is_parquet, jsonl_objects, kind, null_value, optional_column, read_text, string_field, DataError, Fields};

/// One question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// Its id.
    pub id: String,
    /// The question.
    pub question: String,
    /// The passage.
    pub context: String,
    /// Gold answers as (text, start character); empty = unanswerable (SQuAD v2).
    pub answers: Vec<(String, usize)>,
    /// The language, when given.
    pub lang: Option<String>,
}

#[derive(Deserialize)]
struct SquadFile {
    data: Vec<SquadArticle>,
}
#[derive(Deserialize)]
struct SquadArticle {
    paragraphs: Vec<SquadParagraph>,
}
#[derive(Deserialize)]
struct SquadParagraph {
    context: String,
    qas: Vec<SquadQa>,
}
#[derive(Deserialize)]
struct SquadQa {
    id: String,
    question: String,
    #[serde(default)]
    answers: Vec<SquadAnswer>,
    #[serde(default)]
    is_impossible: bool,
}
#[derive(Deserialize)]
struct SquadAnswer {
    text: String,
    answer_start: usize,
}

/// Reads `.json` (SQuAD), `.jsonl` or `.parquet`; the language of JSONL and Parquet rows is
/// under `fields.lang`.
pub fn read(path: &Path, fields: &Fields) -> Result<Vec<Question>, DataError> {
    read_with(path, fields, true)
}

/// As [`read`], for prediction: JSONL and Parquet rows need no `answers`.
pub fn read_unlabelled(path: &Path, fields: &Fields) -> Result<Vec<Question>, DataError> {
    read_with(path, fields, false)
}

fn read_with(path: &Path, fields: &Fields, labelled: bool) -> Result<Vec<Question>, DataError> {
    let questions = if is_parquet(path) {
        read_parquet(path, fields, labelled)?
    } else if path.to_string_lossy().to_lowercase().ends_with(".jsonl") {
        read_jsonl(path, &read_text(path)?, fields, labelled)?
    } else {
        let text = read_text(path)?;
        let file: SquadFile = serde_json::from_str(&text)
            .map_err(|e| DataError::new(path, e.line(), format!("not a SQuAD file: {e}")))?;
        let mut out = Vec::new();
        for p in file.data.into_iter().flat_map(|a| a.paragraphs) {
            for qa in p.qas {
                let answers = if qa.is_impossible {
                    Vec::new()
                } else {
                    qa.answers.into_iter().map(|a| (a.text, a.answer_start)).collect()
                };
                out.push(Question {
                    id: qa.id,
                    question: qa.question,
                    context: p.context.clone(),
                    answers,
                    lang: None,
                });
            }
        }
        out
    };
    for q in &questions {
        if q.question.trim().is_empty() || q.context.trim().is_empty() {
            return Err(DataError::new(path, 0, format!("question {}: empty question or context", q.id)));
        }
        for (answer, start) in &q.answers {
            let found: String = q.context.chars().skip(*start).take(answer.chars().count()).collect();
            if &found != answer {
                return Err(DataError::new(
                    path,
                    0,
                    format!(
                        "question {}: answer {answer:?} is not at character {start} of its context (found {found:?})",
                        q.id
                    ),
                ));
            }
        }
    }
    if questions.is_empty() {
        return Err(DataError::new(path, 0, "no questions"));
    }
    Ok(questions)
}

/// Parquet in the layout of the Hub's `squad`: string columns `id`, `question`, `context`
/// (`title` is not read) and `answers` as `datasets` stores its Sequence of text and start.
fn read_parquet(path: &Path, f: &Fields, labelled: bool) -> Result<Vec<Question>, DataError> {
    let file = ParquetFile::open(path)?;
    let id = optional_column(&file, "id", Kind::Text, false)?;
    let question = file.column("question", Kind::Text)?;
    let context = file.column("context", Kind::Text)?;
    let answers = optional_column(&file, "answers", Kind::Answers, labelled)?;
    let lang = optional_column(&file, &f.lang, Kind::Text, false)?;
    let columns: Vec<_> =
        [id.as_ref(), Some(&question), Some(&context), answers.as_ref(), lang.as_ref()].into_iter().flatten().collect();
    let mut out = Vec::new();
    file.read(&columns, None, |batch| {
        for i in 0..batch.len() {
            let row = batch.row(i);
            let required = |c: &Column| batch.text(c, i)?.map(String::from).ok_or_else(|| null_value(path, row, c));
            let answers = match &answers {
                None => Vec::new(),
                Some(c) => batch.answers(c, i)?.ok_or_else(|| null_value(path, row, c))?,
            };
            out.push(Question {
                // As a JSONL row without `id`: the row number.
                id: match &id {
                    Some(c) => required(c)?,
                    None => row.to_string(),
                },
                question: required(&question)?,
                context: required(&context)?,
                answers,
                lang: lang.as_ref().map(|c| batch.text(c, i)).transpose()?.flatten().map(String::from),
            });
        }
        Ok::<(), DataError>(())
    })?;
    Ok(out)
}

fn read_jsonl(path: &Path, text: &str, f: &Fields, labelled: bool) -> Result<Vec<Question>, DataError> {
    let mut out = Vec::new();
    for row in jsonl_objects(path, text) {
        let (line, o) = row?;
        let field = |k: &str| {
            o.get(k)
                .and_then(|v| v.as_str())
                .map(String::from)
                .ok_or_else(|| DataError::new(path, line, format!("no field `{k}`")))
        };
        let none = serde_json::json!({"text": [], "answer_start": []});
        let answers = match o.get("answers") {
            Some(a) => a,
            None if !labelled => &none,
            None => return Err(DataError::new(path, line, "no field `answers`")),
        };
        // Every entry is checked: one dropped here (a number as text, a float as offset) used to
        // leave the question with fewer answers, or none, which reads as unanswerable.
        let list = |key: &str| {
            answers.get(key).and_then(|v| v.as_array()).ok_or_else(|| {
                DataError::new(path, line, format!("field `answers` has no list `{key}` (as HF datasets write it)"))
            })
        };
        let bad = |key: &str, i: usize, v: &serde_json::Value, want: &str| {
            DataError::new(
                path,
                line,
                format!("field `answers.{key}`, item {}, is {} ({v}), not {want}", i + 1, kind(v)),
            )
        };
        let texts: Vec<String> = list("text")?
            .iter()
            .enumerate()
            .map(|(i, t)| t.as_str().map(String::from).ok_or_else(|| bad("text", i, t, "a string")))
            .collect::<Result<_, _>>()?;
        let starts: Vec<usize> = list("answer_start")?
            .iter()
            .enumerate()
            .map(|(i, s)| {
                s.as_u64()
                    .and_then(|s| usize::try_from(s).ok())
                    .ok_or_else(|| bad("answer_start", i, s, "a character offset"))
            })
            .collect::<Result<_, _>>()?;
        if texts.len() != starts.len() {
            return Err(DataError::new(path, line, "answers.text and answers.answer_start differ in length"));
        }
        out.push(Question {
            id: o
                .get("id")
                .map(|v| v.as_str().map_or_else(|| v.to_string(), String::from))
                .unwrap_or_else(|| line.to_string()),
            question: field("question")?,
            context: field("context")?,
            answers: texts.into_iter().zip(starts).collect(),
            lang: string_field(path, line, &o, &f.lang, false)?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squad_json_and_jsonl_with_character_offsets() {
        let tmp = tempfile::tempdir().unwrap();
        let squad = tmp.path().join("a.json");
        let doc = serde_json::json!({"version": "v2.0", "data": [{"title": "t", "paragraphs": [{
        "context": "Die Hauptstadt von Österreich ist Wien.",
        "qas": [
            {"id": "q1", "question": "Was ist die Hauptstadt?", "answers": [{"text": "Wien", "answer_start": 34}]},
            {"id": "q2", "question": "Wer?", "answers": [], "is_impossible": true}
        ]}]}]});
        std::fs::write(&squad, doc.to_string()).unwrap();
        let q = read(&squad, &Fields::default()).unwrap();
        assert_eq!(q[0].answers, vec![("Wien".to_string(), 34)]);
        assert!(q[1].answers.is_empty());

        let jsonl = tmp.path().join("b.jsonl");
        std::fs::write(&jsonl, "{\"id\": \"z\", \"question\": \"哪里?\", \"context\": \"首都是北京。\", \"answers\": {\"text\": [\"北京\"], \"answer_start\": [3]}, \"lang\": \"zh\"}\n").unwrap();
        assert_eq!(read(&jsonl, &Fields::default()).unwrap()[0].answers[0].1, 3);
        std::fs::write(&jsonl, "{\"id\": \"z\", \"question\": \"q\", \"context\": \"首都是北京。\", \"answers\": {\"text\": [\"北京\"], \"answer_start\": [2]}}\n").unwrap();
        let err = read(&jsonl, &Fields::default()).unwrap_err().to_string();
        assert!(err.contains("question z") && err.contains("character 2"), "{err}");
    }
}
