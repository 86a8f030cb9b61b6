#!/usr/bin/env bash
# Idempotent set-up: a repo-local Python venv with the pinned torch wheel, and .libtorch pointing
# at the libtorch inside it (.cargo/config.toml sets LIBTORCH=.libtorch for every cargo command),
# and the Gloo headers that crates/distributed compiles against in .deps/gloo (or GLOO_INCLUDE_DIR).
# Fast when already done: it only compares stamps.
#   GLOO_INCLUDE_DIR=/path/include  use these Gloo headers (the directory holding gloo/config.h)
#   SETUP_LIGHT=1                   leave out triton (torch.compile's compiler, which neither
#                                   libtorch nor the tests use); the CUDA libraries stay: the
#                                   wheel's libtorch does not load without them, even on CPU
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust from https://rustup.rs" >&2; exit 1; }

venv="$root/.venv"
stamp="$venv/.requirements.sha256"
light="${SETUP_LIGHT:-0}"
want="$( (cat scripts/requirements.txt scripts/requirements-nodeps.txt; echo "light=$light") | sha256sum | cut -d' ' -f1)"

if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  python="${PYTHON:-python3}"
  command -v "$python" >/dev/null || { echo "setup: $python not found; install Python 3.10+ (or set PYTHON=/path/to/python3)" >&2; exit 1; }
  echo "setup: installing the pinned Python packages into .venv (torch is large: a few minutes the first time)" >&2
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  if [ "$light" = 1 ]; then
    # torch without triton: the wheel's other requirements, read from its own metadata.
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps "$(grep '^torch==' scripts/requirements.txt)"
    "$venv/bin/python" - > "$venv/.torch-deps.txt" <<'PY'
from importlib.metadata import requires
print("\n".join(r for r in requires("torch") if "extra ==" not in r and not r.startswith("triton")))
PY
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$venv/.torch-deps.txt"
    grep -v '^torch==' scripts/requirements.txt > "$venv/.requirements-light.txt"
    # --no-warn-conflicts: pip would report the left-out triton as a broken requirement of torch.
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-warn-conflicts -r "$venv/.requirements-light.txt"
    "$venv/bin/python" -m pip uninstall --quiet --yes triton >/dev/null 2>&1 || true
  else
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r scripts/requirements.txt
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r scripts/requirements-nodeps.txt
  echo "$want" > "$stamp"
fi

# Gloo headers for crates/distributed: libtorch ships ProcessGroupGloo.hpp (and the Gloo code itself,
# inside libtorch_cpu.so) but not the <gloo/...> headers it includes. Debian's libgloo-dev provides
# them; only the headers are used, never its library. Pinned to one exact package file.
gloo_version="0.0~git20220518.5b14351-3"
gloo_sha256="80529c9fd8af452faf489e686b94bf87075965c40673803810c4f41634b1e299"
gloo_dir="$root/.deps/gloo"
gloo_help="setup: elsewhere, give the Gloo headers yourself: on Ubuntu or another Debian, apt-get install libgloo-dev
setup:   and rerun with GLOO_INCLUDE_DIR=/usr/include; otherwise build Gloo's headers from source
setup:   (git clone https://github.com/facebookincubator/gloo && cd gloo && git checkout 5b14351 &&
setup:   cmake -B build -DCMAKE_INSTALL_PREFIX=\$HOME/.local/gloo && cmake --build build --target install)
setup:   and rerun with GLOO_INCLUDE_DIR=\$HOME/.local/gloo/include"
if [ -n "${GLOO_INCLUDE_DIR:-}" ]; then
  [ -f "$GLOO_INCLUDE_DIR/gloo/config.h" ] || {
    echo "setup: GLOO_INCLUDE_DIR=$GLOO_INCLUDE_DIR holds no gloo/config.h (it must be the directory that contains gloo/)" >&2; exit 1; }
elif [ "$(cat "$gloo_dir/.stamp" 2>/dev/null || true)" != "$gloo_sha256" ]; then
  command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || {
    echo "setup: apt-get and dpkg-deb are needed to fetch the Gloo headers (Debian 12 bookworm's libgloo-dev=$gloo_version)." >&2
    echo "$gloo_help" >&2
    exit 1; }
  echo "setup: fetching the Gloo headers (libgloo-dev=$gloo_version) into .deps/gloo" >&2
  tmp="$(mktemp -d)"
  # A fresh machine may have no package lists yet: update them once and retry. (As root, apt warns
  # that it downloads unsandboxed: harmless, hence the silence; the check below reports failures.)
  ( cd "$tmp" && apt-get download -q "libgloo-dev=$gloo_version" >/dev/null 2>&1 ) \
    || { [ "$(id -u)" = 0 ] && apt-get update -qq >/dev/null \
         && ( cd "$tmp" && apt-get download -q "libgloo-dev=$gloo_version" >/dev/null 2>&1 ); } \
    || { rm -rf "$tmp"; echo "setup: apt-get download libgloo-dev=$gloo_version failed (not Debian 12 bookworm, or no package lists: run apt-get update)." >&2; echo "$gloo_help" >&2; exit 1; }
  deb="$(ls "$tmp"/libgloo-dev_*.deb)"
  echo "$gloo_sha256  $deb" | sha256sum --check --quiet - \
    || { rm -rf "$tmp"; echo "setup: $deb does not have the pinned SHA-256 $gloo_sha256" >&2; exit 1; }
  dpkg-deb -x "$deb" "$tmp/x"
  rm -rf "$gloo_dir" && mkdir -p "$root/.deps" && mv "$tmp/x" "$gloo_dir" && rm -rf "$tmp"
  echo "$gloo_sha256" > "$gloo_dir/.stamp"
fi

# Already set up: the stamp matches and the link resolves.
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f .libtorch/lib/libtorch.so ]; then
  exit 0
fi

torch_dir="$("$venv/bin/python" - <<'PY'
import pathlib, torch
assert torch.__version__.split("+")[0] == "2.11.0", f"torch {torch.__version__} in .venv, expected 2.11.0"
print(pathlib.Path(torch.__file__).parent)
PY
)"
[ -f "$torch_dir/lib/libtorch.so" ] && [ -d "$torch_dir/include" ] || {
  echo "setup: $torch_dir holds no libtorch (lib/libtorch.so, include/); reinstall with: rm -rf .venv && $0" >&2; exit 1; }

# A stable repo-local path, so LIBTORCH and the binaries' rpath never name the Python version.
if [ "$(readlink .libtorch 2>/dev/null || true)" != "$torch_dir" ]; then
  ln -sfn "$torch_dir" .libtorch
fi

