"""``python -m toolhive_compose.proxy <name>``: run one workload's proxy in the foreground."""

import sys

from .main import run

if len(sys.argv) != 2:
    sys.exit("usage: python -m toolhive_compose.proxy <workload name>")
sys.exit(run(sys.argv[1]))
