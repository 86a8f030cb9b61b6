//! `corpus inspect`: a human-readable summary of a manifest.

use std::fmt::Write;

use indicatif::HumanBytes;

use crate::manifest::Manifest;

/// A table of languages (documents, tokens, bytes, sampling probability, fertility, unknown
/// rate) with totals and the tokenizer.
pub fn summary(manifest: &Manifest) -> String {
    let mut out = String::new();
    let t = &manifest.tokenizer;
    let source = t.source.as_ref().map(|p| format!(" from {}", p.display())).unwrap_or_default();
    let _ = writeln!(
        out,
        "tokenizer: {} ({}{source}), vocabulary {}, sha256 {}…, ids stored as {:?}",
        t.file,
        t.origin,
        t.vocab_size,
        &t.sha256[..t.sha256.len().min(12)],
        manifest.dtype
    );
    let raised = match manifest.val_thresholds.len() {
        0 => String::new(),
        n => format!(" (raised for {n} small languages to hold out min_val_docs documents)"),
    };
    let _ = writeln!(
        out,
        "sampling: p_i ∝ n_i^{} over training tokens; validation fraction {}{raised}",
        manifest.alpha, manifest.val_fraction
    );
    let _ = writeln!(
        out,
        "{:<10} {:>9} {:>12} {:>9} {:>11} {:>10} {:>8} {:>9} {:>9} {:>7}",
        "lang", "docs", "tokens", "val docs", "val tokens", "bytes", "p", "tok/word", "tok/char", "unk %"
    );
    let (mut docs, mut tokens, mut vdocs, mut vtokens, mut bytes) = (0, 0, 0, 0, 0);
    for (lang, s) in &manifest.languages {
        let b = s.train.bytes + s.validation.bytes;
        let _ = writeln!(
            out,
            "{:<10} {:>9} {:>12} {:>9} {:>11} {:>10} {:>8.4} {:>9.2} {:>9.3} {:>7.3}",
            lang,
            s.train.docs,
            s.train.tokens,
            s.validation.docs,
            s.validation.tokens,
            HumanBytes(b).to_string(),
            s.sampling_probability,
            s.tokens_per_word,
            s.tokens_per_char,
            100.0 * s.unk_rate
        );
        docs += s.train.docs;
        tokens += s.train.tokens;
        vdocs += s.validation.docs;
        vtokens += s.validation.tokens;
        bytes += b;
    }
    let _ = writeln!(
        out,
        "{:<10} {:>9} {:>12} {:>9} {:>11} {:>10}",
        "total",
        docs,
        tokens,
        vdocs,
        vtokens,
        HumanBytes(bytes).to_string()
    );
    let skipped: u64 = manifest.inputs.iter().map(|i| i.skipped.total()).sum();
    let _ = writeln!(
        out,
        "{} input files, {} shards{}",
        manifest.inputs.len(),
        manifest.shards.len(),
        if skipped > 0 { format!(", {skipped} malformed documents skipped") } else { String::new() }
    );
    out
}
