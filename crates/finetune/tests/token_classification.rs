//! Token classification end to end on real data: Turkish part-of-speech tagging on a slice of
//! the turkish-treebanks web treebank (CoNLL-U, Apache-2.0; data/tasks/pos-tr-sample/), from
//! scratch, with word-level scoring; plus an entity-tagged set for the seqeval path.

use std::path::{Path, PathBuf};

mod common;

use common::root;

use finetune::config::Task;
use finetune::FinetuneConfig;

/// A tokenizer trained on the training sentences' words.
fn tokenizer(tmp: &Path, train: &Path) -> PathBuf {
    let sentences = finetune::data::token_classification::read(train, &finetune::data::Fields::default()).unwrap();
    let text: String = sentences.iter().map(|s| s.words.join(" ") + "\n").collect();
    std::fs::create_dir_all(tmp.join("raw/tr")).unwrap();
    std::fs::write(tmp.join("raw/tr/train.txt"), text).unwrap();
    let mut c = corpus::BuildConfig::for_directory(tmp.join("raw"), tmp.join("corpus"));
    c.tokenizer.vocab_size = 1500;
    c.val_fraction = 0.0;
    corpus::build(&c, false).unwrap();
    tmp.join("corpus/tokenizer.json")
}

#[test]
fn turkish_pos_tagging_learns_above_the_majority_tag() {
    let tmp = tempfile::tempdir().unwrap();
    let data = root().join("data/tasks/pos-tr-sample");
    let train = data.join("train.conllu");
    let config = FinetuneConfig {
        task: Task::TokenClassification,
        scratch_tokenizer: tokenizer(tmp.path(), &train).display().to_string(),
        output_dir: tmp.path().join("pos"),
        train_file: train.clone(),
        validation_file: data.join("validation.conllu"),
        max_seq_length: 96,
        max_steps: 300,
        per_device_train_batch_size: 16,
        learning_rate: 1e-3,
        warmup_steps: 10,
        eval_steps: 100,
        device: "cpu".into(),
        ..FinetuneConfig::default()
    };
    let out = finetune::trainer::train(&config).unwrap();
    let all = &out.best["scores"]["all"];
    // The majority tag (NOUN) covers about 30% of the validation words.
    let sentences =
        finetune::data::token_classification::read(&config.validation_file, &finetune::data::Fields::default())
            .unwrap();
    let tags: Vec<&String> = sentences.iter().flat_map(|s| s.tags.iter()).collect();
    let nouns = tags.iter().filter(|t| t.as_str() == "NOUN").count() as f64 / tags.len() as f64;
    let accuracy = all["accuracy"].as_f64().unwrap();
    assert!(accuracy > nouns + 0.15, "token accuracy {accuracy} vs majority {nouns}: {}", out.best);
    assert!(all.get("f1").is_none(), "POS tags are not entities");
    let m = model::ModelDir::open(&out.output_dir.join("final")).unwrap();
    assert_eq!(m.config.architectures.as_deref(), Some(&["BertForTokenClassification".to_string()][..]));
    let words = [("Burda da öyle mi yoksa kiloyla mı ?", None), ("Ankara Türkiye'nin başkentidir .", None)];
    common::transformers_agrees(&out.output_dir.join("final"), "AutoModelForTokenClassification", &words);

    // predict: one tag per word, and the same word accuracy as the evaluation of best/.
    let predictions = tmp.path().join("pos.jsonl");
    finetune::predict::predict(
        &out.output_dir.join("best"),
        &config.validation_file,
        &predictions,
        &config,
        tch::Device::Cpu,
    )
    .unwrap();
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&predictions).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), sentences.len());
    let (mut right, mut all) = (0, 0);
    for (s, p) in sentences.iter().zip(&lines) {
        let tags = p["tags"].as_array().unwrap();
        assert_eq!(tags.len(), s.words.len());
        for (gold, got) in s.tags.iter().zip(tags) {
            right += usize::from(got.as_str() == Some(gold.as_str()));
            all += 1;
        }
    }
    assert!((right as f64 / all as f64 - accuracy).abs() < 1e-9, "predict {right}/{all} vs evaluation {accuracy}");
}

#[test]
fn bio_tags_are_scored_with_entity_f1_and_unknown_tags_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let rows = [
        (vec!["Ankara", "Türkiye'nin", "başkentidir"], vec!["B-LOC", "B-LOC", "O"]),
        (vec!["Ali", "Veli", "İstanbul'a", "gitti"], vec!["B-PER", "I-PER", "B-LOC", "O"]),
        (vec!["Berlin", "ist", "groß"], vec!["B-LOC", "O", "O"]),
    ];
    let jsonl: String = rows
        .iter()
        .map(|(w, t)| serde_json::json!({"tokens": w, "tags": t, "lang": "tr"}).to_string() + "\n")
        .collect();
    let train = tmp.path().join("train.jsonl");
    std::fs::write(&train, &jsonl).unwrap();
    let text: String = rows.iter().map(|(w, _)| w.join(" ") + "\n").collect();
    std::fs::create_dir_all(tmp.path().join("raw/tr")).unwrap();
    std::fs::write(tmp.path().join("raw/tr/a.txt"), text.repeat(5)).unwrap();
    let mut c = corpus::BuildConfig::for_directory(tmp.path().join("raw"), tmp.path().join("corpus"));
    c.tokenizer.vocab_size = 200;
    c.tokenizer.min_frequency = 1;
    c.val_fraction = 0.0;
    corpus::build(&c, false).unwrap();
    let mut config = FinetuneConfig {
        task: Task::TokenClassification,
        scratch_tokenizer: tmp.path().join("corpus/tokenizer.json").display().to_string(),
        output_dir: tmp.path().join("ner"),
        train_file: train.clone(),
        validation_file: train.clone(),
        max_seq_length: 32,
        max_steps: 4,
        per_device_train_batch_size: 2,
        metric_for_best_model: "f1".into(),
        device: "cpu".into(),
        ..FinetuneConfig::default()
    };
    let out = finetune::trainer::train(&config).unwrap();
    let f1 = out.best["scores"]["tr"]["f1"].as_f64().expect("entity F1 for BIO tags");
    assert!((0.0..=1.0).contains(&f1));

    let tagger = out.output_dir.join("final");

    // label_all_tokens trains continuation sub-tokens too; scores stay per word.
    let mut all_tokens = config.clone();
    (all_tokens.label_all_tokens, all_tokens.output_dir) = (true, tmp.path().join("all-tokens"));
    let out = finetune::trainer::train(&all_tokens).unwrap();
    assert_eq!(out.best["scores"]["tr"]["examples"], 3);

    let val = tmp.path().join("val.jsonl");
    std::fs::write(&val, "{\"tokens\": [\"x\"], \"tags\": [\"B-ORG\"]}\n").unwrap();
    config.validation_file = val.clone();
    config.output_dir = tmp.path().join("ner2");
    let err = format!("{:#}", finetune::trainer::train(&config).unwrap_err());
    assert!(err.contains("val.jsonl:1") && err.contains("\"B-ORG\" is not among the training tags"), "{err}");

    // `eval` of the tagger on data with a tag it does not know: the same error.
    let err = finetune::evaluate::evaluate_checkpoint(&tagger, &[(val, None)], &config, tch::Device::Cpu).unwrap_err();
    assert!(format!("{err:#}").contains("\"B-ORG\" is not among the training tags"), "{err:#}");

    // Continuing from the fine-tuned tagger with another tag set is refused (its head would not fit).
    let other = tmp.path().join("other.jsonl");
    std::fs::write(&other, "{\"tokens\": [\"Ali\", \"gitti\"], \"tags\": [\"NOUN\", \"VERB\"]}\n").unwrap();
    let mut c = config.clone();
    (c.model_name_or_path, c.train_file, c.validation_file) = (tagger.display().to_string(), other.clone(), other);
    c.output_dir = tmp.path().join("relabelled");
    let err = format!("{:#}", finetune::trainer::train(&c).unwrap_err());
    assert!(err.contains("the checkpoint's labels") && err.contains("differ from the data's"), "{err}");
}
