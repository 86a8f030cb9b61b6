//! transformers' pipelines on the model directories `finetune` writes, loaded with no extra
//! arguments (`pipeline(task, model=dir)`, `AutoTokenizer`, `AutoModelFor…`), against
//! `finetune predict`: token classification word by word, with a sentence longer than the
//! length the model was fine-tuned with.

mod common;

use common::root;

use finetune::config::Task;
use finetune::FinetuneConfig;

#[test]
fn token_classification_pipeline_reproduces_predict_on_every_word_and_cuts_long_sentences_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let data = root().join("data/tasks/pos-tr-sample");
    let train = data.join("train.conllu");
    let config = FinetuneConfig {
        task: Task::TokenClassification,
        scratch_tokenizer: common::pos_tokenizer(tmp.path(), &train).display().to_string(),
        output_dir: tmp.path().join("pos"),
        train_file: train,
        validation_file: data.join("validation.conllu"),
        max_seq_length: 48,
        max_steps: 100,
        per_device_train_batch_size: 16,
        learning_rate: 1e-3,
        warmup_steps: 10,
        eval_steps: 100,
        device: "cpu".into(),
        ..FinetuneConfig::default()
    };
    let out = finetune::trainer::train(&config).unwrap();
    let best = out.output_dir.join("best");

    // The validation sentences and one made of all of them, far past 48 tokens.
    let mut sentences: Vec<Vec<String>> =
        finetune::data::token_classification::read(&config.validation_file, &config.fields)
            .unwrap()
            .into_iter()
            .map(|s| s.words)
            .collect();
    sentences.push(sentences.concat());
    let input = tmp.path().join("input.jsonl");
    let rows: String = sentences.iter().map(|w| serde_json::json!({"tokens": w}).to_string() + "\n").collect();
    std::fs::write(&input, rows).unwrap();
    let predictions = tmp.path().join("predictions.jsonl");
    finetune::predict::predict(&best, &input, &predictions, &config, tch::Device::Cpu).unwrap();
    let predicted: Vec<serde_json::Value> =
        std::fs::read_to_string(&predictions).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();

    // predict's tag of a word is the argmax of the logits it writes beside it.
    let labels = model::ModelDir::open(&best).unwrap().config.labels().unwrap();
    let ours = tmp.path().join("ours.jsonl");
    let mut rows = String::new();
    for (p, words) in predicted.iter().zip(&sentences) {
        let (tags, logits) = (p["tags"].as_array().unwrap(), p["logits"].as_array().unwrap());
        assert_eq!((tags.len(), logits.len()), (words.len(), words.len()), "{p}");
        for (tag, l) in tags.iter().zip(logits) {
            let argmax = l.as_array().map(|l| {
                let l: Vec<f64> = l.iter().map(|x| x.as_f64().unwrap()).collect();
                let best = (0..l.len()).max_by(|&a, &b| l[a].total_cmp(&l[b])).unwrap();
                labels[best].as_str()
            });
            assert_eq!(tag.as_str(), argmax, "predict's tag is not the argmax of its logits");
        }
        rows += &(serde_json::json!({"tokens": words, "tags": tags, "logits": logits}).to_string() + "\n");
    }
    std::fs::write(&ours, &rows).unwrap();

    let hf = compare(&best, &ours);
    let tagged = |row: &serde_json::Value| row["tags"].as_array().unwrap().iter().filter(|t| !t.is_null()).count();
    eprintln!("{hf}; words tagged per sentence: {:?}", predicted.iter().map(tagged).collect::<Vec<_>>());
    let (words, cut) = (hf["words"].as_u64().unwrap(), hf["cut"].as_u64().unwrap());
    assert_eq!(words as usize, sentences.iter().map(Vec::len).sum::<usize>(), "{hf}");
    assert_eq!(hf["model_max_length"], 48, "{hf}");
    // The long sentence is cut: most of its words have no tag, in predict as in the pipeline.
    assert!(cut as usize > sentences.last().unwrap().len() / 2, "{hf}");
    assert_eq!(hf["labels_equal"].as_u64(), Some(words - cut), "pipeline tags differ from predict's: {hf}");
    assert!(hf["max_score_difference"].as_f64().unwrap() < 1e-4, "{hf}");
    assert!(hf["max_logit_difference"].as_f64().unwrap() < 1e-4, "{hf}");
    assert_eq!(hf["cut_tagged"], 0, "transformers tagged words predict cut: {hf}");

    // The negative control: without tokenizer_config.json and special_tokens_map.json,
    // AutoTokenizer falls back to BERT's lower-casing tokenizer, which does not truncate either:
    // the comparison must fail, by disagreeing or by running past the position table.
    let fallback = tmp.path().join("fallback");
    std::fs::create_dir_all(&fallback).unwrap();
    for name in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(best.join(name), fallback.join(name)).unwrap();
    }
    let short = tmp.path().join("short.jsonl");
    std::fs::write(&short, rows.lines().take(sentences.len() - 1).map(|l| l.to_string() + "\n").collect::<String>())
        .unwrap();
    match run_comparison(&fallback, &short) {
        Ok(control) => assert!(
            control["labels_equal"].as_u64()
                < Some(control["words"].as_u64().unwrap() - control["cut"].as_u64().unwrap())
                || control["max_score_difference"].as_f64().unwrap() >= 1e-4,
            "the check cannot tell the fallback tokenizer apart: {control}"
        ),
        Err(stderr) => assert!(stderr.contains("must match the size of tensor"), "{stderr}"),
    }
}

/// tests/parity/hf_token_pipeline.py on `dir` and our rows.
fn compare(dir: &std::path::Path, ours: &std::path::Path) -> serde_json::Value {
    run_comparison(dir, ours).unwrap_or_else(|stderr| panic!("{stderr}"))
}

/// Its report, or its stderr when it fails.
fn run_comparison(dir: &std::path::Path, ours: &std::path::Path) -> Result<serde_json::Value, String> {
    let hf = std::process::Command::new(root().join(".venv/bin/python"))
        .arg(root().join("tests/parity/hf_token_pipeline.py"))
        .args([dir.as_os_str(), ours.as_os_str()])
        .output()
        .unwrap();
    if !hf.status.success() {
        return Err(String::from_utf8_lossy(&hf.stderr).into_owned());
    }
    Ok(serde_json::from_slice(&hf.stdout).unwrap())
}
