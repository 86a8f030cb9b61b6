#!/usr/bin/env bash
# Forward + backward throughput of our BertModel vs transformers' BertModel in eager PyTorch:
# same config, same inputs and loss, same threads, side by side in one run, rounds alternated.
#
# usage: scripts/bench/model.sh            CPU: 4 layers, hidden 256, seq 128, batch 16, f32
#        scripts/bench/model.sh --bf16     the same in bf16 (ours: compute_kind; theirs: autocast)
#        scripts/bench/model.sh --gpu      GPU: BERT-base (12 x 768), seq 128, batch 64, bf16
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
if [ "${1:-}" = "--gpu" ]; then
  args=(12 768 12 128 64 20 cuda bf16); label="GPU, BERT-base, seq 128, batch 64, bf16"
elif [ "${1:-}" = "--bf16" ]; then
  args=(4 256 4 128 16 10 cpu bf16); label="CPU, 4 layers x 256, seq 128, batch 16, bf16"
else
  args=(4 256 4 128 16 10 cpu f32); label="CPU, 4 layers x 256, seq 128, batch 16, f32"
fi
threads="${BENCH_THREADS:-$(nproc)}"
export BENCH_THREADS="$threads" OMP_NUM_THREADS="$threads"
[ -n "${SKIP_BUILD:-}" ] || { ./scripts/setup.sh; cargo build --release --quiet -p model --example bench_train_step; }
python="${PYTHON:-.venv/bin/python}"
echo "forward+backward, $label, $threads threads"
for round in 1 2 3; do
  if [ $((round % 2)) = 1 ]; then
    ours=$(target/release/examples/bench_train_step "${args[@]}"); theirs=$("$python" scripts/bench/model_python.py "${args[@]}")
  else
    theirs=$("$python" scripts/bench/model_python.py "${args[@]}"); ours=$(target/release/examples/bench_train_step "${args[@]}")
  fi
  python3 -c "
import json,sys
o,t=json.loads(sys.argv[1]),json.loads(sys.argv[2])
print(f'round $round: ours {o[\"tokens_per_s\"]:,} tok/s, transformers {t[\"tokens_per_s\"]:,} tok/s, ratio {o[\"tokens_per_s\"]/t[\"tokens_per_s\"]:.2f}x')
" "$ours" "$theirs"
done
