//! Sequence-classification examples: one text (or a pair) and a label, with an optional language.

use std::path::Path;

use corpus::parquet_file::{Kind, ParquetFile};

pub use super::Fields;
use super::{is_parquet, jsonl_objects, label_field, null_value, optional_column, read_text, string_field, DataError};

/// One example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// The text.
    pub text: String,
    /// The second text, for pair tasks.
    pub text_pair: Option<String>,
    /// The label name (as in the file).
    pub label: String,
    /// The language, when given.
    pub lang: Option<String>,
    /// Line in the file (for Parquet, the row; for error messages).
    pub line: usize,
}

/// Reads `.jsonl`, `.csv` or `.tsv` (with a header row), or `.parquet`. Empty texts are errors.
pub fn read(path: &Path, fields: &Fields) -> Result<Vec<Example>, DataError> {
    read_with(path, fields, true)
}

/// As [`read`], for prediction: the label may be absent (it is then empty).
pub fn read_unlabelled(path: &Path, fields: &Fields) -> Result<Vec<Example>, DataError> {
    read_with(path, fields, false)
}

fn read_with(path: &Path, fields: &Fields, labelled: bool) -> Result<Vec<Example>, DataError> {
    let name = path.to_string_lossy().to_lowercase();
    let examples = if name.ends_with(".jsonl") {
        read_jsonl(path, fields, labelled)?
    } else if name.ends_with(".csv") || name.ends_with(".tsv") {
        read_delimited(path, fields, if name.ends_with(".tsv") { b'\t' } else { b',' }, labelled)?
    } else if is_parquet(path) {
        read_parquet(path, fields, labelled)?
    } else {
        return Err(DataError::new(path, 0, "unknown format: expected .jsonl, .csv, .tsv or .parquet"));
    };
    if examples.is_empty() {
        return Err(DataError::new(path, 0, "no examples"));
    }
    Ok(examples)
}

fn checked(path: &Path, e: Example, labelled: bool) -> Result<Example, DataError> {
    if e.text.trim().is_empty() {
        return Err(DataError::new(path, e.line, "empty text"));
    }
    if labelled && e.label.trim().is_empty() {
        return Err(DataError::new(path, e.line, "empty label"));
    }
    Ok(e)
}

fn read_jsonl(path: &Path, f: &Fields, labelled: bool) -> Result<Vec<Example>, DataError> {
    let text = read_text(path)?;
    let mut out = Vec::new();
    for row in jsonl_objects(path, &text) {
        let (line, o) = row?;
        let pair = if f.text_pair.is_empty() { None } else { string_field(path, line, &o, &f.text_pair, false)? };
        let example = Example {
            text: string_field(path, line, &o, &f.text, true)?.unwrap_or_default(),
            text_pair: pair,
            label: label_field(path, line, &o, &f.label, labelled)?.unwrap_or_default(),
            lang: string_field(path, line, &o, &f.lang, false)?,
            line,
        };
        out.push(checked(path, example, labelled)?);
    }
    Ok(out)
}

/// Parquet columns named as the JSONL fields; an integer label is named by the file's
/// `ClassLabel` feature, as `datasets` writes it.
fn read_parquet(path: &Path, f: &Fields, labelled: bool) -> Result<Vec<Example>, DataError> {
    let file = ParquetFile::open(path)?;
    let text = file.column(&f.text, Kind::Text)?;
    let pair = if f.text_pair.is_empty() { None } else { optional_column(&file, &f.text_pair, Kind::Text, false)? };
    let label = optional_column(&file, &f.label, Kind::Label, labelled)?;
    let lang = optional_column(&file, &f.lang, Kind::Text, false)?;
    let columns: Vec<_> = [Some(&text), pair.as_ref(), label.as_ref(), lang.as_ref()].into_iter().flatten().collect();
    let mut out = Vec::new();
    file.read(&columns, None, |batch| {
        for i in 0..batch.len() {
            let row = batch.row(i);
            let label = match &label {
                None => None,
                Some(column) => match batch.label(column, i)? {
                    None if labelled => return Err(null_value(path, row, column)),
                    l => l,
                },
            };
            let optional = |c: &Option<_>| c.as_ref().map(|c| batch.text(c, i)).transpose();
            let example = Example {
                text: batch.text(&text, i)?.ok_or_else(|| null_value(path, row, &text))?.to_string(),
                text_pair: optional(&pair)?.flatten().map(String::from),
                label: label.unwrap_or_default(),
                lang: optional(&lang)?.flatten().map(String::from),
                line: usize::try_from(row).unwrap_or(usize::MAX),
            };
            out.push(checked(path, example, labelled)?);
        }
        Ok::<(), DataError>(())
    })?;
    Ok(out)
}

fn read_delimited(path: &Path, f: &Fields, delimiter: u8, labelled: bool) -> Result<Vec<Example>, DataError> {
    // Through read_text, as the other formats: the byte-order mark goes, and invalid UTF-8 is
    // reported with its line.
    let text = read_text(path)?;
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).from_reader(text.as_bytes());
    let header = reader.headers().map_err(|e| DataError::new(path, 1, e.to_string()))?.clone();
    let column = |name: &str| header.iter().position(|h| h == name);
    let text_col =
        column(&f.text).ok_or_else(|| DataError::new(path, 1, format!("no `{}` column in the header", f.text)))?;
    let label_col = column(&f.label);
    if labelled && label_col.is_none() {
        return Err(DataError::new(path, 1, format!("no `{}` column in the header", f.label)));
    }
    let (pair_col, lang_col) = (column(&f.text_pair), column(&f.lang));
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line() as usize);
            DataError::new(path, line, e.to_string())
        })?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        let get = |c: Option<usize>| c.and_then(|c| record.get(c)).filter(|s| !s.is_empty()).map(String::from);
        let example = Example {
            text: get(Some(text_col)).unwrap_or_default(),
            text_pair: get(pair_col),
            label: get(label_col).unwrap_or_default(),
            lang: get(lang_col),
            line,
        };
        out.push(checked(path, example, labelled)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, content: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    #[test]
    fn jsonl_csv_tsv_and_errors_with_lines() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let j = write(d, "a.jsonl", "{\"text\": \"Hallo\", \"label\": \"de\", \"lang\": \"de\"}\n\n{\"text\": \"Привет\", \"text_pair\": \"Hi\", \"label\": 1}\n");
        let ex = read(&j, &Fields::default()).unwrap();
        assert_eq!(ex.len(), 2);
        assert_eq!((ex[1].label.as_str(), ex[1].text_pair.as_deref(), ex[1].line), ("1", Some("Hi"), 3));
        let c = write(d, "b.csv", "label,text\npos,\"good, very\"\nneg,bad\n");
        let ex = read(&c, &Fields::default()).unwrap();
        assert_eq!(ex[0].text, "good, very");
        assert_eq!(ex[1].line, 3);
        let t = write(d, "c.tsv", "text\tlabel\tlang\nbonjour\tfr\tfr\n");
        assert_eq!(read(&t, &Fields::default()).unwrap()[0].lang.as_deref(), Some("fr"));

        let bad = write(d, "d.jsonl", "{\"text\": \"ok\", \"label\": \"x\"}\n{\"text\": \"\", \"label\": \"x\"}\n");
        assert!(read(&bad, &Fields::default()).unwrap_err().to_string().ends_with("d.jsonl:2: empty text"));
        let bad = write(d, "e.jsonl", "{\"text\": \"ok\"}\n");
        assert!(read(&bad, &Fields::default()).unwrap_err().to_string().contains("e.jsonl:1: no field `label`"));
        let bad = write(d, "f.csv", "sentence,label\nx,y\n");
        assert!(read(&bad, &Fields::default()).unwrap_err().to_string().contains("f.csv:1: no `text` column"));
        let bad = write(d, "g.jsonl", "{\"text\": \"ok\", \"label\": \"x\"\n");
        assert!(read(&bad, &Fields::default()).unwrap_err().to_string().contains("g.jsonl:1: malformed JSON"));
    }
}
