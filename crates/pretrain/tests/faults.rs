//! Fault injection on a tiny run of the real binary: kill -9 at random points (one before the
//! first checkpoint), a flipped byte in each file of the newest checkpoint, and a diverging
//! learning rate. After each, the run must end with the weights, losses, `metrics.jsonl` rows
//! and per-language token counts of the uninterrupted run, or stop with an error that says what
//! to do, never resume from something broken.
//!
//! `FAULTS_KILLS=N` sets the number of kills (default 6); `scripts/faults.sh` runs a longer soak.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use pretrain::PretrainConfig;

const STEPS: u64 = 30;

fn config(tmp: &Path, name: &str) -> PretrainConfig {
    let mut c = common::tiny_config(&tmp.join("runs"), name);
    c.max_steps = STEPS;
    c.warmup_steps = 5;
    c.eval_steps = 10;
    c.eval.max_windows = 4;
    c.save_steps = 5;
    c.save_total_limit = 3;
    c
}

fn write_config(tmp: &Path, c: &PretrainConfig) -> PathBuf {
    let name = c.output_dir.file_name().unwrap().to_string_lossy();
    let path = tmp.join(format!("{name}.toml"));
    std::fs::write(&path, toml::to_string(c).unwrap()).unwrap();
    path
}

fn pretrain(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pretrain")).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The training rows of `metrics.jsonl`: (step, loss, targets_seen, tokens_drawn).
fn training_rows(run: &Path) -> Vec<(u64, f64, u64, serde_json::Value)> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .filter(|v| v.get("split").is_none())
        .map(|v| {
            (
                v["step"].as_u64().unwrap(),
                v["loss"].as_f64().unwrap(),
                v["targets_seen"].as_u64().unwrap(),
                v["tokens_drawn"].clone(),
            )
        })
        .collect()
}

/// (step, language) of the validation rows.
fn validation_rows(run: &Path) -> Vec<(u64, String)> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["split"] == "validation")
        .map(|v| (v["step"].as_u64().unwrap(), v["lang"].as_str().unwrap().to_string()))
        .collect()
}

fn final_weights(run: &Path) -> Vec<u8> {
    std::fs::read(run.join("final/model.safetensors")).unwrap()
}

/// The steps of the checkpoints under `run`, oldest first.
fn checkpoint_steps(run: &Path) -> Vec<u64> {
    training::checkpoint::list(&run.join("checkpoints")).iter().map(|(s, _)| s.step).collect()
}

/// A seed that differs between runs (printed, so that a failure can be replayed with
/// `FAULTS_SEED`).
fn seed() -> u64 {
    std::env::var("FAULTS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    })
}

fn next(state: &mut u64) -> u64 {
    *state = training::seed::mix(*state);
    *state
}

/// Starts the run and kills it with SIGKILL once `metrics.jsonl` shows `after` training rows
/// and then `delay` more has passed: anywhere in a step, an evaluation or a checkpoint.
fn kill_during(config: &Path, run: &Path, resume: bool, after: usize, delay: Duration) -> bool {
    let mut args = vec!["--config", config.to_str().unwrap()];
    if resume {
        args.push("--resume");
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_pretrain"))
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "the run failed before its kill ({status})");
            return false; // finished before the kill point
        }
        let rows = std::fs::read_to_string(run.join("metrics.jsonl"))
            .map_or(0, |m| m.lines().filter(|l| !l.contains("\"split\"")).count());
        if rows >= after {
            break;
        }
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(delay);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    true
}

#[test]
fn kill_9_at_random_points_then_resume_gives_the_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let reference = write_config(tmp.path(), &config(tmp.path(), "reference"));
    let out = pretrain(&["--config", reference.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let reference_run = tmp.path().join("runs/reference");

    let kills: usize = std::env::var("FAULTS_KILLS").ok().and_then(|s| s.parse().ok()).unwrap_or(6);
    let seed = seed();
    eprintln!("FAULTS_SEED={seed} FAULTS_KILLS={kills}");
    let mut rng = seed;
    // One kill before the first checkpoint (step 5), then points spread over the run.
    let mut points: Vec<usize> = std::iter::once(1 + (next(&mut rng) % 3) as usize)
        .chain((1..kills).map(|_| 1 + (next(&mut rng) % (STEPS - 1)) as usize))
        .collect();
    points[1..].sort_unstable();
    let crashed = write_config(tmp.path(), &config(tmp.path(), "crashed"));
    let crashed_run = tmp.path().join("runs/crashed");
    let mut survived = 0;
    for (i, &after) in points.iter().enumerate() {
        let delay = Duration::from_micros(next(&mut rng) % 40_000);
        if kill_during(&crashed, &crashed_run, i > 0, after, delay) {
            survived += 1;
        }
    }
    let out = pretrain(&["--config", crashed.to_str().unwrap(), "--resume"]);
    assert!(out.status.success(), "{}", stderr(&out));
    eprintln!("kills at rows {points:?}: {survived} landed before the end");
    assert!(survived >= 2, "too few kills landed: {points:?}");

    assert!(final_weights(&crashed_run) == final_weights(&reference_run), "weights differ after {points:?}");
    let want = training_rows(&reference_run);
    let got = training_rows(&crashed_run);
    let steps: Vec<u64> = got.iter().map(|r| r.0).collect();
    assert_eq!(steps, (1..=STEPS).collect::<Vec<_>>(), "each step once in metrics.jsonl");
    assert_eq!(got, want, "losses, targets_seen or tokens_drawn differ from the uninterrupted run");
    assert_eq!(validation_rows(&crashed_run), validation_rows(&reference_run));
    let (state, _) = training::checkpoint::list(&crashed_run.join("checkpoints")).pop().unwrap();
    let (want_state, _) = training::checkpoint::list(&reference_run.join("checkpoints")).pop().unwrap();
    assert_eq!(state.extra["tokens_drawn"], want_state.extra["tokens_drawn"]);
    assert_eq!(state.tokens_seen, want_state.tokens_seen);
    let leftovers: Vec<_> = std::fs::read_dir(&crashed_run)
        .unwrap()
        .chain(std::fs::read_dir(crashed_run.join("checkpoints")).unwrap())
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.contains(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "half-written directories left behind: {leftovers:?}");
}

/// Flips one byte in the middle of `path`.
fn flip_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let i = bytes.len() / 2 + 3;
    bytes[i] ^= 0x10;
    std::fs::write(path, bytes).unwrap();
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.path().is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn a_flipped_byte_in_any_checkpoint_file_falls_back_to_the_previous_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    // The run "crashed" after its step-10 checkpoint; the clean resume from step 5 is the reference.
    let mut c = config(tmp.path(), "base");
    c.max_steps = 10;
    let base = write_config(tmp.path(), &c);
    let out = pretrain(&["--config", base.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let base_run = tmp.path().join("runs/base");
    assert_eq!(checkpoint_steps(&base_run), vec![5, 10]);

    let resume_to = |name: &str, prepare: &dyn Fn(&Path)| -> (PathBuf, Output) {
        let run = tmp.path().join("runs").join(name);
        std::fs::create_dir_all(run.join("checkpoints")).unwrap();
        for step in ["step-0000005", "step-0000010"] {
            copy_tree(&base_run.join("checkpoints").join(step), &run.join("checkpoints").join(step));
        }
        prepare(&run);
        let mut c = config(tmp.path(), name);
        c.max_steps = 15;
        let path = write_config(tmp.path(), &c);
        let out = pretrain(&["--config", path.to_str().unwrap(), "--resume"]);
        (run, out)
    };
    // From step 5, by hand: the weights a fallback must reach.
    let (clean, out) = resume_to("clean", &|run| {
        std::fs::remove_dir_all(run.join("checkpoints/step-0000010")).unwrap();
    });
    assert!(out.status.success(), "{}", stderr(&out));
    let want = final_weights(&clean);

    for file in training::checkpoint::FILES {
        let (run, out) = resume_to(&format!("flipped-{file}"), &|run| {
            flip_byte(&run.join("checkpoints/step-0000010").join(file));
        });
        let log = stderr(&out);
        assert!(out.status.success(), "{file}: {log}");
        assert!(log.contains(file) && log.contains("step-0000010"), "the warning names {file}: {log}");
        assert!(log.contains("resumed from") && log.contains("step-0000005"), "{file}: {log}");
        assert!(final_weights(&run) == want, "{file}: weights differ from a clean resume from step 5");
    }

    // An explicit --resume PATH that fails verification is an error, not a fallback.
    let bad = tmp.path().join("runs/explicit");
    copy_tree(&base_run.join("checkpoints"), &bad.join("checkpoints"));
    flip_byte(&bad.join("checkpoints/step-0000010/model.safetensors"));
    let mut c = config(tmp.path(), "explicit");
    c.max_steps = 15;
    let path = write_config(tmp.path(), &c);
    let from = bad.join("checkpoints/step-0000010");
    let out = pretrain(&["--config", path.to_str().unwrap(), "--resume", from.to_str().unwrap()]);
    let log = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("model.safetensors") && log.contains("differs"), "{log}");

    // A flipped init is refused the same way.
    let init = tmp.path().join("init");
    copy_tree(&base_run.join("final"), &init);
    flip_byte(&init.join("model.safetensors"));
    let mut c = config(tmp.path(), "from-init");
    c.model_name_or_path = Some(init.clone());
    let path = write_config(tmp.path(), &c);
    let out = pretrain(&["--config", path.to_str().unwrap()]);
    let log = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("model.safetensors") && log.contains("differs"), "{log}");
}

#[test]
fn a_diverging_step_is_not_applied_and_the_run_resumes_with_a_lower_lr() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = config(tmp.path(), "diverge");
    c.learning_rate = 1e3;
    c.warmup_steps = 0;
    c.max_steps = 200;
    c.save_steps = 2;
    let path = write_config(tmp.path(), &c);
    let out = pretrain(&["--config", path.to_str().unwrap()]);
    let log = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("not applied") && log.contains("finite weights") && !log.contains("panicked"), "{log}");
    let run = tmp.path().join("runs/diverge");
    let saved = training::checkpoint::list(&run.join("checkpoints"));
    assert!(!saved.is_empty(), "checkpoints before the stop");
    for (_, dir) in &saved {
        for file in ["model.safetensors", "optimizer.safetensors"] {
            for (name, t) in tch::Tensor::read_safetensors(dir.join(file)).unwrap() {
                if t.is_floating_point() {
                    assert!(
                        bool::try_from(t.isfinite().all()).unwrap(),
                        "{}/{file}: {name} is not finite",
                        dir.display()
                    );
                }
            }
        }
    }
    // The advice names a checkpoint to resume from; it works with a lower learning rate, and
    // the change is logged.
    let from = log
        .split("--resume ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("the error names a checkpoint to resume from: {log}"));
    let step: u64 = from.rsplit("step-").next().unwrap().parse().unwrap();
    let out = pretrain(&[
        "--config",
        path.to_str().unwrap(),
        "--resume",
        from,
        "--set",
        "learning_rate=1e-3",
        "--set",
        &format!("max_steps={}", step + 6),
    ]);
    let log = stderr(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("learning_rate = 0.001") && log.contains("1000"), "the change is logged: {log}");
    // What may not change is refused, naming the key.
    let out = pretrain(&["--config", path.to_str().unwrap(), "--resume", "--set", "adam_beta2=0.9"]);
    let log = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("adam_beta2 = 0.9 (checkpoint: 0.98)"), "{log}");
}

#[test]
fn settings_outside_their_range_name_the_key_and_its_origin() {
    let tmp = tempfile::tempdir().unwrap();
    let path = write_config(tmp.path(), &config(tmp.path(), "ranges"));
    let text = std::fs::read_to_string(&path).unwrap().replace("learning_rate = 0.001", "learning_rate = -0.001");
    std::fs::write(&path, &text).unwrap();
    let line = text.lines().position(|l| l.starts_with("learning_rate = ")).unwrap() + 1;
    let err = format!("{:#}", PretrainConfig::load(&path, &[]).unwrap_err());
    assert!(err.contains(&format!("ranges.toml:{line}: learning_rate = -0.001: must be a finite number > 0")), "{err}");
    for (set, key) in [
        ("learning_rate=-1", "learning_rate"),
        ("learning_rate=nan", "learning_rate"),
        ("learning_rate=inf", "learning_rate"),
        ("adam_beta1=1.5", "adam_beta1"),
        ("adam_beta2=2", "adam_beta2"),
        ("adam_epsilon=0", "adam_epsilon"),
        ("min_lr=0.5", "min_lr"),
        ("max_grad_norm=-1", "max_grad_norm"),
        ("weight_decay=-0.1", "weight_decay"),
        ("model.hidden_dropout_prob=1.0", "model.hidden_dropout_prob"),
        ("data.alpha=-1", "data.alpha"),
        ("per_device_eval_batch_size=0", "per_device_eval_batch_size"),
        ("per_device_train_batch_size=0", "per_device_train_batch_size"),
        ("model.num_attention_heads=0", "model.num_attention_heads"),
        ("model.hidden_size=30", "model.hidden_size"),
    ] {
        let sets = ["learning_rate=1e-3".to_string(), set.to_string()];
        let err = format!("{:#}", PretrainConfig::load(&path, &sets).unwrap_err());
        assert!(err.starts_with(&format!("--set {set}: {key} = ")), "{set}: {err}");
    }
    // A type error names its line.
    std::fs::write(&path, text.replace("learning_rate = -0.001", "learning_rate = \"fast\"")).unwrap();
    let err = format!("{:#}", PretrainConfig::load(&path, &[]).unwrap_err());
    assert!(err.contains(&format!("line {line}")) && err.contains("learning_rate"), "{err}");
}

/// Overwrites token ids of a shard after its 1,024-byte header with `id` (u16 shards): the
/// first `count` tokens, or all of them.
fn poison_shard(path: &Path, id: u16, count: Option<usize>) {
    let mut bytes = std::fs::read(path).unwrap();
    let tokens = (bytes.len() - 1024) / 2;
    for t in 0..count.unwrap_or(tokens).min(tokens) {
        bytes[1024 + 2 * t..1024 + 2 * t + 2].copy_from_slice(&id.to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn token_ids_outside_the_vocabulary_are_errors_naming_the_shard_never_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("corpus");
    copy_tree(&common::sample_corpus(), &corpus);
    let run = |name: &str, sets: &[&str]| -> Output {
        let mut c = config(tmp.path(), name);
        c.corpus = corpus.clone();
        c.max_steps = 10;
        let path = write_config(tmp.path(), &c);
        let mut args = vec!["--config", path.to_str().unwrap()];
        for s in sets {
            args.extend(["--set", s]);
        }
        pretrain(&args)
    };
    let expect_error = |out: &Output, needles: &[&str]| {
        let log = stderr(out);
        assert_eq!(out.status.code(), Some(1), "{log}");
        assert!(!log.contains("panicked"), "{log}");
        for n in needles {
            assert!(log.contains(n), "the error names {n}: {log}");
        }
    };
    // In a training shard: data.verify finds the shard changed since the build; without it,
    // the first read of an id names shard, language and offset.
    let train_shard = corpus.join("train/en/00000.bin");
    let clean = std::fs::read(&train_shard).unwrap();
    poison_shard(&train_shard, 60_000, None);
    expect_error(&run("train-verified", &[]), &["train/en/00000.bin", "data.verify"]);
    expect_error(&run("train-read", &["data.verify=false"]), &["train/en/00000.bin", "60000", "en"]);
    std::fs::write(&train_shard, &clean).unwrap();

    // In a validation shard, read by the evaluation.
    let validation_shard = corpus.join("validation/en/00000.bin");
    poison_shard(&validation_shard, 60_000, Some(3));
    expect_error(&run("validation-read", &["data.verify=false"]), &["validation/en/00000.bin", "60000"]);
    expect_error(&run("validation-verified", &[]), &["validation/en/00000.bin"]);
}

/// True once `pid` catches SIGTERM (bit 14 of `SigCgt` in /proc/PID/status).
fn catches_sigterm(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("SigCgt:").map(|m| m.trim().to_string())))
        .and_then(|m| u64::from_str_radix(&m, 16).ok())
        .is_some_and(|mask| mask & (1 << 14) != 0)
}

#[test]
fn sigterm_while_starting_up_still_stops_with_a_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    // The config is a FIFO: the run blocks reading it, at the very start, until it is written.
    let fifo = tmp.path().join("early.toml");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let child = Command::new(env!("CARGO_BIN_EXE_pretrain"))
        .args(["--config", fifo.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !catches_sigterm(child.id()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let mut c = config(tmp.path(), "early");
    c.max_steps = 1000;
    // The run may already be gone (SIGTERM with no handler): then nobody reads the FIFO.
    let writer = std::thread::spawn({
        let fifo = fifo.clone();
        let text = toml::to_string(&c).unwrap();
        move || {
            if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&fifo) {
                let _ = std::io::Write::write_all(&mut f, text.as_bytes());
            }
        }
    });
    let out = child.wait_with_output().unwrap();
    if !writer.is_finished() {
        // Unblock the writer: open the FIFO for reading once.
        let _ = std::fs::File::open(&fifo);
    }
    let _ = writer.join();
    let log = stderr(&out);
    assert!(out.status.success(), "exit {:?}: {log}", out.status);
    assert!(log.contains("stopped by a signal after step 1"), "{log}");
    assert_eq!(checkpoint_steps(&tmp.path().join("runs/early")), vec![1]);
}

#[test]
fn a_checkpoint_skipped_as_invalid_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = config(tmp.path(), "utf8");
    c.max_steps = 10;
    let path = write_config(tmp.path(), &c);
    assert!(pretrain(&["--config", path.to_str().unwrap()]).status.success());
    let state = tmp.path().join("runs/utf8/checkpoints/step-0000010/trainer_state.json");
    let mut bytes = std::fs::read(&state).unwrap();
    bytes[5] = 0xff;
    std::fs::write(&state, bytes).unwrap();
    c.max_steps = 12;
    let path = write_config(tmp.path(), &c);
    let out = pretrain(&["--config", path.to_str().unwrap(), "--resume"]);
    let log = stderr(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("trainer_state.json is not UTF-8") && log.contains("resumed from"), "{log}");
    assert!(log.contains("step-0000005"), "{log}");
}
