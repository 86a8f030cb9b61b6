//! Sequence classification end to end on real text: language identification over the UDHR
//! articles of the bundled sample (17 languages, articles held out), from scratch and with a
//! causal encoder pooled on its last token; plus refusals.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

mod common;

use common::root;

use finetune::config::Attention;
use finetune::FinetuneConfig;

/// Train/validation JSONL for language ID (every 4th article held out) and a tokenizer trained
/// on the training articles, built once.
fn lid_data() -> &'static (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    static DATA: OnceLock<(tempfile::TempDir, PathBuf, PathBuf, PathBuf)> = OnceLock::new();
    DATA.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let (mut train, mut val) = (String::new(), String::new());
        let raw = tmp.path().join("raw");
        for entry in std::fs::read_dir(root().join("data/sample")).unwrap() {
            let lang_dir = entry.unwrap().path();
            if !lang_dir.is_dir() {
                continue;
            }
            let lang = lang_dir.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(lang_dir.join("udhr.txt")).unwrap();
            let mut train_lines = String::new();
            for (i, line) in text.lines().enumerate() {
                let row = serde_json::json!({"text": line, "label": lang, "lang": lang}).to_string() + "\n";
                if i % 4 == 3 {
                    val.push_str(&row);
                } else {
                    train.push_str(&row);
                    train_lines.push_str(line);
                    train_lines.push('\n');
                }
            }
            std::fs::create_dir_all(raw.join(&lang)).unwrap();
            std::fs::write(raw.join(&lang).join("train.txt"), train_lines).unwrap();
        }
        let (train_path, val_path) = (tmp.path().join("train.jsonl"), tmp.path().join("validation.jsonl"));
        std::fs::write(&train_path, train).unwrap();
        std::fs::write(&val_path, val).unwrap();
        let mut c = corpus::BuildConfig::for_directory(raw, tmp.path().join("corpus"));
        c.tokenizer.vocab_size = 2000;
        c.val_fraction = 0.0;
        corpus::build(&c, false).unwrap();
        let tokenizer = tmp.path().join("corpus/tokenizer.json");
        (tmp, train_path, val_path, tokenizer)
    })
}

fn config(out: &Path) -> FinetuneConfig {
    let (_, train, val, tokenizer) = lid_data();
    FinetuneConfig {
        scratch_tokenizer: tokenizer.display().to_string(),
        output_dir: out.to_path_buf(),
        train_file: train.clone(),
        validation_file: val.clone(),
        max_seq_length: 64,
        max_steps: 300,
        per_device_train_batch_size: 16,
        learning_rate: 1e-3,
        warmup_steps: 5,
        eval_steps: 100,
        device: "cpu".into(),
        ..FinetuneConfig::default()
    }
}

#[test]
fn language_id_learns_per_language_and_writes_hf_checkpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let out = finetune::trainer::train(&config(&tmp.path().join("lid"))).unwrap();
    let all = &out.best["scores"]["all"];
    // Chance is 1/17; the tokenizer is trained per run (not deterministic upstream), so the bar
    // leaves room.
    assert!(all["accuracy"].as_f64().unwrap() > 0.8, "{}", out.best);
    let per_lang = out.best["scores"].as_object().unwrap();
    assert!(per_lang.len() >= 17, "per-language scores: {:?}", per_lang.keys());
    assert!(out.best["average_over_languages"]["accuracy"].as_f64().is_some());
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.output_dir.join("eval_results.json")).unwrap()).unwrap();
    assert_eq!(results["step"], out.best["step"]);
    let accuracy = |v: &serde_json::Value| v["scores"]["all"]["accuracy"].as_f64().unwrap();
    assert!((accuracy(&results) - accuracy(&out.best)).abs() < 1e-12);
    for dir in ["best", "final"] {
        let m = model::ModelDir::open(&out.output_dir.join(dir)).unwrap();
        assert_eq!(m.config.architectures.as_deref(), Some(&["BertForSequenceClassification".to_string()][..]));
        assert_eq!(m.config.labels().unwrap().len(), per_lang.len() - 1);
    }

    // The fine-tuned checkpoint loads in transformers with the same logits.
    let texts = [
        ("Alle Menschen sind frei und gleich an Würde.", None),
        ("人人生而自由,在尊严和权利上一律平等。", None),
        ("Все люди рождаются свободными.", None),
    ];
    common::transformers_agrees(&out.output_dir.join("final"), "AutoModelForSequenceClassification", &texts);

    // predict: one line per row, in order, with a label and its logits. The rows are the
    // validation set and, last, all of its texts in one, far past max_seq_length = 64.
    let predictions = tmp.path().join("predictions.jsonl");
    let (_, _, val, _) = lid_data();
    let val_text = std::fs::read_to_string(val).unwrap();
    let long_text: Vec<String> = val_text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["text"].as_str().unwrap().to_string())
        .collect();
    let input = tmp.path().join("input.jsonl");
    std::fs::write(&input, format!("{val_text}{}\n", serde_json::json!({"text": long_text.join(" ")}))).unwrap();
    let rows = finetune::predict::predict(
        &out.output_dir.join("best"),
        &input,
        &predictions,
        &FinetuneConfig::default(),
        tch::Device::Cpu,
    )
    .unwrap();
    let gold: Vec<String> = std::fs::read_to_string(val)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["label"].as_str().unwrap().to_string())
        .collect();
    let predicted: Vec<serde_json::Value> =
        std::fs::read_to_string(&predictions).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!((rows, predicted.len()), (gold.len() + 1, gold.len() + 1));
    assert_eq!(predicted[0]["logits"].as_array().unwrap().len(), 17);
    // transformers' pipeline on the same directory, with no extra arguments, agrees row by row.
    let python = root().join(".venv/bin/python");
    let hf = std::process::Command::new(&python)
        .arg(root().join("tests/parity/hf_pipeline.py"))
        .args([out.output_dir.join("best").as_os_str(), input.as_os_str(), predictions.as_os_str()])
        .output()
        .unwrap();
    assert!(hf.status.success(), "{}", String::from_utf8_lossy(&hf.stderr));
    let hf: serde_json::Value = serde_json::from_slice(&hf.stdout).unwrap();
    assert_eq!(hf["labels_equal"], hf["rows"], "pipeline labels differ from predict's: {hf}");
    assert!(hf["max_probability_difference"].as_f64().unwrap() < 1e-4, "{hf}");
    // The pipeline cuts where predict does: at the length the model was fine-tuned with.
    assert_eq!(hf["model_max_length"], 64, "{hf}");
    assert!(hf["rows_longer"].as_u64().unwrap() >= 1, "no row longer than max_seq_length: {hf}");
    let right = gold.iter().zip(&predicted).filter(|(g, p)| p["label"].as_str() == Some(g.as_str())).count();
    let best_accuracy = out.best["scores"]["all"]["accuracy"].as_f64().unwrap();
    assert!((right as f64 / gold.len() as f64 - best_accuracy).abs() < 1e-9, "predict disagrees with evaluation");

    // A causal encoder pooled on its last token learns too.
    let mut causal = config(&tmp.path().join("causal"));
    causal.attention = Attention::Causal;
    causal.pooling = model::Pooling::Last;
    let out = finetune::trainer::train(&causal).unwrap();
    assert!(out.best["scores"]["all"]["accuracy"].as_f64().unwrap() > 0.8, "{}", out.best);
}

#[test]
fn unknown_evaluation_labels_and_bad_rows_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("val.jsonl");
    std::fs::write(&bad, "{\"text\": \"hello\", \"label\": \"xx\"}\n").unwrap();
    let mut c = config(&tmp.path().join("run"));
    c.validation_file = bad.clone();
    let err = format!("{:#}", finetune::trainer::train(&c).unwrap_err());
    assert!(err.contains("val.jsonl:1") && err.contains("\"xx\" is not among the training labels"), "{err}");
    std::fs::write(&bad, "{\"text\": \"hello\"}\n").unwrap();
    let err = format!("{:#}", finetune::trainer::train(&c).unwrap_err());
    assert!(err.contains("val.jsonl:1: no field `label`"), "{err}");
}

#[test]
fn the_shipped_recipe_parses() {
    let c = FinetuneConfig::load(&root().join("configs/finetune/mbert-classification.toml"), &[]).unwrap();
    assert_eq!((c.per_device_train_batch_size, c.per_device_eval_batch_size, c.warmup_steps), (16, 64, 5));
    assert_eq!((c.num_train_epochs, c.weight_decay), (3.0, 0.01));
    // Every shipped configuration parses and validates.
    let mut seen = 0;
    for dir in ["configs/finetune", "configs/finetune/real"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                FinetuneConfig::load(&path, &[]).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
                seen += 1;
            }
        }
    }
    assert!(seen >= 10, "{seen} configurations");
}
