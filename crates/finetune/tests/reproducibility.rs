//! Same seed → the same run, bit for bit (shuffling, dropout, initialisation of the head), and
//! early stopping. In a test binary of its own: libtorch's generator is per process.

use std::path::Path;

mod common;

use common::{minilm, root};
use finetune::FinetuneConfig;

fn config(out: &Path, seed: u64) -> FinetuneConfig {
    let data = root().join("data/tasks/lid-sample");
    FinetuneConfig {
        scratch_tokenizer: minilm().join("tokenizer.json").display().to_string(),
        output_dir: out.to_path_buf(),
        train_file: data.join("train.jsonl"),
        validation_file: data.join("validation.jsonl"),
        max_seq_length: 48,
        max_steps: 24,
        per_device_train_batch_size: 8,
        gradient_accumulation_steps: 2,
        learning_rate: 1e-3,
        warmup_steps: 4,
        eval_steps: 12,
        logging_steps: 4,
        seed,
        device: "cpu".into(),
        ..FinetuneConfig::default()
    }
}

/// The metrics rows without wall-clock figures.
fn metrics(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut row: serde_json::Value = serde_json::from_str(l).unwrap();
            for key in ["time", "samples_per_s", "train_runtime", "train_samples_per_second", "train_steps_per_second"]
            {
                row.as_object_mut().unwrap().remove(key);
            }
            row
        })
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_run_and_patience_stops_it() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |name: &str, seed: u64| {
        let out = finetune::trainer::train(&config(&tmp.path().join(name), seed)).unwrap();
        (metrics(&out.output_dir), std::fs::read(out.output_dir.join("final/model.safetensors")).unwrap())
    };
    let (a_metrics, a_weights) = run("a", 7);
    let (b_metrics, b_weights) = run("b", 7);
    assert_eq!(a_metrics, b_metrics);
    assert!(a_weights == b_weights, "same seed, different weights");
    // A second run into a used directory is refused (it would append to the first's metrics)
    // unless asked to start over, which leaves only the new run's rows.
    let err = finetune::trainer::train(&config(&tmp.path().join("a"), 7)).unwrap_err().to_string();
    assert!(err.contains("holds an earlier run") && err.contains("metrics.jsonl"), "{err}");
    let mut again = config(&tmp.path().join("a"), 7);
    again.overwrite_output_dir = true;
    let out = finetune::trainer::train(&again).unwrap();
    assert_eq!(metrics(&out.output_dir), a_metrics);
    let (c_metrics, c_weights) = run("c", 8);
    assert!(c_weights != a_weights && c_metrics != a_metrics, "the seed is not used");

    // Nothing improves at a learning rate of 1e-12 (0 is refused as out of range): patience 2
    // stops after the third evaluation.
    let mut c = config(&tmp.path().join("patience"), 7);
    (c.learning_rate, c.eval_steps, c.early_stopping_patience, c.max_steps) = (1e-12, 2, 2, 100);
    let out = finetune::trainer::train(&c).unwrap();
    assert_eq!(out.steps, 6, "early stopping");
    assert_eq!(out.best["step"], 2, "the first evaluation stays the best");
}
