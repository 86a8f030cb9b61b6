//! Data-parallel pretraining with real processes on c10d's Gloo backend (the CPU counterpart of
//! the NCCL path): 2 ranks × batch B train the same model as 1 rank × batch 2B, a resumed
//! 2-rank run equals an uninterrupted one, and faults end every rank with a clear error.

mod common;

use common::{sample_corpus, tiny_config};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use pretrain::PretrainConfig;
use tch::Tensor;

/// A tiny causal run without dropout (dropout masks depend on how rows are split over ranks).
fn config(out_dir: &Path, name: &str, batch_size: i64) -> PretrainConfig {
    let mut c = tiny_config(out_dir, name);
    c.model.hidden_dropout_prob = 0.0;
    c.model.attention_probs_dropout_prob = 0.0;
    c.per_device_train_batch_size = batch_size;
    c.max_steps = 8;
    c.warmup_steps = 0;
    c.lr_scheduler_type = training::Decay::Constant;
    c.learning_rate = 3e-3;
    c.eval_steps = 0;
    c.save_steps = 4;
    c.ddp_timeout = 20;
    c
}

fn write_config(dir: &Path, c: &PretrainConfig, file: &str) -> PathBuf {
    let path = dir.join(file);
    std::fs::write(&path, toml::to_string(c).unwrap()).unwrap();
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts rank `rank` of `world` with torchrun's variables.
fn spawn_rank(config: &Path, rank: usize, world: usize, port: u16, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_pretrain"))
        .arg("--config")
        .arg(config)
        .args(extra)
        .env("RANK", rank.to_string())
        .env("LOCAL_RANK", rank.to_string())
        .env("WORLD_SIZE", world.to_string())
        .env("MASTER_ADDR", "127.0.0.1")
        .env("MASTER_PORT", port.to_string())
        .env_remove("TORCHELASTIC_USE_AGENT_STORE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs `world` ranks to completion; each rank's output.
fn run_ranks(configs: &[PathBuf], extra: &[&str]) -> Vec<Output> {
    let port = free_port();
    let children: Vec<Child> =
        configs.iter().enumerate().map(|(rank, c)| spawn_rank(c, rank, configs.len(), port, extra)).collect();
    children.into_iter().map(|c| c.wait_with_output().unwrap()).collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn weights(dir: &Path) -> Vec<(String, Tensor)> {
    let mut w = Tensor::read_safetensors(dir.join("model.safetensors")).unwrap();
    w.sort_by(|a, b| a.0.cmp(&b.0));
    w
}

fn max_difference(a: &Path, b: &Path) -> f64 {
    let (a, b) = (weights(a), weights(b));
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(&b)
        .map(|((na, ta), (nb, tb))| {
            assert_eq!(na, nb);
            (ta - tb).abs().max().double_value(&[])
        })
        .fold(0.0, f64::max)
}

fn eval_loss(checkpoint: &Path) -> f64 {
    let rows =
        pretrain::eval::evaluate_checkpoint_on_corpus(checkpoint, &sample_corpus(), 16, tch::Device::Cpu).unwrap();
    let v = serde_json::to_value(&rows).unwrap();
    v.as_array().unwrap().iter().map(|r| r["loss"].as_f64().unwrap()).sum()
}

#[test]
fn two_ranks_train_the_model_of_one_rank_with_twice_the_batch_and_resume_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let one = write_config(tmp.path(), &config(tmp.path(), "one", 16), "one.toml");
    let out = run_ranks(&[one], &[]);
    assert!(out[0].status.success(), "{}", stderr(&out[0]));

    let two = write_config(tmp.path(), &config(tmp.path(), "two", 8), "two.toml");
    let out = run_ranks(&[two.clone(), two.clone()], &[]);
    for o in &out {
        assert!(o.status.success(), "{}", stderr(o));
    }
    assert!(stderr(&out[0]).contains("8 per micro-batch × 1 micro-steps × 2 ranks"), "{}", stderr(&out[0]));
    let (a, b) = (tmp.path().join("one/final"), tmp.path().join("two/final"));
    let diff = max_difference(&a, &b);
    assert!(diff <= 1e-5, "2 ranks × 8 vs 1 rank × 16: weights differ by {diff}");
    let (la, lb) = (eval_loss(&a), eval_loss(&b));
    assert!((la - lb).abs() < 1e-4, "eval loss {la} vs {lb}");
    // Only rank 0 wrote: one metrics file with the job's tokens.
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(tmp.path().join("two/metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let training: Vec<_> = rows.iter().filter(|r| r.get("split").is_none()).collect();
    assert_eq!(training.len(), 8);
    assert_eq!(training[7]["targets_seen"], 8 * 16 * 16, "8 steps × 16 rows × k = 16 targets");
    assert_eq!(training[7]["num_input_tokens_seen"], 8 * 16 * 16, "8 steps × 16 rows × k = 16 tokens");

    // Stopped at step 4 and resumed on 2 ranks: the same weights as without the stop.
    let mut short = config(tmp.path(), "resumed", 8);
    short.max_steps = 4;
    let short = write_config(tmp.path(), &short, "short.toml");
    for o in run_ranks(&[short.clone(), short], &[]) {
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let full = write_config(tmp.path(), &config(tmp.path(), "resumed", 8), "resumed.toml");
    for o in run_ranks(&[full.clone(), full], &["--resume"]) {
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let diff = max_difference(&tmp.path().join("resumed/final"), &b);
    assert!(diff == 0.0, "resumed 2-rank run differs by {diff}");
}

#[test]
fn ranks_with_other_settings_a_dead_rank_and_a_busy_port_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    // Different settings: every rank refuses to start.
    let a = write_config(tmp.path(), &config(tmp.path(), "mixed", 8), "a.toml");
    let mut other = config(tmp.path(), "mixed", 8);
    other.learning_rate = 1e-3;
    let b = write_config(tmp.path(), &other, "b.toml");
    for o in run_ranks(&[a.clone(), b], &[]) {
        assert!(!o.status.success());
        assert!(stderr(&o).contains("configuration"), "{}", stderr(&o));
    }

    // A rank that dies mid-run: the other exits non-zero with a clear message, well within
    // its timeout (20 s), never hangs.
    let mut long = config(tmp.path(), "dead", 8);
    long.max_steps = 100_000;
    long.save_steps = 0;
    let long = write_config(tmp.path(), &long, "long.toml");
    let port = free_port();
    let survivor = spawn_rank(&long, 0, 2, port, &[]);
    let mut victim = spawn_rank(&long, 1, 2, port, &[]);
    std::thread::sleep(Duration::from_secs(3));
    victim.kill().unwrap();
    let _ = victim.wait();
    let started = Instant::now();
    let out = survivor.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(started.elapsed() < Duration::from_secs(25), "took {:?}", started.elapsed());
    let message = stderr(&out);
    assert!(message.contains("error") && (message.contains("rank") || message.contains("peer")), "{message}");

    // The rendezvous port is taken: a clear error naming it.
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let out = spawn_rank(&a, 0, 2, port, &[]).wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains(&format!("port {port}")) && stderr(&out).contains("in use"), "{}", stderr(&out));
}
