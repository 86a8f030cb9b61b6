//! A run directory: locked against a second run writing into it, with `metrics.jsonl`
//! appended line by line (flushed, so a crash loses at most the line being written).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

/// Name of the lock file.
pub const LOCK_FILE: &str = "run.lock";
/// Name of the metrics log.
pub const METRICS_FILE: &str = "metrics.jsonl";

/// A locked run directory; the lock goes when this is dropped.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

impl RunDir {
    /// Creates `path` if needed and takes its lock. A lock held by a live process is an error;
    /// one left by a dead process is taken over.
    pub fn lock(path: &Path) -> Result<Self> {
        std::fs::create_dir_all(path).at(path)?;
        let lock = path.join(LOCK_FILE);
        for _ in 0..2 {
            match OpenOptions::new().write(true).create_new(true).open(&lock) {
                Ok(mut f) => {
                    writeln!(f, "{}", std::process::id()).at(&lock)?;
                    return Ok(RunDir { path: path.to_path_buf() });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(&lock).unwrap_or_default();
                    match holder.trim().parse::<u32>() {
                        Ok(pid) if pid_alive(pid) && pid != std::process::id() => {
                            return Err(Error::Locked {
                                path: path.to_path_buf(),
                                reason: format!(
                                    "another run (pid {pid}) is writing here; wait for it or choose another name"
                                ),
                            });
                        }
                        _ => {
                            tracing::warn!("taking over {} left by a run that is gone", lock.display());
                            std::fs::remove_file(&lock).at(&lock)?;
                        }
                    }
                }
                Err(e) => return Err(Error::Io { path: lock, source: e }),
            }
        }
        Err(Error::Locked { path: path.to_path_buf(), reason: "could not take the lock".into() })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens `metrics.jsonl` for appending.
    pub fn metrics(&self) -> Result<Metrics> {
        let path = self.path.join(METRICS_FILE);
        let file = OpenOptions::new().create(true).append(true).open(&path).at(&path)?;
        Ok(Metrics { path, file })
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.path.join(LOCK_FILE));
    }
}

/// The machine-readable log: one JSON object per line.
#[derive(Debug)]
pub struct Metrics {
    path: PathBuf,
    file: File,
}

impl Metrics {
    /// Appends one row.
    pub fn write(&mut self, row: &serde_json::Value) -> Result<()> {
        let mut line = row.to_string();
        line.push('\n');
        self.file.write_all(line.as_bytes()).at(&self.path)?;
        self.file.flush().at(&self.path)
    }

    /// Drops rows whose `step` is greater than `step` (left by a run that crashed after its last
    /// checkpoint), so that a resumed run's log has each step once.
    pub fn truncate_after(path: &Path, step: u64) -> Result<()> {
        let Ok(text) = std::fs::read_to_string(path) else { return Ok(()) };
        let kept: String = text
            .lines()
            .filter(|l| {
                serde_json::from_str::<serde_json::Value>(l)
                    .ok()
                    .and_then(|v| v["step"].as_u64())
                    .is_some_and(|s| s <= step)
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let tmp = path.with_extension("jsonl.tmp");
        std::fs::write(&tmp, kept).at(&tmp)?;
        std::fs::rename(&tmp, path).at(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_run_is_refused_and_a_stale_lock_taken_over() {
        let tmp = tempfile::tempdir().unwrap();
        let run = RunDir::lock(tmp.path()).unwrap();
        // Same process: re-entrant by design; simulate another live process with pid 1.
        std::fs::write(tmp.path().join(LOCK_FILE), "1\n").unwrap();
        let err = RunDir::lock(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("pid 1"), "{err}");
        std::fs::write(tmp.path().join(LOCK_FILE), "999999999\n").unwrap();
        drop(run);
        std::fs::write(tmp.path().join(LOCK_FILE), "999999999\n").unwrap();
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
        Metrics::truncate_after(&path, 20).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
    }
}
