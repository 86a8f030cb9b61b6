//! `report_to = ["tensorboard"]` in fine-tuning: TensorBoard's own reader (the venv's
//! `tensorboard` package) reads back from the run directory exactly what `metrics.jsonl` holds,
//! tagged as transformers' Trainer tags it (`eval/<lang>/accuracy`, `eval/all/loss`…).

use std::path::Path;

mod common;

use common::{minilm, root};
use finetune::FinetuneConfig;

fn config(out: &Path) -> FinetuneConfig {
    let data = root().join("data/tasks/lid-sample");
    FinetuneConfig {
        scratch_tokenizer: minilm().join("tokenizer.json").display().to_string(),
        output_dir: out.to_path_buf(),
        train_file: data.join("train.jsonl"),
        validation_file: data.join("validation.jsonl"),
        max_seq_length: 48,
        max_steps: 8,
        per_device_train_batch_size: 8,
        learning_rate: 1e-3,
        eval_steps: 4,
        logging_steps: 2,
        device: "cpu".into(),
        report_to: vec![training::ReportTo::Tensorboard],
        ..FinetuneConfig::default()
    }
}

#[test]
fn a_fine_tuning_reports_to_tensorboard_what_metrics_jsonl_holds() {
    let tmp = tempfile::tempdir().unwrap();
    let out = finetune::trainer::train(&config(tmp.path())).unwrap();
    let read = std::process::Command::new(root().join(".venv/bin/python"))
        .arg(root().join("tests/parity/tensorboard_events.py"))
        .arg(&out.output_dir)
        .args(["train/loss", "train/learning_rate", "train/grad_norm", "train/epoch", "train/samples_per_s"])
        .args(["eval/all/accuracy", "eval/all/loss", "eval/de/accuracy"])
        .output()
        .unwrap();
    assert!(
        read.status.success(),
        "{}{}",
        String::from_utf8_lossy(&read.stdout),
        String::from_utf8_lossy(&read.stderr)
    );
}
