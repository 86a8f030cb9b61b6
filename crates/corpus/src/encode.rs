//! The encoding pass: documents are read on one thread, encoded in parallel with rayon, and
//! appended to the shards on another, in input order, so reading and writing hide behind
//! encoding and the output does not depend on the number of threads.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

use rayon::prelude::*;
use tokenizers::Tokenizer;

use crate::document::{read_documents, Document, ReadOptions};
use crate::error::{Error, IoContext, Result};
use crate::manifest::{InputEntry, ShardEntry, SplitStats, TRAIN, VALIDATION};
use crate::progress::Progress;
use crate::shard::HEADER_BYTES;
use crate::shard::{Dtype, ShardHeader, ShardWriter};
use crate::source::InputFile;
use crate::split::{document_hash, Split};
use crate::tokenizer::SpecialIds;

/// Text bytes per batch handed to the encoder: large enough to keep every core busy between
/// hand-overs, small enough to bound memory.
const BATCH_BYTES: usize = 4 << 20;
/// Batches in flight between the threads.
const QUEUE: usize = 2;

/// Reads every document of `files` in order, calling `sink`; returns one entry per file.
pub fn read_all(
    files: &[InputFile],
    options: ReadOptions,
    bytes_read: &Arc<AtomicU64>,
    sink: &mut dyn FnMut(Document) -> Result<()>,
) -> Result<Vec<InputEntry>> {
    let mut entries = Vec::with_capacity(files.len());
    for file in files {
        let mut docs = 0u64;
        let skipped = read_documents(file, options, bytes_read, &mut |doc| {
            docs += 1;
            sink(doc)
        })?;
        if skipped.total() > 0 {
            tracing::warn!("{}: skipped {} malformed document(s): {:?}", file.path.display(), skipped.total(), skipped);
        }
        entries.push(InputEntry::new(file, docs, skipped));
    }
    Ok(entries)
}

/// How to encode and where to write.
pub struct EncodeJob<'a> {
    /// Input files, in order.
    pub files: &'a [InputFile],
    /// Reading options.
    pub read: ReadOptions,
    /// The tokenizer.
    pub tokenizer: &'a Tokenizer,
    /// Its special ids (`sep` ends documents, `unk` is counted).
    pub special: SpecialIds,
    /// Stored width.
    pub dtype: Dtype,
    /// Vocabulary size, for the shard headers.
    pub vocab_size: u32,
    /// SHA-256 of `tokenizer.json`, for the shard headers.
    pub tokenizer_sha256: String,
    /// Which documents are held out.
    pub split: &'a Split,
    /// Most tokens per shard.
    pub shard_tokens: u64,
    /// The (temporary) corpus directory.
    pub out_dir: &'a Path,
}

/// What the pass produced.
pub struct EncodeOutcome {
    /// Counts per (language, split).
    pub stats: BTreeMap<(String, &'static str), SplitStats>,
    /// The shards written.
    pub shards: Vec<ShardEntry>,
    /// The input files read.
    pub inputs: Vec<InputEntry>,
}

/// One encoded document.
struct Encoded {
    lang: Arc<str>,
    split: &'static str,
    ids: Vec<u32>,
    stats: SplitStats,
}

fn encode_one(doc: &Document, job: &EncodeJob) -> Result<Encoded> {
    let encoding = job
        .tokenizer
        .encode_fast(doc.text.as_str(), false)
        .map_err(|e| Error::tokenizer(job.out_dir, format!("encoding failed: {e}")))?;
    let mut ids = Vec::with_capacity(encoding.len() + 1);
    ids.extend_from_slice(encoding.get_ids());
    let unk_tokens = job.special.unk.map_or(0, |unk| ids.iter().filter(|&&id| id == unk).count() as u64);
    ids.push(job.special.sep);
    let split = if job.split.is_validation(&doc.lang, &document_hash(&doc.text)) { VALIDATION } else { TRAIN };
    let stats = SplitStats {
        docs: 1,
        tokens: ids.len() as u64,
        bytes: doc.text.len() as u64,
        words: doc.text.split_whitespace().count() as u64,
        chars: doc.text.chars().count() as u64,
        unk_tokens,
    };
    Ok(Encoded { lang: doc.lang.clone(), split, ids, stats })
}

/// Runs the pass.
pub fn encode_corpus(job: &EncodeJob) -> Result<EncodeOutcome> {
    let total_bytes = job.files.iter().map(|f| f.bytes).sum();
    let progress = Progress::new("encoding", total_bytes);
    let bytes_read = Arc::new(AtomicU64::new(0));
    let (batch_tx, batch_rx) = sync_channel::<Vec<Document>>(QUEUE);
    let (encoded_tx, encoded_rx) = sync_channel::<Vec<Encoded>>(QUEUE);

    let outcome = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut batch = Vec::new();
            let mut batch_bytes = 0;
            let entries = read_all(job.files, job.read, &bytes_read, &mut |doc| {
                batch_bytes += doc.text.len();
                batch.push(doc);
                if batch_bytes >= BATCH_BYTES {
                    batch_bytes = 0;
                    // A closed channel means the encoder stopped on an error it will report.
                    let _ = batch_tx.send(std::mem::take(&mut batch));
                }
                Ok(())
            })?;
            if !batch.is_empty() {
                let _ = batch_tx.send(batch);
            }
            drop(batch_tx);
            Ok::<_, Error>(entries)
        });
        let writer = scope.spawn(|| write_shards(job, encoded_rx, &progress, &bytes_read));

        let mut encode_error = None;
        for batch in batch_rx.iter() {
            match batch.par_iter().map(|doc| encode_one(doc, job)).collect::<Result<Vec<_>>>() {
                Ok(encoded) => {
                    if encoded_tx.send(encoded).is_err() {
                        break; // the writer failed; its error is reported below
                    }
                }
                Err(e) => {
                    encode_error = Some(e);
                    break;
                }
            }
        }
        drop(encoded_tx);
        drop(batch_rx);
        let written = join(writer)?;
        let inputs = join(reader)?;
        if let Some(e) = encode_error {
            return Err(e);
        }
        let (stats, shards) = written;
        Ok(EncodeOutcome { stats, shards, inputs })
    })?;
    progress.finish();
    let (docs, tokens) = outcome.stats.values().fold((0, 0), |(d, t), s| (d + s.docs, t + s.tokens));
    let secs = progress.elapsed().as_secs_f64().max(1e-9);
    tracing::info!(
        "encoded {docs} documents into {tokens} tokens in {secs:.1} s ({:.0} tokens/s)",
        tokens as f64 / secs
    );
    Ok(outcome)
}

fn join<T>(handle: std::thread::ScopedJoinHandle<'_, Result<T>>) -> Result<T> {
    handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

type Written = (BTreeMap<(String, &'static str), SplitStats>, Vec<ShardEntry>);

/// Appends encoded documents to one open shard per (language, split), rotating at
/// `shard_tokens`.
fn write_shards(
    job: &EncodeJob,
    rx: Receiver<Vec<Encoded>>,
    progress: &Progress,
    bytes_read: &AtomicU64,
) -> Result<Written> {
    let mut open: BTreeMap<(String, &'static str), (ShardWriter, usize)> = BTreeMap::new();
    let mut next_index: BTreeMap<(String, &'static str), usize> = BTreeMap::new();
    let mut stats: BTreeMap<(String, &'static str), SplitStats> = BTreeMap::new();
    let mut shards = Vec::new();
    let (mut docs, mut tokens) = (0u64, 0u64);
    for batch in rx.iter() {
        for doc in batch {
            let key = (doc.lang.to_string(), doc.split);
            let full = open
                .get(&key)
                .is_some_and(|(w, _)| w.tokens() > 0 && w.tokens() + doc.ids.len() as u64 > job.shard_tokens);
            if full {
                if let Some((writer, _)) = open.remove(&key) {
                    shards.push(finish_shard(writer, job.out_dir)?);
                }
            }
            if !open.contains_key(&key) {
                let index = next_index.entry(key.clone()).or_insert(0);
                let writer = create_shard(job, &key.0, key.1, *index)?;
                open.insert(key.clone(), (writer, *index));
                *index += 1;
            }
            let Some((writer, _)) = open.get_mut(&key) else { unreachable!("opened above") };
            writer.append(&doc.ids, doc.stats.bytes)?;
            docs += 1;
            tokens += doc.ids.len() as u64;
            stats.entry(key).or_default().add(&doc.stats);
        }
        progress.update(bytes_read.load(Ordering::Relaxed), docs, tokens);
    }
    for (_, (writer, _)) in open {
        shards.push(finish_shard(writer, job.out_dir)?);
    }
    shards.sort_by(|a, b| (&a.split, &a.lang, &a.path).cmp(&(&b.split, &b.lang, &b.path)));
    Ok((stats, shards))
}

fn create_shard(job: &EncodeJob, lang: &str, split: &str, index: usize) -> Result<ShardWriter> {
    let dir = job.out_dir.join(split).join(lang);
    std::fs::create_dir_all(&dir).at(&dir)?;
    let header = ShardHeader {
        dtype: job.dtype,
        tokens: 0,
        docs: 0,
        text_bytes: 0,
        vocab_size: job.vocab_size,
        tokenizer_sha256: job.tokenizer_sha256.clone(),
        lang: lang.to_string(),
        split: split.to_string(),
    };
    ShardWriter::create(dir.join(format!("{index:05}.bin")), header)
}

fn finish_shard(writer: ShardWriter, out_dir: &Path) -> Result<ShardEntry> {
    let (path, header, digest) = writer.finish()?;
    let relative = path.strip_prefix(out_dir).unwrap_or(&path).to_string_lossy().replace('\\', "/");
    Ok(ShardEntry {
        path: relative,
        split: header.split,
        lang: header.lang,
        dtype: header.dtype,
        header_bytes: HEADER_BYTES,
        tokens: header.tokens,
        docs: header.docs,
        bytes: header.text_bytes,
        sha256: Some(digest.sha256),
        max_token_id: Some(digest.max_token_id),
    })
}
