//! Reading a corpus directory for training: the manifest, every shard memory-mapped and checked
//! against it, and one token stream per (split, language).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::manifest::{Manifest, MANIFEST_FILE};
use crate::shard::Shard;
use crate::tokenizer::sha256_hex;

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
}

impl Corpus {
    /// Opens `dir`: reads the manifest, checks `tokenizer.json` against its hash, and maps every
    /// shard, checking its header against the manifest. Any mismatch names the file.
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
        let mut shards = Vec::with_capacity(manifest.shards.len());
        for entry in &manifest.shards {
            let path = dir.join(&entry.path);
            let shard = Shard::open(&path)?;
            let h = shard.header();
            let mismatch = if h.tokens != entry.tokens || h.docs != entry.docs {
                Some(format!(
                    "header has {} tokens / {} docs, manifest.json {} / {}",
                    h.tokens, h.docs, entry.tokens, entry.docs
                ))
            } else if h.dtype != entry.dtype || h.lang != entry.lang || h.split != entry.split {
                Some("dtype, language or split differ from manifest.json".to_string())
            } else if h.tokenizer_sha256 != manifest.tokenizer.sha256 {
                Some("was encoded with another tokenizer than manifest.json names".to_string())
            } else {
                None
            };
            if let Some(reason) = mismatch {
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
        TokenStream { lang, shards, starts }
    }
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

    /// Appends tokens `start..start + len` to `out` as `i64`. Windows may span shards.
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
            self.shards[i].tokens().extend_i64(from..to, out);
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
