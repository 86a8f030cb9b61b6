//! `corpus build`: inputs → tokenizer → shards → manifest, into a temporary directory renamed
//! into place on success. A re-run with the same inputs and settings is a no-op.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::Arc;

use serde::Serialize;
use tokenizers::Tokenizer;

use crate::alphabet::CharacterCounts;
use crate::config::{BuildConfig, TokenizerConfig, TokenizerKind};
use crate::document::ReadOptions;
use crate::encode::{encode_corpus, read_all, EncodeJob};
use crate::error::{Error, IoContext, Result};
use crate::manifest::{
    sampling_probabilities, LanguageStats, Manifest, TokenizerInfo, MANIFEST_FILE, MANIFEST_FORMAT, MANIFEST_VERSION,
    TOKENIZER_FILE, TRAIN, VALIDATION,
};
use crate::progress::Progress;
use crate::shard::{Dtype, HEADER_BYTES};
use crate::source::{discover, InputFile};
use crate::split::{document_hash, in_sample, split_unit, Split, SPLIT_RULE};
use crate::tokenizer::{self, sha256_hex, SpecialIds};

/// What `build` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildStatus {
    /// A new corpus was written.
    Built,
    /// The output already held this exact corpus; nothing was done.
    UpToDate,
}

/// The result of `build`.
#[derive(Debug)]
pub struct BuildOutcome {
    /// Built or up to date.
    pub status: BuildStatus,
    /// The corpus directory.
    pub output: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
}

/// Builds the corpus `config` describes. With `force`, an existing corpus at the output is
/// replaced even when up to date; a directory that is not a corpus is never touched.
pub fn build(config: &BuildConfig, force: bool) -> Result<BuildOutcome> {
    let files = discover(config)?;
    let loaded = match &config.tokenizer.path {
        Some(path) => Some(tokenizer::load(path)?),
        None => None,
    };
    let tokenizer_bytes = loaded.as_ref().map(|(_, bytes)| bytes.as_slice());
    let fingerprint = fingerprint(config, &files, tokenizer_bytes, MANIFEST_VERSION)?;
    let output = config.output.as_path();
    if let Some(existing) = existing_corpus(output)? {
        if existing.fingerprint == fingerprint && !force {
            tracing::info!("{} is up to date (same inputs and settings); use --force to rebuild", output.display());
            return Ok(BuildOutcome {
                status: BuildStatus::UpToDate,
                output: output.to_path_buf(),
                manifest: existing,
            });
        }
        // Same inputs and settings, written before shard hashes existed. Rebuilding on our own
        // would retrain the tokenizer (not deterministic upstream) under a run that uses it, so
        // the corpus is kept, and the user told how to upgrade it.
        if existing.version < MANIFEST_VERSION
            && !force
            && existing.fingerprint == self::fingerprint(config, &files, tokenizer_bytes, existing.version)?
        {
            tracing::warn!(
                "{} is up to date but was written with manifest version {}: its shards cannot be verified; --force rebuilds it with hashes (retraining a trained tokenizer)",
                output.display(),
                existing.version
            );
            return Ok(BuildOutcome {
                status: BuildStatus::UpToDate,
                output: output.to_path_buf(),
                manifest: existing,
            });
        }
        if !force {
            return Err(Error::Output {
                path: output.to_path_buf(),
                reason: "holds a corpus built from other inputs or settings; pass --force to replace it".into(),
            });
        }
    }

    let staging = Staging::create(output)?;
    let read = ReadOptions { on_invalid: config.on_invalid, max_document_bytes: config.max_document_bytes };
    let split = decide_split(config, &files, read)?;
    let tokenizer_out = staging.path.join(TOKENIZER_FILE);
    let (tokenizer, tokenizer_bytes, origin) = match loaded {
        Some((tokenizer, bytes)) => (tokenizer, bytes, "loaded".to_string()),
        None => {
            let tokenizer = train_on_sample(&config.tokenizer, &files, read, &split, &tokenizer_out)?;
            let bytes = tokenizer::to_json_bytes(&tokenizer, &tokenizer_out)?;
            let kind = serde_json::to_value(config.tokenizer.kind).ok().and_then(|v| v.as_str().map(String::from));
            (tokenizer, bytes, kind.unwrap_or_default())
        }
    };
    std::fs::write(&tokenizer_out, &tokenizer_bytes).at(&tokenizer_out)?;
    let tokenizer_sha256 = sha256_hex(&tokenizer_bytes);
    let tokenizer_source = config.tokenizer.path.as_deref().unwrap_or(&tokenizer_out);
    let special = SpecialIds::find(&tokenizer, tokenizer_source)?;
    let vocab_size = tokenizer.get_vocab_size(true);
    let dtype = Dtype::for_vocab(vocab_size);

    let outcome = encode_corpus(&EncodeJob {
        files: &files,
        read,
        tokenizer: &tokenizer,
        special,
        dtype,
        vocab_size: vocab_size as u32,
        tokenizer_sha256: tokenizer_sha256.clone(),
        split: &split,
        shard_tokens: config.shard_tokens,
        out_dir: &staging.path,
    })?;

    let languages = language_stats(config, &files, &outcome.stats)?;
    let manifest = Manifest {
        format: MANIFEST_FORMAT.into(),
        version: MANIFEST_VERSION,
        created_by: concat!("corpus ", env!("CARGO_PKG_VERSION")).into(),
        fingerprint,
        tokenizer: TokenizerInfo {
            file: TOKENIZER_FILE.into(),
            sha256: tokenizer_sha256,
            vocab_size,
            origin,
            source: config.tokenizer.path.clone(),
            special_ids: special,
        },
        dtype,
        header_bytes: HEADER_BYTES,
        alpha: config.alpha,
        val_fraction: config.val_fraction,
        val_thresholds: split.thresholds.clone(),
        split_rule: SPLIT_RULE.into(),
        languages,
        shards: outcome.shards,
        inputs: outcome.inputs,
    };
    let manifest_path = staging.path.join(MANIFEST_FILE);
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::format(&manifest_path, e.to_string()))?;
    std::fs::write(&manifest_path, json).at(&manifest_path)?;
    staging.commit(output)?;
    Ok(BuildOutcome { status: BuildStatus::Built, output: output.to_path_buf(), manifest })
}

/// The manifest at `output`, `None` if the directory is absent or empty, an error if it holds
/// something that is not a corpus.
fn existing_corpus(output: &Path) -> Result<Option<Manifest>> {
    match std::fs::metadata(output) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(output, e)),
        Ok(meta) if !meta.is_dir() => {
            return Err(Error::Output { path: output.to_path_buf(), reason: "exists and is not a directory".into() })
        }
        Ok(_) => {}
    }
    let manifest = output.join(MANIFEST_FILE);
    if manifest.is_file() {
        return Manifest::read(&manifest).map(Some).map_err(|e| Error::Output {
            path: output.to_path_buf(),
            reason: format!("holds an unreadable corpus ({e}); delete it or choose another output"),
        });
    }
    if std::fs::read_dir(output).at(output)?.next().is_some() {
        return Err(Error::Output {
            path: output.to_path_buf(),
            reason: "holds something other than a corpus (no manifest.json); choose a new or empty directory".into(),
        });
    }
    Ok(None)
}

/// SHA-256 over what determines the output: format versions, the settings, the tokenizer file,
/// and each input's path, size and modification time. `manifest_version` is the one written
/// (older ones recognise corpora written by earlier builds).
fn fingerprint(
    config: &BuildConfig,
    files: &[InputFile],
    tokenizer_bytes: Option<&[u8]>,
    manifest_version: u32,
) -> Result<String> {
    #[derive(Serialize)]
    struct Key<'a> {
        manifest_version: u32,
        shard_version: u32,
        settings: &'a BuildConfig,
        tokenizer_sha256: Option<String>,
        inputs: &'a [InputFile],
    }
    let mut settings = config.clone();
    settings.output = PathBuf::new();
    let key = Key {
        manifest_version,
        shard_version: crate::shard::FORMAT_VERSION,
        settings: &settings,
        tokenizer_sha256: tokenizer_bytes.map(sha256_hex),
        inputs: files,
    };
    let bytes =
        serde_json::to_vec(&key).map_err(|e| Error::Config { origin: "fingerprint".into(), reason: e.to_string() })?;
    Ok(sha256_hex(&bytes))
}

/// The split: `val_fraction`, and with `min_val_docs` a pass over the documents that finds, per
/// language, the threshold holding out that many.
fn decide_split(config: &BuildConfig, files: &[InputFile], read: ReadOptions) -> Result<Split> {
    if config.min_val_docs == 0 {
        return Ok(Split { val_fraction: config.val_fraction, thresholds: BTreeMap::new() });
    }
    let m = config.min_val_docs;
    let mut smallest: BTreeMap<String, (usize, Vec<f64>)> = BTreeMap::new();
    let bytes_read = Arc::new(AtomicU64::new(0));
    read_all(files, read, &bytes_read, &mut |doc| {
        let (docs, units) = smallest.entry(doc.lang.to_string()).or_default();
        *docs += 1;
        let u = split_unit(&document_hash(&doc.text));
        // The m smallest, ascending (m is small: a sorted insert is enough).
        if units.len() < m || u < units[m - 1] {
            let at = units.partition_point(|&x| x < u);
            units.insert(at, u);
            units.truncate(m);
        }
        Ok(())
    })?;
    let split = Split::new(config.val_fraction, m, &smallest);
    for (lang, t) in &split.thresholds {
        tracing::info!("{lang}: validation threshold raised to {t:.4} to hold out {m} documents");
    }
    Ok(split)
}

/// Trains the tokenizer on a language-balanced sample of the training documents: language i is
/// drawn at rate r_i = min(1, B·q_i/n_i) with q_i ∝ n_i^sample_alpha and n_i its text bytes.
fn train_on_sample(
    config: &TokenizerConfig,
    files: &[InputFile],
    read: ReadOptions,
    split: &Split,
    output: &Path,
) -> Result<Tokenizer> {
    let total_bytes: u64 = files.iter().map(|f| f.bytes).sum();
    let bytes_read = Arc::new(AtomicU64::new(0));
    let counting = Progress::new("counting", total_bytes);
    let mut sizes: BTreeMap<Arc<str>, u64> = BTreeMap::new();
    let count_characters = config.kind == TokenizerKind::Wordpiece && config.character_coverage > 0.0;
    let mut characters = count_characters.then(|| CharacterCounts::new(config.lowercase));
    let mut docs = 0;
    read_all(files, read, &bytes_read, &mut |doc| {
        docs += 1;
        *sizes.entry(doc.lang.clone()).or_default() += doc.text.len() as u64;
        if let Some(characters) = characters.as_mut() {
            if !split.is_validation(&doc.lang, &document_hash(&doc.text)) {
                characters.add(&doc.lang, &doc.text);
            }
        }
        counting.update(bytes_read.load(Ordering::Relaxed), docs, 0);
        Ok(())
    })?;
    counting.finish();
    let langs: Vec<Arc<str>> = sizes.keys().cloned().collect();
    let n: Vec<u64> = sizes.values().copied().collect();
    let q = sampling_probabilities(&n, config.sample_alpha);
    let rates: BTreeMap<Arc<str>, f64> = langs
        .iter()
        .zip(n.iter().zip(&q))
        .map(|(lang, (&n, &q))| {
            (lang.clone(), if n == 0 { 0.0 } else { (config.sample_bytes as f64 * q / n as f64).min(1.0) })
        })
        .collect();
    for (lang, rate) in &rates {
        tracing::info!("tokenizer sample: {lang}: {:.1}% of {} bytes", rate * 100.0, sizes[lang]);
    }

    bytes_read.store(0, Ordering::Relaxed);
    let sampling = Progress::new("sampling", total_bytes);
    let (tx, rx) = sync_channel::<String>(4096);
    std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut docs = 0;
            let result = read_all(files, read, &bytes_read, &mut |doc| {
                docs += 1;
                sampling.update(bytes_read.load(Ordering::Relaxed), docs, 0);
                let hash = document_hash(&doc.text);
                if !split.is_validation(&doc.lang, &hash) && in_sample(&hash, rates[&doc.lang]) {
                    // A closed channel means training stopped; its error is reported.
                    let _ = tx.send(doc.text);
                }
                Ok(())
            });
            drop(tx);
            result
        });
        tracing::info!("training a {:?} tokenizer with {} tokens", config.kind, config.vocab_size);
        let trained = tokenizer::train(config, rx.into_iter(), characters.as_ref(), output);
        reader.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        sampling.finish();
        trained
    })
}

/// Per-language statistics with sampling probabilities; every language must have documents.
fn language_stats(
    config: &BuildConfig,
    files: &[InputFile],
    stats: &BTreeMap<(String, &'static str), crate::manifest::SplitStats>,
) -> Result<BTreeMap<String, LanguageStats>> {
    let mut langs: BTreeMap<String, LanguageStats> = BTreeMap::new();
    let declared = files.iter().filter_map(|f| f.lang.clone());
    let seen = stats.keys().map(|(lang, _)| lang.clone());
    for lang in declared.chain(seen) {
        if langs.contains_key(&lang) {
            continue;
        }
        let get = |split| stats.get(&(lang.clone(), split)).copied().unwrap_or_default();
        let (train, validation) = (get(TRAIN), get(VALIDATION));
        if train.docs + validation.docs == 0 {
            let path = files
                .iter()
                .find(|f| f.lang.as_deref() == Some(lang.as_str()))
                .map_or_else(PathBuf::new, |f| f.path.clone());
            return Err(Error::Inputs {
                path,
                reason: format!("language {lang:?} has no documents (its files are empty)"),
            });
        }
        if validation.docs == 0 && config.val_fraction > 0.0 {
            // Pretraining reports no validation figure for such a language.
            let fix = if config.min_val_docs == 0 { "; hold out some with --min-val-docs N" } else { "" };
            tracing::warn!(
                "{lang}: no validation documents ({} documents, val_fraction {}){fix}",
                train.docs,
                config.val_fraction
            );
        }
        langs.insert(lang, LanguageStats::new(train, validation));
    }
    let counts: Vec<u64> = langs.values().map(|s| s.train.tokens).collect();
    for (stats, p) in langs.values_mut().zip(sampling_probabilities(&counts, config.alpha)) {
        stats.sampling_probability = p;
    }
    Ok(langs)
}

/// A temporary sibling of the output, removed unless committed.
struct Staging {
    path: PathBuf,
    committed: bool,
}

impl Staging {
    fn create(output: &Path) -> Result<Self> {
        let parent = match output.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).at(&parent)?;
        let name = output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "corpus".into());
        remove_stale_staging(&parent, &name);
        let path = parent.join(format!(".{name}.partial-{}", std::process::id()));
        if path.exists() {
            std::fs::remove_dir_all(&path).at(&path)?;
        }
        std::fs::create_dir(&path).at(&path)?;
        Ok(Staging { path, committed: false })
    }

    /// Moves the staged corpus to `output`, replacing an existing corpus or empty directory.
    fn commit(mut self, output: &Path) -> Result<()> {
        let old = self.path.with_file_name(format!(
            "{}.old",
            self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
        ));
        let had_old = output.exists();
        if had_old {
            std::fs::rename(output, &old).at(output)?;
        }
        if let Err(e) = std::fs::rename(&self.path, output) {
            if had_old {
                let _ = std::fs::rename(&old, output);
            }
            return Err(Error::io(output, e));
        }
        self.committed = true;
        if had_old {
            std::fs::remove_dir_all(&old).at(&old)?;
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Removes `.<name>.partial-<pid>` directories left by builds that were killed.
fn remove_stale_staging(parent: &Path, name: &str) {
    let prefix = format!(".{name}.partial-");
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = file_name.strip_prefix(&prefix) else { continue };
        let pid = rest.trim_end_matches(".old");
        let alive = pid.parse::<u32>().is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            tracing::info!("removing {} left by an interrupted build", entry.path().display());
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rewrites the corpus at `config.output` as a build before shard hashes would have.
    fn downgrade_to_version_1(config: &BuildConfig) {
        let path = config.output.join(MANIFEST_FILE);
        let mut manifest = Manifest::read(&path).unwrap();
        manifest.version = 1;
        for shard in &mut manifest.shards {
            shard.sha256 = None;
            shard.max_token_id = None;
        }
        manifest.fingerprint = fingerprint(config, &discover(config).unwrap(), None, 1).unwrap();
        std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    }

    #[test]
    fn a_corpus_of_an_older_build_is_kept_until_forced() {
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/sample");
        let tmp = tempfile::tempdir().unwrap();
        for lang in ["de", "ru"] {
            std::fs::create_dir_all(tmp.path().join("in").join(lang)).unwrap();
            std::fs::copy(sample.join(lang).join("udhr.txt"), tmp.path().join("in").join(lang).join("udhr.txt"))
                .unwrap();
        }
        let mut config = BuildConfig::for_directory(tmp.path().join("in"), tmp.path().join("out"));
        config.tokenizer.vocab_size = 300;
        build(&config, false).unwrap();
        downgrade_to_version_1(&config);

        // Same inputs and settings: up to date, not rebuilt behind the user's back.
        let outcome = build(&config, false).unwrap();
        assert_eq!((outcome.status, outcome.manifest.version), (BuildStatus::UpToDate, 1));
        // Other settings: refused as for any other corpus.
        let mut other = config.clone();
        other.alpha = 0.5;
        assert!(build(&other, false).unwrap_err().to_string().contains("--force"));
        // --force upgrades it.
        let outcome = build(&config, true).unwrap();
        assert_eq!((outcome.status, outcome.manifest.version), (BuildStatus::Built, MANIFEST_VERSION));
        assert!(outcome.manifest.verifiable());
    }
}
