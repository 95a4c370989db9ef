#!/usr/bin/env bash
# The main job: set everything up, then `thv apply` examples/demo.yaml on locally built images,
# show that a second plan has nothing to do, and call a tool on every server through its proxy
# with the official MCP Python SDK.  `--down` removes the demo's workloads again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

stage() { printf '\n==> %s\n' "$*"; }
thv=.venv/bin/thv
file=examples/demo.yaml

stage "setup (.venv)"
bash scripts/setup.sh
stage "docker engine"
bash scripts/ensure-docker.sh

if [ "${1:-}" = "--down" ]; then
  stage "thv down -f $file"
  exec "$thv" down -f "$file" --yes
fi

stage "demo image"
bash scripts/build-images.sh mcp
stage "thv apply -f $file --yes"
"$thv" apply -f "$file" --yes
stage "thv plan -f $file   (nothing left to do)"
"$thv" plan -f "$file" --detailed-exitcode
stage "thv list --group demo"
"$thv" list --group demo
stage "calling echo on every server through its proxy (mcp SDK client)"
"$thv" list --group demo --format mcpservers | .venv/bin/python scripts/demo_client.py
printf '\nConnect any MCP client with the JSON from: %s list --format mcpservers\n' "$thv"
printf 'Remove the demo with: bash scripts/demo.sh --down\n'
