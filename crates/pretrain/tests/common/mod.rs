//! Shared by the pretrain test binaries: the repository root and a corpus of the bundled sample.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// A corpus of the bundled sample (1,000-piece vocabulary, 20 % held out), built once per test
/// binary.
pub fn sample_corpus() -> PathBuf {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    DIR.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("corpus");
        let mut c = corpus::BuildConfig::for_directory(root().join("data/sample"), out.clone());
        c.tokenizer.vocab_size = 1000;
        c.val_fraction = 0.2;
        corpus::build(&c, false).unwrap();
        (tmp, out)
    })
    .1
    .clone()
}
