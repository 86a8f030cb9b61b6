//! A fine-tuning killed with SIGKILL after its first intermediate checkpoint, then resumed with
//! `--resume`, ends as the uninterrupted run does: the same final and best weights bit for bit,
//! the same eval_results.json and the same metrics rows (wall-clock figures aside). Plus: a
//! checkpoint written with a setting that must not change is refused by name, a directory with
//! checkpoints is not restarted without --resume, and save_total_limit prunes the oldest.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

use common::{minilm, root};

/// A config file for the real binary: language ID over the bundled sample, from scratch.
fn write_config(dir: &Path, out: &Path) -> PathBuf {
    write_config_with(dir, out, &[])
}

/// The same with some settings changed: (key, TOML value).
fn write_config_with(dir: &Path, out: &Path, changes: &[(&str, &str)]) -> PathBuf {
    let data = root().join("data/tasks/lid-sample");
    let text = format!(
        r#"task = "classification"
scratch_tokenizer = "{tokenizer}"
output_dir = "{out}"
train_file = "{data}/train.jsonl"
validation_file = "{data}/validation.jsonl"
max_seq_length = 48
max_steps = 12
per_device_train_batch_size = 8
gradient_accumulation_steps = 2
learning_rate = 1e-3
warmup_steps = 4
eval_steps = 6
logging_steps = 2
save_steps = 4
save_total_limit = 2
seed = 7
device = "cpu"
"#,
        tokenizer = minilm().join("tokenizer.json").display(),
        out = out.display(),
        data = data.display(),
    );
    let text: String = text
        .lines()
        .map(|line| match changes.iter().find(|(key, _)| line.starts_with(&format!("{key} = "))) {
            Some((key, value)) => format!("{key} = {value}\n"),
            None => format!("{line}\n"),
        })
        .collect();
    let path = dir.join(format!("{}.toml", out.file_name().unwrap().to_string_lossy()));
    std::fs::write(&path, text).unwrap();
    path
}

fn finetune(config: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_finetune"));
    cmd.arg("--config").arg(config).args(args).env("RUST_LOG", "warn");
    cmd
}

fn run_ok(config: &Path, args: &[&str]) {
    let out = finetune(config, args).output().unwrap();
    assert!(out.status.success(), "finetune {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// The metrics rows without wall-clock figures.
fn metrics(dir: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    text.lines()
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

fn tensors(path: &Path) -> Vec<(String, tch::Tensor)> {
    let mut t = tch::Tensor::read_safetensors(path).unwrap();
    t.sort_by(|a, b| a.0.cmp(&b.0));
    t
}

fn assert_same_weights(a: &Path, b: &Path) {
    let (ta, tb) = (tensors(a), tensors(b));
    assert_eq!(ta.len(), tb.len(), "{}", b.display());
    for ((na, xa), (nb, xb)) in ta.iter().zip(&tb) {
        assert_eq!(na, nb);
        assert!(xa.equal(xb), "{na} differs between {} and {}", a.display(), b.display());
    }
}

#[test]
fn a_killed_fine_tuning_resumes_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let (config_a, config_b) = (write_config(tmp.path(), &a), write_config(tmp.path(), &b));
    run_ok(&config_a, &[]);

    // save_total_limit = 2: only the newest two of the 3 checkpoints are left.
    let mut kept: Vec<String> = std::fs::read_dir(a.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    kept.sort();
    assert_eq!(kept, ["step-0000008", "step-0000012"]);

    let mut child = finetune(&config_b, &[]).spawn().unwrap();
    let first = b.join("checkpoints/step-0000004");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !first.exists() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before its first checkpoint");
        assert!(Instant::now() < deadline, "no checkpoint after 60 s");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!b.join("final").exists() && !b.join("eval_results.json").exists(), "killed too late to test resume");

    // Started again without --resume, a directory with checkpoints is refused.
    let out = finetune(&config_b, &[]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--resume"), "{err}");

    run_ok(&config_b, &["--resume"]);
    assert_same_weights(&a.join("final/model.safetensors"), &b.join("final/model.safetensors"));
    assert_same_weights(&a.join("best/model.safetensors"), &b.join("best/model.safetensors"));
    let results = |d: &Path| std::fs::read_to_string(d.join("eval_results.json")).unwrap();
    assert_eq!(results(&a), results(&b));
    let (rows_a, rows_b) = (metrics(&a), metrics(&b));
    assert_eq!(rows_a.len(), rows_b.len());
    for (ra, rb) in rows_a.iter().zip(&rows_b) {
        assert_eq!(ra, rb);
    }
    // Every row carries its fractional epoch; the last one Trainer's summary.
    assert!(rows_a.iter().all(|r| r["epoch"].is_f64()), "{rows_a:?}");
    let last = rows_a.last().unwrap();
    assert!(last["train_loss"].as_f64().is_some_and(f64::is_finite), "{last}");

    // Resuming the finished run redoes nothing and logs its summary once.
    let weights = std::fs::read(a.join("final/model.safetensors")).unwrap();
    run_ok(&config_a, &["--resume"]);
    let rows = metrics(&a);
    assert_eq!(rows.iter().filter(|r| r.get("train_loss").is_some()).count(), 1, "{rows:?}");
    assert_eq!(rows, rows_a);
    assert_eq!(std::fs::read(a.join("final/model.safetensors")).unwrap(), weights);

    // A setting that must not change is refused by name, with both values.
    let out = finetune(&config_b, &["--resume", "--set", "per_device_train_batch_size=4"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("per_device_train_batch_size = 4 (checkpoint: 8)"), "{err}");
}

#[test]
fn sigterm_stops_the_fine_tuning_after_its_step_with_a_checkpoint_to_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let changes = [("max_steps", "300"), ("eval_steps", "150"), ("save_steps", "0")];
    let config = write_config_with(tmp.path(), &out, &changes);
    let child = finetune(&config, &[]).stderr(std::process::Stdio::piped()).spawn().unwrap();
    // Signalled once it trains: after its first logged step.
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(out.join("metrics.jsonl")).map_or(true, |t| t.is_empty()) {
        assert!(Instant::now() < deadline, "no metrics row after 60 s");
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let stopped = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&stopped.stderr);
    assert!(stopped.status.success(), "exit {:?}: {log}", stopped.status);
    assert!(log.contains("stopped by a signal after step") && log.contains("--resume"), "{log}");

    // save_steps = 0 writes no checkpoint of its own: the one there is the signal's, of the
    // last step done, and nothing marks the run finished.
    let kept: Vec<String> = std::fs::read_dir(out.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let at: u64 = kept[0].strip_prefix("step-").unwrap().parse().unwrap();
    assert!(at > 0 && at < 300, "stopped at step {at}");
    assert!(log.contains(&format!("after step {at}")), "{log}");
    assert!(!out.join("final").exists() && !out.join("eval_results.json").exists());
    assert!(metrics(&out).iter().all(|r| r["step"].as_u64().unwrap() <= at && r.get("train_loss").is_none()));

    // Resumed, it ends the run with every logged step once.
    run_ok(&config, &["--resume"]);
    assert!(out.join("final/model.safetensors").exists() && out.join("eval_results.json").exists());
    let logged: Vec<u64> =
        metrics(&out).iter().filter(|r| r.get("loss").is_some()).map(|r| r["step"].as_u64().unwrap()).collect();
    assert_eq!(logged, (1..=150).map(|i| 2 * i).collect::<Vec<_>>());
}
