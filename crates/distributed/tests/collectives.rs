//! Real multi-process tests: this test binary re-executes itself as the ranks (the `child` test,
//! selected by DIST_TEST_ROLE), which meet through a c10d TCPStore on a free loopback port and run
//! Gloo collectives. Nothing is mocked.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use distributed::{Backend, DistError, Launch, Launcher, ProcessGroup};
use tch::{Device, Kind, Tensor};

const ROLE: &str = "DIST_TEST_ROLE";
const TIMEOUT_MS: &str = "DIST_TEST_TIMEOUT_MS";
/// A child that runs longer than this is killed and the test fails (no test may hang).
const CHILD_DEADLINE: Duration = Duration::from_secs(25);

/// The ranks' entry point: does nothing unless started by a test below with DIST_TEST_ROLE set.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let code = match run_child(&role) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("child error: {e}");
            1
        }
    };
    std::process::exit(code);
}

/// One line to stderr in a single write: `eprintln!` writes its pieces separately, and the two
/// ranks share one pipe, so their lines interleaved ("rank rank 10 of  of 22") and the parent's
/// check missed them. A write below PIPE_BUF is atomic.
fn report(line: &str) {
    let _ = std::io::stderr().write_all(format!("{line}\n").as_bytes());
}

fn run_child(role: &str) -> Result<(), DistError> {
    let launch = Launch::from_env()?;
    let timeout = Duration::from_millis(std::env::var(TIMEOUT_MS).ok().and_then(|v| v.parse().ok()).unwrap_or(10_000));
    let started = Instant::now();
    let pg = ProcessGroup::new(&launch, Backend::Gloo, timeout);
    report(&format!("rank {}: ProcessGroup::new took {:?}", launch.rank(), started.elapsed()));
    let pg = pg?;
    match role {
        "collectives" => collectives(&pg.with_bucket_bytes(1024)),
        "peer_exits" => {
            // Both ranks are fully connected (as after a few training steps) ...
            pg.barrier()?;
            if pg.rank() == 1 {
                // ... then rank 1 leaves without taking part in the next collective.
                std::process::exit(0);
            }
            std::thread::sleep(Duration::from_millis(300));
            let started = Instant::now();
            let result = pg.all_reduce_sum(&Tensor::ones([1000], (Kind::Float, Device::Cpu)));
            eprintln!("rank 0: all_reduce returned after {:?}", started.elapsed());
            result
        }
        "peer_stalls" => {
            if pg.rank() == 1 {
                // Alive but not taking part: rank 0 must give up after the timeout.
                std::thread::sleep(timeout + Duration::from_secs(2));
                std::process::exit(0);
            }
            let started = Instant::now();
            let result = pg.all_reduce_sum(&Tensor::ones([1000], (Kind::Float, Device::Cpu)));
            eprintln!("rank 0: all_reduce returned after {:?}", started.elapsed());
            result
        }
        "check_same" => {
            let corpus: &[u8] = if pg.rank() == 1 { b"corpus-B" } else { b"corpus-A" };
            pg.check_same("config", b"same config on every rank")?;
            pg.check_same("corpus", corpus)
        }
        "torchrun" => {
            assert_eq!(launch.launcher(), Launcher::Env);
            assert!(launch.agent_store(), "torchrun sets TORCHELASTIC_USE_AGENT_STORE=True");
            let t = Tensor::from_slice(&[pg.rank() as f32 + 1.0]);
            pg.all_reduce_sum(&t)?;
            assert_eq!(Vec::<f32>::try_from(&t).unwrap(), vec![3.0]);
            pg.barrier()?;
            report(&format!("rank {} of {}: torchrun ok", pg.rank(), pg.world_size()));
            Ok(())
        }
        other => panic!("unknown role {other}"),
    }
}

/// Values that differ per rank: `base * (rank + 1)`, so over 2 ranks the sum is `3 * base`.
fn ranked(base: &Tensor, rank: usize) -> Tensor {
    base * (rank as f64 + 1.0)
}

fn collectives(pg: &ProcessGroup) -> Result<(), DistError> {
    assert_eq!(pg.world_size(), 2);
    let rank = pg.rank();
    tch::manual_seed(7);
    // Shapes of different sizes around the 1 KiB bucket: [1000] f32 and [300] f32 exceed it, f64
    // and i64 tensors form buckets of their own, one tensor is non-contiguous.
    let bases: Vec<Tensor> = vec![
        Tensor::randn([3, 5], (Kind::Float, Device::Cpu)),
        Tensor::randn([1000], (Kind::Float, Device::Cpu)),
        Tensor::randn([2, 2, 2], (Kind::Float, Device::Cpu)),
        Tensor::randn([7], (Kind::Double, Device::Cpu)),
        Tensor::randn([300], (Kind::Float, Device::Cpu)),
        Tensor::randn([4, 6], (Kind::Float, Device::Cpu)).transpose(0, 1),
        Tensor::randn([5], (Kind::Float, Device::Cpu)),
    ];

    // One tensor, in place.
    let t = Tensor::from_slice(&[1.0f32, 2.0, 3.0]) * (rank as f64 + 1.0);
    pg.all_reduce_sum(&t)?;
    assert_eq!(Vec::<f32>::try_from(&t).unwrap(), vec![3.0, 6.0, 9.0]);
    let ints = Tensor::from_slice(&[rank as i64, 10]);
    pg.all_reduce_sum(&ints)?;
    assert_eq!(Vec::<i64>::try_from(&ints).unwrap(), vec![1, 20]);
    let strided = ranked(&bases[5], rank).transpose(0, 1).copy().transpose(0, 1);
    assert!(!strided.is_contiguous());
    pg.all_reduce_sum(&strided)?;
    assert!(strided.allclose(&(&bases[5] * 3.0), 1e-5, 1e-6, false));

    // Flat buckets: the same as one all-reduce per tensor.
    let flat: Vec<Tensor> = bases.iter().map(|b| ranked(b, rank)).collect();
    let each: Vec<Tensor> = bases.iter().map(|b| ranked(b, rank).contiguous()).collect();
    pg.all_reduce_sum_flat(&flat)?;
    for (i, (f, e)) in flat.iter().zip(&each).enumerate() {
        pg.all_reduce_sum(e)?;
        assert_eq!(f.size(), bases[i].size(), "tensor {i} keeps its shape");
        assert!(f.allclose(e, 1e-5, 1e-6, false), "tensor {i}: flat {f:?} vs per-tensor {e:?}");
        assert!(f.allclose(&(&bases[i] * 3.0), 1e-5, 1e-6, false), "tensor {i} is the sum");
    }
    let mean: Vec<Tensor> = bases.iter().map(|b| ranked(b, rank)).collect();
    pg.all_reduce_mean_flat(&mean)?;
    for (m, b) in mean.iter().zip(&bases) {
        assert!(m.allclose(&(b * 1.5), 1e-5, 1e-6, false));
    }
    let refused = pg.all_reduce_mean_flat(&[Tensor::from_slice(&[1i64])]);
    assert!(matches!(refused, Err(DistError::BadTensor { .. })), "{refused:?}");

    // Broadcast from rank 0, then from rank 1, of tensors that differ per rank.
    for root in [0, 1] {
        let own: Vec<Tensor> = bases.iter().map(|b| ranked(b, rank)).collect();
        pg.broadcast(&own, root)?;
        for (o, b) in own.iter().zip(&bases) {
            assert!(o.allclose(&ranked(b, root), 1e-6, 1e-7, false), "broadcast from {root}");
        }
    }

    // Parameters (leaves that require grad) take a broadcast in place, as at the start of training.
    let params: Vec<Tensor> = bases.iter().map(|b| ranked(b, rank).detach().set_requires_grad(true)).collect();
    pg.broadcast(&params, 0)?;
    for (p, b) in params.iter().zip(&bases) {
        assert!(p.requires_grad() && p.allclose(b, 1e-6, 1e-7, false));
    }

    pg.barrier()?;
    pg.check_same("config", b"identical")?;
    eprintln!("rank {rank}: collectives ok");
    Ok(())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn spawn(role: &str, rank: usize, world: usize, port: u16, timeout_ms: u64) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["child", "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(TIMEOUT_MS, timeout_ms.to_string())
        .env("RANK", rank.to_string())
        .env("WORLD_SIZE", world.to_string())
        .env("LOCAL_RANK", rank.to_string())
        .env("MASTER_ADDR", "127.0.0.1")
        .env("MASTER_PORT", port.to_string())
        .env_remove("TORCHELASTIC_USE_AGENT_STORE")
        .env_remove("TORCHELASTIC_RESTART_COUNT")
        .env("OMP_NUM_THREADS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

struct Finished {
    code: Option<i32>,
    stderr: String,
    elapsed: Duration,
}

/// Waits for a child, killing it past CHILD_DEADLINE.
fn finish(mut child: Child, started: Instant) -> Finished {
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
            let mut stdout = String::new();
            child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
            return Finished { code: status.code(), stderr: format!("{stdout}{stderr}"), elapsed: started.elapsed() };
        }
        if started.elapsed() > CHILD_DEADLINE {
            child.kill().unwrap();
            panic!("a rank still ran after {CHILD_DEADLINE:?}: a collective hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn run_ranks(role: &str, world: usize, timeout_ms: u64) -> Vec<Finished> {
    let port = free_port();
    let started = Instant::now();
    let children: Vec<Child> = (0..world).map(|rank| spawn(role, rank, world, port, timeout_ms)).collect();
    children.into_iter().map(|c| finish(c, started)).collect()
}

#[test]
fn all_reduce_broadcast_barrier_and_flat_buckets_over_two_processes() {
    for (rank, done) in run_ranks("collectives", 2, 10_000).iter().enumerate() {
        assert_eq!(done.code, Some(0), "rank {rank}:\n{}", done.stderr);
        assert!(done.stderr.contains("collectives ok"), "rank {rank}:\n{}", done.stderr);
    }
}

#[test]
fn a_rank_that_exits_early_fails_the_other_within_the_timeout() {
    let timeout = Duration::from_secs(3);
    let done = run_ranks("peer_exits", 2, timeout.as_millis() as u64);
    assert_eq!(done[1].code, Some(0), "rank 1:\n{}", done[1].stderr);
    let rank0 = &done[0];
    assert_eq!(rank0.code, Some(1), "rank 0 must fail:\n{}", rank0.stderr);
    assert!(rank0.stderr.contains("child error: all_reduce on rank 0"), "{}", rank0.stderr);
    assert!(
        rank0.stderr.contains("Another rank exited or crashed") || rank0.stderr.contains("timed out after"),
        "{}",
        rank0.stderr
    );
    assert!(rank0.elapsed < timeout + Duration::from_secs(8), "took {:?}", rank0.elapsed);
}

#[test]
fn a_rank_that_stalls_fails_the_other_after_the_timeout() {
    let timeout = Duration::from_secs(3);
    let done = run_ranks("peer_stalls", 2, timeout.as_millis() as u64);
    let rank0 = &done[0];
    assert_eq!(rank0.code, Some(1), "rank 0 must fail:\n{}", rank0.stderr);
    assert!(rank0.stderr.contains("child error: all_reduce on rank 0 timed out after 3s"), "{}", rank0.stderr);
    assert!(rank0.elapsed >= timeout, "failed before the timeout: {:?}", rank0.elapsed);
    assert!(rank0.elapsed < timeout + Duration::from_secs(8), "took {:?}", rank0.elapsed);
}

#[test]
fn a_rank_that_never_arrives_fails_the_rendezvous_after_the_timeout() {
    let timeout = Duration::from_secs(3);
    let port = free_port();
    let started = Instant::now();
    let done = finish(spawn("collectives", 0, 2, port, timeout.as_millis() as u64), started);
    assert_eq!(done.code, Some(1), "{}", done.stderr);
    assert!(done.stderr.contains("could not set up the gloo process group"), "{}", done.stderr);
    assert!(done.stderr.contains("within the timeout (3s)"), "{}", done.stderr);
    assert!(done.elapsed >= timeout, "failed before the timeout: {:?}", done.elapsed);
    assert!(done.elapsed < timeout + Duration::from_secs(8), "took {:?}", done.elapsed);
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let holder = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let launch = Launch::new(0, 2, "127.0.0.1", port).unwrap();
    let started = Instant::now();
    let err = ProcessGroup::new(&launch, Backend::Gloo, Duration::from_secs(3)).unwrap_err();
    assert!(matches!(err, DistError::PortInUse { .. }), "{err:?}");
    assert!(err.to_string().contains(&format!("port {port} on 127.0.0.1 is in use")), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
}

#[test]
fn check_same_refuses_ranks_with_different_inputs() {
    let done = run_ranks("check_same", 3, 10_000);
    for (rank, d) in done.iter().enumerate() {
        assert_eq!(d.code, Some(1), "rank {rank}:\n{}", d.stderr);
        assert!(
            d.stderr.contains("ranks disagree on corpus: rank(s) [1] differ from rank 0 (of 3)"),
            "rank {rank}:\n{}",
            d.stderr
        );
    }
}

#[test]
fn a_single_process_needs_no_store() {
    let pg = ProcessGroup::new(&Launch::single(), Backend::Gloo, Duration::from_secs(1)).unwrap();
    let t = Tensor::from_slice(&[1.5f32, 2.0]);
    pg.all_reduce_sum(&t).unwrap();
    pg.all_reduce_mean_flat(&[t.shallow_clone(), Tensor::ones([3], (Kind::Float, Device::Cpu))]).unwrap();
    pg.broadcast(&[t.shallow_clone()], 0).unwrap();
    pg.barrier().unwrap();
    pg.check_same("config", b"x").unwrap();
    assert_eq!(Vec::<f32>::try_from(&t).unwrap(), vec![1.5, 2.0]);
    assert!(pg.broadcast(&[t], 1).is_err());
}

/// torchrun --no-python starts our binary as 2 ranks and serves the store itself on MASTER_PORT:
/// every rank connects to the agent's store as a client, as `init_process_group("env://")` does.
#[test]
fn ranks_started_by_torchrun_use_its_agent_store() {
    let torchrun = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/torchrun");
    assert!(torchrun.is_file(), "{} is missing: run ./scripts/setup.sh", torchrun.display());
    let port = free_port();
    let started = Instant::now();
    let child = Command::new(torchrun)
        .args(["--nnodes=1", "--nproc-per-node=2", "--master-addr=127.0.0.1"])
        .arg(format!("--master-port={port}"))
        .arg("--no-python")
        .arg(std::env::current_exe().unwrap())
        .args(["child", "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, "torchrun")
        .env(TIMEOUT_MS, "10000")
        .env("OMP_NUM_THREADS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let done = finish(child, started);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    for rank in 0..2 {
        assert!(done.stderr.contains(&format!("rank {rank} of 2: torchrun ok")), "{}", done.stderr);
    }
}

#[cfg(not(feature = "nccl"))]
#[test]
fn nccl_without_the_feature_says_how_to_get_it() {
    let err = ProcessGroup::new(&Launch::single(), Backend::Nccl, Duration::from_secs(1)).unwrap_err();
    assert!(matches!(err, DistError::Unsupported { .. }), "{err:?}");
    assert!(err.to_string().contains("`nccl` cargo feature"), "{err}");
}

#[cfg(feature = "nccl")]
#[test]
fn nccl_without_a_gpu_is_refused_before_connecting() {
    if tch::Cuda::is_available() {
        return;
    }
    let launch = Launch::new(0, 2, "127.0.0.1", free_port()).unwrap();
    let err = ProcessGroup::new(&launch, Backend::Nccl, Duration::from_secs(1)).unwrap_err();
    assert!(err.to_string().contains("needs a GPU per rank"), "{err}");
}
