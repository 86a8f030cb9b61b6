//! Fine-tuning input that used to pass silently (issue 14): a training set with a single label,
//! CoNLL lines with extra columns, a UTF-8 byte-order mark, labels that are neither strings nor
//! integers, and words that tokenize to no sub-token (which shifted every later tag of
//! `predict`). On the real task slices of data/tasks/.

use std::path::{Path, PathBuf};

mod common;

use common::{minilm, root};

use finetune::config::Task;
use finetune::data::{classification, qa, token_classification};
use finetune::FinetuneConfig;

fn write(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).unwrap();
    path.to_path_buf()
}

fn config(task: Task, out: &Path, train: &Path) -> FinetuneConfig {
    FinetuneConfig {
        task,
        scratch_tokenizer: minilm().join("tokenizer.json").display().to_string(),
        output_dir: out.to_path_buf(),
        train_file: train.to_path_buf(),
        validation_file: train.to_path_buf(),
        max_seq_length: 64,
        max_steps: 2,
        per_device_train_batch_size: 8,
        device: "cpu".into(),
        ..FinetuneConfig::default()
    }
}

#[test]
fn a_training_set_with_a_single_label_is_refused_and_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    // The German rows of the language-ID slice: one class only.
    let lid = std::fs::read_to_string(root().join("data/tasks/lid-sample/train.jsonl")).unwrap();
    let german: String =
        lid.lines().filter(|l| l.contains("\"label\": \"de\"")).map(|l| l.to_string() + "\n").collect();
    assert!(german.lines().count() > 5);
    let train = write(&tmp.path().join("de.jsonl"), &german);
    let c = config(Task::Classification, &tmp.path().join("lid"), &train);
    let err = format!("{:#}", finetune::trainer::train(&c).unwrap_err());
    assert!(err.contains("de.jsonl") && err.contains("\"de\"") && err.contains("two"), "{err}");
    // It fails before the run directory is written, so a rerun with fixed data is not blocked.
    assert!(!c.output_dir.join("config.toml").exists() && !c.output_dir.join("metrics.jsonl").exists());

    // A NER slice without a single entity: every word tagged O.
    let pos = token_classification::read(
        &root().join("data/tasks/pos-tr-sample/train.conllu"),
        &finetune::data::Fields::default(),
    )
    .unwrap();
    let conll: String =
        pos.iter().map(|s| s.words.iter().map(|w| format!("{w}\tO\n")).collect::<String>() + "\n").collect();
    let train = write(&tmp.path().join("ner.conll"), &conll);
    let c = config(Task::TokenClassification, &tmp.path().join("ner"), &train);
    let err = format!("{:#}", finetune::trainer::train(&c).unwrap_err());
    assert!(err.contains("ner.conll") && err.contains("\"O\"") && err.contains("two"), "{err}");
}

#[test]
fn conll_lines_with_another_column_count_are_errors_with_their_line() {
    let tmp = tempfile::tempdir().unwrap();
    let sentences = token_classification::read(
        &root().join("data/tasks/pos-tr-sample/train.conllu"),
        &finetune::data::Fields::default(),
    )
    .unwrap();
    let mut lines: Vec<String> =
        sentences[0].words.iter().zip(&sentences[0].tags).map(|(w, t)| format!("{w}\t{t}")).collect();
    let good = write(&tmp.path().join("good.conll"), &(lines.join("\n") + "\n"));
    assert_eq!(
        token_classification::read(&good, &finetune::data::Fields::default()).unwrap()[0].tags,
        sentences[0].tags
    );

    lines[2].push_str("\tEXTRA");
    let bad = write(&tmp.path().join("extra.conll"), &(lines.join("\n") + "\n"));
    let err = token_classification::read(&bad, &finetune::data::Fields::default()).unwrap_err().to_string();
    assert!(err.contains("extra.conll:3:") && err.contains("3 columns") && err.contains("word<TAB>tag"), "{err}");

    let one = write(&tmp.path().join("one.conll"), "Burda\tPRON\nda\n");
    let err = token_classification::read(&one, &finetune::data::Fields::default()).unwrap_err().to_string();
    assert!(err.contains("one.conll:2:") && err.contains("1 column"), "{err}");

    // CoNLL-2003's four space-separated columns (word, POS, chunk, NER) are documented and read,
    // but a file may not mix them with two-column lines.
    let c2003 = write(
        &tmp.path().join("c2003.txt"),
        "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\n",
    );
    assert_eq!(
        token_classification::read(&c2003, &finetune::data::Fields::default()).unwrap()[0].tags,
        ["B-ORG", "O", "B-MISC"]
    );
    let mixed = write(&tmp.path().join("mixed.txt"), "EU NNP B-NP B-ORG\nrejects O\n");
    let err = token_classification::read(&mixed, &finetune::data::Fields::default()).unwrap_err().to_string();
    assert!(err.contains("mixed.txt:2:") && err.contains("line 1 has 4"), "{err}");
}

#[test]
fn a_byte_order_mark_is_skipped_in_every_format() {
    let tmp = tempfile::tempdir().unwrap();
    let bom = |name: &str, source: &Path| {
        let mut bytes = vec![0xef, 0xbb, 0xbf];
        bytes.extend(std::fs::read(source).unwrap());
        let path = tmp.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let lid = root().join("data/tasks/lid-sample/train.jsonl");
    let f = classification::Fields::default();
    assert_eq!(classification::read(&bom("lid.jsonl", &lid), &f).unwrap(), classification::read(&lid, &f).unwrap());

    let rows = classification::read(&lid, &f).unwrap();
    let mut csv = csv::Writer::from_path(tmp.path().join("lid.csv")).unwrap();
    let mut tsv = csv::WriterBuilder::new().delimiter(b'\t').from_path(tmp.path().join("lid.tsv")).unwrap();
    for w in [&mut csv, &mut tsv] {
        w.write_record(["text", "label"]).unwrap();
        for r in &rows[..20] {
            w.write_record([&r.text, &r.label]).unwrap();
        }
        w.flush().unwrap();
    }
    drop((csv, tsv));
    for name in ["lid.csv", "lid.tsv"] {
        let plain = tmp.path().join(name);
        let with_bom = bom(&format!("bom-{name}"), &plain);
        // The BOM must not become part of the first column's name ("\u{feff}text").
        assert_eq!(classification::read(&with_bom, &f).unwrap(), classification::read(&plain, &f).unwrap(), "{name}");
    }

    let pos = root().join("data/tasks/pos-tr-sample/train.conllu");
    assert_eq!(
        token_classification::read(&bom("pos.conllu", &pos), &finetune::data::Fields::default()).unwrap(),
        token_classification::read(&pos, &finetune::data::Fields::default()).unwrap()
    );
    let sentences = token_classification::read(&pos, &finetune::data::Fields::default()).unwrap();
    let conll: String = sentences[..5]
        .iter()
        .map(|s| s.words.iter().zip(&s.tags).map(|(w, t)| format!("{w}\t{t}\n")).collect::<String>() + "\n")
        .collect();
    let plain = write(&tmp.path().join("pos.conll"), &conll);
    assert_eq!(
        token_classification::read(&bom("bom.conll", &plain), &finetune::data::Fields::default()).unwrap(),
        token_classification::read(&plain, &finetune::data::Fields::default()).unwrap()
    );
    let jsonl: String = sentences[..5]
        .iter()
        .map(|s| serde_json::json!({"tokens": s.words, "tags": s.tags}).to_string() + "\n")
        .collect();
    let plain = write(&tmp.path().join("pos.jsonl"), &jsonl);
    assert_eq!(
        token_classification::read(&bom("bom-pos.jsonl", &plain), &finetune::data::Fields::default()).unwrap(),
        token_classification::read(&plain, &finetune::data::Fields::default()).unwrap()
    );

    let squad = root().join("data/tasks/qa-sample/validation.json");
    assert_eq!(
        qa::read(&bom("qa.json", &squad), &finetune::data::Fields::default()).unwrap(),
        qa::read(&squad, &finetune::data::Fields::default()).unwrap()
    );
    let questions = qa::read(&squad, &finetune::data::Fields::default()).unwrap();
    let jsonl: String = questions[..5]
        .iter()
        .map(|q| {
            let (texts, starts): (Vec<&str>, Vec<usize>) = q.answers.iter().map(|(t, s)| (t.as_str(), *s)).unzip();
            serde_json::json!({"id": q.id, "question": q.question, "context": q.context,
                "answers": {"text": texts, "answer_start": starts}})
            .to_string()
                + "\n"
        })
        .collect();
    let plain = write(&tmp.path().join("qa.jsonl"), &jsonl);
    assert_eq!(
        qa::read(&bom("bom-qa.jsonl", &plain), &finetune::data::Fields::default()).unwrap(),
        qa::read(&plain, &finetune::data::Fields::default()).unwrap()
    );
}

#[test]
fn labels_are_strings_or_integers_and_anything_else_names_its_line_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let f = classification::Fields::default();
    let row = |label: &str| {
        format!("{{\"text\": \"Herkes hürdür.\", \"label\": \"tr\"}}\n{{\"text\": \"Alle sind frei.\", \"label\": {label}}}\n")
    };
    let ok = write(&tmp.path().join("ok.jsonl"), &row("7"));
    assert_eq!(classification::read(&ok, &f).unwrap()[1].label, "7");
    for (name, label, kind) in [
        ("float", "1.0", "a number that is not an integer"),
        ("bool", "true", "a boolean"),
        ("null", "null", "null"),
        ("object", "{\"id\": 1}", "an object"),
        ("list", "[\"de\"]", "a list"),
    ] {
        let path = write(&tmp.path().join(format!("{name}.jsonl")), &row(label));
        let err = classification::read(&path, &f).unwrap_err().to_string();
        assert!(
            err.contains(&format!("{name}.jsonl:2:")) && err.contains("`label`") && err.contains(kind),
            "{name}: {err}"
        );
    }
    // Prediction input may leave the label out, or null, but not give a float.
    assert_eq!(
        classification::read_unlabelled(&write(&tmp.path().join("p.jsonl"), &row("null")), &f).unwrap()[1].label,
        ""
    );
    let err = classification::read_unlabelled(&tmp.path().join("float.jsonl"), &f).unwrap_err().to_string();
    assert!(err.contains("float.jsonl:2:") && err.contains("`label`"), "{err}");

    let tags = |tags: &str| {
        format!("{{\"tokens\": [\"Ali\", \"gitti\"], \"tags\": [\"NOUN\", \"VERB\"]}}\n{{\"tokens\": [\"Veli\", \"geldi\"], \"tags\": {tags}}}\n")
    };
    assert_eq!(
        token_classification::read(
            &write(&tmp.path().join("t.jsonl"), &tags("[3, 4]")),
            &finetune::data::Fields::default()
        )
        .unwrap()[1]
            .tags,
        ["3", "4"]
    );
    for (name, list) in [("tf", "[\"NOUN\", 1.0]"), ("tb", "[\"NOUN\", false]"), ("tn", "[null, \"VERB\"]")] {
        let err = token_classification::read(
            &write(&tmp.path().join(format!("{name}.jsonl")), &tags(list)),
            &finetune::data::Fields::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains(&format!("{name}.jsonl:2:")) && err.contains("`tags`"), "{name}: {err}");
    }
}

/// Words of the Turkish slice with a zero-width space (U+200B) and a soft hyphen (U+00AD) put
/// between them: a BERT tokenizer normalises both away, so they have no sub-token.
const EMPTY_WORDS: [&str; 2] = ["\u{200b}", "\u{00ad}"];

fn with_empty_words(s: &token_classification::Sentence, k: usize) -> (Vec<String>, Vec<String>) {
    let (mut words, mut tags) = (Vec::new(), Vec::new());
    for (i, (w, t)) in s.words.iter().zip(&s.tags).enumerate() {
        if i == 1 {
            words.push(EMPTY_WORDS[k % 2].to_string());
            tags.push("PUNCT".to_string());
        }
        words.push(w.clone());
        tags.push(t.clone());
    }
    // At the end of every other sentence too, where a missing tag is not truncation.
    if k.is_multiple_of(2) {
        words.push(EMPTY_WORDS[0].to_string());
        tags.push("PUNCT".to_string());
    }
    (words, tags)
}

fn jsonl(rows: &[(Vec<String>, Vec<String>)], with_tags: bool) -> String {
    rows.iter()
        .map(|(w, t)| {
            let row =
                if with_tags { serde_json::json!({"tokens": w, "tags": t}) } else { serde_json::json!({"tokens": w}) };
            row.to_string() + "\n"
        })
        .collect()
}

fn predictions(path: &Path) -> Vec<Vec<serde_json::Value>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["tags"].as_array().unwrap().clone())
        .collect()
}

#[test]
fn a_word_without_sub_tokens_gets_null_and_moves_no_other_tag() {
    let tmp = tempfile::tempdir().unwrap();
    let data = root().join("data/tasks/pos-tr-sample");
    let train = token_classification::read(&data.join("train.conllu"), &finetune::data::Fields::default()).unwrap();
    let val = token_classification::read(&data.join("validation.conllu"), &finetune::data::Fields::default()).unwrap();
    let plain = |s: &[token_classification::Sentence]| -> Vec<(Vec<String>, Vec<String>)> {
        s.iter().map(|s| (s.words.clone(), s.tags.clone())).collect()
    };
    let spiked = |s: &[token_classification::Sentence]| -> Vec<(Vec<String>, Vec<String>)> {
        s.iter().enumerate().map(|(k, s)| with_empty_words(s, k)).collect()
    };
    let files = |name: &str, rows: &[(Vec<String>, Vec<String>)]| write(&tmp.path().join(name), &jsonl(rows, true));
    let (train_plain, train_spiked) =
        (files("train.jsonl", &plain(&train)), files("train-spiked.jsonl", &spiked(&train)));
    let (val_plain, val_spiked) = (files("val.jsonl", &plain(&val)), files("val-spiked.jsonl", &spiked(&val)));

    // Training: the empty words' tags reach no token, and no neighbour takes them, so the run is
    // the same bit for bit as on the sentences without them.
    let run = |name: &str, train: &Path, val: &Path| {
        let mut c = config(Task::TokenClassification, &tmp.path().join(name), train);
        (c.validation_file, c.max_steps, c.eval_steps, c.learning_rate) = (val.to_path_buf(), 16, 8, 3e-3);
        c.max_seq_length = 128;
        let out = finetune::trainer::train(&c).unwrap();
        let weights = std::fs::read(out.output_dir.join("final/model.safetensors")).unwrap();
        (c, out, weights)
    };
    let (c, plain_run, plain_weights) = run("plain", &train_plain, &val_plain);
    let (_, spiked_run, spiked_weights) = run("spiked", &train_spiked, &val_spiked);
    assert_eq!(plain_run.best, spiked_run.best, "evaluation during training");
    assert!(plain_weights == spiked_weights, "the empty words changed what was trained");

    // eval: the empty words are not scored (they have no position to score), the others as before.
    let tagger = plain_run.output_dir.join("final");
    let eval = |file: &Path| {
        finetune::evaluate::evaluate_checkpoint(&tagger, &[(file.to_path_buf(), None)], &c, tch::Device::Cpu).unwrap()
            ["scores"]
            .clone()
    };
    assert_eq!(eval(&val_plain), eval(&val_spiked));

    // predict: null at each empty word, and every other word keeps its own tag.
    let (input_plain, input_spiked) = (tmp.path().join("in.jsonl"), tmp.path().join("in-spiked.jsonl"));
    std::fs::write(&input_plain, jsonl(&plain(&val), false)).unwrap();
    std::fs::write(&input_spiked, jsonl(&spiked(&val), false)).unwrap();
    let hello =
        "{\"tokens\": [\"Merhaba\", \"\u{200b}\", \"dünya\", \".\"]}\n{\"tokens\": [\"Merhaba\", \"dünya\", \".\"]}\n";
    let input_hello = write(&tmp.path().join("hello.jsonl"), hello);
    let predict = |input: &Path, name: &str| {
        let out = tmp.path().join(name);
        finetune::predict::predict(&tagger, input, &out, &c, tch::Device::Cpu).unwrap();
        predictions(&out)
    };
    let (expected, got) = (predict(&input_plain, "p.jsonl"), predict(&input_spiked, "p-spiked.jsonl"));
    // A tagger of one tag could not show a shift.
    let distinct: std::collections::BTreeSet<String> = expected.iter().flatten().map(|t| t.to_string()).collect();
    assert!(distinct.len() >= 3, "{distinct:?}");
    for (k, ((words, _), (tags, plain_tags))) in spiked(&val).iter().zip(got.iter().zip(&expected)).enumerate() {
        assert_eq!(tags.len(), words.len());
        let kept: Vec<&serde_json::Value> =
            tags.iter().zip(words).filter(|(_, w)| !EMPTY_WORDS.contains(&w.as_str())).map(|(t, _)| t).collect();
        assert_eq!(kept, plain_tags.iter().collect::<Vec<_>>(), "sentence {k}");
        for (t, w) in tags.iter().zip(words).filter(|(_, w)| EMPTY_WORDS.contains(&w.as_str())) {
            assert!(t.is_null(), "sentence {k}: {w:?} tagged {t}");
        }
    }
    let hello = predict(&input_hello, "hello-out.jsonl");
    assert_eq!(hello[0], [hello[1][0].clone(), serde_json::Value::Null, hello[1][1].clone(), hello[1][2].clone()]);
}
