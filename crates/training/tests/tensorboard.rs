//! `report_to = ["tensorboard"]` at the level of the run directory: what `metrics.jsonl` holds,
//! TensorBoard's own reader (the `tensorboard` package of the venv) reads back from the event
//! file, also after a resume dropped rows a crashed run had written.

use std::path::{Path, PathBuf};

use serde_json::json;
use training::run_dir::METRICS_FILE;
use training::{Metrics, ReportTo, RunDir};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the reader on `run`; returns the tags it read.
pub fn read_back(run: &Path, required: &[&str]) -> String {
    let python = root().join(".venv/bin/python");
    assert!(python.exists(), "{} missing: run ./scripts/setup.sh", python.display());
    let out = std::process::Command::new(python)
        .arg(root().join("tests/parity/tensorboard_events.py"))
        .arg(run)
        .args(required)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn training_row(step: u64) -> serde_json::Value {
    json!({"step": step, "epoch": step as f64 / 4.0, "loss": 3.0 / step as f64, "lr": 1e-4 * step as f64,
        "tokens_drawn": {"de": 64 * step, "fi": 32 * step}})
}

#[test]
fn tensorboard_reads_back_every_row_once_after_a_resume() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let run = RunDir::lock(tmp.path()).unwrap();
        let mut metrics = run.metrics().unwrap();
        metrics.report_to(&[ReportTo::Tensorboard]).unwrap();
        for step in 1..=6 {
            metrics.write(&training_row(step)).unwrap();
        }
        metrics.write(&json!({"step": 4, "split": "validation", "lang": "de", "loss": 2.5, "ppl": 12.2})).unwrap();
    }
    // The crash: the newest checkpoint is of step 4, so steps 5 and 6 are dropped and redone.
    Metrics::truncate_after(&tmp.path().join(METRICS_FILE), 4).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2));
    let run = RunDir::lock(tmp.path()).unwrap();
    let mut metrics = run.metrics().unwrap();
    metrics.report_to(&[ReportTo::Tensorboard]).unwrap();
    for step in 5..=8 {
        metrics.write(&training_row(step)).unwrap();
    }
    let tags = read_back(tmp.path(), &["train/loss", "train/learning_rate", "eval/de/loss", "train/tokens_drawn/fi"]);
    assert!(tags.contains("eval/de/ppl"), "{tags}");
    // Every row carries its wall-clock time.
    let rows = training::plots::read_metrics(&tmp.path().join(METRICS_FILE)).unwrap();
    assert_eq!(rows.len(), 9);
    assert!(rows.iter().all(|r| r["time"].as_f64().is_some_and(|t| t > 1.7e9)), "{rows:?}");
}

#[test]
fn the_reader_notices_a_log_that_differs_from_the_events() {
    let tmp = tempfile::tempdir().unwrap();
    let run = RunDir::lock(tmp.path()).unwrap();
    let mut metrics = run.metrics().unwrap();
    metrics.report_to(&[ReportTo::Tensorboard]).unwrap();
    metrics.write(&training_row(1)).unwrap();
    // A row the event file never saw (as a writer without mirroring would leave).
    std::fs::write(
        tmp.path().join(METRICS_FILE),
        std::fs::read_to_string(tmp.path().join(METRICS_FILE)).unwrap() + &training_row(2).to_string() + "\n",
    )
    .unwrap();
    let python = root().join(".venv/bin/python");
    let out = std::process::Command::new(python)
        .arg(root().join("tests/parity/tensorboard_events.py"))
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("steps [1]"), "{}", String::from_utf8_lossy(&out.stderr));
}
