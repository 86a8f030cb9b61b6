//! The allocator policy of `src/allocator.rs`, in a test binary of its own: page faults are
//! counted for the whole process, and tests running beside it in the same process (the crate's
//! unit tests) fault pages of their own and draw from libtorch's global random generator.

// jemalloc and its `malloc_conf`, as the training binaries have them.
training::jemalloc_for_the_process!();

use tch::{Device, Kind, Tensor};

fn page_faults() -> i64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    usage.ru_minflt
}

/// Fails with `MALLOC_CONF=dirty_decay_ms:0` (pages handed back on every free), or without
/// jemalloc: 4 × 32k page faults.
#[test]
fn a_steps_tensors_reuse_freed_pages() {
    // What a training step does to the heap: logits of 2048 tokens × 8192 words (64 MiB)
    // and their log-softmax, allocated and freed again.
    let step = || {
        let logits = Tensor::randn([2048, 8192], (Kind::Float, Device::Cpu));
        let loss = logits.log_softmax(-1, Kind::Float).mean(Kind::Float);
        assert!(loss.double_value(&[]).is_finite());
    };
    step();
    let before = page_faults();
    for _ in 0..4 {
        step();
    }
    let faults = page_faults() - before;
    assert!(faults < 4000, "{faults} page faults in 4 steps that reuse the same 128 MiB");
}
