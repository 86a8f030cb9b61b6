//! The collective check of `scripts/gpu/check.sh` (and of a CPU run under `scripts/launch.sh`):
//! joins the launcher's process group, all-reduces a known tensor and checks every element,
//! broadcasts from rank 0, then times all-reduces of a large buffer. Rank 0 prints one JSON line.
//!
//!   RANK=0 WORLD_SIZE=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 allreduce nccl 256
//!   scripts/launch.sh 2 target/release/examples/allreduce gloo 64

use std::time::{Duration, Instant};

use distributed::{Backend, Launch, ProcessGroup};
use tch::{Kind, Tensor};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let backend: Backend = args.next().unwrap_or_else(|| "gloo".into()).parse()?;
    let megabytes: i64 = args.next().unwrap_or_else(|| "64".into()).parse()?;
    let launch = Launch::from_env()?;
    let pg = ProcessGroup::new(&launch, backend, Duration::from_secs(120))?;
    let (rank, world, device) = (pg.rank() as i64, pg.world_size() as i64, pg.device());

    // Known values: rank r holds r + 1 + i; the sum is world·(world + 1)/2 + world·i.
    let n = 1_000_003;
    let t = Tensor::arange(n, (Kind::Float, device)) + (rank + 1) as f64;
    pg.all_reduce_sum(&t)?;
    let want = Tensor::arange(n, (Kind::Float, device)) * world as f64 + (world * (world + 1) / 2) as f64;
    let worst = (&t - &want).abs().max().double_value(&[]);
    if worst > 0.0 {
        return Err(format!("all-reduce on rank {rank}: off by {worst}").into());
    }
    let b = Tensor::full([1024], rank as f64, (Kind::Float, device));
    pg.broadcast(std::slice::from_ref(&b), 0)?;
    if b.abs().max().double_value(&[]) != 0.0 {
        return Err(format!("broadcast on rank {rank}: not rank 0's values").into());
    }

    // Bandwidth: bf16 buffer of `megabytes`, as gradients travel.
    let elements = megabytes * 1024 * 1024 / 2;
    let big = Tensor::ones([elements], (Kind::BFloat16, device));
    pg.all_reduce_sum(&big)?; // warm-up
    pg.barrier()?;
    let rounds = 10;
    let start = Instant::now();
    for _ in 0..rounds {
        pg.all_reduce_sum(&big)?;
    }
    let _ = big.sum(Kind::Float).double_value(&[]); // waits for the device
    let secs = start.elapsed().as_secs_f64() / f64::from(rounds);
    let bytes = (elements * 2) as f64;
    // NCCL's bus bandwidth convention: algbw · 2(n − 1)/n.
    let busbw = bytes / secs * 2.0 * (world - 1) as f64 / world.max(1) as f64;
    if pg.is_main() {
        println!(
            "{{\"backend\": \"{}\", \"world_size\": {world}, \"device\": \"{device:?}\", \"allreduce_exact\": true, \
             \"broadcast_exact\": true, \"megabytes\": {megabytes}, \"ms_per_allreduce\": {:.3}, \"algbw_gb_s\": {:.2}, \
             \"busbw_gb_s\": {:.2}}}",
            backend.name(),
            secs * 1e3,
            bytes / secs / 1e9,
            busbw / 1e9
        );
    }
    Ok(())
}
