#!/usr/bin/env bash
# A/B of two `pretrain` binaries (e.g. before and after a change) on the loop of pretrain.sh:
# same settings and corpus, order alternated each round; prints tokens/s of both and the ratio.
# Build the other binary from a worktree: git worktree add /tmp/old <commit>, then
# CARGO_TARGET_DIR=/tmp/old-target cargo build --release -p pretrain there. Both must read the
# corpus's manifest version (an older build may need a corpus built by its own `corpus`).
#
# usage: scripts/bench/pretrain_ab.sh BEFORE_BINARY AFTER_BINARY [CORPUS_DIR] [ROUNDS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
before="$1"; after="$2"; corpus="${3:-corpora/tiny}"; rounds="${4:-8}"
export OMP_NUM_THREADS="${BENCH_THREADS:-$(nproc)}"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
# Every setting by --set on an empty config, in the key names the binary reads: builds from
# before pretrain's keys took transformers' TrainingArguments names (issue 15) refuse the new
# ones with "unknown key". Both write runs/bench/metrics.jsonl under $work; their tokens_per_s
# agree for this causal run (before, it counted targets; now input tokens, the same here).
: > "$work/empty.toml"
settings() {
  if "$1" --config "$work/empty.toml" --set logging_steps=10 --set corpus="$work/none" 2>&1 | grep -q 'unknown key `logging_steps`'; then
    echo --set out_dir="$work/runs" --set name=bench --set optim.max_steps=70 --set optim.grad_accum=1 \
      --set log.every=10 --set eval.every=0 --set checkpoint.every=0 --set dtype=f32 --set optim.batch_size=32 \
      --set optim.lr=2e-3 --set optim.warmup_steps=50
  else
    echo --set output_dir="$work/runs/bench" --set max_steps=70 --set gradient_accumulation_steps=1 \
      --set logging_steps=10 --set eval_steps=0 --set save_steps=0 --set bf16=false \
      --set per_device_train_batch_size=32 --set learning_rate=2e-3 --set warmup_steps=50
  fi
}
run() {
  rm -rf "$work/runs"
  # shellcheck disable=SC2046  # the settings are words without spaces
  "$1" --config "$work/empty.toml" --set corpus="$corpus" $(settings "$1") --set eval.max_windows=1 \
    --set device=cpu --set objective.k=64 --set model.max_position_embeddings=65 >/dev/null 2>&1
  # Mean tokens/s over the logged intervals after the first (warm-up), as pretrain.sh.
  python3 -c "
import json
rows=[json.loads(l) for l in open('$work/runs/bench/metrics.jsonl') if 'tokens_per_s' in l]
v=[r['tokens_per_s'] for r in rows[1:]]
print(round(sum(v)/len(v)))"
}
for round in $(seq 1 "$rounds"); do
  if [ $((round % 2)) = 1 ]; then a=$(run "$before"); b=$(run "$after"); else b=$(run "$after"); a=$(run "$before"); fi
  python3 -c "print(f'round $round: before {$a:,} tok/s, after {$b:,} tok/s, after/before {$b/$a:.3f}')"
done
