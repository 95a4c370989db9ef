"""The reliability suite: ``python bench/chaos.py`` — kills, crashes and races, with figures.

Runs every scenario of ``bench/chaos_cases/`` (or those named with ``--only``), prints one
table row per thing measured ("20/20 kill trials converged"), writes
``bench/results/chaos.json``, and exits 1 if any row lost a trial (2 on a usage error).

Everything runs against the shared engine's throw-away projects (names ``chaos-…``) and
throw-away state directories: ``$HOME`` and the XDG variables point into a temporary
directory for the whole run, so the user's own ToolHive state is never touched.  Scenarios
that kill an engine start a private one (``tests/support/private_engine.py``; root only).

The interface for scenario modules (``bench/chaos_cases/<name>.py``; see its package's
docstring): ``run(ctx: Context) -> list[Row]``.  Add a module and list it in ``SCENARIOS``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.chaos_cases import Context, Row  # noqa: E402

SCENARIOS = ("kill_apply", "engine_kill", "concurrent", "racing", "state_damage", "engine_restart")
RESULTS = ROOT / "bench" / "results" / "chaos.json"
XDG = {"XDG_CONFIG_HOME": ".config", "XDG_CACHE_HOME": ".cache",
       "XDG_DATA_HOME": ".local/share", "XDG_STATE_HOME": ".local/state"}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20, help="kill trials (other rows fewer)")
    parser.add_argument("--servers", type=int, default=10, help="servers per project")
    parser.add_argument("--only", nargs="*", default=None, help=f"of {', '.join(SCENARIOS)}")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    names = args.only or [n for n in SCENARIOS if (ROOT / "bench/chaos_cases" / f"{n}.py").exists()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rows = run(names, trials=args.trials, servers=args.servers, seed=seed)
    print(table(rows))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"seed": seed, "rows": [r.__dict__ for r in rows]}, indent=2))
    print(f"\nseed {seed}; details in {RESULTS.relative_to(ROOT)}")
    return 1 if any(r.lost for r in rows) else 0


def run(names: list[str], *, trials: int, servers: int, seed: int) -> list[Row]:
    import docker

    from tests.support.images import ensure_busybox_image

    home = Path(tempfile.mkdtemp(prefix="thc-chaos-"))
    os.environ["HOME"] = str(home)
    for var, rel in XDG.items():
        (home / rel).mkdir(parents=True, exist_ok=True)
        os.environ[var] = str(home / rel)
    ctx = Context(
        trials=trials, servers=servers, workdir=home / "work", docker=docker.from_env(),
        image=ensure_busybox_image(), rng=random.Random(seed), log=_log,
    )  # fmt: skip
    ctx.workdir.mkdir()
    rows: list[Row] = []
    for name in names:
        _log(f"== {name}")
        began = time.monotonic()
        try:
            found = importlib.import_module(f"bench.chaos_cases.{name}").run(ctx)
        except Exception as exc:  # a scenario that breaks is a lost row, not a lost run
            found = [
                Row(f"{name}: the scenario itself failed", 1, 0, f"{type(exc).__name__}: {exc}")
            ]
        for row in found:
            row.seconds = row.seconds or time.monotonic() - began
        rows.extend(found)
    return rows


def table(rows: list[Row]) -> str:
    head = ("scenario", "result", "time", "detail")
    body = [
        (r.scenario, f"{r.passed}/{r.trials}" + ("" if not r.lost else "  LOSS"),
         f"{r.seconds:.0f}s", r.detail[:110])
        for r in rows
    ]  # fmt: skip
    widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(3)]
    lines = []
    for cells in [head, *body]:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(cells[:3], widths, strict=True))
                     + "  " + cells[3])  # fmt: skip
    return "\n".join(lines)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
