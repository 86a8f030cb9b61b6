#!/usr/bin/env bash
# All tests: formatting and lints, the Rust test suites (unit, integration, CLI), and the
# cross-checks against the Python reference implementations installed in .venv.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

./scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --release --workspace --all-targets --quiet -- -D warnings
echo "== cargo test"
# --release: the tests train and encode real tokenizers, and share the build with the binaries.
cargo test --release --workspace 2>&1

echo "== the README's cargo run commands start without compiling"
# crates/workspace-hack (cargo hakari) gives every member the same dependency features, so a
# `cargo run -p X` after this script's builds reuses them; regenerate it with `cargo hakari
# generate` after changing dependencies.
for pkg in corpus pretrain finetune; do
  built="$(cargo build --release -p "$pkg" 2>&1)"
  if grep -q "Compiling" <<<"$built"; then
    echo "cargo build --release -p $pkg recompiled after the workspace build (features differ: run cargo hakari generate):" >&2
    grep "Compiling" <<<"$built" >&2
    exit 1
  fi
done

echo "== parity with Python tokenizers (corpus shards)"
cargo build --release --quiet -p corpus
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for kind in wordpiece unigram; do
  ./target/release/corpus build --input data/sample --output "$work/$kind" --vocab-size 3000 \
    --tokenizer-kind "$kind" --val-fraction 0.02 --min-val-docs 4 >/dev/null 2>"$work/$kind.log" || { cat "$work/$kind.log"; exit 1; }
  .venv/bin/python tests/parity/corpus_tokens.py "$work/$kind" data/sample
done
echo "== all tests passed"
