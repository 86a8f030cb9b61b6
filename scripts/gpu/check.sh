#!/usr/bin/env bash
# The GPU check, run on the GPU machine with the binaries of scripts/gpu/build.sh (target/gpu/,
# carried; that machine has torch 2.11.0 installed, whose libtorch the binaries load):
#   1. pretrain doctor: libtorch, CUDA devices, bf16;
#   2. NCCL with world size 1: an all-reduce and a broadcast checked element by element, and the
#      all-reduce time of a 256 MB bf16 buffer;
#   3. a short BERT-base pretraining (bf16 matmuls, k = 512, batch 32) on the bundled sample:
#      input tokens/s and MFU (peak 989 TFLOP/s, H100/H200 dense bf16) from its metrics.jsonl.
# Everything it measures goes to $OUT (default: target/gpu-check) as gpu-check.json and logs.
#
#   scripts/gpu/check.sh [STEPS]      default 60 optimizer steps
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
steps="${1:-60}"
out="${OUT:-$root/target/gpu-check}"
mkdir -p "$out"
bin="$root/target/gpu"
for b in pretrain corpus allreduce; do
  [ -x "$bin/$b" ] || { echo "check: $bin/$b missing: run scripts/gpu/build.sh here and carry target/gpu" >&2; exit 1; }
done
# The binaries' rpath names this repository's .libtorch; on the GPU machine torch lives elsewhere.
python="${PYTHON:-python3}"
torch_lib="$("$python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

echo "== doctor" | tee "$out/doctor.txt"
"$bin/pretrain" doctor | tee -a "$out/doctor.txt"

echo "== NCCL, world size 1"
RANK=0 LOCAL_RANK=0 WORLD_SIZE=1 MASTER_ADDR=127.0.0.1 MASTER_PORT="${MASTER_PORT:-29500}" \
  "$bin/allreduce" nccl 256 | tee "$out/allreduce.json"

echo "== BERT-base, bf16, k = 512, $steps steps"
work="$(mktemp -d)"
"$bin/corpus" build --config configs/corpus/sample.toml --output "$work/corpus" > "$out/corpus.log" 2>&1
RANK=0 LOCAL_RANK=0 WORLD_SIZE=1 MASTER_ADDR=127.0.0.1 MASTER_PORT="$(( ${MASTER_PORT:-29500} + 1 ))" \
  "$bin/pretrain" --config configs/pretrain/base.toml --set corpus="$work/corpus" \
  --set output_dir="$work/runs/gpu-check" --set max_steps="$steps" --set warmup_steps=10 \
  --set gradient_accumulation_steps=1 --set logging_steps=10 --set log.peak_tflops=989 --set eval_steps=0 \
  --set eval.max_windows=8 --set save_steps=0 > "$out/pretrain.log" 2>&1 || { tail -20 "$out/pretrain.log"; exit 1; }
cp "$work/runs/gpu-check/metrics.jsonl" "$out/metrics.jsonl"
"$python" - "$out" <<'PY'
import json, sys
out = sys.argv[1]
rows = [json.loads(l) for l in open(f"{out}/metrics.jsonl") if '"split"' not in l]
steady = rows[1:] or rows  # the first logged interval includes start-up
summary = {
    "allreduce": json.load(open(f"{out}/allreduce.json")),
    "bert_base_tokens_per_s": sum(r["tokens_per_s"] for r in steady) / len(steady),
    "bert_base_mfu": sum(r.get("mfu", 0.0) for r in steady) / len(steady),
    "final_loss": rows[-1]["loss"],
}
json.dump(summary, open(f"{out}/gpu-check.json", "w"), indent=2)
print(json.dumps(summary, indent=2))
PY
rm -rf "$work"
