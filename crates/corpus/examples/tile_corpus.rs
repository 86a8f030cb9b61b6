//! A large corpus from a small one, for measuring `corpus verify` (the figure in
//! docs/formats.md): every shard of SRC is repeated until DST holds about GB × 10^9 bytes of token
//! data. Shards are written with the crate's own ShardWriter, so their hashes and largest ids
//! are recorded as `corpus build` records them, and DST opens and verifies like a built corpus.
//!
//! usage: tile_corpus SRC DST GB

use std::collections::BTreeMap;

use anyhow::Context;
use corpus::manifest::{SplitStats, MANIFEST_FILE};
use corpus::shard::{ShardHeader, ShardWriter};
use corpus::{Corpus, Shard};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(args.len() == 4, "usage: tile_corpus SRC DST GB");
    let (src, dst) = (std::path::Path::new(&args[1]), std::path::Path::new(&args[2]));
    let gb: f64 = args[3].parse().with_context(|| format!("GB {:?} is not a number", args[3]))?;
    let corpus = Corpus::open(src)?;
    let mut manifest = corpus.manifest().clone();
    let width = manifest.dtype.width() as u64;
    let body: u64 = manifest.shards.iter().map(|s| s.tokens * width).sum();
    anyhow::ensure!(body > 0, "{}: no tokens", src.display());
    let reps = ((gb * 1e9) / body as f64).ceil().max(1.0) as u64;
    anyhow::ensure!(!dst.exists(), "{} exists; choose a new directory", dst.display());
    std::fs::create_dir_all(dst).with_context(|| dst.display().to_string())?;
    let tokenizer = &manifest.tokenizer.file;
    std::fs::copy(src.join(tokenizer), dst.join(tokenizer)).with_context(|| dst.display().to_string())?;

    let mut totals: BTreeMap<(String, String), SplitStats> = BTreeMap::new();
    for entry in &mut manifest.shards {
        let shard = Shard::open(&src.join(&entry.path))?;
        let ids: Vec<u32> = (0..shard.tokens().len()).filter_map(|i| shard.tokens().get(i)).collect();
        let path = dst.join(&entry.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| parent.display().to_string())?;
        }
        let header = ShardHeader { tokens: 0, docs: 0, text_bytes: 0, ..shard.header().clone() };
        let mut writer = ShardWriter::create(path, header)?;
        // One append per copy: the copy's documents count as one, which the manifest then says.
        for _ in 0..reps {
            writer.append(&ids, entry.bytes)?;
        }
        let (_, header, digest) = writer.finish()?;
        (entry.tokens, entry.docs, entry.bytes) = (header.tokens, header.docs, header.text_bytes);
        (entry.sha256, entry.max_token_id) = (Some(digest.sha256), Some(digest.max_token_id));
        let total = totals.entry((entry.lang.clone(), entry.split.clone())).or_default();
        total.add(&SplitStats { docs: entry.docs, tokens: entry.tokens, bytes: entry.bytes, ..SplitStats::default() });
    }
    for (lang, stats) in &mut manifest.languages {
        for (split, s) in [(corpus::TRAIN, &mut stats.train), (corpus::VALIDATION, &mut stats.validation)] {
            let t = totals.get(&(lang.clone(), split.to_string())).copied().unwrap_or_default();
            (s.docs, s.tokens, s.bytes) = (t.docs, t.tokens, t.bytes);
        }
    }
    let json = serde_json::to_vec_pretty(&manifest)?;
    std::fs::write(dst.join(MANIFEST_FILE), json).with_context(|| dst.display().to_string())?;
    println!(
        "{}: {} shards, {} bytes of token data ({reps} copies)",
        dst.display(),
        manifest.shards.len(),
        body * reps
    );
    Ok(())
}
