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
    c.max_steps = 20;
    c.warmup_steps = 5;
    c.eval_steps = 10;
    c.save_steps = 10;
    c.save_total_limit = 5;
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
    other.weight_decay = 0.02;
    let err = pretrain::train(&other, Resume::Latest, no_stop()).unwrap_err().to_string();
    assert!(err.contains("other settings (weight_decay = 0.02 (checkpoint: 0.01))"), "{err}");
}

#[test]
fn accumulated_micro_batches_give_the_update_of_one_large_batch() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let mut one = config(tmp.path(), "one");
    one.model.hidden_dropout_prob = 0.0;
    one.model.attention_probs_dropout_prob = 0.0;
    one.max_steps = 3;
    one.per_device_train_batch_size = 16;
    let mut two = one.clone();
    two.output_dir = tmp.path().join("two");
    two.per_device_train_batch_size = 8;
    two.gradient_accumulation_steps = 2;
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
    mlm.max_steps = 6;
    let out = pretrain::train(&mlm, Resume::No, no_stop()).unwrap();
    assert!(out.eval.iter().all(|e| e.loss.is_finite()));
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.run_dir.join("final/config.json")).unwrap()).unwrap();
    assert_eq!(saved["architectures"][0], "BertForMaskedLM");
    assert_eq!(saved["is_decoder"], false);

    let mut nan = config(tmp.path(), "nan");
    nan.learning_rate = 1e6;
    nan.warmup_steps = 0;
    nan.max_grad_norm = 0.0;
    nan.max_steps = 50;
    let err = pretrain::train(&nan, Resume::No, no_stop()).unwrap_err().to_string();
    assert!(err.contains("not applied") && err.contains("start over with a lower learning_rate"), "{err}");

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
    init.model_name_or_path = Some(minilm.clone());
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
    c.max_steps = 100_000;
    c.save_steps = 0;
    c.eval_steps = 0;
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
    c.max_steps = state.step + 3;
    let done = pretrain::train(&c, Resume::Latest, no_stop()).unwrap();
    assert_eq!(done.steps, state.step + 3);
}

#[test]
fn shipped_configs_parse_and_validate() {
    for name in ["tiny", "small", "base"] {
        let path = root().join(format!("configs/pretrain/{name}.toml"));
        let c = PretrainConfig::load(&path, &[]).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
        assert_eq!(c.output_dir, Path::new("runs").join(name));
        assert!(c.seq_len() < c.model.max_position_embeddings, "{name}: k + 1 positions must fit");
    }
    let err = PretrainConfig::load(&root().join("configs/pretrain/tiny.toml"), &["learning_rat=1".into()]).unwrap_err();
    assert!(format!("{err:#}").contains("did you mean `learning_rate`"), "{err:#}");
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
    c.max_steps = 3;
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

#[test]
fn an_old_key_name_is_refused_naming_the_new_one_and_where_it_was_given() {
    let tmp = tempfile::tempdir().unwrap();
    // Keys as configs/pretrain/*.toml had them before they took transformers' names.
    let old = tmp.path().join("old.toml");
    std::fs::write(
        &old,
        "name = \"tiny\"\nout_dir = \"runs\"\ndtype = \"auto\"\n\n[optim]\nlr = 2e-3\ngrad_accum = 1\n\n[eval]\n\
         every = 500\nmax_windows = 32\n\n[checkpoint]\nkeep_last = 2\nkeep_best = 1\n\n[log]\nevery = 20\n",
    )
    .unwrap();
    let pretrain =
        |args: &[&str]| std::process::Command::new(env!("CARGO_BIN_EXE_pretrain")).args(args).output().unwrap();
    let out = pretrain(&["--config", old.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let file = old.display();
    for line in [
        format!("{file}:1: `name` was renamed to `output_dir`: `output_dir` is the run directory itself"),
        format!("{file}:2: `out_dir` was renamed to `output_dir`"),
        format!("{file}:3: `dtype` was renamed to `bf16`, a bool"),
        format!("{file}:6: `optim.lr` was renamed to `learning_rate`"),
        format!("{file}:7: `optim.grad_accum` was renamed to `gradient_accumulation_steps`"),
        format!("{file}:10: `eval.every` was renamed to `eval_steps`"),
        format!("{file}:14: `checkpoint.keep_last` was renamed to `save_total_limit`"),
        format!("{file}:18: `log.every` was renamed to `logging_steps`"),
    ] {
        assert!(err.contains(&line), "missing {line:?} in {err}");
    }
    // The keys transformers has no name for keep theirs.
    assert!(!err.contains("max_windows") && !err.contains("keep_best"), "{err}");

    let preset = root().join("configs/pretrain/tiny.toml");
    let out = pretrain(&["--config", preset.to_str().unwrap(), "--set", "optim.lr=1e-3", "--set", "log.every=5"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--set optim.lr=1e-3: `optim.lr` was renamed to `learning_rate`"), "{err}");
    assert!(err.contains("--set log.every=5: `log.every` was renamed to `logging_steps`"), "{err}");
}

#[test]
fn mlm_rows_count_input_tokens_and_targets_apart_and_carry_the_epoch() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let mut c = config(tmp.path(), "mlm-rows");
    c.objective.kind = Objective::Mlm;
    c.max_steps = 6;
    c.eval_steps = 0;
    let out = pretrain::train(&c, Resume::No, no_stop()).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(common::sample_corpus().join("manifest.json")).unwrap()).unwrap();
    let train_tokens: u64 =
        manifest["languages"].as_object().unwrap().values().map(|l| l["train"]["tokens"].as_u64().unwrap()).sum();
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(out.run_dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v.get("split").is_none())
        .collect();
    assert_eq!(rows.len(), 6);
    let (mut tokens_before, mut targets_before, mut epoch_before) = (0, 0, 0.0);
    for (step, r) in (1u64..).zip(&rows) {
        // Every token of every row went through the model: 8 rows × 16 tokens a step.
        let tokens = r["num_input_tokens_seen"].as_u64().unwrap();
        assert_eq!(tokens, step * 8 * 16, "{r}");
        let drawn: u64 = r["tokens_drawn"].as_object().unwrap().values().map(|n| n.as_u64().unwrap()).sum();
        assert_eq!(drawn, tokens, "{r}");
        let epoch = r["epoch"].as_f64().unwrap();
        assert!((epoch - tokens as f64 / train_tokens as f64).abs() < 1e-12, "{r}: {train_tokens} training tokens");
        assert!(epoch > epoch_before, "{r}");
        // Both rates share the interval: their ratio is that of the counts.
        let targets = r["targets_seen"].as_u64().unwrap();
        let ratio = r["tokens_per_s"].as_f64().unwrap() / r["targets_per_s"].as_f64().unwrap();
        let want = (tokens - tokens_before) as f64 / (targets - targets_before) as f64;
        assert!((ratio - want).abs() < 1e-9 * want && ratio > 4.0, "{r}: tokens/targets {ratio}, counts {want}");
        (tokens_before, targets_before, epoch_before) = (tokens, targets, epoch);
    }
    // About mlm_probability (0.15) of the tokens that are not separators are targets.
    let share = targets_before as f64 / tokens_before as f64;
    assert!((0.1..0.2).contains(&share), "{share}");
}

/// Rewrites the trainer state of checkpoint `dir` as the code before the keys took transformers'
/// names (commit cd3d7e1) wrote it: settings under the old names (`bf16 = false` was
/// `dtype = "auto"` on a CPU) and the hash it computed over them, with the checksum updated. The
/// hash is that code's formula, checked against a checkpoint it wrote.
fn write_state_in_old_names(dir: &Path) {
    use sha2::Digest;
    let path = dir.join(training::checkpoint::STATE_FILE);
    let mut state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let settings: std::collections::BTreeMap<String, String> =
        serde_json::from_value(state["extra"]["settings"].clone()).unwrap();
    let old: std::collections::BTreeMap<String, String> = settings
        .into_iter()
        .map(|(k, v)| match k.as_str() {
            "bf16" => ("dtype".to_string(), if v == "true" { "\"bf16\"" } else { "\"auto\"" }.to_string()),
            _ => match pretrain::config::RENAMED.iter().find(|r| r.new == k) {
                Some(r) => (r.old.to_string(), v),
                None => (k, v),
            },
        })
        .collect();
    assert!(old.contains_key("optim.lr") && old.contains_key("eval.max_windows") && !old.contains_key("max_steps"));
    const OLD_RESUMABLE: [&str; 8] = [
        "optim.lr",
        "optim.min_lr",
        "optim.warmup_steps",
        "optim.decay",
        "optim.max_steps",
        "eval.",
        "log.",
        "checkpoint.",
    ];
    let may_change = |k: &str| OLD_RESUMABLE.iter().any(|p| k == *p || (p.ends_with('.') && k.starts_with(p)));
    let text: String = old.iter().filter(|(k, _)| !may_change(k)).map(|(k, v)| format!("{k} = {v}\n")).collect();
    let hash: String = sha2::Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    state["config_hash"] = hash.into();
    state["extra"]["settings"] = serde_json::to_value(&old).unwrap();
    std::fs::write(&path, serde_json::to_string_pretty(&state).unwrap()).unwrap();
    let mut sums = model::checksums::Checksums::read(dir).unwrap().unwrap();
    sums.insert(training::checkpoint::STATE_FILE, model::checksums::hash_file(&path).unwrap());
    sums.write(dir).unwrap();
}

#[test]
fn a_checkpoint_written_before_the_rename_resumes_and_is_compared_in_the_new_names() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let a = pretrain::train(&config(tmp.path(), "a"), Resume::No, no_stop()).unwrap();
    let b_dir = tmp.path().join("b");
    let old = b_dir.join("checkpoints/step-0000010");
    copy_dir(&a.run_dir.join("checkpoints/step-0000010"), &old);
    write_state_in_old_names(&old);
    let b = pretrain::train(&config(tmp.path(), "b"), Resume::Latest, no_stop()).unwrap();
    assert_eq!(b.steps, 20);
    let wa = std::fs::read(a.run_dir.join("final/model.safetensors")).unwrap();
    let wb = std::fs::read(b.run_dir.join("final/model.safetensors")).unwrap();
    assert!(wa == wb, "weights after resuming the old checkpoint differ from the uninterrupted run");
    assert_eq!(losses(&b.run_dir), losses(&a.run_dir)[10..].to_vec());

    // What may not change is refused in the new names.
    let c_dir = tmp.path().join("c");
    copy_dir(&old, &c_dir.join("checkpoints/step-0000010"));
    let mut other = config(tmp.path(), "c");
    other.weight_decay = 0.02;
    let err = pretrain::train(&other, Resume::Latest, no_stop()).unwrap_err().to_string();
    assert!(err.contains("other settings (weight_decay = 0.02 (checkpoint: 0.01))"), "{err}");
    // bf16 differs from what dtype = "auto" meant on this CPU.
    let mut bf16 = config(tmp.path(), "c");
    bf16.bf16 = true;
    let err = pretrain::train(&bf16, Resume::Latest, no_stop()).unwrap_err().to_string();
    assert!(err.contains("other settings (bf16 = true (checkpoint: false))"), "{err}");
}
