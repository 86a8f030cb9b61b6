#!/usr/bin/env bash
# The main job. Today: set up, then build the corpus from the bundled sample (or, with --full,
# from the real corpus fetched by scripts/fetch-data.sh) and print its summary. The pretrain and
# finetune stages join the chain as they land.
#
# usage: ./scripts/pipeline.sh [--full] [--config-dir DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
config_dir=configs; preset=sample
while [ $# -gt 0 ]; do
  case "$1" in
    --full) preset=full; shift ;;
    --config-dir) config_dir="$2"; shift 2 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "pipeline: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

./scripts/setup.sh
if [ "$preset" = full ]; then
  ./scripts/fetch-data.sh
fi
cargo build --release --quiet -p corpus

echo "== corpus: $config_dir/corpus/$preset.toml"
# A re-run with unchanged inputs is a no-op (the corpus is up to date).
./target/release/corpus build --config "$config_dir/corpus/$preset.toml"
