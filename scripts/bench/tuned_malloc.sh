# Sourced by the bench scripts: runs a command with glibc's malloc tuned to keep freed memory,
# the nearest no-code equivalent, for PyTorch, of the jemalloc policy our training binaries
# bring (crates/training/src/allocator.rs): no mmap below 1 GiB, no heap trimming below 16 GiB.
with_tuned_malloc() {
  GLIBC_TUNABLES=glibc.malloc.mmap_threshold=1073741824:glibc.malloc.trim_threshold=17179869184 "$@"
}
