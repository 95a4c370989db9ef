#!/usr/bin/env bash
# Create .venv (if missing) and install the project with its test extras into it. The install
# is skipped while pyproject.toml is unchanged since the last successful one (stamp file
# .venv/.thc-setup-stamp holds its hash). Set THC_PYTHON to choose the interpreter.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
python=${THC_PYTHON:-python3}
venv=.venv
stamp=$venv/.thc-setup-stamp
log=$venv/.thc-setup.log

die() { echo "setup: $*" >&2; exit 1; }

if [ ! -x "$venv/bin/python" ]; then
  command -v "$python" >/dev/null || die "no $python on PATH."
  "$python" -m venv "$venv" || die "'$python -m venv $venv' failed."
fi

want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi

echo "setup: installing the project and its test extras into $venv (log: $log)"
rm -f "$stamp"
if ! "$venv/bin/python" -m pip install --disable-pip-version-check -e '.[test]' >"$log" 2>&1; then
  tail -n 25 "$log" >&2
  die "pip install -e '.[test]' failed (full log: $log)."
fi
echo "$want" >"$stamp"
