//! Extractive QA end to end on real sentences (data/tasks/qa-sample: English tweets and Japanese
//! news with entity questions, contexts longer than a window), starting from a real pretrained
//! checkpoint (all-MiniLM-L6-v2, bare parameter names) the way users start from one they have:
//! training, evaluation, `eval` on the saved checkpoint, predictions, and transformers loading
//! the result.

use std::path::Path;

mod common;

use common::{minilm, root};

use finetune::config::Task;
use finetune::FinetuneConfig;

fn config(out: &Path) -> FinetuneConfig {
    let data = root().join("data/tasks/qa-sample");
    FinetuneConfig {
        task: Task::QuestionAnswering,
        model_name_or_path: minilm().display().to_string(),
        output_dir: out.to_path_buf(),
        train_file: data.join("train.json"),
        validation_file: data.join("validation.json"),
        max_seq_length: 96,
        doc_stride: 32,
        num_train_epochs: 6.0,
        per_device_train_batch_size: 16,
        learning_rate: 1.5e-4,
        warmup_steps: 5,
        device: "cpu".into(),
        ..FinetuneConfig::default()
    }
}

fn context_chars(squad: &Path) -> std::collections::HashMap<String, Vec<char>> {
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(squad).unwrap()).unwrap();
    let mut out = std::collections::HashMap::new();
    for p in doc["data"].as_array().unwrap().iter().flat_map(|a| a["paragraphs"].as_array().unwrap()) {
        for q in p["qas"].as_array().unwrap() {
            out.insert(q["id"].as_str().unwrap().to_string(), p["context"].as_str().unwrap().chars().collect());
        }
    }
    out
}

#[test]
fn qa_learns_spans_across_windows_and_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let c = config(&tmp.path().join("qa"));
    let out = finetune::trainer::train(&c).unwrap();
    let all = &out.best["scores"]["all"];
    let (em, f1) = (all["exact_match"].as_f64().unwrap(), all["f1"].as_f64().unwrap());
    assert!(f1 >= em && em >= 0.0 && f1 <= 1.0, "{}", out.best);
    assert_eq!(out.best["metric"], "f1");
    // Held-out contexts with templated questions: a pretrained encoder finds most entities.
    assert!(f1 > 0.3, "validation F1 {f1}: {}", out.best);

    // Spans were learnt, not only the question types: on its training questions the model is
    // mostly exact (this fails if targets and offsets disagree by a token).
    let best = out.output_dir.join("best");
    let on_train =
        finetune::evaluate::evaluate_checkpoint(&best, &[(c.train_file.clone(), None)], &c, tch::Device::Cpu).unwrap();
    let train_em = on_train["scores"]["all"]["exact_match"].as_f64().unwrap();
    assert!(train_em > 0.6, "training exact match {train_em}");

    // `eval` on the saved best checkpoint reproduces the evaluation done during training, cutting
    // inputs at the length recorded in the checkpoint (96), not the settings' default (128).
    let defaults = FinetuneConfig { max_seq_length: 128, ..c.clone() };
    let again =
        finetune::evaluate::evaluate_checkpoint(&best, &c.evaluation_files(), &defaults, tch::Device::Cpu).unwrap();
    for key in ["exact_match", "f1"] {
        let (a, b) = (again["scores"]["all"][key].as_f64().unwrap(), all[key].as_f64().unwrap());
        assert!((a - b).abs() < 1e-9, "{key}: eval {a} vs training {b}");
    }

    // predict: one answer per question, its offsets point at its text in the context, and the
    // answers score as the evaluation did.
    let predictions = tmp.path().join("answers.jsonl");
    let rows = finetune::predict::predict(&best, &c.validation_file, &predictions, &c, tch::Device::Cpu).unwrap();
    let contexts = context_chars(&c.validation_file);
    assert_eq!(rows, contexts.len());
    let mut exact = 0.0;
    let gold: std::collections::HashMap<String, String> = {
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&c.validation_file).unwrap()).unwrap();
        doc["data"][0]["paragraphs"]
            .as_array()
            .unwrap()
            .iter()
            .chain(doc["data"].as_array().unwrap().iter().skip(1).flat_map(|a| a["paragraphs"].as_array().unwrap()))
            .flat_map(|p| p["qas"].as_array().unwrap().clone())
            .map(|q| (q["id"].as_str().unwrap().to_string(), q["answers"][0]["text"].as_str().unwrap().to_string()))
            .collect()
    };
    for line in std::fs::read_to_string(&predictions).unwrap().lines() {
        let p: serde_json::Value = serde_json::from_str(line).unwrap();
        let id = p["id"].as_str().unwrap();
        let (start, end) = (p["start"].as_u64().unwrap() as usize, p["end"].as_u64().unwrap() as usize);
        let text: String = contexts[id][start..end].iter().collect();
        assert_eq!(p["answer"].as_str().unwrap(), text, "{line}");
        exact += finetune::metrics::squad::exact_match(&text, &gold[id]);
    }
    assert!((exact / rows as f64 - em).abs() < 1e-9, "predict disagrees with evaluation");

    // The checkpoint is a transformers BertForQuestionAnswering with the same logits.
    let pairs = [
        ("Which place is mentioned?", Some("Fashion week in New York")),
        ("どの場所が言及されていますか？", Some("東京で会議")),
    ];
    common::transformers_agrees(&best, "AutoModelForQuestionAnswering", &pairs);
}
