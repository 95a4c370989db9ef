#!/usr/bin/env bash
# Install docker-compose 1.29.2 (the Python one) into bench/.venv-compose, idempotently.
# docker-compose 1.29.2 pins PyYAML<6, whose sdist only builds on Python 3.11 with Cython<3
# and without build isolation; docker-py 7 dropped what compose 1.x needs, hence docker==6.1.3.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-compose"
py="${PYTHON:-python3}"

if [ -x "$venv/bin/docker-compose" ] && "$venv/bin/docker-compose" version --short 2>/dev/null | grep -q '^1\.29\.2$'; then
  echo "docker-compose 1.29.2 already installed in $venv"
  exit 0
fi

[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
"${pip[@]}" install 'cython<3' wheel setuptools
"${pip[@]}" install --no-build-isolation 'PyYAML==5.4.1'
"${pip[@]}" install 'docker==6.1.3' 'requests<2.32' 'docker-compose==1.29.2'
"$venv/bin/docker-compose" version --short
