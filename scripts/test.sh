#!/usr/bin/env bash
# The test command: set up .venv, make sure Docker answers, build the test images, lint, test.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k images -x`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Docker is set up below, so a test that cannot reach it fails instead of skipping.
export THC_REQUIRE_DOCKER=${THC_REQUIRE_DOCKER:-1}

stage() { printf '\n==> %s\n' "$*"; }

stage "setup (.venv)"
bash scripts/setup.sh
stage "docker engine"
bash scripts/ensure-docker.sh
stage "test images"
bash scripts/build-images.sh
stage "systemd-analyze (unit checks)"
bash scripts/ensure-systemd-analyze.sh
stage "ruff"
.venv/bin/ruff check toolhive_compose tests bench scripts
stage "mypy"
.venv/bin/mypy
stage "pytest"
rc=0
.venv/bin/python -m pytest -q "$@" || rc=$?
if [ "$rc" -eq 5 ]; then
  echo "test: pytest collected no tests; that counts as a failure." >&2
  exit 1
fi
exit "$rc"
