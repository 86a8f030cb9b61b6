//! bf16 matmuls (transformers' `bf16`) learn like f32. In a test binary of its own, on fixed data
//! and a fixed tokenizer, so that both runs are deterministic: libtorch's generator is per
//! process, and tests running beside each other would interleave its draws.

use std::path::Path;

mod common;

use common::{minilm, root};
use finetune::FinetuneConfig;

fn accuracy(out: &Path, bf16: bool) -> f64 {
    let data = root().join("data/tasks/lid-sample");
    let c = FinetuneConfig {
        scratch_tokenizer: minilm().join("tokenizer.json").display().to_string(),
        output_dir: out.to_path_buf(),
        train_file: data.join("train.jsonl"),
        validation_file: data.join("validation.jsonl"),
        max_seq_length: 64,
        max_steps: 150,
        eval_steps: 150,
        per_device_train_batch_size: 16,
        learning_rate: 1e-3,
        warmup_steps: 5,
        device: "cpu".into(),
        bf16,
        ..FinetuneConfig::default()
    };
    let out = finetune::trainer::train(&c).unwrap();
    out.best["scores"]["all"]["accuracy"].as_f64().unwrap()
}

#[test]
fn bf16_matmuls_train_like_f32() {
    let tmp = tempfile::tempdir().unwrap();
    let (f32, bf16) = (accuracy(&tmp.path().join("f32"), false), accuracy(&tmp.path().join("bf16"), true));
    // Chance is 1/17; rounding the matmuls to 8 mantissa bits must not stop the learning.
    eprintln!("bf16 {bf16} vs f32 {f32}");
    assert!(bf16 > 0.4 && (bf16 - f32).abs() < 0.15, "bf16 {bf16} vs f32 {f32}");
}
