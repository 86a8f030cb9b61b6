#!/usr/bin/env bash
# One pretraining, then several fine-tunings of its encoder: the multi-task loop of real work.
#
#   scripts/pretrain-then-finetune.sh CORPUS_DIR TASK_CONFIG [TASK_CONFIG...]
#   scripts/pretrain-then-finetune.sh corpora/tiny configs/finetune/real/lid.toml configs/finetune/real/pos-tr.toml
#
# Environment:
#   PRETRAIN_CONFIG   pretraining preset (default configs/pretrain/tiny.toml)
#   NAME              run name (default: the corpus folder's name): runs/NAME/ holds the
#                     pretraining (its output_dir), runs/NAME/finetune/<task>/ each fine-tuning
#   LAUNCH            prefix for the pretraining command, e.g. "scripts/launch.sh 8" or
#                     "torchrun --nproc-per-node=8 --no-python" (default: one process)
#   PRETRAIN_SET, FINETUNE_SET   extra --set arguments, e.g. PRETRAIN_SET="--set max_steps=500"
#
# Re-running resumes an interrupted pretraining or fine-tuning and skips finished stages; the first failing
# stage stops the loop with its own error.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if (($# < 2)); then
  sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
corpus=$1
shift
[ -f "$corpus/manifest.json" ] || { echo "pretrain-then-finetune: $corpus is not a corpus (no manifest.json): build it with target/release/corpus build" >&2; exit 1; }
for task in "$@"; do
  [ -f "$task" ] || { echo "pretrain-then-finetune: no task config $task" >&2; exit 1; }
done
pretrain_config=${PRETRAIN_CONFIG:-configs/pretrain/tiny.toml}
name=${NAME:-$(basename "$corpus")}
./scripts/setup.sh
cargo build --release --quiet -p pretrain -p finetune

encoder=runs/$name/final
if [ -f "$encoder/model.safetensors" ]; then
  echo "== pretrain: $encoder exists: kept"
else
  resume=()
  [ -d "runs/$name/checkpoints" ] && [ -n "$(ls -A "runs/$name/checkpoints")" ] && resume=(--resume)
  echo "== pretrain: $pretrain_config on $corpus → runs/$name ${resume[*]}"
  # shellcheck disable=SC2086
  ${LAUNCH:-} target/release/pretrain --config "$pretrain_config" --set corpus="$corpus" --set output_dir="runs/$name" \
    "${resume[@]}" ${PRETRAIN_SET:-}
  # SIGINT/SIGTERM make pretrain checkpoint and exit 0 (pre-emption): then there is no final/.
  if [ ! -f "$encoder/model.safetensors" ]; then
    echo "pretrain-then-finetune: the pretraining in runs/$name stopped before its last step; run the same command again to resume it" >&2
    exit 1
  fi
fi

for task in "$@"; do
  out=runs/$name/finetune/$(basename "$task" .toml)
  if [ -f "$out/eval_results.json" ]; then
    echo "== finetune: $out exists: kept"
    continue
  fi
  # No eval_results.json: never run, or interrupted. Continue from its newest checkpoint if it
  # wrote one (save_steps, or on SIGINT/SIGTERM); otherwise start over.
  resume=(--set overwrite_output_dir=true)
  [ -d "$out/checkpoints" ] && [ -n "$(ls -A "$out/checkpoints")" ] && resume=(--resume)
  echo "== finetune: $task from $encoder → $out ${resume[*]}"
  # shellcheck disable=SC2086
  target/release/finetune --config "$task" --set model_name_or_path="$encoder" --set output_dir="$out" \
    "${resume[@]}" ${FINETUNE_SET:-} > /dev/null
  if [ ! -f "$out/eval_results.json" ]; then
    echo "pretrain-then-finetune: the fine-tuning in $out stopped before its last step; run the same command again to resume it" >&2
    exit 1
  fi
done

echo "== summary"
python3 - "runs/$name" "$@" <<'PY'
import json, os, sys
run, tasks = sys.argv[1], sys.argv[2:]
rows = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl"))]
evals = [r for r in rows if r.get("split") == "validation" and "lang" in r]
if evals:
    last = max(r["step"] for r in evals)
    cells = [f"{r['lang']:<7} {r['ppl']:>8.1f}" for r in sorted((r for r in evals if r["step"] == last), key=lambda r: r["lang"])]
    print(f"pretraining ({run}): validation perplexity per language at step {last}")
    for i in range(0, len(cells), 5):
        print("  " + "   ".join(cells[i:i + 5]))
for task in tasks:
    out = os.path.join(run, "finetune", os.path.basename(task)[:-len(".toml")])
    best = json.load(open(os.path.join(out, "eval_results.json")))
    metric = best["metric"]
    langs = {k: v[metric] for k, v in best["scores"].items() if k != "all"}
    print(f"{os.path.basename(out)}: {metric} {best['scores']['all'][metric]:.3f} (best at step {best['step']})")
    if len(langs) > 1:
        cells = [f"{k:<7} {v:.3f}" for k, v in sorted(langs.items())]
        for i in range(0, len(cells), 6):
            print("  " + "   ".join(cells[i:i + 6]))
    print(f"  checkpoints {out}/best, {out}/final; plots {out}/training.png, {out}/validation.png")
print(f"encoder: {run}/final; plots: {run}/training.png, {run}/validation.png")
PY
