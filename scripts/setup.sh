#!/usr/bin/env bash
# Idempotent set-up: a repo-local Python venv with the pinned torch wheel, and .libtorch pointing
# at the libtorch inside it (.cargo/config.toml sets LIBTORCH=.libtorch for every cargo command).
# Fast when already done: it only compares a stamp with scripts/requirements.txt.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust from https://rustup.rs" >&2; exit 1; }

venv="$root/.venv"
stamp="$venv/.requirements.sha256"
want="$(cat scripts/requirements.txt scripts/requirements-nodeps.txt | sha256sum | cut -d' ' -f1)"

if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  python="${PYTHON:-python3}"
  command -v "$python" >/dev/null || { echo "setup: $python not found; install Python 3.10+ (or set PYTHON=/path/to/python3)" >&2; exit 1; }
  echo "setup: installing the pinned Python packages into .venv (torch is large: a few minutes the first time)" >&2
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r scripts/requirements.txt
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r scripts/requirements-nodeps.txt
  echo "$want" > "$stamp"
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

