//! Training checkpoints: `checkpoints/step-NNNNNNN/` holds a model directory (`config.json`,
//! `model.safetensors`, `tokenizer.json`, loadable by transformers) plus `optimizer.safetensors`
//! and `trainer_state.json`. Each is written into a hidden temporary directory, synced, and
//! renamed, so a checkpoint that exists is complete; every file's SHA-256 is recorded in
//! `checksums.sha256` while it is written, and resuming takes the newest checkpoint whose files
//! still match.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::nn::VarStore;

use model::checksums::{Checksums, Integrity};

use crate::adamw::AdamW;
use crate::error::{Error, IoContext, Result};

/// Why a run stops at step `step + 1` and where to resume: the newest checkpoint under
/// `checkpoints` written before the weights of `step`, which gave the non-finite loss or
/// gradient norm; a checkpoint of `step` itself holds those weights (finite, but they diverge
/// at once).
pub fn non_finite_advice(step: u64, loss: f64, grad_norm: f64, checkpoints: &Path) -> String {
    let saved = list(checkpoints);
    let head = format!("step {}: loss {loss}, gradient norm {grad_norm}; the update was not applied", step + 1);
    let advice = match saved.iter().rev().find(|(s, _)| s.step < step) {
        Some((s, dir)) => format!(
            "the checkpoint of step {} holds finite weights that trained without diverging: resume from it with a \
             lower learning rate or a longer warm-up: --resume {} --set learning_rate=... (or --set warmup_steps=...)",
            s.step,
            dir.display()
        ),
        None => "no earlier checkpoint holds weights that trained without diverging: start over with a lower \
                 learning_rate or a longer warmup_steps"
            .to_string(),
    };
    let note = if saved.iter().any(|(s, _)| s.step == step) {
        format!(" (the checkpoint of step {step} holds the weights that gave it: do not resume from it)")
    } else {
        String::new()
    };
    format!("{head}{note}. {advice}")
}

/// Version of `trainer_state.json`.
pub const STATE_VERSION: u32 = 1;
/// Name of the trainer state.
pub const STATE_FILE: &str = "trainer_state.json";
/// Name of the optimizer state.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";

/// Where training stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Layout version.
    pub version: u32,
    /// Optimizer steps done.
    pub step: u64,
    /// Target tokens (or examples) trained on.
    pub tokens_seen: u64,
    /// The run's seed: data draws and dropout are pure functions of (seed, step), so this and
    /// `step` are the whole RNG and data state.
    pub seed: u64,
    /// Learning rate of the last step.
    pub lr: f64,
    /// SHA-256 of the settings that must not change on resume.
    pub config_hash: String,
    /// The validation metric at this step (lower is better), for keep-best.
    pub metric: Option<f64>,
    /// Stage-specific state (e.g. the data position).
    #[serde(default)]
    pub extra: serde_json::Value,
}

/// `step-0000120`.
pub fn step_dir_name(step: u64) -> String {
    format!("step-{step:07}")
}

fn sync_dir(path: &Path) {
    if let Ok(dir) = std::fs::File::open(path) {
        let _ = dir.sync_all();
    }
}

/// The files of a checkpoint, each listed with its SHA-256 in `checksums.sha256`.
pub const FILES: [&str; 5] = [
    model::model_dir::CONFIG_FILE,
    model::model_dir::WEIGHTS_FILE,
    model::model_dir::TOKENIZER_FILE,
    OPTIMIZER_FILE,
    STATE_FILE,
];

/// Writes a checkpoint for `state.step` under `root`; returns its directory. Every file's hash
/// is recorded as it is written; the directory appears under its name only once complete.
pub fn write(
    root: &Path,
    config: &model::BertConfig,
    vs: &VarStore,
    tokenizer_json: &[u8],
    optimizer: &AdamW,
    state: &TrainerState,
) -> Result<PathBuf> {
    std::fs::create_dir_all(root).at(root)?;
    let name = step_dir_name(state.step);
    let final_dir = root.join(&name);
    let tmp = root.join(format!(".{name}.partial"));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir(&tmp).at(&tmp)?;
    let result = (|| -> Result<()> {
        let mut sums = Checksums::default();
        model::model_dir::write_files(&tmp, config, vs, Some(tokenizer_json), &mut sums)?;
        sums.insert(OPTIMIZER_FILE, optimizer.save(&tmp.join(OPTIMIZER_FILE))?);
        let state_path = tmp.join(STATE_FILE);
        let json = serde_json::to_vec_pretty(state)
            .map_err(|e| Error::Checkpoint { path: state_path.clone(), reason: e.to_string() })?;
        sums.insert(STATE_FILE, model::checksums::write_file(&state_path, &json)?);
        sums.write(&tmp)?;
        if final_dir.exists() {
            std::fs::remove_dir_all(&final_dir).at(&final_dir)?;
        }
        std::fs::rename(&tmp, &final_dir).at(&final_dir)?;
        sync_dir(root);
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    Ok(final_dir)
}

/// Reads a checkpoint's state, checking that its files are all there (not their content: see
/// [`verify`]).
pub fn read_state(dir: &Path) -> Result<TrainerState> {
    let fail = |reason: String| Error::Checkpoint { path: dir.to_path_buf(), reason };
    for f in [STATE_FILE, OPTIMIZER_FILE, model::model_dir::CONFIG_FILE, model::model_dir::WEIGHTS_FILE] {
        if !dir.join(f).is_file() {
            return Err(fail(format!("incomplete: no {f}")));
        }
    }
    let bytes = std::fs::read(dir.join(STATE_FILE)).at(&dir.join(STATE_FILE))?;
    let text = String::from_utf8(bytes).map_err(|e| fail(format!("{STATE_FILE} is not UTF-8 ({e})")))?;
    let state: TrainerState = serde_json::from_str(&text).map_err(|e| fail(format!("{STATE_FILE}: {e}")))?;
    if state.version != STATE_VERSION {
        return Err(fail(format!("{STATE_FILE} version {}; this build reads {STATE_VERSION}", state.version)));
    }
    Ok(state)
}

/// Reads a checkpoint's state after checking every file against the hash recorded when it was
/// written. A checkpoint of an older build, without hashes, is accepted with a warning.
pub fn verify(dir: &Path) -> Result<TrainerState> {
    match model::checksums::verify(dir, &FILES)? {
        Integrity::Verified { .. } => {}
        Integrity::Unrecorded => tracing::warn!(
            "{}: no {} (written by an older build); its files cannot be verified",
            dir.display(),
            model::checksums::CHECKSUMS_FILE
        ),
    }
    read_state(dir)
}

/// Valid checkpoints under `root`, oldest first (invalid ones are skipped with a warning
/// that says why). Only their states are read; [`newest_verified`] checks the content.
pub fn list(root: &Path) -> Vec<(TrainerState, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(root) else { return Vec::new() };
    let mut found: Vec<(TrainerState, PathBuf)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("step-")))
        .filter_map(|p| match read_state(&p) {
            Ok(state) => Some((state, p)),
            Err(e) => {
                tracing::warn!("skipping {}", chain(&e));
                None
            }
        })
        .collect();
    found.sort_by_key(|(s, _)| s.step);
    found
}

/// The newest checkpoint under `root` whose files all match their recorded hashes; each newer
/// one that does not is skipped with a warning naming the file.
pub fn newest_verified(root: &Path) -> Option<(TrainerState, PathBuf)> {
    list(root).into_iter().rev().find_map(|(_, dir)| match verify(&dir) {
        Ok(state) => Some((state, dir)),
        Err(e) => {
            tracing::warn!("skipping checkpoint {}: {}; falling back to an older one", dir.display(), chain(&e));
            None
        }
    })
}

/// An error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text += &format!(": {s}");
        source = s.source();
    }
    text
}

/// Removes what a dead run left half-written under `dir` (hidden `.*.partial*` entries), which
/// only the holder of the run directory's lock may call.
pub fn remove_partials(dir: &Path) -> Result<usize> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(0) };
    let mut removed = 0;
    for path in entries.flatten().map(|e| e.path()) {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with('.') && name.contains(".partial") {
            let gone = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
            gone.at(&path)?;
            tracing::info!("removed {}, left half-written by a run that is gone", path.display());
            removed += 1;
        }
    }
    Ok(removed)
}

/// Which checkpoints to delete: all but the newest `keep_last` and the `keep_best` with the
/// lowest metric. A pure decision, separate from the deleting.
pub fn to_delete(checkpoints: &[(u64, Option<f64>)], keep_last: usize, keep_best: usize) -> Vec<u64> {
    let mut by_step: Vec<u64> = checkpoints.iter().map(|(s, _)| *s).collect();
    by_step.sort_unstable();
    let mut keep: Vec<u64> = by_step.iter().rev().take(keep_last).copied().collect();
    let mut scored: Vec<(f64, u64)> = checkpoints.iter().filter_map(|(s, m)| m.map(|m| (m, *s))).collect();
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    keep.extend(scored.iter().take(keep_best).map(|(_, s)| *s));
    by_step.into_iter().filter(|s| !keep.contains(s)).collect()
}

/// Applies [`to_delete`] under `root`.
pub fn prune(root: &Path, keep_last: usize, keep_best: usize) -> Result<()> {
    let all = list(root);
    let scored: Vec<(u64, Option<f64>)> = all.iter().map(|(s, _)| (s.step, s.metric)).collect();
    for step in to_delete(&scored, keep_last, keep_best) {
        let dir = root.join(step_dir_name(step));
        std::fs::remove_dir_all(&dir).at(&dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_keeps_last_n_and_best_m_separately() {
        let cps = [(100, Some(3.0)), (200, Some(2.0)), (300, Some(2.5)), (400, Some(2.7)), (500, None)];
        assert_eq!(to_delete(&cps, 2, 1), vec![100, 300]);
        assert_eq!(to_delete(&cps, 1, 0), vec![100, 200, 300, 400]);
        assert_eq!(to_delete(&cps, 0, 2), vec![100, 400, 500]);
        assert!(to_delete(&cps, 10, 0).is_empty());
    }
}
