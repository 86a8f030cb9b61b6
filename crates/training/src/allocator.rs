//! The process's memory allocator: jemalloc, for libtorch's tensors too, keeping freed pages.
//!
//! libtorch allocates every CPU tensor with `malloc`. With glibc's malloc, blocks above its mmap
//! threshold (at most 32 MiB) are mapped fresh and unmapped on `free`, and a training step
//! allocates and frees the same large activations, logits and gradients every time, so every step
//! faults all their pages in again and the kernel zeroes them: on the CPU `pretrain` benchmark
//! a large part of the run was spent in the kernel (figures: docs/benchmarks.md, pretrain, the
//! allocator). Raising glibc's
//! thresholds instead fragments its heap, because libtorch's 64-byte-aligned blocks do not fit
//! back into the holes they leave.
//!
//! So the training binaries use jemalloc (`tikv-jemallocator`) for every `malloc` in
//! the process, libtorch's included (the `unprefixed_malloc_on_supported_platforms` feature), and
//! tell it never to return freed pages to the kernel: memory freed by one step is what the next
//! step gets. The resident size stays at the high-water mark of a step, which the process
//! reaches anyway, as PyTorch's CUDA caching allocator does on a GPU. `MALLOC_CONF` in the
//! environment still overrides the setting, e.g. `MALLOC_CONF=dirty_decay_ms:10000`.
//! `tests/allocator.rs` checks that a step's tensors reuse freed pages.
//!
//! The binaries choose it, with [`jemalloc_for_the_process!`](crate::jemalloc_for_the_process) in
//! their `main.rs` and `tikv-jemallocator` among their dependencies; this library does not depend
//! on it, so the tests that link the library keep the system allocator.

/// Makes jemalloc the allocator of the whole process, keeping freed pages (see
/// [`crate::allocator`]): call once at the top level of a binary's `main.rs`, whose package
/// depends on `tikv-jemallocator` with the `unprefixed_malloc_on_supported_platforms` feature.
#[macro_export]
macro_rules! jemalloc_for_the_process {
    () => {
        #[global_allocator]
        static JEMALLOC: ::tikv_jemallocator::Jemalloc = ::tikv_jemallocator::Jemalloc;

        /// jemalloc's compiled-in options (read before `main`): freed pages stay dirty, never purged.
        #[cfg(target_os = "linux")]
        #[no_mangle]
        #[used]
        #[allow(non_upper_case_globals)] // the C name jemalloc looks for
        static malloc_conf: Option<&'static u8> = Some(&b"dirty_decay_ms:-1,muzzy_decay_ms:-1\0"[0]);
    };
}
