//! The training stage end to end on the bundled sample: exact resume after a crash, gradient
//! accumulation, refusals (a misspelt `POLYGLOT_CPU_GEMM` among them), and the `--text`
//! evaluation protocol against transformers.
//!
//! libtorch's random generator is process-wide, so the tests of this file run one at a time.

mod common;

use common::{root, tiny_config};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};

use pretrain::{Objective, PretrainConfig, Resume};

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

fn config(out_dir: &Path, name: &str) -> PretrainConfig {
    let mut c = tiny_config(out_dir, name);
    c.optim.max_steps = 20;
    c.optim.warmup_steps = 5;
    c.eval.every = 10;
    c.checkpoint.every = 10;
    c.checkpoint.keep_last = 5;
    c
}

fn no_stop() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

fn losses(run: &Path) -> Vec<(u64, f64)> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v.get("split").is_none())
        .map(|v| (v["step"].as_u64().unwrap(), v["loss"].as_f64().unwrap()))
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn a_run_resumed_after_a_crash_is_bit_identical_to_an_uninterrupted_one() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let a = pretrain::train(&config(tmp.path(), "a"), Resume::No, no_stop()).unwrap();
    assert_eq!(a.steps, 20);
    let first = losses(&a.run_dir);
    assert!(first.last().unwrap().1 < first.first().unwrap().1, "the loss should fall: {first:?}");

    // Run b "crashed" after its step-10 checkpoint: its run directory holds only that.
    let b_dir = tmp.path().join("b");
    copy_dir(&a.run_dir.join("checkpoints/step-0000010"), &b_dir.join("checkpoints/step-0000010"));
    // A half-written checkpoint from the crash must be ignored.
    std::fs::create_dir_all(b_dir.join("checkpoints/step-0000015")).unwrap();
    let b = pretrain::train(&config(tmp.path(), "b"), Resume::Latest, no_stop()).unwrap();
    assert_eq!(b.steps, 20);
    let wa = std::fs::read(a.run_dir.join("final/model.safetensors")).unwrap();
    let wb = std::fs::read(b.run_dir.join("final/model.safetensors")).unwrap();
    assert!(wa == wb, "weights after resume differ from the uninterrupted run");
    let resumed: Vec<_> = losses(&b.run_dir);
    assert_eq!(resumed, first[10..].to_vec(), "losses after resume differ");

    // Starting again without --resume over existing checkpoints is refused.
    let err = pretrain::train(&config(tmp.path(), "a"), Resume::No, no_stop()).unwrap_err().to_string();
    assert!(err.contains("--resume"), "{err}");
    // Resuming with other settings is refused, naming them.
    let mut other = config(tmp.path(), "a");
    other.optim.weight_decay = 0.02;
    let err = pretrain::train(&other, Resume::Latest, no_stop()).unwrap_err().to_string();
    assert!(err.contains("other settings (optim.weight_decay = 0.02 (checkpoint: 0.01))"), "{err}");
}

#[test]
fn accumulated_micro_batches_give_the_update_of_one_large_batch() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let mut one = config(tmp.path(), "one");
    one.model.hidden_dropout_prob = 0.0;
    one.model.attention_probs_dropout_prob = 0.0;
    one.optim.max_steps = 3;
    one.optim.batch_size = 16;
    let mut two = one.clone();
    two.name = "two".into();
    two.optim.batch_size = 8;
    two.optim.grad_accum = 2;
    let a = pretrain::train(&one, Resume::No, no_stop()).unwrap();
    let b = pretrain::train(&two, Resume::No, no_stop()).unwrap();
    let read = |run: &Path| -> Vec<(String, tch::Tensor)> {
        let mut t = tch::Tensor::read_safetensors(run.join("final/model.safetensors")).unwrap();
        t.sort_by(|a, b| a.0.cmp(&b.0));
        t
    };
    // Loss and gradient norm (before clipping: scale-sensitive, unlike AdamW's update) agree.
    let rows = |run: &Path| -> Vec<(f64, f64)> {
        std::fs::read_to_string(run.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v.get("grad_norm").is_some())
            .map(|v| (v["loss"].as_f64().unwrap(), v["grad_norm"].as_f64().unwrap()))
            .collect()
    };
    let (ra, rb) = (rows(&a.run_dir), rows(&b.run_dir));
    assert_eq!(ra.len(), 3);
    for ((la, ga), (lb, gb)) in ra.iter().zip(&rb) {
        assert!((la - lb).abs() < 1e-5 * la && (ga - gb).abs() < 1e-4 * ga, "{ra:?} vs {rb:?}");
    }
    for ((na, ta), (nb, tb)) in read(&a.run_dir).iter().zip(read(&b.run_dir).iter()) {
        assert_eq!(na, nb);
        assert!(ta.allclose(tb, 1e-5, 1e-6, false), "{na} differs between 16×1 and 8×2");
    }
}

#[test]
fn mlm_trains_and_bad_settings_are_refused_with_clear_errors() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let mut mlm = config(tmp.path(), "mlm");
    mlm.objective.kind = Objective::Mlm;
    mlm.optim.max_steps = 6;
    let out = pretrain::train(&mlm, Resume::No, no_stop()).unwrap();
    assert!(out.eval.iter().all(|e| e.loss.is_finite()));
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.run_dir.join("final/config.json")).unwrap()).unwrap();
    assert_eq!(saved["architectures"][0], "BertForMaskedLM");
    assert_eq!(saved["is_decoder"], false);

    let mut nan = config(tmp.path(), "nan");
    nan.optim.lr = 1e6;
    nan.optim.warmup_steps = 0;
    nan.optim.grad_clip = 0.0;
    nan.optim.max_steps = 50;
    let err = pretrain::train(&nan, Resume::No, no_stop()).unwrap_err().to_string();
    assert!(err.contains("not applied") && err.contains("start over with a lower optim.lr"), "{err}");

    let mut long = config(tmp.path(), "long");
    long.objective.k = 64;
    let err = pretrain::train(&long, Resume::No, no_stop()).unwrap_err().to_string();
    assert!(err.contains("max_position_embeddings = 33"), "{err}");

    let mut missing = config(tmp.path(), "missing");
    missing.corpus = tmp.path().join("no-such-corpus");
    let err = format!("{:#}", pretrain::train(&missing, Resume::No, no_stop()).unwrap_err());
    assert!(err.contains("no-such-corpus") && err.contains("not a corpus directory"), "{err}");

    let locked = tmp.path().join("locked");
    std::fs::create_dir_all(&locked).unwrap();
    let holder = training::RunDir::lock(&locked).unwrap();
    let err = pretrain::train(&config(tmp.path(), "locked"), Resume::No, no_stop()).unwrap_err().to_string();
    assert!(err.contains(&format!("another run (pid {})", std::process::id())), "{err}");
    drop(holder);

    // A checkpoint whose tokenizer is not the corpus's is refused as init.
    let minilm = common::minilm();
    let mut init = config(tmp.path(), "init");
    init.init = minilm.display().to_string();
    let err = pretrain::train(&init, Resume::No, no_stop()).unwrap_err().to_string();
    assert!(err.contains("another tokenizer") && err.contains("corpus build --tokenizer"), "{err}");
}

#[test]
fn eval_text_matches_transformers_under_the_documented_protocol() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let model_dir = tmp.path().join("tiny-lm");
    let text = root().join("data/sample/en/udhr.txt");
    let python = root().join(".venv/bin/python");
    assert!(python.exists(), "{} missing: run ./scripts/setup.sh", python.display());
    let out = std::process::Command::new(&python)
        .args([
            root().join("tests/parity/pretrain_eval_text.py").as_os_str(),
            model_dir.as_os_str(),
            text.as_os_str(),
            "24".as_ref(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let want: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let got = pretrain::eval::evaluate_text(&model_dir, &text, Some(24), tch::Device::Cpu).unwrap();
    assert_eq!(got.tokens, want["tokens"].as_u64().unwrap());
    let diff = (got.loss - want["loss"].as_f64().unwrap()).abs();
    assert!(diff <= 1e-4, "ours {} vs transformers {} (diff {diff:.2e})", got.loss, want["loss"]);
}

#[test]
fn a_misspelt_matmul_switch_is_an_error_naming_it() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pretrain"))
        .arg("doctor")
        .env("POLYGLOT_CPU_GEMM", "blas")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("POLYGLOT_CPU_GEMM=\"blas\"") && err.contains("onednn or mkl"), "{err}");
}

#[test]
fn sigterm_finishes_the_step_checkpoints_and_exits_zero_then_resume_completes() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let mut c = config(tmp.path(), "preempted");
    c.optim.max_steps = 100_000;
    c.checkpoint.every = 0;
    c.eval.every = 0;
    let path = tmp.path().join("c.toml");
    std::fs::write(&path, toml::to_string(&c).unwrap()).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_pretrain"))
        .args(["--config", path.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let metrics = tmp.path().join("preempted/metrics.jsonl");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::read_to_string(&metrics).map_or(0, |m| m.lines().count()) < 3 {
        assert!(std::time::Instant::now() < deadline, "no progress");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let status = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    assert!(stderr.contains("stopped by a signal"), "{stderr}");
    let saved = training::checkpoint::list(&tmp.path().join("preempted/checkpoints"));
    let (state, _) = saved.last().expect("a checkpoint on SIGTERM");
    drop(training::RunDir::lock(&tmp.path().join("preempted")).expect("the lock is released"));

    // Resume to a near end: it continues from the checkpoint's step.
    c.optim.max_steps = state.step + 3;
    let done = pretrain::train(&c, Resume::Latest, no_stop()).unwrap();
    assert_eq!(done.steps, state.step + 3);
}

#[test]
fn shipped_configs_parse_and_validate() {
    for name in ["tiny", "small", "base"] {
        let path = root().join(format!("configs/pretrain/{name}.toml"));
        let c = PretrainConfig::load(&path, &[]).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
        assert_eq!(c.name, name);
        assert!(c.seq_len() < c.model.max_position_embeddings, "{name}: k + 1 positions must fit");
    }
    let err = PretrainConfig::load(&root().join("configs/pretrain/tiny.toml"), &["optim.lrr=1".into()]).unwrap_err();
    assert!(format!("{err:#}").contains("did you mean `optim.lr`"), "{err:#}");
}

#[test]
fn eval_refuses_a_checkpoint_without_a_trained_lm_head() {
    let minilm = common::minilm();
    let text = root().join("data/sample/en/udhr.txt");
    let err = format!("{:#}", pretrain::eval::evaluate_text(&minilm, &text, Some(24), tch::Device::Cpu).unwrap_err());
    assert!(
        err.contains("not a trained language model") && err.contains("cls.predictions.transform.dense.weight"),
        "{err}"
    );
}

#[test]
fn transformers_loads_the_pretrained_encoder_as_trained_with_no_extra_arguments() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let mut c = config(tmp.path(), "export");
    c.optim.max_steps = 3;
    let out = pretrain::train(&c, Resume::No, no_stop()).unwrap();
    let final_dir = out.run_dir.join("final");
    // Cased text with accents: a lower-casing fallback tokenizer would change its ids.
    let texts = ["Alle Menschen sind frei", "Lütfen ÇOK güzel", "Все люди рождаются свободными"];
    let ours = tokenizers::Tokenizer::from_file(final_dir.join("tokenizer.json")).unwrap();
    let want: Vec<Vec<u32>> = texts.iter().map(|t| ours.encode(*t, true).unwrap().get_ids().to_vec()).collect();
    let python = root().join(".venv/bin/python");
    let got = std::process::Command::new(&python)
        .arg(root().join("tests/parity/hf_roundtrip.py"))
        .arg(&final_dir)
        .args(texts)
        .output()
        .unwrap();
    assert!(got.status.success(), "{}", String::from_utf8_lossy(&got.stderr));
    let got: serde_json::Value = serde_json::from_slice(&got.stdout).unwrap();
    // PreTrainedTokenizerFast (transformers 5 names its class TokenizersBackend), not BERT's
    // lower-casing fallback.
    let class = got["tokenizer_class"].as_str().unwrap();
    assert!(["PreTrainedTokenizerFast", "TokenizersBackend"].contains(&class), "{class}");
    assert_eq!(got["ids"], serde_json::json!(want), "AutoTokenizer's ids differ from ours");
    // The row length it was trained with: k + 1 = 17 positions.
    assert_eq!((got["model_max_length"].as_u64(), got["truncated_length"].as_u64()), (Some(17), Some(17)));
    assert_eq!(got["is_decoder"], false);
    assert_eq!(got["cls_states_differ"], true, "[CLS] has the same state for every input: causal attention");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(final_dir.join("config.json")).unwrap()).unwrap();
    assert_eq!((saved["pretraining_objective"].as_str(), saved["pretraining_k"].as_u64()), (Some("causal"), Some(16)));
}
