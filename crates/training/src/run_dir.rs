//! A run directory: locked (by the OS) against a second run writing into it, with `metrics.jsonl`
//! appended line by line (flushed, so a crash loses at most the line being written), each row
//! stamped with its wall-clock time, and mirrored to TensorBoard when the run reports there.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::tensorboard::{EventFile, ReportTo};

/// Name of the lock file.
pub const LOCK_FILE: &str = "run.lock";
/// Name of the metrics log.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// The run's configuration as resolved (file, `--set` overrides and defaults).
pub const CONFIG_FILE: &str = "config.toml";

/// A locked run directory; the lock goes when this is dropped (or the process dies).
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    /// Holds an OS lock (`flock`) for as long as it is open: the kernel releases it when the
    /// process ends, however it ends, so a lock is never stale and never shared.
    _lock: File,
}

impl RunDir {
    /// Creates `path` if needed and takes its lock; a directory locked by a live process is an
    /// error naming that process.
    pub fn lock(path: &Path) -> Result<Self> {
        std::fs::create_dir_all(path).at(path)?;
        let lock = path.join(LOCK_FILE);
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&lock).at(&lock)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&lock).unwrap_or_default();
                let who = match holder.trim() {
                    "" => "another run".to_string(),
                    pid => format!("another run (pid {pid})"),
                };
                return Err(Error::Locked {
                    path: path.to_path_buf(),
                    reason: format!("{who} is writing here; wait for it or choose another name"),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::Io { path: lock, source: e }),
        }
        // The pid is only for the message above; the lock is the kernel's.
        file.set_len(0).and_then(|_| writeln!(file, "{}", std::process::id())).and_then(|_| file.flush()).at(&lock)?;
        Ok(RunDir { path: path.to_path_buf(), _lock: file })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens `metrics.jsonl` for appending.
    pub fn metrics(&self) -> Result<Metrics> {
        let path = self.path.join(METRICS_FILE);
        let file = OpenOptions::new().create(true).append(true).open(&path).at(&path)?;
        Ok(Metrics { path, file, events: None })
    }
}

/// `config.toml` in the run directory `run`: the configuration the run trains with, written
/// atomically.
pub fn write_config(run: &Path, config: &impl serde::Serialize) -> Result<()> {
    let text = toml::to_string_pretty(config)
        .map_err(|e| Error::Config { origin: CONFIG_FILE.into(), reason: e.to_string() })?;
    write_atomically(&run.join(CONFIG_FILE), text.as_bytes())
}

/// Writes `bytes` to `path` through a temporary sibling that is renamed into place, so that a
/// crash leaves the old file or the new one, never half of one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    std::fs::write(&tmp, bytes).at(&tmp)?;
    std::fs::rename(&tmp, path).at(path)
}

/// The machine-readable log: one JSON object per line.
#[derive(Debug)]
pub struct Metrics {
    path: PathBuf,
    file: File,
    events: Option<EventFile>,
}

impl Metrics {
    /// Also reports every row to `targets` from now on; TensorBoard's event file is rebuilt from
    /// the rows already logged (a resumed run's, after [`Metrics::truncate_after`]).
    pub fn report_to(&mut self, targets: &[ReportTo]) -> Result<()> {
        if targets.contains(&ReportTo::Tensorboard) {
            let run = self.path.parent().unwrap_or(Path::new("."));
            self.events = Some(EventFile::rebuild(run, &crate::plots::read_metrics(&self.path)?)?);
        }
        Ok(())
    }

    /// Appends one row, with `time` (seconds since the Unix epoch) added to an object that has
    /// none, so that every row tells when it was written.
    pub fn write(&mut self, row: &serde_json::Value) -> Result<()> {
        let mut row = row.clone();
        if let Some(fields) = row.as_object_mut() {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            fields.entry("time").or_insert(serde_json::json!((now.as_secs_f64() * 1e3).round() / 1e3));
        }
        let mut line = row.to_string();
        line.push('\n');
        self.file.write_all(line.as_bytes()).at(&self.path)?;
        self.file.flush().at(&self.path)?;
        match &mut self.events {
            Some(events) => events.write(&row),
            None => Ok(()),
        }
    }

    /// Drops rows whose `step` is greater than `step` (left by a run that crashed after its last
    /// checkpoint, or before its first: `step` 0), so that a resumed run's log has each step
    /// once and ends where the weights are. Returns the number of rows dropped.
    pub fn truncate_after(path: &Path, step: u64) -> Result<usize> {
        Self::retain(path, |row| row["step"].as_u64().is_some_and(|s| s <= step))
    }

    /// Keeps the rows `keep` accepts (a row that is not JSON is dropped), rewriting the file
    /// atomically when any goes. Returns the number of rows dropped.
    pub fn retain(path: &Path, keep: impl Fn(&serde_json::Value) -> bool) -> Result<usize> {
        let text = match std::fs::read(path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(Error::Io { path: path.to_path_buf(), source: e }),
        };
        let (mut kept, mut dropped) = (String::new(), 0);
        for line in text.lines() {
            if serde_json::from_str::<serde_json::Value>(line).is_ok_and(|row| keep(&row)) {
                kept += line;
                kept.push('\n');
            } else {
                dropped += 1;
            }
        }
        if dropped == 0 {
            return Ok(0);
        }
        write_atomically(path, kept.as_bytes())?;
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_run_is_refused_until_the_first_is_gone_whatever_the_file_holds() {
        let tmp = tempfile::tempdir().unwrap();
        let run = RunDir::lock(tmp.path()).unwrap();
        let err = RunDir::lock(tmp.path()).unwrap_err().to_string();
        assert!(err.contains(&format!("pid {}", std::process::id())), "{err}");
        // An empty lock file (a starter that has not written its pid yet) still holds.
        std::fs::write(tmp.path().join(LOCK_FILE), "").unwrap();
        let err = RunDir::lock(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("another run is writing here"), "{err}");
        drop(run);
        // A file left by a dead run, whatever it says, holds no lock.
        std::fs::write(tmp.path().join(LOCK_FILE), "1\n").unwrap();
        let _run = RunDir::lock(tmp.path()).unwrap();
    }

    #[test]
    fn metrics_after_a_step_are_dropped_on_resume() {
        let tmp = tempfile::tempdir().unwrap();
        let run = RunDir::lock(tmp.path()).unwrap();
        let mut m = run.metrics().unwrap();
        for step in [10, 20, 30] {
            m.write(&serde_json::json!({"step": step, "loss": 1.0})).unwrap();
        }
        let path = tmp.path().join(METRICS_FILE);
        assert_eq!(Metrics::truncate_after(&path, 20).unwrap(), 1);
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
        // A run that crashed before its first checkpoint leaves nothing a restart keeps.
        assert_eq!(Metrics::truncate_after(&path, 0).unwrap(), 2);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    }
}
