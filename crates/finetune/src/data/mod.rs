//! Reading labelled data: sequence classification (JSONL, CSV/TSV), token classification
//! (JSONL, CoNLL, CoNLL-U) and extractive QA (SQuAD JSON v1.1/v2, JSONL). Every defect is an
//! error naming the file and line (or question id).

pub mod classification;
pub mod qa;
pub mod token_classification;

use std::path::{Path, PathBuf};

/// A defect in a data file.
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}: {reason}", path.display())]
pub struct DataError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line (0 when the whole file is concerned).
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

impl DataError {
    pub(crate) fn new(path: &Path, line: usize, reason: impl Into<String>) -> Self {
        DataError { path: path.to_path_buf(), line, reason: reason.into() }
    }
}

/// Reads a whole UTF-8 file, naming it on error.
pub(crate) fn read_text(path: &Path) -> Result<String, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::new(path, 0, e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..offset].iter().filter(|&&b| b == b'\n').count() + 1;
        DataError::new(path, line, format!("invalid UTF-8 at byte {offset}"))
    })
}

/// The JSON objects of a JSONL text with their 1-based line numbers; blank lines are skipped,
/// anything else that is not an object is an error naming the line.
pub(crate) fn jsonl_objects<'a>(
    path: &'a Path,
    text: &'a str,
) -> impl Iterator<Item = Result<(usize, serde_json::Map<String, serde_json::Value>), DataError>> + 'a {
    text.lines().enumerate().filter(|(_, raw)| !raw.trim().is_empty()).map(move |(i, raw)| {
        let line = i + 1;
        match serde_json::from_str::<serde_json::Value>(raw) {
            Ok(serde_json::Value::Object(o)) => Ok((line, o)),
            Ok(_) => Err(DataError::new(path, line, "not a JSON object")),
            Err(e) => Err(DataError::new(path, line, format!("malformed JSON: {e}"))),
        }
    })
}

/// A string field of a JSON object (required or optional).
pub(crate) fn string_field(
    path: &Path,
    line: usize,
    o: &serde_json::Map<String, serde_json::Value>,
    key: &str,
    required: bool,
) -> Result<Option<String>, DataError> {
    match o.get(key) {
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        // Integer class ids are labels too (HF datasets often store them so).
        Some(serde_json::Value::Number(n)) => Ok(Some(n.to_string())),
        None | Some(serde_json::Value::Null) if !required => Ok(None),
        None | Some(serde_json::Value::Null) => Err(DataError::new(path, line, format!("no field `{key}`"))),
        Some(other) => Err(DataError::new(path, line, format!("field `{key}` is not a string: {other}"))),
    }
}
