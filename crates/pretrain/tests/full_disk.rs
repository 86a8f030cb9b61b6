//! A disk that fills up while a checkpoint is written: the write fails with an error naming the
//! file, the run exits non-zero, the previous checkpoint stays intact and valid, nothing partial
//! passes for a checkpoint, and `--resume` continues from the last good one. The full disk is a
//! real write failure: the run is started under a file-size limit (`ulimit -f`, with SIGXFSZ
//! ignored so the write returns EFBIG instead of killing the process).

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

/// The shared tiny run, checkpointing every 10 steps, written to a file for the binary.
fn config(tmp: &Path) -> PathBuf {
    let mut p = common::tiny_config(&tmp.join("runs"), "run");
    p.max_steps = 20;
    p.eval_steps = 0;
    p.eval.max_windows = 4;
    p.save_steps = 10;
    p.save_total_limit = 3;
    let path = tmp.join("run.toml");
    std::fs::write(&path, toml::to_string(&p).unwrap()).unwrap();
    path
}

/// Runs pretrain under a limit of `kib` KiB per file (none when 0), stopping after `steps`.
fn pretrain(config: &Path, kib: u64, steps: u64, resume: bool) -> std::process::Output {
    let limit = if kib > 0 { format!("trap '' XFSZ; ulimit -f {kib}; ") } else { String::new() };
    let script = format!(
        "{limit}exec \"$0\" --config \"$1\" --set max_steps={steps} --set warmup_steps=2{}",
        if resume { " --resume" } else { "" }
    );
    Command::new("bash").arg("-c").arg(script).arg(env!("CARGO_BIN_EXE_pretrain")).arg(config).output().unwrap()
}

#[test]
fn a_full_disk_while_checkpointing_keeps_the_previous_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let config = config(tmp.path());
    // Steps 1-10 and their checkpoint on a disk with room.
    let first = pretrain(&config, 0, 10, false);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let checkpoints = tmp.path().join("runs/run/checkpoints");
    let good = checkpoints.join("step-0000010");
    let model_bytes = std::fs::metadata(good.join("model.safetensors")).unwrap().len();
    let before = std::fs::read(good.join("model.safetensors")).unwrap();

    // Steps 11-20 with files limited below the size of model.safetensors: the step-20 checkpoint
    // cannot be written.
    let kib = model_bytes / 1024 / 2;
    let full = pretrain(&config, kib, 20, true);
    let stderr = String::from_utf8_lossy(&full.stderr);
    assert!(!full.status.success(), "the run must fail: {stderr}");
    assert!(stderr.contains("step-0000020") || stderr.contains("checkpoint"), "{stderr}");
    assert!(stderr.contains("File too large") || stderr.contains("os error 27"), "{stderr}");
    // The previous checkpoint is intact and the only valid one; nothing half-written remains
    // under a checkpoint's name.
    assert_eq!(std::fs::read(good.join("model.safetensors")).unwrap(), before);
    let valid: Vec<u64> = training::checkpoint::list(&checkpoints).iter().map(|(s, _)| s.step).collect();
    assert_eq!(valid, vec![10], "valid checkpoints after the failure");
    assert!(!checkpoints.join("step-0000020").exists());

    // With room again, --resume continues from step 10 and finishes.
    let again = pretrain(&config, 0, 20, true);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    assert!(stderr.contains("resumed from") && stderr.contains("step 10"), "{stderr}");
    assert!(tmp.path().join("runs/run/final/model.safetensors").exists());
}
