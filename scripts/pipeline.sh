#!/usr/bin/env bash
# The main job: set up, then corpus → pretrain → finetune on the bundled sample (or, with --full,
# the corpus stage on the real corpus from scripts/fetch-data.sh), and a summary. Re-running skips
# what is done: the corpus build is a no-op when up to date, a finished pretraining or
# fine-tuning run is kept.
#
# usage: ./scripts/pipeline.sh [--full] [--config-dir DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
config_dir=configs; full=0
while [ $# -gt 0 ]; do
  case "$1" in
    --full) full=1; shift ;;
    --config-dir) config_dir="$2"; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "pipeline: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

./scripts/setup.sh
cargo build --release --quiet -p corpus -p pretrain -p finetune

if [ "$full" = 1 ]; then
  ./scripts/fetch-data.sh
  echo "== corpus: $config_dir/corpus/tiny.toml (real corpus)"
  ./target/release/corpus build --config "$config_dir/corpus/tiny.toml"
  echo "next: ./target/release/pretrain --config $config_dir/pretrain/tiny.toml (about 7 minutes on 2 cores)"
  exit 0
fi

echo "== corpus: $config_dir/corpus/sample.toml"
./target/release/corpus build --config "$config_dir/corpus/sample.toml"

echo "== pretrain: $config_dir/pretrain/tiny.toml on the sample (runs/sample)"
if [ -f runs/sample/final/model.safetensors ]; then
  echo "runs/sample/final exists: kept"
else
  ./target/release/pretrain --config "$config_dir/pretrain/tiny.toml" --set name=sample \
    --set corpus=corpora/sample --set optim.max_steps=300 --set optim.warmup_steps=30 \
    --set eval.every=100 --set checkpoint.every=100 --set log.every=50
fi

finetune() {  # name config description
  echo "== finetune: $2 ($3)"
  if [ -f "runs/$1/eval_results.json" ]; then
    echo "runs/$1/eval_results.json exists: kept"
  else
    ./target/release/finetune --config "$2" >/dev/null
  fi
}
finetune lid-sample "$config_dir/finetune/lid-sample.toml" "language ID, 17 languages"
finetune pos-tr-sample "$config_dir/finetune/pos-tr-sample.toml" "Turkish part of speech"

echo "== summary"
python3 - <<'PY'
import json
rows = [json.loads(l) for l in open("runs/sample/metrics.jsonl")]
last = max(r["step"] for r in rows if r.get("split") == "validation")
print("pretraining (runs/sample): validation perplexity per language at step", last)
for r in sorted((r for r in rows if r.get("split") == "validation" and r["step"] == last), key=lambda r: r["lang"]):
    print(f"  {r['lang']:<8} ppl {r['ppl']:>9.1f}  bits/byte {r['bits_per_byte']:.3f}")
best = json.load(open("runs/lid-sample/eval_results.json"))
scores = best["scores"]
print(f"language ID (runs/lid-sample, best at step {best['step']}): accuracy {scores['all']['accuracy']:.3f}, "
      f"macro-F1 {scores['all']['macro_f1']:.3f}, mean over languages {best['average_over_languages']['accuracy']:.3f}")
print("  " + "  ".join(f"{l} {s['accuracy']:.2f}" for l, s in scores.items() if l != "all"))
best = json.load(open("runs/pos-tr-sample/eval_results.json"))
scores = best["scores"]["all"]
print(f"Turkish POS (runs/pos-tr-sample, best at step {best['step']}): word accuracy {scores['accuracy']:.3f}, "
      f"macro-F1 over tags {scores['macro_f1']:.3f}")
print("checkpoints: runs/sample/final (pretrained encoder), runs/{lid,pos-tr}-sample/{best,final}")
print("plots: " + ", ".join(f"runs/{r}/{p}.png" for r in ("sample", "lid-sample", "pos-tr-sample")
                            for p in ("training", "validation")))
PY
