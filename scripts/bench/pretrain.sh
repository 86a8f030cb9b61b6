#!/usr/bin/env bash
# Training throughput of `pretrain` (the whole loop: data draws, forward, backward, clipping,
# AdamW, logging) vs the equivalent eager PyTorch loop with transformers' BertLMHeadModel and
# torch.optim.AdamW: same shape, batch, k, data and threads; side by side, rounds alternated.
# Tokens are input tokens (k per row; under the causal objective each is also a target).
#
# Our binaries bring their own allocator policy (jemalloc keeping freed pages, see
# crates/training/src/allocator.rs); PyTorch runs on glibc's malloc as installed. A third column
# gives PyTorch the nearest no-code equivalent (GLIBC_TUNABLES keeping freed memory), so the
# ratio with both sides' allocators tuned is in the same run.
#
# usage: scripts/bench/pretrain.sh [CORPUS_DIR]          CPU, tiny shape (default corpora/tiny)
#        scripts/bench/pretrain.sh --gpu [CORPUS_DIR]    GPU: BERT-base, bf16, k = 512, with MFU
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
gpu=0; [ "${1:-}" = "--gpu" ] && { gpu=1; shift; }
corpus="${1:-corpora/tiny}"
threads="${BENCH_THREADS:-$(nproc)}"
export BENCH_THREADS="$threads" OMP_NUM_THREADS="$threads"
./scripts/setup.sh
cargo build --release --quiet -p pretrain -p corpus
[ -f "$corpus/manifest.json" ] || { ./scripts/fetch-data.sh >/dev/null; target/release/corpus build --config configs/corpus/tiny.toml; }
k=64; batch=32; steps=60; hidden=128; layers=2; heads=4; inter=512; config=configs/pretrain/tiny.toml; dev=cpu; bf16=false
if [ "$gpu" = 1 ]; then
  k=512; batch=32; steps=30; hidden=768; layers=12; heads=12; inter=3072; config=configs/pretrain/base.toml; dev=cuda; bf16=true
  export BENCH_DEVICE=cuda
fi
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
ours() {
  rm -rf "$work/runs"
  target/release/pretrain --config "$config" --set corpus="$corpus" --set output_dir="$work/runs/bench" \
    --set max_steps=$((steps + 10)) --set gradient_accumulation_steps=1 --set logging_steps=10 \
    --set eval_steps=0 --set eval.max_windows=1 --set save_steps=0 --set device=$dev --set bf16=$bf16 \
    --set objective.k=$k --set model.max_position_embeddings=$((k + 1)) \
    --set per_device_train_batch_size=$batch >/dev/null 2>&1
  # Mean tokens/s over the logged intervals after the first (warm-up).
  python3 -c "
import json,sys
rows=[json.loads(l) for l in open('$work/runs/bench/metrics.jsonl') if 'tokens_per_s' in l]
v=[r['tokens_per_s'] for r in rows[1:]]
m=[r['mfu'] for r in rows[1:] if 'mfu' in r]
print(json.dumps({'tokens_per_s': round(sum(v)/len(v)), 'mfu': sum(m)/len(m) if m else None}))"
}
theirs() { .venv/bin/python scripts/bench/pretrain_python.py "$corpus" $k $batch $steps $hidden $layers $heads $inter; }
source scripts/bench/tuned_malloc.sh
tuned() { with_tuned_malloc theirs; }
echo "training loop, $dev, $layers layers x $hidden, k $k, batch $batch, vocab $(python3 -c "import json;print(json.load(open('$corpus/manifest.json'))['tokenizer']['vocab_size'])"), bf16=$bf16, $threads threads"
for round in 1 2 3; do
  if [ $((round % 2)) = 1 ]; then o=$(ours); t=$(theirs); u=$(tuned); else u=$(tuned); t=$(theirs); o=$(ours); fi
  python3 -c "
import json,sys
o,t,u=(json.loads(a) for a in sys.argv[1:4])
mfu=f', MFU {100*o[\"mfu\"]:.1f}%' if o.get('mfu') else ''
print(f'round $round: pretrain {o[\"tokens_per_s\"]:,} tok/s{mfu}, PyTorch+transformers {t[\"tokens_per_s\"]:,} tok/s, ratio {o[\"tokens_per_s\"]/t[\"tokens_per_s\"]:.2f}x; PyTorch with tuned malloc {u[\"tokens_per_s\"]:,} tok/s, ratio {o[\"tokens_per_s\"]/u[\"tokens_per_s\"]:.2f}x')
" "$o" "$t" "$u"
done
