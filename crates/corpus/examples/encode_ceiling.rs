//! The ceiling for `corpus build`: the `tokenizers` crate's own parallel batch encode
//! (`encode_batch_fast`) of the same documents, already in memory. Used by
//! scripts/bench/corpus.sh; prints one JSON line.
//!
//! usage: encode_ceiling INPUT_DIR TOKENIZER_JSON

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use corpus::document::ReadOptions;
use corpus::{BuildConfig, OnInvalid};

const BATCH: usize = 10_000;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(args.len() == 3, "usage: encode_ceiling INPUT_DIR TOKENIZER_JSON");
    let config = BuildConfig::for_directory(args[1].clone().into(), "unused".into());
    let files = corpus::source::discover(&config)?;
    let options = ReadOptions { on_invalid: OnInvalid::Error, max_document_bytes: config.max_document_bytes };
    let mut docs = Vec::new();
    corpus::encode::read_all(&files, options, &Arc::new(AtomicU64::new(0)), &mut |doc| {
        docs.push(doc.text);
        Ok(())
    })?;
    let tokenizer = tokenizers::Tokenizer::from_file(&args[2]).map_err(|e| anyhow::anyhow!("{e}"))?;
    let bytes: usize = docs.iter().map(String::len).sum();
    let n_docs = docs.len();
    // Batches of BATCH documents, as a streaming pipeline (and the Python baseline) calls it.
    let start = Instant::now();
    let mut tokens = 0;
    for batch in docs.chunks(BATCH) {
        let encodings = tokenizer
            .encode_batch_fast(batch.iter().map(String::as_str).collect(), false)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        // One separator per document, as in the shards, so that token counts compare equal.
        tokens += encodings.iter().map(|e| e.len() + 1).sum::<usize>();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{{\"docs\": {n_docs}, \"bytes\": {bytes}, \"tokens\": {tokens}, \"seconds\": {secs:.3}, \"tokens_per_s\": {:.0}}}",
        tokens as f64 / secs
    );
    Ok(())
}
