//! Reading labelled data: sequence classification (JSONL, CSV/TSV, Parquet), token
//! classification (JSONL, CoNLL, CoNLL-U, Parquet) and extractive QA (SQuAD JSON v1.1/v2, JSONL,
//! Parquet). Every defect is an error naming the file and line (for Parquet, the row; or the
//! question id).

pub mod classification;
pub mod qa;
pub mod token_classification;

use std::path::{Path, PathBuf};

use corpus::parquet_file::{Column, Kind, ParquetError, ParquetFile};

/// Field (JSONL key, CSV/TSV or Parquet column) names; HF datasets' conventions by default.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Fields {
    /// Classification: the text.
    pub text: String,
    /// Classification: the second text of a pair ("" = none).
    pub text_pair: String,
    /// Classification: the label.
    pub label: String,
    /// Token classification: the words.
    pub tokens: String,
    /// Token classification: the tags, one per word (e.g. datasets' `ner_tags`, `pos_tags`).
    pub tags: String,
    /// Every task: the language code.
    pub lang: String,
}

impl Default for Fields {
    fn default() -> Self {
        Fields {
            text: "text".into(),
            text_pair: "text_pair".into(),
            label: "label".into(),
            tokens: "tokens".into(),
            tags: "tags".into(),
            lang: "lang".into(),
        }
    }
}

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

impl From<ParquetError> for DataError {
    fn from(e: ParquetError) -> Self {
        DataError { path: e.path, line: usize::try_from(e.row).unwrap_or(usize::MAX), reason: e.reason }
    }
}

/// Whether `path` is read as Parquet (by its extension, as the other formats).
pub(crate) fn is_parquet(path: &Path) -> bool {
    path.to_string_lossy().to_lowercase().ends_with(".parquet")
}

/// Column `name` of `file` when `wanted` (a configured name, or a labelled read), else when
/// the file has it; `None` otherwise.
pub(crate) fn optional_column(
    file: &ParquetFile,
    name: &str,
    kind: Kind,
    wanted: bool,
) -> Result<Option<Column>, DataError> {
    if !wanted && !file.has_column(name) {
        return Ok(None);
    }
    Ok(Some(file.column(name, kind)?))
}

/// A null where a value is required, at `row` of a Parquet file.
pub(crate) fn null_value(path: &Path, row: u64, column: &Column) -> DataError {
    DataError::new(path, usize::try_from(row).unwrap_or(usize::MAX), format!("`{}` is null", column.name()))
}

/// Reads a whole UTF-8 file, naming it on error. A byte-order mark at its start is dropped:
/// Windows editors and Excel's "CSV UTF-8" write one, and left in it broke the first JSON value,
/// CSV column name or CoNLL-U comment.
pub(crate) fn read_text(path: &Path) -> Result<String, DataError> {
    let mut bytes = std::fs::read(path).map_err(|e| DataError::new(path, 0, e.to_string()))?;
    if bytes.starts_with(BOM) {
        bytes.drain(..BOM.len());
    }
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..offset].iter().filter(|&&b| b == b'\n').count() + 1;
        DataError::new(path, line, format!("invalid UTF-8 at byte {offset}"))
    })
}

/// The UTF-8 byte-order mark.
const BOM: &[u8] = b"\xef\xbb\xbf";

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
    match present(path, line, o, key, required)? {
        None => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(DataError::new(path, line, format!("field `{key}` is {}, not a string", kind(other)))),
    }
}

/// A field's value; absent (or null) is `None` unless `required`, then an error.
fn present<'a>(
    path: &Path,
    line: usize,
    o: &'a serde_json::Map<String, serde_json::Value>,
    key: &str,
    required: bool,
) -> Result<Option<&'a serde_json::Value>, DataError> {
    match o.get(key) {
        None | Some(serde_json::Value::Null) if !required => Ok(None),
        None => Err(DataError::new(path, line, format!("no field `{key}`"))),
        Some(v) => Ok(Some(v)),
    }
}

/// A label (class or tag) field of a JSON object: absent or null only when not `required`.
pub(crate) fn label_field(
    path: &Path,
    line: usize,
    o: &serde_json::Map<String, serde_json::Value>,
    key: &str,
    required: bool,
) -> Result<Option<String>, DataError> {
    present(path, line, o, key, required)?
        .map(|v| label_value(v).map_err(|why| DataError::new(path, line, format!("field `{key}` {why}"))))
        .transpose()
}

/// A label as its name: a string, or an integer (HF datasets store class ids so). A float is
/// refused rather than named "1.0", which no integer label of the same class would match, and
/// booleans, null and containers have no agreed name at all.
pub(crate) fn label_value(v: &serde_json::Value) -> Result<String, String> {
    match v {
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        other => Err(format!("is {} ({other}); labels are strings or integers", kind(other))),
    }
}

/// What a JSON value is, for error messages.
pub(crate) fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        serde_json::Value::Number(_) => "a number that is not an integer",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}
