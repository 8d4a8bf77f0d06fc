# Sourced by scripts/run and scripts/test: make sure .venv exists and holds this checkout.
# Usage: . scripts/_venv.sh [dev]
extra="${1:-}"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
spec="."
[ "$extra" = "dev" ] && spec=".[dev]"
stamp=".venv/.installed-$(cat pyproject.toml | "$python" -c 'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest()[:16])')-${extra:-run}"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip >/dev/null
  .venv/bin/python -m pip install --quiet -e "$spec"
  touch "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"
