#!/usr/bin/env bash
# Benchmark of the corpus stage, side by side in one run on the same machine, same tokenizer,
# same documents (the real corpus from scripts/fetch-data.sh):
#   1. `corpus build` end to end (read, split, encode, write shards) vs the tokenizers crate's own
#      encode_batch_fast of the documents already in memory (the ceiling): target >= 0.9x;
#   2. vs a Python pipeline in the style of nanoGPT's prepare.py (Python tokenizers
#      encode_batch + numpy memmap): target >= 1.5x;
#   3. peak RSS of `corpus build` on >= 1 GB of input (the corpus repeated): target < 1 GB.
# Figures are ratios within this run; absolute times vary between machines and runs.
#
# usage: scripts/bench/corpus.sh [--threads N] [--big-gb G] [--skip-big]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
threads=$(nproc); big_gb=1; skip_big=0
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --big-gb) big_gb="$2"; shift 2 ;;
    --skip-big) skip_big=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

./scripts/setup.sh
./scripts/fetch-data.sh >/dev/null
cargo build --release --quiet -p corpus --example encode_ceiling
corpus=target/release/corpus
ceiling=target/release/examples/encode_ceiling
work="$(mktemp -d "${TMPDIR:-/tmp}/corpus-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export RAYON_NUM_THREADS="$threads"

# The one tokenizer all contenders use: a 32k WordPiece trained on the corpus.
$corpus build --input data/raw --output "$work/tok" --vocab-size 32000 --val-fraction 0.01 >/dev/null 2>&1
tok="$work/tok/tokenizer.json"
bytes=$(du -sbL data/raw | cut -f1)

peak_rss_mb() { awk '/Maximum resident set size/ {printf "%.0f", $NF/1024}' "$1"; }

echo "input: data/raw, $((bytes / 1000000)) MB, $(ls data/raw | wc -l) languages; $threads threads; tokenizer: WordPiece 32k"
for round in 1 2; do
  # Alternate the order so that warm caches do not favour one contender.
  rust_json=$($ceiling data/raw "$tok")
  /usr/bin/time -v $corpus build --input data/raw --output "$work/out" --tokenizer "$tok" --force --threads "$threads" \
      >/dev/null 2>"$work/build.log" || { cat "$work/build.log"; exit 1; }
  build_secs=$(awk '/Elapsed \(wall clock\)/ {n=split($NF,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]; print s}' "$work/build.log")
  build_tokens=$(python3 -c "import json,sys; m=json.load(open('$work/out/manifest.json')); print(sum(s['tokens'] for s in m['shards']))")
  py_json=$(.venv/bin/python scripts/bench/corpus_python.py data/raw "$tok" "$work/py")
  python3 - "$rust_json" "$py_json" "$build_secs" "$build_tokens" "$round" "$(peak_rss_mb "$work/build.log")" <<'PY'
import json, sys
ceil, py = json.loads(sys.argv[1]), json.loads(sys.argv[2])
secs, tokens, rnd, rss = float(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
assert tokens == ceil["tokens"] == py["tokens"], (tokens, ceil["tokens"], py["tokens"])
ours = tokens / secs
print(f"round {rnd}: corpus build {ours:,.0f} tok/s ({secs:.1f} s, peak RSS {rss} MB) | "
      f"tokenizers encode_batch_fast ceiling {ceil['tokens_per_s']:,.0f} tok/s | "
      f"python prepare.py-style {py['tokens_per_s']:,.0f} tok/s")
print(f"round {rnd}: ratio vs ceiling {ours / ceil['tokens_per_s']:.2f}x (target >= 0.9), "
      f"vs python {ours / py['tokens_per_s']:.2f}x (target >= 1.5)")
PY
done

if [ "$skip_big" = 0 ]; then
  # >= big_gb GB of input without copying: hard-linked repeats of every file.
  copies=$(( (big_gb * 1000000000 + bytes - 1) / bytes ))
  for lang in data/raw/*/; do
    l=$(basename "$lang"); mkdir -p "$work/big/$l"
    for i in $(seq 1 "$copies"); do
      # Hard links: distinct paths (a symlinked repeat is refused as the same file listed twice).
      for f in "$lang"*.txt; do ln "$root/$f" "$work/big/$l/$i-$(basename "$f")"; done
    done
  done
  big_bytes=$((copies * bytes))  # du would count each hard-linked file once
  /usr/bin/time -v $corpus build --input "$work/big" --output "$work/big-out" --tokenizer "$tok" --threads "$threads" \
      >/dev/null 2>"$work/big.log" || { cat "$work/big.log"; exit 1; }
  echo "big input: $((big_bytes / 1000000)) MB ($copies copies): peak RSS $(peak_rss_mb "$work/big.log") MB (target < 1000 MB)," \
       "$(grep -o 'encoded .*' "$work/big.log" | head -1)"
fi
