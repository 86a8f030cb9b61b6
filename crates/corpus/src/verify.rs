//! `corpus verify`: every shard re-read from disk and compared with what the build recorded: the
//! SHA-256 of its token data, its largest id, its header. Shards are hashed in parallel (one
//! SHA-256 is sequential), each through a fresh read-only memory map, so the check reads what is
//! on disk now and leaves the reader's maps and their access pattern alone.

use std::fmt;
use std::fs::File;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use memmap2::Mmap;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::dataset::{header_mismatch, Corpus};
use crate::error::{Error, IoContext, Result};
use crate::manifest::{Manifest, ShardEntry};
use crate::shard::{Dtype, ShardHeader, HEADER_BYTES};
use crate::tokenizer::hex;

/// Bytes hashed between progress updates: large enough that the bar costs nothing, small
/// enough that it moves on a single large shard.
const CHUNK: usize = 8 << 20;

/// A shard that does not match manifest.json.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The shard file.
    pub path: PathBuf,
    /// Its split.
    pub split: String,
    /// Its language.
    pub lang: String,
    /// Everything that differs.
    pub reasons: Vec<String>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} shard of {}): {}", self.path.display(), self.split, self.lang, self.reasons.join("; "))
    }
}

/// What [`Corpus::verify`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyReport {
    /// Shards read.
    pub shards: usize,
    /// Bytes of token data hashed.
    pub bytes: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Shards that differ from manifest.json, in manifest order.
    pub mismatches: Vec<Mismatch>,
    /// Shards whose manifest (version 1) records no hash: only their header and ids were checked.
    pub unverified: Vec<PathBuf>,
}

impl VerifyReport {
    /// Throughput in GB/s (10^9 bytes).
    pub fn gb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e9 / self.seconds.max(1e-9)
    }

    /// An error naming every mismatching shard, if any. Unverified shards are not an error: a
    /// corpus from an older build opens as before, and [`Corpus::open`] has said so in the log.
    pub fn check(&self) -> Result<()> {
        let Some(first) = self.mismatches.first() else { return Ok(()) };
        let list: Vec<String> = self.mismatches.iter().map(Mismatch::to_string).collect();
        Err(Error::format(
            &first.path,
            format!(
                "{} of {} shards do not match manifest.json (corrupted or modified after the build; rebuild the corpus): {}",
                self.mismatches.len(),
                self.shards,
                list.join(" | ")
            ),
        ))
    }
}

impl Corpus {
    /// Re-reads every shard in parallel (rayon) and compares it with manifest.json: the SHA-256
    /// of the token data, the largest id (also against the vocabulary) and the header. With
    /// `progress` and stderr a terminal, draws a bar over the bytes. I/O failures are errors;
    /// differences are reported in [`VerifyReport::mismatches`] (see [`VerifyReport::check`]).
    pub fn verify(&self, progress: bool) -> Result<VerifyReport> {
        let manifest = self.manifest();
        let width = manifest.dtype.width() as u64;
        let total: u64 = manifest.shards.iter().map(|s| s.tokens * width).sum();
        let bar = (progress && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(total);
            let style = ProgressStyle::with_template(
                "{prefix:>10} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_prefix("verifying");
            bar
        });
        let start = Instant::now();
        // Largest first, so that a big shard does not start last and leave the other cores idle.
        let mut order: Vec<usize> = (0..manifest.shards.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(manifest.shards[i].tokens));
        let mut results = order
            .par_iter()
            .map(|&i| verify_shard(self.dir(), &manifest.shards[i], manifest, bar.as_ref()).map(|r| (i, r)))
            .collect::<Result<Vec<_>>>()?;
        if let Some(bar) = &bar {
            bar.finish_and_clear();
        }
        results.sort_by_key(|(i, _)| *i);
        let mut report = VerifyReport {
            shards: results.len(),
            bytes: 0,
            seconds: start.elapsed().as_secs_f64(),
            mismatches: Vec::new(),
            unverified: Vec::new(),
        };
        for (i, checked) in results {
            let entry = &manifest.shards[i];
            report.bytes += checked.bytes;
            if entry.sha256.is_none() {
                report.unverified.push(checked.path.clone());
            }
            if !checked.reasons.is_empty() {
                report.mismatches.push(Mismatch {
                    path: checked.path,
                    split: entry.split.clone(),
                    lang: entry.lang.clone(),
                    reasons: checked.reasons,
                });
            }
        }
        Ok(report)
    }
}

struct Checked {
    path: PathBuf,
    bytes: u64,
    reasons: Vec<String>,
}

fn verify_shard(dir: &Path, entry: &ShardEntry, manifest: &Manifest, bar: Option<&ProgressBar>) -> Result<Checked> {
    let path = dir.join(&entry.path);
    let file = File::open(&path).at(&path)?;
    // SAFETY: read-only map of a file that is written once, as in `Shard::open`.
    let mmap = unsafe { Mmap::map(&file) }.at(&path)?;
    // A hint only: read ahead, the pages are needed once.
    #[cfg(unix)]
    let _ = mmap.advise(memmap2::Advice::Sequential);
    let mut reasons = Vec::new();
    match ShardHeader::decode(&mmap, &path) {
        Ok(h) => reasons.extend(header_mismatch(&h, entry, manifest)),
        Err(e) => reasons.push(format!("unreadable header: {e}")),
    }
    let width = entry.dtype.width();
    let expected = HEADER_BYTES as u64 + entry.tokens * width as u64;
    if mmap.len() as u64 != expected {
        reasons.push(format!("holds {} bytes, manifest.json promises {expected}", mmap.len()));
    }
    let body = mmap.get(HEADER_BYTES..).unwrap_or_default();
    let mut hasher = Sha256::new();
    let mut max = 0u32;
    for (k, chunk) in body.chunks(CHUNK).enumerate() {
        // From a cold cache, page faults alone read one small block at a time and the hash waits
        // on each: asking for the next chunk now overlaps its read with this chunk's hashing.
        #[cfg(unix)]
        {
            let next = HEADER_BYTES + (k + 1) * CHUNK;
            if next < mmap.len() {
                let _ = mmap.advise_range(memmap2::Advice::WillNeed, next, CHUNK.min(mmap.len() - next));
            }
        }
        hasher.update(chunk);
        max = max.max(max_id(chunk, entry.dtype));
        if let Some(bar) = bar {
            bar.inc(chunk.len() as u64);
        }
    }
    if let Some(want) = &entry.sha256 {
        let got = hex(&hasher.finalize());
        if &got != want {
            reasons.push(format!("SHA-256 of the token data is {got}, manifest.json records {want}"));
        }
    }
    let vocab_size = manifest.tokenizer.vocab_size;
    if max as usize >= vocab_size {
        let at = first_at_or_above(body, entry.dtype, vocab_size);
        reasons.push(format!(
            "token {at} (byte {}) is id {}, outside the vocabulary of {vocab_size} ids",
            HEADER_BYTES + at * width,
            read_id(body, entry.dtype, at)
        ));
    }
    if let Some(recorded) = entry.max_token_id.filter(|&r| r != max) {
        reasons.push(format!("largest id is {max}, manifest.json records {recorded}"));
    }
    Ok(Checked { path, bytes: body.len() as u64, reasons })
}

/// The ids of `bytes` (little-endian, a trailing partial id ignored).
fn ids(bytes: &[u8], dtype: Dtype) -> Box<dyn Iterator<Item = u32> + '_> {
    match dtype {
        Dtype::U16 => Box::new(bytes.chunks_exact(2).map(|b| u32::from(u16::from_le_bytes([b[0], b[1]])))),
        Dtype::U32 => Box::new(bytes.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
    }
}

fn max_id(bytes: &[u8], dtype: Dtype) -> u32 {
    // Monomorphic loops: the decode-and-max vectorises, which a boxed iterator would not.
    match dtype {
        Dtype::U16 => bytes.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])).max().map_or(0, u32::from),
        Dtype::U32 => bytes.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).max().unwrap_or(0),
    }
}

fn first_at_or_above(bytes: &[u8], dtype: Dtype, limit: usize) -> usize {
    ids(bytes, dtype).position(|id| id as usize >= limit).unwrap_or(0)
}

fn read_id(bytes: &[u8], dtype: Dtype, at: usize) -> u32 {
    ids(bytes, dtype).nth(at).unwrap_or(0)
}
