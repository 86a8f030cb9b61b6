#!/usr/bin/env bash
# The main job: set up, then corpus → pretrain → finetune (language ID and Turkish POS), and a
# summary: per-language validation perplexity, fine-tuning scores per language, checkpoints, plots.
#
#   ./scripts/pipeline.sh                 the bundled sample (data/sample/): minutes on 2 cores
#   ./scripts/pipeline.sh --full          the real corpus (scripts/fetch-data.sh) and the real task
#                                         sets (scripts/make-tasks.sh): ~15 minutes on 2 cores
#   ./scripts/pipeline.sh --config-dir D  presets from D/{corpus,pretrain,finetune}/ instead of configs/
#
# Re-running skips what is done (the corpus build is a no-op when up to date, finished runs are
# kept) and resumes an interrupted pretraining or fine-tuning; a failing stage stops the chain with its error.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
config_dir=configs; full=0
while [ $# -gt 0 ]; do
  case "$1" in
    --full) full=1; shift ;;
    --config-dir)
      [ $# -ge 2 ] && [ -d "$2" ] || { echo "pipeline: --config-dir needs a directory with corpus/, pretrain/ and finetune/" >&2; exit 2; }
      config_dir="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "pipeline: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

./scripts/setup.sh
cargo build --release --quiet -p corpus -p pretrain -p finetune

if [ "$full" = 1 ]; then
  ./scripts/make-tasks.sh   # runs ./scripts/fetch-data.sh first: data/raw/ and data/tasks-full/
  echo "== corpus: $config_dir/corpus/tiny.toml (the real corpus)"
  ./target/release/corpus build --config "$config_dir/corpus/tiny.toml"
  # runs/tiny: the pretraining of configs/pretrain/tiny.toml as it stands (about 3 minutes).
  NAME=tiny PRETRAIN_CONFIG="$config_dir/pretrain/tiny.toml" \
    exec ./scripts/pretrain-then-finetune.sh corpora/tiny \
    "$config_dir/finetune/real/lid.toml" "$config_dir/finetune/real/pos-tr.toml"
fi

echo "== corpus: $config_dir/corpus/sample.toml"
./target/release/corpus build --config "$config_dir/corpus/sample.toml"
# The sample is ~100 KB of text: 300 steps of the tiny model are plenty (about a minute).
NAME=sample PRETRAIN_CONFIG="$config_dir/pretrain/tiny.toml" \
  PRETRAIN_SET="--set max_steps=300 --set warmup_steps=30 --set eval_steps=100 --set save_steps=100 --set logging_steps=50" \
  exec ./scripts/pretrain-then-finetune.sh corpora/sample \
  "$config_dir/finetune/lid-sample.toml" "$config_dir/finetune/pos-tr-sample.toml"
