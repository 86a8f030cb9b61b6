//! `report_to = ["tensorboard"]` in pretraining: TensorBoard's own reader (the venv's
//! `tensorboard` package) reads back from the run directory exactly what `metrics.jsonl` holds,
//! tagged as transformers' Trainer tags it, per-language validation included.

mod common;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use common::{root, tiny_config};
use pretrain::Resume;

#[test]
fn a_pretraining_reports_to_tensorboard_what_metrics_jsonl_holds() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = tiny_config(tmp.path(), "tb");
    c.max_steps = 6;
    c.warmup_steps = 2;
    c.eval_steps = 3;
    c.save_steps = 0;
    c.report_to = vec![training::ReportTo::Tensorboard];
    let out = pretrain::train(&c, Resume::No, Arc::new(AtomicBool::new(false))).unwrap();
    let python = root().join(".venv/bin/python");
    let read = std::process::Command::new(python)
        .arg(root().join("tests/parity/tensorboard_events.py"))
        .arg(&out.run_dir)
        .args(["train/loss", "train/learning_rate", "train/grad_norm", "train/epoch", "train/tokens_per_s"])
        .args(["eval/de/loss", "eval/de/ppl"])
        .output()
        .unwrap();
    assert!(
        read.status.success(),
        "{}{}",
        String::from_utf8_lossy(&read.stdout),
        String::from_utf8_lossy(&read.stderr)
    );
}
