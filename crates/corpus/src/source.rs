//! Finding the input files: a directory of language sub-directories, or explicit sources.
//! The result is sorted, so the same inputs always give the same corpus.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use crate::config::{BuildConfig, DocumentMode};
use crate::error::{Error, IoContext, Result};

/// How an input file is compressed (from its extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Plain.
    None,
    /// `.gz` (concatenated members allowed).
    Gzip,
    /// `.zst`.
    Zstd,
}

/// The text format of an input file (from its extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `.txt`: documents are lines or blank-line separated blocks.
    Txt,
    /// `.jsonl`: one JSON object per line, text in a configurable field, optional language.
    Jsonl,
    /// `.parquet` (e.g. a Hugging Face `datasets` shard): text in a configurable column,
    /// optional language column; compressed inside (snappy, gzip or zstd).
    Parquet,
}

/// One input file and how to read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputFile {
    /// Path as found.
    pub path: PathBuf,
    /// Language of every document, or `None` when JSONL or Parquet rows carry their own.
    pub lang: Option<String>,
    /// Text format.
    pub format: Format,
    /// Compression.
    pub compression: Compression,
    /// How `.txt` documents are delimited.
    pub documents: DocumentMode,
    /// JSONL field (Parquet column) with the text.
    pub text_field: String,
    /// JSONL field (Parquet column) with the language, read when `lang` is `None`.
    #[serde(
        default = "crate::config::default_lang_field",
        skip_serializing_if = "crate::config::is_default_lang_field"
    )]
    pub lang_field: String,
    /// Size on disk.
    pub bytes: u64,
    /// Modification time (ns since the epoch), part of the build fingerprint.
    pub modified_ns: u128,
}

/// Checks a language code: a BCP-47-like tag such as `de`, `fra`, `zh-Hans`, `pt-BR`.
pub fn check_language_code(code: &str) -> std::result::Result<(), String> {
    let mut parts = code.split(['-', '_']);
    let primary = parts.next().unwrap_or_default();
    let primary_ok = (2..=3).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_lowercase());
    let rest_ok = parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()));
    if primary_ok && rest_ok {
        Ok(())
    } else {
        Err("not a language code; expected an ISO 639 code with optional subtags, like `de`, `fra`, `zh-Hans` or `pt-BR`".into())
    }
}

/// Format and compression from a file name, or `None` if it is not an input file.
fn classify(path: &Path) -> Option<(Format, Compression)> {
    let name = path.file_name()?.to_str()?;
    let (stem, compression) = if let Some(s) = name.strip_suffix(".gz") {
        (s, Compression::Gzip)
    } else if let Some(s) = name.strip_suffix(".zst") {
        (s, Compression::Zstd)
    } else {
        (name, Compression::None)
    };
    if stem.ends_with(".txt") {
        Some((Format::Txt, compression))
    } else if stem.ends_with(".jsonl") {
        Some((Format::Jsonl, compression))
    } else if name.ends_with(".parquet") {
        // Compressed inside, page by page: never wrapped in .gz or .zst.
        Some((Format::Parquet, Compression::None))
    } else {
        None
    }
}

fn is_hidden(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'))
}

/// Input files under `dir`, recursively, sorted; other files are skipped with a warning.
fn files_under(dir: &Path) -> Result<Vec<(PathBuf, Format, Compression)>> {
    let mut found = Vec::new();
    for entry in walkdir::WalkDir::new(dir).follow_links(true).sort_by_file_name() {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(dir).to_path_buf();
            Error::io(&path, e.into())
        })?;
        if !entry.file_type().is_file() || is_hidden(entry.path()) {
            continue;
        }
        match classify(entry.path()) {
            Some((format, compression)) => found.push((entry.path().to_path_buf(), format, compression)),
            None => {
                tracing::warn!(
                    "skipping {}: not a .txt, .jsonl (optionally .gz/.zst) or .parquet file",
                    entry.path().display()
                )
            }
        }
    }
    Ok(found)
}

fn input_file(
    path: PathBuf,
    format: Format,
    compression: Compression,
    lang: Option<String>,
    documents: DocumentMode,
    fields: (String, String),
) -> Result<InputFile> {
    let meta = std::fs::metadata(&path).at(&path)?;
    let modified_ns = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
    let (text_field, lang_field) = fields;
    Ok(InputFile { path, lang, format, compression, documents, text_field, lang_field, bytes: meta.len(), modified_ns })
}

/// All input files of a configuration, sorted by path within each source.
pub fn discover(config: &BuildConfig) -> Result<Vec<InputFile>> {
    let mut files = Vec::new();
    if let Some(root) = &config.input {
        files.extend(discover_language_dirs(root, config)?);
    }
    for source in &config.sources {
        let documents = source.documents.unwrap_or(config.documents);
        let text_field = source.text_field.clone().unwrap_or_else(|| config.text_field.clone());
        let lang_field = source.lang_field.clone().unwrap_or_else(|| config.lang_field.clone());
        let meta = std::fs::metadata(&source.path).at(&source.path)?;
        let found = if meta.is_dir() {
            files_under(&source.path)?
        } else {
            let (format, compression) = classify(&source.path).ok_or_else(|| Error::Inputs {
                path: source.path.clone(),
                reason: "not a .txt or .jsonl file (optionally .gz or .zst), nor .parquet".into(),
            })?;
            vec![(source.path.clone(), format, compression)]
        };
        if found.is_empty() {
            return Err(Error::Inputs {
                path: source.path.clone(),
                reason: "no .txt, .jsonl (optionally .gz/.zst) or .parquet files in this source".into(),
            });
        }
        for (path, format, compression) in found {
            if source.lang.is_none() && format == Format::Txt {
                return Err(Error::Inputs {
                    path,
                    reason: "a .txt source needs `lang` (only JSONL and Parquet rows can carry their own)".into(),
                });
            }
            let fields = (text_field.clone(), lang_field.clone());
            files.push(input_file(path, format, compression, source.lang.clone(), documents, fields)?);
        }
    }
    let mut seen = std::collections::HashSet::new();
    for file in &files {
        let key = std::fs::canonicalize(&file.path).unwrap_or_else(|_| file.path.clone());
        if !seen.insert(key) {
            return Err(Error::Inputs { path: file.path.clone(), reason: "listed twice in the inputs".into() });
        }
    }
    Ok(files)
}

/// `<root>/<lang>/**/*.txt|*.jsonl|*.parquet`: every sub-directory is a language and must hold input files.
fn discover_language_dirs(root: &Path, config: &BuildConfig) -> Result<Vec<InputFile>> {
    let meta = std::fs::metadata(root).at(root)?;
    if !meta.is_dir() {
        return Err(Error::Inputs {
            path: root.to_path_buf(),
            reason: "not a directory; --input expects <dir>/<lang>/*.txt|*.jsonl|*.parquet".into(),
        });
    }
    let mut entries: Vec<_> =
        std::fs::read_dir(root).at(root)?.map(|e| e.map(|e| e.path())).collect::<std::io::Result<_>>().at(root)?;
    entries.sort();
    let mut files = Vec::new();
    for path in entries {
        if is_hidden(&path) {
            continue;
        }
        if !path.is_dir() {
            if classify(&path).is_some() {
                return Err(Error::Inputs {
                    path,
                    reason: "text files must sit in a language sub-directory: <input>/<lang>/file".into(),
                });
            }
            // Not text (e.g. fetch-data.sh's manifest.tsv beside the language directories): nothing
            // is wrong, so this is no warning.
            tracing::info!("ignoring {}: only <lang>/ sub-directories are read", path.display());
            continue;
        }
        let lang = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        check_language_code(&lang).map_err(|reason| Error::Inputs {
            path: path.clone(),
            reason: format!("unknown language directory {lang:?}: {reason}"),
        })?;
        let found = files_under(&path)?;
        if found.is_empty() {
            return Err(Error::Inputs {
                path,
                reason: format!("empty language directory: no .txt, .jsonl or .parquet files for {lang:?}"),
            });
        }
        for (file, format, compression) in found {
            files.push(input_file(
                file,
                format,
                compression,
                Some(lang.clone()),
                config.documents,
                (config.text_field.clone(), config.lang_field.clone()),
            )?);
        }
    }
    if files.is_empty() {
        return Err(Error::Inputs {
            path: root.to_path_buf(),
            reason: "no language sub-directories; expected <input>/<lang>/*.txt|*.jsonl|*.parquet".into(),
        });
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_codes() {
        for ok in ["de", "fra", "zh-Hans", "pt-BR", "zh_TW", "sr-Latn-RS"] {
            assert!(check_language_code(ok).is_ok(), "{ok}");
        }
        for bad in ["", "english", "D", "de-", "de--x", "Deu", "ja/jp", "über"] {
            assert!(check_language_code(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn classify_by_extension() {
        assert_eq!(classify(Path::new("a/b.txt")), Some((Format::Txt, Compression::None)));
        assert_eq!(classify(Path::new("b.jsonl.zst")), Some((Format::Jsonl, Compression::Zstd)));
        assert_eq!(classify(Path::new("b.txt.gz")), Some((Format::Txt, Compression::Gzip)));
        assert_eq!(classify(Path::new("README.md")), None);
        assert_eq!(classify(Path::new("x.gz")), None);
        assert_eq!(classify(Path::new("train-00000-of-00001.parquet")), Some((Format::Parquet, Compression::None)));
        assert_eq!(classify(Path::new("a.parquet.gz")), None);
    }
}
