#!/usr/bin/env bash
# Fine-tuning side by side with transformers' Trainer: language ID on data/tasks/lid-sample
# (17 languages) and Turkish POS on data/tasks/pos-tr-sample, from the same init (the pipeline's
# pretrained encoder, runs/sample/final), same hyper-parameters (200 steps, batch 16, lr 1e-3, 10
# warm-up steps, weight decay 0.01, max length 64, seed 42) and threads. Reports training
# samples/s (ours excludes evaluation, as Trainer's train() does) and held-out accuracy (POS:
# per word); rounds alternated. With data/tasks-full/pos-tr (./scripts/make-tasks.sh) also on
# the full Turkish split.
#
# Our binaries bring their own allocator policy (jemalloc keeping freed pages, see
# crates/training/src/allocator.rs); the Trainer runs on glibc's malloc as installed. Each round
# also runs the Trainer with the nearest no-code equivalent (GLIBC_TUNABLES keeping freed
# memory) and reports that ratio too.
#
# usage: scripts/bench/finetune.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
threads="${BENCH_THREADS:-$(nproc)}"
export BENCH_THREADS="$threads" OMP_NUM_THREADS="$threads"
[ -f runs/sample/final/model.safetensors ] || ./scripts/pipeline.sh >/dev/null
cargo build --release --quiet -p finetune
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
ours() {  # config train validation
  rm -rf "$work/ours"
  target/release/finetune --config "$1" --set train_file="$2" --set validation_file="$3" --set output_dir="$work/ours" \
    --set eval_steps=1000000 --set logging_steps=20 --set device=cpu >/dev/null 2>&1
  python3 -c "
import json
rows=[json.loads(l) for l in open('$work/ours/metrics.jsonl') if 'samples_per_s' in l]
v=[r['samples_per_s'] for r in rows[1:]]
best=json.load(open('$work/ours/eval_results.json'))
print(json.dumps({'samples_per_s': round(sum(v)/len(v),1), 'accuracy': best['scores']['all']['accuracy']}))"
}
theirs() {  # task train validation
  .venv/bin/python scripts/bench/finetune_hf.py "$1" runs/sample/final "$2" "$3" 200 16 1e-3 10 64 "$work/hf" | tail -n 1
}
source scripts/bench/tuned_malloc.sh
tuned() { with_tuned_malloc theirs "$@"; }
compare() {  # name config hf-task train validation
  echo "$1 fine-tuning, CPU, $threads threads, init runs/sample/final"
  for round in 1 2; do
    if [ "$round" = 1 ]; then
      o=$(ours "$2" "$4" "$5"); t=$(theirs "$3" "$4" "$5"); u=$(tuned "$3" "$4" "$5")
    else
      u=$(tuned "$3" "$4" "$5"); t=$(theirs "$3" "$4" "$5"); o=$(ours "$2" "$4" "$5")
    fi
    python3 -c "
import json,sys
o,t,u=(json.loads(a) for a in sys.argv[1:4])
print(f'round $round: finetune {o[\"samples_per_s\"]:.0f} samples/s, accuracy {o[\"accuracy\"]:.3f} | HF Trainer {t[\"samples_per_s\"]:.0f} samples/s, accuracy {t[\"accuracy\"]:.3f} | speed ratio {o[\"samples_per_s\"]/t[\"samples_per_s\"]:.2f}x, accuracy difference {100*(o[\"accuracy\"]-t[\"accuracy\"]):+.1f} points | Trainer with tuned malloc {u[\"samples_per_s\"]:.0f} samples/s, ratio {o[\"samples_per_s\"]/u[\"samples_per_s\"]:.2f}x')
" "$o" "$t" "$u"
  done
}
compare "language ID" configs/finetune/lid-sample.toml classification \
  data/tasks/lid-sample/train.jsonl data/tasks/lid-sample/validation.jsonl
compare "Turkish POS" configs/finetune/pos-tr-sample.toml token-classification \
  data/tasks/pos-tr-sample/train.conllu data/tasks/pos-tr-sample/validation.conllu
# The full treebank split (./scripts/make-tasks.sh), when present: 500 held-out sentences score
# accuracy to a few hundredths of a point, where the 40 of the sample move by ~0.2 per word.
full=data/tasks-full/pos-tr
if [ -f "$full/train.conllu" ]; then
  compare "Turkish POS, full split" configs/finetune/pos-tr-sample.toml token-classification \
    "$full/train.conllu" "$full/validation.conllu"
fi
