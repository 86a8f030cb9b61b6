//! TensorBoard event files beside `metrics.jsonl` (`report_to = ["tensorboard"]`, transformers'
//! name): every numeric value of every row becomes a scalar, tagged as transformers' Trainer tags
//! them (`train/loss`, `train/learning_rate`…, `eval/<lang>/<metric>`).
//!
//! `metrics.jsonl` stays the record: when a run opens its log, the event file is rebuilt from the
//! rows it holds (after a resume has dropped the rows a crashed run wrote past its checkpoint),
//! so TensorBoard never shows a step twice or a curve the weights never took.

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use syntaxdot_summary::SummaryWriter;

use crate::error::{IoContext, Result};

/// Where a run reports its metrics besides `metrics.jsonl` (transformers' `report_to`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportTo {
    /// TensorBoard event files in the run directory (`tensorboard --logdir runs`).
    Tensorboard,
}

/// The part of an event file's name that TensorBoard looks for.
const EVENTS_MARK: &str = "tfevents";

/// Keys of a row that are not values to plot.
const NOT_SCALARS: [&str; 4] = ["step", "time", "split", "lang"];

/// A TensorBoard event file being appended to.
pub struct EventFile {
    path: PathBuf,
    writer: SummaryWriter<File>,
}

impl std::fmt::Debug for EventFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventFile").field("path", &self.path).finish()
    }
}

impl EventFile {
    /// Replaces the run's event files by one holding `rows` (the log as it stands), ready for
    /// the rows to come. The new file is complete before the old ones go.
    pub fn rebuild(run: &Path, rows: &[serde_json::Value]) -> Result<Self> {
        let old = event_files(run)?;
        let micros = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_micros();
        let host = hostname();
        let path = run.join(format!("events.out.{EVENTS_MARK}.{micros}.{host}"));
        let tmp = run.join(format!(".events.{micros}.{host}.partial"));
        // Unbuffered: each scalar reaches the file when written, like each metrics row.
        let file = File::create(&tmp).at(&tmp)?;
        let mut events = EventFile { path: tmp.clone(), writer: SummaryWriter::new(file).at(&tmp)? };
        for row in rows {
            events.write(row)?;
        }
        std::fs::rename(&tmp, &path).at(&path)?;
        events.path = path;
        for stale in old {
            std::fs::remove_file(&stale).at(&stale)?;
        }
        Ok(events)
    }

    /// Writes the numeric values of one metrics row at its step.
    pub fn write(&mut self, row: &serde_json::Value) -> Result<()> {
        let Some(step) = row.get("step").and_then(serde_json::Value::as_i64) else { return Ok(()) };
        for (tag, value) in scalars(row) {
            self.writer.write_scalar(tag, step, value as f32).at(&self.path)?;
        }
        Ok(())
    }
}

/// The event files in `run` (of this run or an earlier attempt of it).
fn event_files(run: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(run).at(run)? {
        let path = entry.at(run)?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with("events.out.") && name.contains(EVENTS_MARK) {
            found.push(path);
        }
    }
    Ok(found)
}

/// TensorBoard's file names end with the host, so that runs logged from several machines into one
/// directory do not collide.
fn hostname() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name: String = name.trim().chars().filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect();
    if name.is_empty() {
        "localhost".into()
    } else {
        name
    }
}

/// (tag, value) of every finite number in `row`: `train/…` for training rows, `eval/…` for
/// validation rows (with the row's `lang`, if any), nested objects joined with `/`; Trainer's
/// `learning_rate` for our `lr`.
pub fn scalars(row: &serde_json::Value) -> Vec<(String, f64)> {
    let prefix = match (row.get("split").and_then(|s| s.as_str()), row.get("lang").and_then(|s| s.as_str())) {
        (None, _) => "train".to_string(),
        (Some("validation"), None) => "eval".to_string(),
        (Some("validation"), Some(lang)) => format!("eval/{lang}"),
        (Some(split), None) => split.to_string(),
        (Some(split), Some(lang)) => format!("{split}/{lang}"),
    };
    let mut out = Vec::new();
    if let Some(fields) = row.as_object() {
        for (key, value) in fields.iter().filter(|(k, _)| !NOT_SCALARS.contains(&k.as_str())) {
            match key.as_str() {
                // Fine-tuning's per-language scores: `eval/de/accuracy`, as pretraining's rows give.
                "scores" => flatten(&prefix, value, &mut out),
                "lr" => flatten(&format!("{prefix}/learning_rate"), value, &mut out),
                key => flatten(&format!("{prefix}/{key}"), value, &mut out),
            }
        }
    }
    out
}

fn flatten(tag: &str, value: &serde_json::Value, out: &mut Vec<(String, f64)>) {
    match value {
        serde_json::Value::Number(n) => {
            if let Some(v) = n.as_f64().filter(|v| v.is_finite()) {
                out.push((tag.to_string(), v));
            }
        }
        serde_json::Value::Object(fields) => {
            for (key, value) in fields {
                flatten(&format!("{tag}/{key}"), value, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_become_trainer_style_tags() {
        let train =
            json!({"step": 10, "time": 1.7e9, "epoch": 0.5, "loss": 2.5, "lr": 1e-4, "tokens_drawn": {"de": 640}});
        let mut tags = scalars(&train);
        tags.sort_by(|a, b| a.0.cmp(&b.0));
        let names: Vec<&str> = tags.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(names, ["train/epoch", "train/learning_rate", "train/loss", "train/tokens_drawn/de"]);
        let per_lang = json!({"step": 10, "split": "validation", "lang": "de", "loss": 3.0, "ppl": f64::NAN});
        assert_eq!(scalars(&per_lang), [("eval/de/loss".to_string(), 3.0)]);
        let finetune = json!({"step": 4, "split": "validation", "metric": "accuracy",
            "scores": {"de": {"accuracy": 0.75, "loss": 0.6}}});
        let names: Vec<String> = scalars(&finetune).into_iter().map(|(t, _)| t).collect();
        assert_eq!(names, ["eval/de/accuracy", "eval/de/loss"]);
    }

    #[test]
    fn rebuilding_replaces_the_earlier_event_files() {
        let tmp = tempfile::tempdir().unwrap();
        let rows: Vec<_> = (1..=3).map(|s| json!({"step": s, "loss": 1.0})).collect();
        let first = EventFile::rebuild(tmp.path(), &rows).unwrap();
        let first_path = first.path.clone();
        drop(first);
        std::thread::sleep(std::time::Duration::from_millis(2));
        let mut second = EventFile::rebuild(tmp.path(), &rows[..2]).unwrap();
        second.write(&rows[2]).unwrap();
        let files = event_files(tmp.path()).unwrap();
        assert_eq!(files, [second.path.clone()]);
        assert_ne!(files[0], first_path);
        assert!(std::fs::read_dir(tmp.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".partial")));
    }
}
