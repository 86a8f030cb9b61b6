//! Reading documents out of one input file: decompression, line splitting with a length limit,
//! UTF-8 and NUL checks, JSONL fields, Parquet columns. Every defect is reported with file and
//! line (for Parquet, the row); with `on_invalid = "skip"` it is counted by reason instead.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::config::{DocumentMode, OnInvalid};
use crate::error::{Error, IoContext, Result};
use crate::parquet_file::{Column, Kind, ParquetError, ParquetFile};
use crate::source::{check_language_code, Compression, Format, InputFile};

/// One document, ready to encode.
#[derive(Debug, Clone)]
pub struct Document {
    /// Language code.
    pub lang: Arc<str>,
    /// The text (never empty or whitespace only).
    pub text: String,
}

/// Malformed documents skipped under `on_invalid = "skip"`, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkipCounts {
    /// Bytes that are not UTF-8.
    pub invalid_utf8: u64,
    /// NUL bytes (usually a binary file).
    pub nul_byte: u64,
    /// JSONL lines that are not a JSON object with the text field (and the language where
    /// needed); Parquet rows whose text (or needed language) is null.
    pub malformed_json: u64,
    /// Lines or documents over `max_document_bytes`.
    pub too_long: u64,
}

impl SkipCounts {
    /// All skipped documents.
    pub fn total(&self) -> u64 {
        self.invalid_utf8 + self.nul_byte + self.malformed_json + self.too_long
    }

    /// Adds another file's counts.
    pub fn add(&mut self, other: &SkipCounts) {
        self.invalid_utf8 += other.invalid_utf8;
        self.nul_byte += other.nul_byte;
        self.malformed_json += other.malformed_json;
        self.too_long += other.too_long;
    }
}

/// Counts bytes read from disk (before decompression), for progress.
struct CountingReader<R> {
    inner: R,
    counter: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A line, or the fact that it was longer than the limit (its bytes were discarded).
enum Line {
    Bytes,
    TooLong,
}

/// Splits a stream into lines without ever holding more than `max` bytes of one line.
struct LineSplitter<R> {
    inner: R,
    max: usize,
    number: u64,
}

impl<R: BufRead> LineSplitter<R> {
    /// Reads the next line into `buf` (without `\n` or `\r\n`); `None` at the end.
    fn next_line(&mut self, buf: &mut Vec<u8>) -> std::io::Result<Option<Line>> {
        buf.clear();
        let mut too_long = false;
        let mut any = false;
        loop {
            let available = self.inner.fill_buf()?;
            if available.is_empty() {
                if !any {
                    return Ok(None);
                }
                break;
            }
            any = true;
            let (chunk, used, done) = match memchr::memchr(b'\n', available) {
                Some(i) => (&available[..i], i + 1, true),
                None => (available, available.len(), false),
            };
            if !too_long {
                if buf.len() + chunk.len() > self.max {
                    too_long = true;
                    buf.clear();
                } else {
                    buf.extend_from_slice(chunk);
                }
            }
            self.inner.consume(used);
            if done {
                break;
            }
        }
        self.number += 1;
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        Ok(Some(if too_long { Line::TooLong } else { Line::Bytes }))
    }
}

/// Options shared by every file of a build.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    /// Error or skip on malformed documents.
    pub on_invalid: OnInvalid,
    /// Longest accepted document or line, in bytes.
    pub max_document_bytes: usize,
}

/// Reads the documents of one file, in order, calling `sink` for each. Returns the skip counts.
pub fn read_documents(
    file: &InputFile,
    options: ReadOptions,
    bytes_read: &Arc<AtomicU64>,
    sink: &mut dyn FnMut(Document) -> Result<()>,
) -> Result<SkipCounts> {
    let path = file.path.as_path();
    let mut reader =
        FileReader { path, file, options, skipped: SkipCounts::default(), lang: file.lang.as_deref().map(Arc::from) };
    if file.format == Format::Parquet {
        reader.parquet(bytes_read, sink)?;
        return Ok(reader.skipped);
    }
    let raw = File::open(path).at(path)?;
    let counted = CountingReader { inner: raw, counter: bytes_read.clone() };
    let decoded: Box<dyn Read> = match file.compression {
        Compression::None => Box::new(counted),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(counted)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(counted).at(path)?),
    };
    let mut lines =
        LineSplitter { inner: BufReader::with_capacity(1 << 20, decoded), max: options.max_document_bytes, number: 0 };
    match (file.format, file.documents) {
        (Format::Parquet, _) => unreachable!("read above"),
        (Format::Jsonl, _) => reader.jsonl(&mut lines, sink)?,
        (Format::Txt, DocumentMode::Line) => reader.txt_lines(&mut lines, sink)?,
        (Format::Txt, DocumentMode::BlankLine) => reader.txt_blocks(&mut lines, sink)?,
    }
    Ok(reader.skipped)
}

struct FileReader<'a> {
    path: &'a Path,
    file: &'a InputFile,
    options: ReadOptions,
    skipped: SkipCounts,
    lang: Option<Arc<str>>,
}

/// Why a document is malformed: the counter it goes to and the message.
type Defect = (fn(&mut SkipCounts) -> &mut u64, String);

fn too_long_defect(max: usize) -> Defect {
    (|s| &mut s.too_long, format!("longer than max_document_bytes = {max} (raise it, or use on_invalid = \"skip\")"))
}

/// Checks raw bytes of a line or document and turns them into text.
fn check_text(bytes: &[u8]) -> std::result::Result<&str, Defect> {
    if let Some(col) = memchr::memchr(0, bytes) {
        return Err((|s| &mut s.nul_byte, format!("NUL byte at byte {} (is this a binary file?)", col + 1)));
    }
    std::str::from_utf8(bytes).map_err(|e| {
        (
            (|s: &mut SkipCounts| &mut s.invalid_utf8) as fn(&mut SkipCounts) -> &mut u64,
            format!(
                "invalid UTF-8 at byte {} (convert the file to UTF-8, or use on_invalid = \"skip\")",
                e.valid_up_to() + 1
            ),
        )
    })
}

impl FileReader<'_> {
    /// Counts a defect under `skip`, or turns it into the error.
    fn defect(&mut self, line: u64, (counter, reason): Defect) -> Result<()> {
        match self.options.on_invalid {
            OnInvalid::Skip => {
                *counter(&mut self.skipped) += 1;
                Ok(())
            }
            OnInvalid::Error => Err(Error::Input { path: self.path.to_path_buf(), line, reason }),
        }
    }

    fn emit(&self, lang: Arc<str>, text: &str, sink: &mut dyn FnMut(Document) -> Result<()>) -> Result<()> {
        if text.trim().is_empty() {
            return Ok(());
        }
        sink(Document { lang, text: text.to_string() })
    }

    fn txt_lines<R: BufRead>(
        &mut self,
        lines: &mut LineSplitter<R>,
        sink: &mut dyn FnMut(Document) -> Result<()>,
    ) -> Result<()> {
        let lang = self.lang.clone().expect("a .txt input always has a language (checked in source)");
        let mut buf = Vec::new();
        while let Some(line) = lines.next_line(&mut buf).at(self.path)? {
            match line {
                Line::TooLong => self.defect(lines.number, too_long_defect(self.options.max_document_bytes))?,
                Line::Bytes => match check_text(&buf) {
                    Ok(text) => self.emit(lang.clone(), text, sink)?,
                    Err(defect) => self.defect(lines.number, defect)?,
                },
            }
        }
        Ok(())
    }

    fn txt_blocks<R: BufRead>(
        &mut self,
        lines: &mut LineSplitter<R>,
        sink: &mut dyn FnMut(Document) -> Result<()>,
    ) -> Result<()> {
        let lang = self.lang.clone().expect("a .txt input always has a language (checked in source)");
        let max = self.options.max_document_bytes;
        let mut buf = Vec::new();
        let mut block: Vec<u8> = Vec::new();
        let mut start = 0; // line where the current block began
        let mut bad: Option<Defect> = None;
        loop {
            let line = lines.next_line(&mut buf).at(self.path)?;
            let blank = matches!(line, Some(Line::Bytes)) && buf.iter().all(u8::is_ascii_whitespace);
            if line.is_none() || blank {
                if start > 0 {
                    match bad.take() {
                        Some(defect) => self.defect(start, defect)?,
                        None => match check_text(&block) {
                            Ok(text) => self.emit(lang.clone(), text, sink)?,
                            Err(defect) => self.defect(start, defect)?,
                        },
                    }
                    block.clear();
                    start = 0;
                }
                if line.is_none() {
                    return Ok(());
                }
                continue;
            }
            if start == 0 {
                start = lines.number;
            }
            if bad.is_some() {
                continue;
            }
            match line {
                Some(Line::Bytes) if block.len() + buf.len() < max => {
                    if !block.is_empty() {
                        block.push(b'\n');
                    }
                    block.extend_from_slice(&buf);
                }
                _ => {
                    bad = Some(too_long_defect(max));
                    block.clear();
                }
            }
        }
    }

    fn jsonl<R: BufRead>(
        &mut self,
        lines: &mut LineSplitter<R>,
        sink: &mut dyn FnMut(Document) -> Result<()>,
    ) -> Result<()> {
        let (field, lang_field) = (self.file.text_field.as_str(), self.file.lang_field.as_str());
        let mut interned: std::collections::HashMap<String, Arc<str>> = std::collections::HashMap::new();
        let mut buf = Vec::new();
        while let Some(line) = lines.next_line(&mut buf).at(self.path)? {
            let number = lines.number;
            if let Line::TooLong = line {
                self.defect(number, too_long_defect(self.options.max_document_bytes))?;
                continue;
            }
            let text = match check_text(&buf) {
                Ok(text) => text,
                Err(defect) => {
                    self.defect(number, defect)?;
                    continue;
                }
            };
            if text.trim().is_empty() {
                continue;
            }
            match parse_row(text, field, lang_field, self.lang.is_none()) {
                Ok((doc_text, row_lang)) => {
                    let Some(lang) = self.row_language(number, row_lang.as_deref(), &mut interned)? else { continue };
                    self.emit(lang, &doc_text, sink)?;
                }
                Err(reason) => self.defect(number, (|s| &mut s.malformed_json, reason))?,
            }
        }
        Ok(())
    }

    /// The language of a row: the file's, else the row's own code, checked (`None`: the row is
    /// a counted defect).
    fn row_language(
        &mut self,
        row: u64,
        code: Option<&str>,
        interned: &mut std::collections::HashMap<String, Arc<str>>,
    ) -> Result<Option<Arc<str>>> {
        let code = match (&self.lang, code) {
            (Some(lang), _) => return Ok(Some(lang.clone())),
            (None, Some(code)) => code,
            (None, None) => unreachable!("the row's language is required when the source has none"),
        };
        if let Err(reason) = check_language_code(code) {
            let field = &self.file.lang_field;
            self.defect(row, (|s| &mut s.malformed_json, format!("`{field}` = {code:?}: {reason}")))?;
            return Ok(None);
        }
        Ok(Some(interned.entry(code.to_string()).or_insert_with(|| Arc::from(code)).clone()))
    }

    /// Parquet: one document per row of the text column, the language from the file or from the
    /// language column, read row group by row group.
    fn parquet(&mut self, bytes_read: &Arc<AtomicU64>, sink: &mut dyn FnMut(Document) -> Result<()>) -> Result<()> {
        let table = ParquetFile::open(self.path)?;
        let (field, lang_field) = (self.file.text_field.clone(), self.file.lang_field.clone());
        let text =
            table.column(&field, Kind::Text).map_err(|e| hint(e, "set text_field to the column holding the text"))?;
        let lang = match self.lang {
            Some(_) => None,
            None => Some(table.column(&lang_field, Kind::Text).map_err(|e| {
                hint(e, "the source gives no language: set its `lang`, or lang_field to the language column")
            })?),
        };
        let columns: Vec<&Column> = std::iter::once(&text).chain(lang.as_ref()).collect();
        let max = self.options.max_document_bytes;
        let mut interned = std::collections::HashMap::new();
        table.read(&columns, Some(bytes_read), |batch| {
            for i in 0..batch.len() {
                let row = batch.row(i);
                let Some(doc) = batch.text(&text, i)? else {
                    self.defect(row, (|s| &mut s.malformed_json, format!("`{field}` is null")))?;
                    continue;
                };
                if doc.len() > max {
                    self.defect(row, too_long_defect(max))?;
                    continue;
                }
                let code = match &lang {
                    None => None,
                    Some(column) => match batch.text(column, i)? {
                        Some(code) => Some(code),
                        None => {
                            self.defect(row, (|s| &mut s.malformed_json, format!("`{lang_field}` is null")))?;
                            continue;
                        }
                    },
                };
                let Some(doc_lang) = self.row_language(row, code, &mut interned)? else { continue };
                self.emit(doc_lang, doc, sink)?;
            }
            Ok::<(), Error>(())
        })
    }
}

/// Adds what to do to a missing or mistyped column.
fn hint(e: ParquetError, what: &str) -> ParquetError {
    ParquetError { reason: format!("{} ({what})", e.reason), ..e }
}

/// The text field of a JSONL row, and its language field (required when `need_lang`).
fn parse_row(
    line: &str,
    field: &str,
    lang_field: &str,
    need_lang: bool,
) -> std::result::Result<(String, Option<String>), String> {
    let value: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("malformed JSON: {e}"))?;
    let object = value.as_object().ok_or("malformed JSONL: the line is not a JSON object")?;
    let text = match object.get(field) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => return Err(format!("field `{field}` is not a string but {}", json_kind(other))),
        None => return Err(format!("no field `{field}` (set text_field to the field holding the text)")),
    };
    let lang = match object.get(lang_field) {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        None | Some(serde_json::Value::Null) if need_lang => {
            return Err(format!("no `{lang_field}` field, and the source gives no language"))
        }
        _ => None,
    };
    Ok((text, lang))
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn split(input: &[u8], max: usize) -> Vec<std::result::Result<Vec<u8>, ()>> {
        let mut s = LineSplitter { inner: Cursor::new(input.to_vec()), max, number: 0 };
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some(line) = s.next_line(&mut buf).unwrap() {
            out.push(match line {
                Line::Bytes => Ok(buf.clone()),
                Line::TooLong => Err(()),
            });
        }
        out
    }

    #[test]
    fn lines_split_with_crlf_and_limit() {
        assert_eq!(
            split(b"a\r\nbb\n\nccc", 10),
            vec![Ok(b"a".to_vec()), Ok(b"bb".to_vec()), Ok(vec![]), Ok(b"ccc".to_vec())]
        );
        assert_eq!(split(b"short\nwaytoolong\nok\n", 5), vec![Ok(b"short".to_vec()), Err(()), Ok(b"ok".to_vec())]);
        assert!(split(b"", 5).is_empty());
    }

    #[test]
    fn rows_need_text_and_lang() {
        let parse = |line, need_lang| parse_row(line, "text", "lang", need_lang);
        assert_eq!(parse(r#"{"text":"hi","lang":"de"}"#, true).unwrap(), ("hi".into(), Some("de".into())));
        assert!(parse(r#"{"text":"hi"}"#, true).unwrap_err().contains("lang"));
        assert!(parse(r#"{"body":"hi"}"#, false).unwrap_err().contains("text_field"));
        assert!(parse(r#"{"text":3}"#, false).unwrap_err().contains("a number"));
        assert!(parse(r#"[1]"#, false).unwrap_err().contains("not a JSON object"));
        assert!(parse(r#"{"text":"#, false).unwrap_err().contains("malformed JSON"));
        let row = r#"{"text":"hi","language":"sw","lang":"de"}"#;
        assert_eq!(parse_row(row, "text", "language", true).unwrap().1.as_deref(), Some("sw"));
        assert!(parse_row(r#"{"text":"hi","lang":"de"}"#, "text", "language", true)
            .unwrap_err()
            .contains("`language`"));
    }
}
