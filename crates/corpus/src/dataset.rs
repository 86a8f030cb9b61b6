//! Reading a corpus directory for training: the manifest, every shard memory-mapped and checked
//! against it, and one token stream per (split, language) whose every id is checked against the
//! vocabulary as it is read.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::manifest::{Manifest, ShardEntry, MANIFEST_FILE, TRAIN, VALIDATION};
use crate::shard::{Shard, ShardHeader, HEADER_BYTES};
use crate::tokenizer::sha256_hex;

/// Most disagreements between manifest and directory listed in one error.
const MAX_LISTED: usize = 10;

/// An opened corpus directory.
#[derive(Debug)]
pub struct Corpus {
    dir: PathBuf,
    manifest: Manifest,
    shards: Vec<Shard>,
}

/// The concatenated shards of one (split, language): a single sequence of token ids in which
/// every document ends with the separator.
#[derive(Debug, Clone)]
pub struct TokenStream<'a> {
    lang: &'a str,
    shards: Vec<&'a Shard>,
    /// Stream position of each shard's first token, plus the total at the end.
    starts: Vec<u64>,
    /// Every id read must be below this.
    vocab_size: u32,
}

impl Corpus {
    /// Opens `dir`: reads the manifest, checks `tokenizer.json` against its hash, checks that the
    /// manifest's languages and shards are exactly those in the directory, refuses a shard whose
    /// recorded largest id is outside the vocabulary, and maps every shard, checking its header
    /// against the manifest. Any mismatch names the file. The token data is not read here (see
    /// [`Corpus::verify`]); a manifest of version 1, which records no hashes, is said so once in
    /// the log.
    pub fn open(dir: &Path) -> Result<Self> {
        let manifest_path = dir.join(MANIFEST_FILE);
        if !manifest_path.is_file() {
            return Err(Error::format(dir, "not a corpus directory (no manifest.json); build one with `corpus build`"));
        }
        let manifest = Manifest::read(&manifest_path)?;
        let tokenizer_path = dir.join(&manifest.tokenizer.file);
        let bytes = std::fs::read(&tokenizer_path).map_err(|e| Error::io(&tokenizer_path, e))?;
        if sha256_hex(&bytes) != manifest.tokenizer.sha256 {
            return Err(Error::format(
                &tokenizer_path,
                "does not match the SHA-256 in manifest.json (modified after the build?)",
            ));
        }
        check_layout(dir, &manifest)?;
        if !manifest.verifiable() {
            tracing::warn!(
                "{}: manifest version {} records no shard hashes or largest ids, so its shards cannot be verified; `corpus build --force` rebuilds it with them",
                manifest_path.display(),
                manifest.version
            );
        }
        let vocab_size = manifest.tokenizer.vocab_size;
        let mut shards = Vec::with_capacity(manifest.shards.len());
        for entry in &manifest.shards {
            let path = dir.join(&entry.path);
            if let Some(max) = entry.max_token_id.filter(|&max| max as usize >= vocab_size) {
                return Err(Error::format(
                    &path,
                    format!(
                        "this {} shard of {} holds ids up to {max} (max_token_id in manifest.json), but the tokenizer has vocab_size {vocab_size}: it was encoded with another tokenizer or manifest.json was edited; rebuild the corpus with the right tokenizer",
                        entry.split, entry.lang
                    ),
                ));
            }
            let shard = Shard::open(&path)?;
            if let Some(reason) = header_mismatch(shard.header(), entry, &manifest) {
                return Err(Error::format(&path, reason));
            }
            shards.push(shard);
        }
        Ok(Corpus { dir: dir.to_path_buf(), manifest, shards })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Path of the corpus tokenizer.
    pub fn tokenizer_path(&self) -> PathBuf {
        self.dir.join(&self.manifest.tokenizer.file)
    }

    /// Languages, in code order.
    pub fn languages(&self) -> Vec<&str> {
        self.manifest.language_codes()
    }

    /// The token stream of (split, language); empty when the language has no such documents.
    pub fn stream(&self, split: &str, lang: &str) -> TokenStream<'_> {
        let shards: Vec<&Shard> = self
            .manifest
            .shards
            .iter()
            .zip(&self.shards)
            .filter(|(entry, _)| entry.split == split && entry.lang == lang)
            .map(|(_, shard)| shard)
            .collect();
        let mut starts = Vec::with_capacity(shards.len() + 1);
        let mut total = 0u64;
        for shard in &shards {
            starts.push(total);
            total += shard.header().tokens;
        }
        starts.push(total);
        let lang = self.manifest.languages.get_key_value(lang).map_or("", |(k, _)| k.as_str());
        let vocab_size = u32::try_from(self.manifest.tokenizer.vocab_size).unwrap_or(u32::MAX);
        TokenStream { lang, shards, starts, vocab_size }
    }
}

/// What in a shard header disagrees with its manifest entry, if anything.
pub(crate) fn header_mismatch(h: &ShardHeader, entry: &ShardEntry, manifest: &Manifest) -> Option<String> {
    if h.tokens != entry.tokens || h.docs != entry.docs || h.text_bytes != entry.bytes {
        Some(format!(
            "header has {} tokens / {} docs / {} bytes, manifest.json {} / {} / {}",
            h.tokens, h.docs, h.text_bytes, entry.tokens, entry.docs, entry.bytes
        ))
    } else if h.dtype != entry.dtype || h.lang != entry.lang || h.split != entry.split {
        Some("dtype, language or split differ from manifest.json".to_string())
    } else if h.tokenizer_sha256 != manifest.tokenizer.sha256 {
        Some("was encoded with another tokenizer than manifest.json names".to_string())
    } else if h.vocab_size as usize != manifest.tokenizer.vocab_size {
        Some(format!(
            "its header records a vocabulary of {} ids, manifest.json {}: manifest.json was edited or the shard comes from another corpus; rebuild the corpus with the right tokenizer",
            h.vocab_size, manifest.tokenizer.vocab_size
        ))
    } else if entry.header_bytes != HEADER_BYTES || entry.dtype != manifest.dtype {
        Some(format!("manifest.json gives it a {}-byte header and dtype {:?}", entry.header_bytes, entry.dtype))
    } else {
        None
    }
}

/// Checks that the manifest's languages and shards are exactly what the directory holds: every
/// shard of a listed language, present, listed once, and no language directory or shard file on
/// disk that the manifest leaves out. Without this, a language removed from manifest.json (or a
/// shard dropped from its list) would just not be read, and a missing shard would surface as a
/// bare "file not found".
fn check_layout(dir: &Path, manifest: &Manifest) -> Result<()> {
    let mut problems = Vec::new();
    let mut listed = BTreeSet::new();
    for s in &manifest.shards {
        if !listed.insert(s.path.as_str()) {
            problems.push(format!("shard {} is listed twice", s.path));
        }
        if !manifest.languages.contains_key(&s.lang) {
            problems.push(format!("shard {} is of language {:?}, which `languages` does not list", s.path, s.lang));
        }
        if s.split != TRAIN && s.split != VALIDATION {
            problems.push(format!("shard {} has split {:?}", s.path, s.split));
        }
        if !dir.join(&s.path).is_file() {
            problems.push(format!("shard {} is listed in manifest.json but missing", s.path));
        }
    }
    for (lang, stats) in &manifest.languages {
        for (split, want) in [(TRAIN, stats.train.tokens), (VALIDATION, stats.validation.tokens)] {
            let have: u64 =
                manifest.shards.iter().filter(|s| s.lang == *lang && s.split == split).map(|s| s.tokens).sum();
            if have != want {
                problems
                    .push(format!("language {lang} counts {want} {split} tokens, its listed {split} shards {have}"));
            }
        }
    }
    for split in [TRAIN, VALIDATION] {
        let split_dir = dir.join(split);
        let entries = match std::fs::read_dir(&split_dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            other => other.map_err(|e| Error::io(&split_dir, e))?,
        };
        let mut langs: Vec<(String, PathBuf)> = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&split_dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') && entry.path().is_dir() {
                langs.push((name, entry.path()));
            }
        }
        langs.sort();
        for (lang, lang_dir) in langs {
            if !manifest.languages.contains_key(&lang) {
                problems.push(format!(
                    "{split}/{lang}/ holds shards of language {lang:?}, which manifest.json does not list"
                ));
                continue;
            }
            let mut files = Vec::new();
            for entry in std::fs::read_dir(&lang_dir).map_err(|e| Error::io(&lang_dir, e))? {
                let entry = entry.map_err(|e| Error::io(&lang_dir, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".bin") && !name.starts_with('.') {
                    files.push(format!("{split}/{lang}/{name}"));
                }
            }
            files.sort();
            for rel in files {
                if !listed.contains(rel.as_str()) {
                    problems.push(format!("{rel} is a shard file that manifest.json does not list"));
                }
            }
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let more = problems.len().saturating_sub(MAX_LISTED);
    problems.truncate(MAX_LISTED);
    if more > 0 {
        problems.push(format!("{more} more"));
    }
    Err(Error::format(
        &dir.join(MANIFEST_FILE),
        format!(
            "disagrees with the corpus directory: {}. Rebuild the corpus (to leave a language out, build without it)",
            problems.join("; ")
        ),
    ))
}

impl<'a> TokenStream<'a> {
    /// Language code.
    pub fn lang(&self) -> &'a str {
        self.lang
    }

    /// Tokens in the stream.
    pub fn len(&self) -> u64 {
        self.starts.last().copied().unwrap_or(0)
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends tokens `start..start + len` to `out` as `i64`. Windows may span shards. Every id
    /// is checked against the vocabulary: one outside it is an [`Error::OutOfVocabulary`] naming
    /// the shard, its language and the token's offset (`out` may then hold part of the window).
    pub fn window_into(&self, start: u64, len: usize, out: &mut Vec<i64>) -> Result<()> {
        let end = start + len as u64;
        if end > self.len() {
            return Err(Error::Format {
                path: self.shards.first().map_or_else(PathBuf::new, |s| s.path().to_path_buf()),
                reason: format!(
                    "window {start}..{end} is past the end of the {} stream ({} tokens)",
                    self.lang,
                    self.len()
                ),
            });
        }
        // First shard whose range contains `start`.
        let mut i = self.starts.partition_point(|&s| s <= start) - 1;
        let mut pos = start;
        while pos < end {
            let shard_start = self.starts[i];
            let shard_end = self.starts[i + 1];
            let from = (pos - shard_start) as usize;
            let to = (end.min(shard_end) - shard_start) as usize;
            let shard = self.shards[i];
            if let Err(at) = shard.tokens().extend_i64_below(from..to, self.vocab_size, out) {
                let h = shard.header();
                return Err(Error::OutOfVocabulary {
                    path: shard.path().to_path_buf(),
                    lang: h.lang.clone(),
                    split: h.split.clone(),
                    token: at as u64,
                    byte: (HEADER_BYTES + at * h.dtype.width()) as u64,
                    id: shard.tokens().get(at).unwrap_or(u32::MAX),
                    vocab_size: self.vocab_size as usize,
                });
            }
            pos = shard_start + to as u64;
            i += 1;
        }
        Ok(())
    }

    /// Consecutive windows of `len` tokens every `stride` tokens from position 0; a shorter tail
    /// is dropped. This is the evaluation protocol over a validation stream.
    pub fn windows(&self, len: usize, stride: usize) -> impl Iterator<Item = u64> + '_ {
        let count =
            if (len as u64) > self.len() || stride == 0 { 0 } else { (self.len() - len as u64) / stride as u64 + 1 };
        (0..count).map(move |i| i * stride as u64)
    }
}
