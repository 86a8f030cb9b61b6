//! Parquet input for all three tasks, written by pyarrow as Hugging Face `datasets` writes it
//! (tests/parquet/to_parquet.py: ClassLabel ids named in the `huggingface` schema metadata): the
//! Parquet copies of data/tasks/* read as the same examples, sentences and questions as the
//! originals, a fine-tuning on them scores the same, and a missing or mistyped column is an
//! error naming the file and the column.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::{minilm, root};

use finetune::config::Task;
use finetune::data::{classification, qa, token_classification, Fields};
use finetune::FinetuneConfig;

/// Runs tests/parquet/to_parquet.py `mode input output args`, returning `output`.
fn to_parquet(mode: &str, input: &Path, output: PathBuf, args: &[&str]) -> PathBuf {
    let python = root().join(".venv/bin/python");
    assert!(python.exists(), "{} missing: run ./scripts/setup.sh", python.display());
    let out = Command::new(python)
        .arg(root().join("tests/parquet/to_parquet.py"))
        .arg(mode)
        .arg(input)
        .arg(&output)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "to_parquet.py {mode} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    output
}

fn lid(split: &str) -> PathBuf {
    root().join(format!("data/tasks/lid-sample/{split}.jsonl"))
}

#[test]
fn classification_rows_are_the_jsonl_rows_with_string_or_class_label_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let f = Fields::default();
    for split in ["train", "validation"] {
        let jsonl = classification::read(&lid(split), &f).unwrap();
        let strings = to_parquet("classification", &lid(split), tmp.path().join("s.parquet"), &[]);
        assert_eq!(classification::read(&strings, &f).unwrap(), jsonl, "{split}");
        // ClassLabel ids numbered in order of first appearance, named back by the metadata.
        let ids = to_parquet("classification", &lid(split), tmp.path().join("ids.parquet"), &["--class-label"]);
        assert_eq!(classification::read(&ids, &f).unwrap(), jsonl, "{split}");
        assert_eq!(classification::read_unlabelled(&ids, &f).unwrap(), jsonl, "{split}");
    }
    // Another language column name, as for JSONL.
    let ids = tmp.path().join("ids.parquet");
    let renamed = Fields { lang: "language".into(), ..Fields::default() };
    assert!(classification::read(&ids, &renamed).unwrap().iter().all(|e| e.lang.is_none()));
}

#[test]
fn fine_tuning_on_parquet_scores_as_on_jsonl() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |name: &str, train: PathBuf, validation: PathBuf| {
        let c = FinetuneConfig {
            task: Task::Classification,
            scratch_tokenizer: minilm().join("tokenizer.json").display().to_string(),
            output_dir: tmp.path().join(name),
            train_file: train,
            validation_file: validation,
            max_seq_length: 32,
            max_steps: 3,
            per_device_train_batch_size: 8,
            device: "cpu".into(),
            ..FinetuneConfig::default()
        };
        finetune::trainer::train(&c).unwrap();
        let results: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(c.output_dir.join("eval_results.json")).unwrap()).unwrap();
        // Timing aside, every score.
        let mut results = results.as_object().unwrap().clone();
        results.retain(|k, _| !k.contains("runtime") && !k.contains("per_second") && k != "time");
        results
    };
    let jsonl = run("jsonl", lid("train"), lid("validation"));
    let train = to_parquet("classification", &lid("train"), tmp.path().join("train.parquet"), &["--class-label"]);
    let validation = to_parquet("classification", &lid("validation"), tmp.path().join("validation.parquet"), &[]);
    let parquet = run("parquet", train, validation);
    assert!(jsonl["scores"]["all"]["accuracy"].is_number(), "{jsonl:?}");
    assert_eq!(parquet, jsonl);
}

#[test]
fn token_classification_sentences_are_the_jsonl_sentences() {
    let tmp = tempfile::tempdir().unwrap();
    let f = Fields::default();
    let conllu = token_classification::read(&root().join("data/tasks/pos-tr-sample/train.conllu"), &f).unwrap();
    // The CoNLL-U sentences as JSONL, one per line (so a row is its line).
    let jsonl = tmp.path().join("pos.jsonl");
    let lines: String =
        conllu.iter().map(|s| serde_json::json!({"tokens": s.words, "tags": s.tags}).to_string() + "\n").collect();
    std::fs::write(&jsonl, lines).unwrap();
    let from_jsonl = token_classification::read(&jsonl, &f).unwrap();
    assert_eq!(from_jsonl.len(), conllu.len());

    let strings = to_parquet("tokens", &jsonl, tmp.path().join("s.parquet"), &[]);
    assert_eq!(token_classification::read(&strings, &f).unwrap(), from_jsonl);
    // datasets' layout: `pos_tags` a Sequence of ClassLabel, row groups of 10 sentences.
    let args = ["--class-label", "--tags-column", "pos_tags", "--row-group-size", "10"];
    let ids = to_parquet("tokens", &jsonl, tmp.path().join("ids.parquet"), &args);
    let pos = Fields { tags: "pos_tags".into(), ..Fields::default() };
    assert_eq!(token_classification::read(&ids, &pos).unwrap(), from_jsonl);
    // Without the tags column: prediction input, every tag empty.
    let unlabelled = token_classification::read(&ids, &f).unwrap();
    assert!(unlabelled.iter().all(|s| s.tags.iter().all(String::is_empty)));
    assert_eq!(
        unlabelled.iter().map(|s| &s.words).collect::<Vec<_>>(),
        conllu.iter().map(|s| &s.words).collect::<Vec<_>>()
    );
}

#[test]
fn qa_questions_are_the_squad_questions() {
    let tmp = tempfile::tempdir().unwrap();
    let f = Fields::default();
    for split in ["train", "validation"] {
        let squad = root().join(format!("data/tasks/qa-sample/{split}.json"));
        let parquet =
            to_parquet("squad", &squad, tmp.path().join(format!("{split}.parquet")), &["--compression", "gzip"]);
        let questions = qa::read(&squad, &f).unwrap();
        assert!(questions.iter().any(|q| !q.answers.is_empty()));
        assert_eq!(qa::read(&parquet, &f).unwrap(), questions, "{split}");
        assert_eq!(qa::read_unlabelled(&parquet, &f).unwrap(), questions, "{split}");
    }
}

#[test]
fn a_missing_or_mistyped_column_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let f = Fields::default();
    let p = to_parquet(
        "classification",
        &lid("validation"),
        tmp.path().join("float.parquet"),
        &["--retype", "label=float64"],
    );
    let err = classification::read(&p, &f).unwrap_err().to_string();
    assert!(
        err.contains("float.parquet") && err.contains("column `label` is double; expected string or integer"),
        "{err}"
    );
    // The label is not needed for prediction, but one of the wrong type is still refused.
    assert!(classification::read_unlabelled(&p, &f).unwrap_err().to_string().contains("column `label` is double"));

    let p =
        to_parquet("classification", &lid("validation"), tmp.path().join("int.parquet"), &["--retype", "text=int64"]);
    let err = classification::read(&p, &f).unwrap_err().to_string();
    assert!(err.contains("int.parquet") && err.contains("column `text` is int64; expected string"), "{err}");

    let sentence = Fields { text: "sentence".into(), ..Fields::default() };
    let p = tmp.path().join("float.parquet");
    let err = classification::read(&p, &sentence).unwrap_err().to_string();
    assert!(
        err.contains("float.parquet") && err.contains("no column `sentence`") && err.contains("text, label"),
        "{err}"
    );

    let jsonl = tmp.path().join("t.jsonl");
    std::fs::write(&jsonl, "{\"tokens\": [\"Ankara\", \"güzel\"], \"tags\": [\"PROPN\", \"ADJ\"]}\n").unwrap();
    let p = to_parquet("tokens", &jsonl, tmp.path().join("tags.parquet"), &["--retype", "tags=int64"]);
    let err = token_classification::read(&p, &f).unwrap_err().to_string();
    assert!(
        err.contains("tags.parquet") && err.contains("column `tags` is int64; expected list<string> or list<integer>"),
        "{err}"
    );
    let words = Fields { tokens: "words".into(), ..Fields::default() };
    let err = token_classification::read(&p, &words).unwrap_err().to_string();
    assert!(err.contains("no column `words` (expected list<string>"), "{err}");

    let squad = root().join("data/tasks/qa-sample/validation.json");
    let p = to_parquet("squad", &squad, tmp.path().join("answers.parquet"), &["--retype", "answers=int64"]);
    let err = qa::read(&p, &f).unwrap_err().to_string();
    assert!(
        err.contains("answers.parquet")
            && err.contains("column `answers` is int64; expected struct<text: list<string>"),
        "{err}"
    );
}

#[test]
fn files_written_by_datasets_itself_are_read() {
    let dir = root().join("tests/parquet/datasets-5.2.0");
    let f = Fields::default();
    let rows = classification::read(&dir.join("classification.parquet"), &f).unwrap();
    let got: Vec<_> = rows.iter().map(|e| (e.text.as_str(), e.label.as_str(), e.lang.as_deref())).collect();
    assert_eq!(got, [("a", "de", Some("de")), ("b", "ar", Some("ar"))]);
    let pos = Fields { tags: "pos_tags".into(), ..Fields::default() };
    let s = token_classification::read(&dir.join("tokens.parquet"), &pos).unwrap();
    assert_eq!(
        (s[0].words.clone(), s[0].tags.clone()),
        (vec!["Ankara".into(), "güzel".into()], vec!["PROPN".into(), "ADJ".into()])
    );
    let q = qa::read(&dir.join("squad.parquet"), &f).unwrap();
    assert_eq!(
        (q[0].id.as_str(), q[0].context.as_str(), q[0].answers.clone()),
        ("1", "Wien ist", vec![("Wien".to_string(), 0)])
    );
}
