//! Token-classification examples (NER, POS): words with one tag each, from JSONL
//! (`{"tokens": [...], "tags": [...]}`), Parquet (the same columns, tags as strings or as
//! `datasets`' ClassLabel ids), CoNLL (`word<TAB>tag`, or CoNLL-2003's `word POS chunk tag`; a
//! blank line between sentences) or CoNLL-U (the UPOS column of syntactic words).

use std::path::Path;

use corpus::parquet_file::{Kind, ParquetFile};

use super::{
    is_parquet, jsonl_objects, label_value, null_value, optional_column, read_text, string_field, DataError, Fields,
};

/// One sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sentence {
    /// The words.
    pub words: Vec<String>,
    /// One tag per word.
    pub tags: Vec<String>,
    /// The language, when given (JSONL or Parquet `fields.lang`).
    pub lang: Option<String>,
    /// First line of the sentence in the file (for Parquet, its row).
    pub line: usize,
}

/// Reads `.jsonl` or `.parquet` (words and tags under `fields.tokens` and `fields.tags`),
/// `.conllu`, or anything else as CoNLL.
pub fn read(path: &Path, fields: &Fields) -> Result<Vec<Sentence>, DataError> {
    let name = path.to_string_lossy().to_lowercase();
    if is_parquet(path) {
        return non_empty(path, read_parquet(path, fields)?);
    }
    let text = read_text(path)?;
    let sentences = if name.ends_with(".jsonl") {
        read_jsonl(path, &text, fields)?
    } else if name.ends_with(".conllu") {
        read_conllu(path, &text)?
    } else {
        read_conll(path, &text)?
    };
    non_empty(path, sentences)
}

fn non_empty(path: &Path, sentences: Vec<Sentence>) -> Result<Vec<Sentence>, DataError> {
    if sentences.is_empty() {
        return Err(DataError::new(path, 0, "no sentences"));
    }
    Ok(sentences)
}

/// One sentence from its words and tags (`None`: prediction input, every tag empty); a
/// sentence without words is dropped, as a JSONL row with none.
fn sentence(
    path: &Path,
    line: usize,
    words: Vec<String>,
    tags: Option<Vec<String>>,
    lang: Option<String>,
) -> Result<Option<Sentence>, DataError> {
    let tags = tags.unwrap_or_else(|| vec![String::new(); words.len()]);
    if words.len() != tags.len() {
        return Err(DataError::new(path, line, format!("{} tokens but {} tags", words.len(), tags.len())));
    }
    Ok((!words.is_empty()).then_some(Sentence { words, tags, lang, line }))
}

/// Parquet: the words a `list<string>` column, the tags a list of strings or of ClassLabel ids
/// (named by the file's `datasets` features); without the tags column, prediction input.
fn read_parquet(path: &Path, f: &Fields) -> Result<Vec<Sentence>, DataError> {
    let file = ParquetFile::open(path)?;
    let tokens = file.column(&f.tokens, Kind::TextList)?;
    let tags = optional_column(&file, &f.tags, Kind::LabelList, false)?;
    let lang = optional_column(&file, &f.lang, Kind::Text, false)?;
    let columns: Vec<_> = [Some(&tokens), tags.as_ref(), lang.as_ref()].into_iter().flatten().collect();
    let mut out = Vec::new();
    file.read(&columns, None, |batch| {
        for i in 0..batch.len() {
            let row = batch.row(i);
            let line = usize::try_from(row).unwrap_or(usize::MAX);
            let words = batch.text_list(&tokens, i)?.ok_or_else(|| null_value(path, row, &tokens))?;
            let tags = match &tags {
                None => None,
                Some(column) => Some(batch.label_list(column, i)?.ok_or_else(|| null_value(path, row, column))?),
            };
            let lang = lang.as_ref().map(|c| batch.text(c, i)).transpose()?.flatten().map(String::from);
            out.extend(sentence(path, line, words, tags, lang)?);
        }
        Ok::<(), DataError>(())
    })?;
    Ok(out)
}

fn read_jsonl(path: &Path, text: &str, f: &Fields) -> Result<Vec<Sentence>, DataError> {
    let mut out = Vec::new();
    for row in jsonl_objects(path, text) {
        let (line, o) = row?;
        let list = |key: &str, item: fn(&serde_json::Value) -> Result<String, String>| {
            let values = o
                .get(key)
                .and_then(|v| v.as_array())
                .ok_or_else(|| DataError::new(path, line, format!("no list `{key}`")))?;
            values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    item(v).map_err(|why| DataError::new(path, line, format!("field `{key}`, item {}, {why}", i + 1)))
                })
                .collect::<Result<Vec<String>, DataError>>()
        };
        let word = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => Ok(s.clone()),
            other => Err(format!("is {} ({other}); words are strings", super::kind(other))),
        };
        let words = list(&f.tokens, word)?;
        // Without tags (prediction input), every word gets an empty tag.
        let tags = if o.contains_key(&f.tags) { Some(list(&f.tags, label_value)?) } else { None };
        let lang = string_field(path, line, &o, &f.lang, false)?;
        out.extend(sentence(path, line, words, tags, lang)?);
    }
    Ok(out)
}

/// Collects sentences from lines, each yielding an optional (word, tag).
fn sentences_from_lines(
    text: &str,
    parse: impl Fn(&str, usize) -> Result<Option<(String, String)>, DataError>,
) -> Result<Vec<Sentence>, DataError> {
    let mut out = Vec::new();
    let mut current = Sentence { words: Vec::new(), tags: Vec::new(), lang: None, line: 1 };
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            if !current.words.is_empty() {
                out.push(std::mem::replace(
                    &mut current,
                    Sentence { words: Vec::new(), tags: Vec::new(), lang: None, line: line + 1 },
                ));
            } else {
                current.line = line + 1;
            }
            continue;
        }
        if let Some((word, tag)) = parse(raw, line)? {
            if current.words.is_empty() {
                current.line = line;
            }
            current.words.push(word);
            current.tags.push(tag);
        }
    }
    if !current.words.is_empty() {
        out.push(current);
    }
    Ok(out)
}

/// CoNLL: `word<TAB>tag`, or CoNLL-2003's four columns `word POS chunk tag` (the tag last).
/// Columns are split at tabs, or at spaces on a line without a tab (CoNLL-2003 writes spaces,
/// and a tab-separated word may hold a space). Every line must have the column count of the
/// file's first word line: another count (an extra column pasted on, a missing tag) was taken
/// as the tag before, and trained.
fn read_conll(path: &Path, text: &str) -> Result<Vec<Sentence>, DataError> {
    let first = std::cell::Cell::new(None::<(usize, usize)>);
    sentences_from_lines(text, |raw, line| {
        let raw = raw.trim_end();
        let columns: Vec<&str> = if raw.contains('\t') {
            raw.split('\t').collect()
        } else {
            raw.split(' ').filter(|c| !c.is_empty()).collect()
        };
        if columns.first() == Some(&"-DOCSTART-") {
            return Ok(None);
        }
        let n = columns.len();
        let plural = if n == 1 { "column" } else { "columns" };
        match first.get() {
            _ if n != 2 && n != 4 => Err(DataError::new(
                path,
                line,
                format!(
                    "{n} {plural}; a CoNLL line is word<TAB>tag (2 columns), or CoNLL-2003's word POS chunk tag (4)"
                ),
            )),
            Some((m, at)) if m != n => Err(DataError::new(
                path,
                line,
                format!("{n} {plural} where line {at} has {m}; every word line of a CoNLL file has the same columns"),
            )),
            _ => {
                first.set(Some(first.get().unwrap_or((n, line))));
                if let Some(empty) = columns.iter().position(|c| c.is_empty()) {
                    return Err(DataError::new(path, line, format!("column {} is empty", empty + 1)));
                }
                Ok(Some((columns[0].to_string(), columns[n - 1].to_string())))
            }
        }
    })
}

fn read_conllu(path: &Path, text: &str) -> Result<Vec<Sentence>, DataError> {
    sentences_from_lines(text, |raw, line| {
        if raw.starts_with('#') {
            return Ok(None);
        }
        let columns: Vec<&str> = raw.split('\t').collect();
        if columns.len() != 10 {
            return Err(DataError::new(path, line, format!("{} columns; CoNLL-U has 10", columns.len())));
        }
        // Multi-word token ranges ("4-5") and empty nodes ("8.1") carry no UPOS of their own:
        // the syntactic words that follow do.
        if columns[0].contains('-') || columns[0].contains('.') {
            return Ok(None);
        }
        Ok(Some((columns[1].to_string(), columns[3].to_string())))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conll_conllu_jsonl() {
        let tmp = tempfile::tempdir().unwrap();
        let conll = tmp.path().join("a.conll");
        std::fs::write(&conll, "-DOCSTART- O\n\nEmpire\tB-facility\nState\tI-facility\n\n\nhello\tO\n").unwrap();
        let s = read(&conll, &Fields::default()).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].tags, ["B-facility", "I-facility"]);
        assert_eq!(s[1].line, 7);

        let conllu = tmp.path().join("b.conllu");
        std::fs::write(
            &conllu,
            "# text = Burda da öylemi\n1\tBurda\tbur\tPRON\tPRD\t_\t3\tnpadvmod\t_\t_\n2-3\tdaöylemi\t_\t_\t_\t_\t_\t_\t_\t_\n2\tda\tda\tCCONJ\t_\t_\t0\tcc\t_\t_\n3\töylemi\töyle\tADV\t_\t_\t0\troot\t_\t_\n",
        )
        .unwrap();
        let s = read(&conllu, &Fields::default()).unwrap();
        assert_eq!(s[0].words, ["Burda", "da", "öylemi"]);
        assert_eq!(s[0].tags, ["PRON", "CCONJ", "ADV"]);

        let bad = tmp.path().join("c.conllu");
        std::fs::write(&bad, "1\tx\tx\tNOUN\n").unwrap();
        assert!(read(&bad, &Fields::default()).unwrap_err().to_string().contains("c.conllu:1: 4 columns"));

        let jsonl = tmp.path().join("d.jsonl");
        std::fs::write(&jsonl, "{\"tokens\": [\"東京\", \"へ\"], \"tags\": [\"B-LOC\", \"O\"], \"lang\": \"ja\"}\n{\"tokens\": [\"a\"], \"tags\": []}\n").unwrap();
        let err = read(&jsonl, &Fields::default()).unwrap_err().to_string();
        assert!(err.contains("d.jsonl:2: 1 tokens but 0 tags"), "{err}");
    }
}
