//! Faults of a fine-tuning run that must not pass silently: a diverging learning rate, settings
//! outside their range (named with their line or `--set`), a classifier made blind by its
//! configuration, and a corrupted init, which must leave nothing that blocks the rerun.

mod common;

use std::path::{Path, PathBuf};

use common::root;
use finetune::config::Attention;
use finetune::FinetuneConfig;

/// Language ID on the bundled sample, from scratch with a real tokenizer, a few steps.
fn config(out: &Path) -> FinetuneConfig {
    FinetuneConfig {
        scratch_tokenizer: common::minilm().join("tokenizer.json").display().to_string(),
        output_dir: out.to_path_buf(),
        train_file: root().join("data/tasks/lid-sample/train.jsonl"),
        validation_file: root().join("data/tasks/lid-sample/validation.jsonl"),
        max_seq_length: 64,
        max_steps: 6,
        eval_steps: 3,
        per_device_train_batch_size: 16,
        learning_rate: 1e-3,
        device: "cpu".into(),
        ..FinetuneConfig::default()
    }
}

fn all_finite(dir: &Path) -> bool {
    tch::Tensor::read_safetensors(dir.join("model.safetensors"))
        .unwrap()
        .iter()
        .all(|(_, t)| bool::try_from(t.isfinite().all()).unwrap())
}

#[test]
fn a_diverging_step_stops_the_run_and_nothing_non_finite_is_saved() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = config(&tmp.path().join("run"));
    c.learning_rate = 1e6;
    c.max_grad_norm = 0.0;
    c.max_steps = 60;
    let err = format!("{:#}", finetune::trainer::train(&c).unwrap_err());
    assert!(err.contains("not applied") && err.contains("learning_rate"), "{err}");
    for name in ["best", "final"] {
        let dir = c.output_dir.join(name);
        assert!(!dir.exists() || all_finite(&dir), "{name}/ holds non-finite weights");
    }
    assert!(!c.output_dir.join("final").exists(), "a stopped run has no final/");
}

#[test]
fn settings_outside_their_range_name_the_key_and_its_origin() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("run.toml");
    let mut base = toml::to_string(&config(&tmp.path().join("run"))).unwrap();
    base = base.replace("learning_rate = 0.001", "learning_rate = -0.001");
    std::fs::write(&file, &base).unwrap();
    let line = base.lines().position(|l| l.starts_with("learning_rate")).unwrap() + 1;
    let err = format!("{:#}", FinetuneConfig::load(&file, &[]).unwrap_err());
    assert!(err.contains(&format!("run.toml:{line}: learning_rate = -0.001: must be a finite number > 0")), "{err}");
    // The same value given with --set is blamed on the --set, not on the file.
    let err = format!("{:#}", FinetuneConfig::load(&file, &["learning_rate=-2".into()]).unwrap_err());
    assert!(err.starts_with("--set learning_rate=-2: learning_rate = -2"), "{err}");
    for (set, key) in [
        ("num_train_epochs=-1.0", "num_train_epochs"),
        ("adam_beta1=1.5", "adam_beta1"),
        ("adam_beta2=2", "adam_beta2"),
        ("adam_epsilon=0", "adam_epsilon"),
        ("max_grad_norm=-1", "max_grad_norm"),
        ("weight_decay=-0.1", "weight_decay"),
        ("learning_rate=nan", "learning_rate"),
        ("learning_rate=inf", "learning_rate"),
    ] {
        let sets = ["learning_rate=1e-3".to_string(), "max_steps=0".to_string(), set.to_string()];
        let err = format!("{:#}", FinetuneConfig::load(&file, &sets).unwrap_err());
        assert!(err.starts_with(&format!("--set {set}: {key} = ")), "{set}: {err}");
    }
    // A type error in the file names its line.
    std::fs::write(&file, base.replace("learning_rate = -0.001", "learning_rate = \"fast\"")).unwrap();
    let err = format!("{:#}", FinetuneConfig::load(&file, &[]).unwrap_err());
    assert!(err.contains(&format!("line {line}")) && err.contains("learning_rate"), "{err}");
}

#[test]
fn a_causal_classifier_pooled_on_cls_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = config(&tmp.path().join("run"));
    c.attention = Attention::Causal;
    let err = format!("{:#}", finetune::trainer::train(&c).unwrap_err());
    assert!(err.contains("pooling") && err.contains("\"last\""), "{err}");
    assert!(!c.output_dir.exists(), "a refused run writes nothing");
}

#[test]
fn a_corrupted_init_is_refused_and_leaves_nothing_that_blocks_the_rerun() {
    let tmp = tempfile::tempdir().unwrap();
    // A checkpoint of our own: a first fine-tuning's final/.
    let first = finetune::trainer::train(&config(&tmp.path().join("first"))).unwrap();
    let init: PathBuf = tmp.path().join("init");
    std::fs::create_dir_all(&init).unwrap();
    for e in std::fs::read_dir(first.output_dir.join("final")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), init.join(e.file_name())).unwrap();
    }
    let weights = init.join("model.safetensors");
    let good = std::fs::read(&weights).unwrap();
    let mut bad = good.clone();
    let at = bad.len() - 7;
    bad[at] ^= 0x40;
    std::fs::write(&weights, &bad).unwrap();

    let mut c = config(&tmp.path().join("second"));
    c.scratch_tokenizer = String::new();
    c.model_name_or_path = init.display().to_string();
    let err = format!("{:#}", finetune::trainer::train(&c).unwrap_err());
    assert!(err.contains("model.safetensors") && err.contains("differs"), "{err}");
    // Restored, the same config runs: the failed attempt left nothing in the way.
    std::fs::write(&weights, &good).unwrap();
    finetune::trainer::train(&c).unwrap();
}
