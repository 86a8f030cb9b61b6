#!/usr/bin/env bash
# Builds, on this machine, what scripts/gpu/check.sh runs on a GPU machine: release binaries with
# NCCL (the `nccl` feature), stripped, in target/gpu/ (carry that folder; nothing is built there).
#
#   scripts/gpu/build.sh
#
# NCCL's C++ headers need two CUDA header wheels besides torch's (scripts/requirements-nccl.txt);
# they are installed into .venv here. The build uses its own target folder, so the CPU build in
# target/release is not disturbed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
./scripts/setup.sh
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r scripts/requirements-nccl.txt
export CARGO_TARGET_DIR="$root/target/nccl"
cargo build --release -p pretrain --features nccl -p corpus
cargo build --release -p distributed --features nccl --example allreduce
mkdir -p target/gpu
for b in pretrain corpus examples/allreduce; do
  strip -o "target/gpu/$(basename "$b")" "target/nccl/release/$b"
done
ls -l target/gpu
