//! Nothing broken is read silently: corrupted or foreign token data, an edited manifest and an
//! older manifest, each on a tiny corpus built from the bundled sample (data/sample).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use corpus::{build, BuildConfig, Corpus, Draw, WindowSampler};

const LANGS: &[&str] = &["de", "en", "ru", "zh-Hans"];
const VOCAB: usize = 600;

/// The sample's de, en, ru and zh-Hans text built once, with small shards so that every
/// language has several; each test works on a copy.
fn built() -> &'static Path {
    static BUILT: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, out) = BUILT.get_or_init(|| {
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/sample");
        let tmp = tempfile::tempdir().unwrap();
        let input = tmp.path().join("in");
        for lang in LANGS {
            let dst = input.join(lang);
            std::fs::create_dir_all(&dst).unwrap();
            for entry in std::fs::read_dir(sample.join(lang)).unwrap() {
                let entry = entry.unwrap();
                std::fs::copy(entry.path(), dst.join(entry.file_name())).unwrap();
            }
        }
        let out = tmp.path().join("out");
        let mut cfg = BuildConfig::for_directory(input, out.clone());
        cfg.tokenizer.vocab_size = VOCAB;
        cfg.val_fraction = 0.2;
        cfg.shard_tokens = 600;
        build(&cfg, false).unwrap();
        (tmp, out)
    });
    out
}

/// A private copy of the built corpus.
fn copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join("corpus");
    for entry in walkdir::WalkDir::new(built()) {
        let entry = entry.unwrap();
        let to = dst.join(entry.path().strip_prefix(built()).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&to).unwrap();
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
    (tmp, dst)
}

fn manifest_json(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap()
}

fn write_manifest(dir: &Path, manifest: &serde_json::Value) {
    std::fs::write(dir.join("manifest.json"), serde_json::to_vec_pretty(manifest).unwrap()).unwrap();
}

/// Runs the `corpus` binary; returns (success, stdout, stderr) and fails on a panic.
fn corpus_cli(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_corpus")).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

/// Overwrites token `index` of the (u16) shard at `path` with `id`.
fn poke_u16(path: &Path, index: usize, id: u16) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = 1024 + 2 * index;
    bytes[at..at + 2].copy_from_slice(&id.to_le_bytes());
    std::fs::write(path, bytes).unwrap();
}

fn read_u16(path: &Path, index: usize) -> u16 {
    let bytes = std::fs::read(path).unwrap();
    let at = 1024 + 2 * index;
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

#[test]
fn an_id_outside_the_vocabulary_is_an_error_naming_shard_language_and_offset() {
    let (_tmp, dir) = copy();
    let m = manifest_json(&dir);
    assert_eq!(m["dtype"], "u16");
    // The second train shard of ru, so that the offset within the shard and within the stream
    // differ.
    let shards: Vec<&serde_json::Value> =
        m["shards"].as_array().unwrap().iter().filter(|s| s["lang"] == "ru" && s["split"] == "train").collect();
    assert!(shards.len() >= 2, "{shards:?}");
    let first_tokens = shards[0]["tokens"].as_u64().unwrap();
    let rel = shards[1]["path"].as_str().unwrap();
    let path = dir.join(rel);
    poke_u16(&path, 17, VOCAB as u16);

    // The manifest still records the shard's old largest id, so opening succeeds; the reader must
    // catch the id itself.
    let corpus = Corpus::open(&dir).unwrap();
    let ru = corpus.stream(corpus::TRAIN, "ru");
    let mut out = Vec::new();
    let err = ru.window_into(first_tokens + 10, 20, &mut out).unwrap_err().to_string();
    for fragment in [rel, "ru", "train", "token 17", &format!("id {VOCAB}"), &format!("{VOCAB} ids")] {
        assert!(err.contains(fragment), "missing {fragment:?} in: {err}");
    }
    // Windows that do not reach the bad token still read.
    ru.window_into(first_tokens, 17, &mut Vec::new()).unwrap();
    ru.window_into(first_tokens + 18, 20, &mut Vec::new()).unwrap();

    // The training sampler reads through the same check.
    let sampler = WindowSampler::new(&corpus, corpus::TRAIN, 0.3, 32, 1).unwrap();
    let lang = sampler.languages().iter().position(|&l| l == "ru").unwrap();
    let err = sampler.fill(Draw { lang, start: first_tokens + 1 }, &mut Vec::new()).unwrap_err().to_string();
    assert!(err.contains(rel) && err.contains("token 17"), "{err}");
}

#[test]
fn a_lowered_vocab_size_is_refused_at_open_naming_the_shard() {
    let (_tmp, dir) = copy();
    let mut m = manifest_json(&dir);
    m["tokenizer"]["vocab_size"] = serde_json::json!(100);
    write_manifest(&dir, &m);
    let err = Corpus::open(&dir).unwrap_err().to_string();
    // Shards are checked in manifest order: train/de/00000.bin first.
    for fragment in ["train/de/00000.bin", "de", "vocab_size 100", "rebuild"] {
        assert!(err.contains(fragment), "missing {fragment:?} in: {err}");
    }
}

#[test]
fn a_language_removed_from_the_manifest_is_refused() {
    let (_tmp, dir) = copy();
    let original = manifest_json(&dir);

    // Removed everywhere in manifest.json: its shards are still on disk.
    let mut m = original.clone();
    m["languages"].as_object_mut().unwrap().remove("ru");
    m["shards"].as_array_mut().unwrap().retain(|s| s["lang"] != "ru");
    write_manifest(&dir, &m);
    let err = Corpus::open(&dir).unwrap_err().to_string();
    for fragment in ["train/ru", "validation/ru", "does not list"] {
        assert!(err.contains(fragment), "missing {fragment:?} in: {err}");
    }

    // Removed from `languages` only: its shards are listed but would never be read.
    let mut m = original.clone();
    m["languages"].as_object_mut().unwrap().remove("ru");
    write_manifest(&dir, &m);
    let err = Corpus::open(&dir).unwrap_err().to_string();
    assert!(err.contains("train/ru/00000.bin") && err.contains("\"ru\""), "{err}");

    // One shard dropped from the list.
    let mut m = original.clone();
    m["shards"].as_array_mut().unwrap().retain(|s| s["path"] != "train/de/00001.bin");
    write_manifest(&dir, &m);
    let err = Corpus::open(&dir).unwrap_err().to_string();
    assert!(err.contains("train/de/00001.bin") && err.contains("does not list"), "{err}");

    // A listed shard missing on disk.
    write_manifest(&dir, &original);
    std::fs::remove_file(dir.join("validation/zh-Hans/00000.bin")).unwrap();
    let err = Corpus::open(&dir).unwrap_err().to_string();
    assert!(err.contains("validation/zh-Hans/00000.bin") && err.contains("missing"), "{err}");
}

#[test]
fn a_flipped_token_byte_is_found_by_verify_naming_the_shard() {
    let (_tmp, dir) = copy();
    let corpus = Corpus::open(&dir).unwrap();
    let clean = corpus.verify(false).unwrap();
    assert!(clean.mismatches.is_empty() && clean.unverified.is_empty(), "{clean:?}");
    assert_eq!(clean.shards, corpus.manifest().shards.len());
    let body: u64 = corpus.manifest().shards.iter().map(|s| s.tokens * 2).sum();
    assert_eq!(clean.bytes, body);
    clean.check().unwrap();
    drop(corpus);
    let (ok, stdout, stderr) = corpus_cli(&["verify", dir.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains(&format!("{} shards", clean.shards)) && stdout.contains("GB/s"), "{stdout}");

    // The lowest bit of an id: still a valid id (the vocabulary size is even), so only the
    // hash can tell.
    let rel = "validation/ru/00000.bin";
    let id = read_u16(&dir.join(rel), 3);
    poke_u16(&dir.join(rel), 3, id ^ 1);
    let corpus = Corpus::open(&dir).unwrap();
    let report = corpus.verify(false).unwrap();
    assert_eq!(report.mismatches.len(), 1, "{report:?}");
    assert!(report.mismatches[0].path.ends_with(rel), "{report:?}");
    let err = report.check().unwrap_err().to_string();
    assert!(err.contains(rel) && err.contains("SHA-256"), "{err}");
    let (ok, stdout, stderr) = corpus_cli(&["verify", dir.to_str().unwrap()]);
    assert!(!ok, "{stdout}");
    assert!(stderr.contains(rel), "{stderr}");
}

#[test]
fn an_older_manifest_without_hashes_still_opens_and_says_it_cannot_be_verified() {
    let (_tmp, dir) = copy();
    let mut m = manifest_json(&dir);
    let shards = m["shards"].as_array().unwrap().len();
    assert!(m["shards"][0]["sha256"].as_str().is_some_and(|h| h.len() == 64), "{}", m["shards"][0]);
    assert!(m["shards"][0]["max_token_id"].as_u64().is_some_and(|id| id < VOCAB as u64));
    m["version"] = serde_json::json!(1);
    for shard in m["shards"].as_array_mut().unwrap() {
        let shard = shard.as_object_mut().unwrap();
        shard.remove("sha256");
        shard.remove("max_token_id");
    }
    write_manifest(&dir, &m);

    let corpus = Corpus::open(&dir).unwrap();
    let report = corpus.verify(false).unwrap();
    assert_eq!((report.unverified.len(), report.mismatches.len()), (shards, 0), "{report:?}");
    // Nothing to compare against is not a failure of the data.
    report.check().unwrap();
    drop(corpus);

    let (ok, _, stderr) = corpus_cli(&["inspect", dir.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert_eq!(stderr.matches("cannot be verified").count(), 1, "{stderr}");
    let (ok, _, stderr) = corpus_cli(&["verify", dir.to_str().unwrap()]);
    assert!(!ok && stderr.contains("cannot be verified") && stderr.contains("--force"), "{stderr}");

    // A version-2 manifest must carry both fields.
    let mut m = manifest_json(&dir);
    m["version"] = serde_json::json!(2);
    write_manifest(&dir, &m);
    let err = Corpus::open(&dir).unwrap_err().to_string();
    assert!(err.contains("train/de/00000.bin") && err.contains("sha256"), "{err}");
}
