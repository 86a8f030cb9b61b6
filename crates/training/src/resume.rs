//! Resuming a run, shared by both stages: which checkpoint to continue from (`--resume`,
//! `--resume PATH`), and the settings check that refuses a checkpoint written with settings
//! that must not change, naming them, while logging those that may change and did.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};

use crate::checkpoint::{self, TrainerState};

/// Where to resume from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// Start at step 0 (the run directory must not hold checkpoints).
    No,
    /// The newest valid checkpoint of the run.
    Latest,
    /// This checkpoint directory.
    From(PathBuf),
}

impl Resume {
    /// The value of a `--resume [PATH]` flag: absent, given bare, or with a path.
    pub fn from_flag(flag: Option<&str>) -> Self {
        match flag {
            None => Resume::No,
            Some("") => Resume::Latest,
            Some(p) => Resume::From(PathBuf::from(p)),
        }
    }

    /// The checkpoint under `checkpoints` to continue from: `None` for [`Resume::No`], and for
    /// [`Resume::Latest`] when there is none (with a warning); a `--resume PATH` that does not
    /// verify is an error naming it.
    pub fn checkpoint(&self, checkpoints: &Path) -> anyhow::Result<Option<(TrainerState, PathBuf)>> {
        match self {
            Resume::No => Ok(None),
            Resume::Latest => {
                let found = checkpoint::newest_verified(checkpoints);
                if found.is_none() {
                    tracing::warn!("--resume: no valid checkpoint in {}; starting at step 0", checkpoints.display());
                }
                Ok(found)
            }
            Resume::From(p) => {
                let state = checkpoint::verify(p).with_context(|| format!("--resume {}", p.display()))?;
                Ok(Some((state, p.clone())))
            }
        }
    }
}

/// True when `key` is `pattern`, or lies in its section (a pattern ending in `.`).
pub fn key_matches(key: &str, pattern: &str) -> bool {
    match pattern.strip_suffix('.') {
        Some(section) => key.strip_prefix(section).is_some_and(|rest| rest.starts_with('.')),
        None => key == pattern,
    }
}

/// A run's settings by dotted key, as a resumed run compares them, and the patterns of those
/// that may change on resume (every other key must stay as it was).
#[derive(Debug, Clone)]
pub struct ResumeSettings {
    /// Every setting that decides what the run trains, by dotted key, with its TOML text.
    pub values: BTreeMap<String, String>,
    /// The keys (or `section.` prefixes) that a resumed run may change.
    pub resumable: &'static [&'static str],
}

impl ResumeSettings {
    /// True for the keys a resumed run may change.
    pub fn may_change(&self, key: &str) -> bool {
        self.resumable.iter().any(|p| key_matches(key, p))
    }

    /// SHA-256 of the settings that must not change on resume (the checkpoint's `config_hash`).
    pub fn hash(&self) -> String {
        let text: String =
            self.values.iter().filter(|(k, _)| !self.may_change(k)).map(|(k, v)| format!("{k} = {v}\n")).collect();
        Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The settings as a checkpoint records them (`extra["settings"]` of its state).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.values).unwrap_or_default()
    }

    /// Refuses the checkpoint `dir` (with `state`) when it was written with settings that must
    /// not change, naming each with both values; logs each setting that may change and did.
    pub fn check(&self, state: &TrainerState, dir: &Path) -> anyhow::Result<()> {
        self.check_translated(state, dir, |_| None)
    }

    /// [`Self::check`] for a stage whose keys were renamed: `translate` gives the settings a
    /// checkpoint recorded in today's names when they were written in older ones (`None`
    /// otherwise), and those are compared instead of the recorded hash.
    pub fn check_translated(
        &self,
        state: &TrainerState,
        dir: &Path,
        translate: impl FnOnce(&BTreeMap<String, String>) -> Option<BTreeMap<String, String>>,
    ) -> anyhow::Result<()> {
        let recorded: BTreeMap<String, String> =
            serde_json::from_value(state.extra["settings"].clone()).unwrap_or_default();
        let (before, before_hash) = match translate(&recorded) {
            Some(renamed) => {
                tracing::info!(
                    "{}: written under older key names; its settings are compared in today's",
                    dir.display()
                );
                let hash = ResumeSettings { values: renamed.clone(), resumable: self.resumable }.hash();
                (renamed, hash)
            }
            None => (recorded, state.config_hash.clone()),
        };
        let now = &self.values;
        let changed: Vec<(&String, Option<&String>, Option<&String>)> = before
            .keys()
            .chain(now.keys())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(|k| (k, before.get(k), now.get(k)))
            .filter(|(_, b, n)| b != n)
            .collect();
        let show = |v: Option<&String>| v.map_or("(unset)".to_string(), String::clone);
        if before_hash != self.hash() {
            let refused: Vec<String> = changed
                .iter()
                .filter(|(k, _, _)| !self.may_change(k))
                .map(|(k, b, n)| format!("{k} = {} (checkpoint: {})", show(*n), show(*b)))
                .collect();
            let which = if refused.is_empty() { "settings it does not record".into() } else { refused.join(", ") };
            bail!(
                "{}: written with other settings ({which}); these cannot change on resume (only {} may): resume \
                 with the run's config.toml",
                dir.display(),
                self.resumable.join(", ")
            );
        }
        for (k, b, n) in changed {
            tracing::info!("resuming with {k} = {} (the checkpoint's run had {})", show(n), show(b));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(lr: &str, seed: &str) -> ResumeSettings {
        let values = [("optim.lr", lr), ("seed", seed)].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ResumeSettings { values, resumable: &["optim."] }
    }

    fn state_of(s: &ResumeSettings) -> TrainerState {
        TrainerState {
            version: checkpoint::STATE_VERSION,
            step: 1,
            tokens_seen: 0,
            seed: 0,
            lr: 0.0,
            config_hash: s.hash(),
            metric: None,
            extra: serde_json::json!({"settings": s.to_json()}),
        }
    }

    #[test]
    fn a_changed_setting_is_refused_by_name_and_a_resumable_one_is_not() {
        let state = state_of(&settings("1e-3", "1"));
        settings("3e-4", "1").check(&state, Path::new("cp")).unwrap();
        let err = settings("1e-3", "2").check(&state, Path::new("cp")).unwrap_err().to_string();
        assert!(err.contains("seed = 2 (checkpoint: 1)") && err.contains("only optim. may"), "{err}");
        assert!(key_matches("optim.lr", "optim.") && !key_matches("optimizer", "optim.") && key_matches("a", "a"));
    }
}
