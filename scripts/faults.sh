#!/usr/bin/env bash
# The fault-injection soak: crates/pretrain/tests/faults.rs with many more SIGKILLs (each at a
# random point of a tiny run, the first before its first checkpoint) over several rounds, each
# round with a fresh seed; every round must end with the weights, losses, metrics rows and token
# counts of the uninterrupted run. Prints one line per round and a summary.
#
# usage: scripts/faults.sh [ROUNDS] [KILLS_PER_ROUND]      (default 5 rounds of 20 kills)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
rounds="${1:-5}"; kills="${2:-20}"
./scripts/setup.sh
cargo test --release -p pretrain --test faults --no-run --quiet 2>/dev/null
passed=0; landed=0
for round in $(seq 1 "$rounds"); do
  seed="$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')"
  log="$(mktemp)"
  if FAULTS_SEED="$seed" FAULTS_KILLS="$kills" cargo test --release -q -p pretrain --test faults \
      kill_9_at_random_points -- --nocapture >"$log" 2>&1; then
    passed=$((passed + 1))
    n="$(sed -n 's/.*: \([0-9]*\) landed before the end.*/\1/p' "$log" | tail -1)"
    landed=$((landed + ${n:-0}))
    echo "round $round (FAULTS_SEED=$seed): $kills kills, ${n:-?} landed before the end; bit-identical"
  else
    echo "round $round (FAULTS_SEED=$seed): FAILED"; tail -30 "$log"
  fi
  rm -f "$log"
done
echo "faults: $passed of $rounds rounds bit-identical to the uninterrupted run; $landed kills survived"
[ "$passed" = "$rounds" ]
