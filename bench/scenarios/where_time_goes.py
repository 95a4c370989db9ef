"""Where the time of a no-op ``thv plan`` goes: its phases (``bench/phases.py``), its imports
(``python -X importtime``) and, with ``--profile``, a cProfile."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from harness import BENCH, run_timed
from session import Session


def phases(session: Session, path: Path) -> dict:
    """``bench/phases.py``: the no-op plan's phases, milliseconds inside one process."""
    out = run_timed(
        [session.python, str(BENCH / "phases.py"), "-f", str(path)],
        session.env,
        cwd=session.tmp,
        timeout=120,
    )
    return json.loads(out.stdout)


def _thv_script(session: Session) -> list[str]:
    return session.thv if session.thv[0].endswith("thv") else ["-m", "toolhive_compose"]


def importtime(session: Session, path: Path) -> dict:
    """``python -X importtime`` of ``thv plan``: the largest imports."""
    proc = subprocess.run(
        [session.python, "-X", "importtime", *_thv_script(session), "plan", "-f", str(path)],
        env=session.env,
        capture_output=True,
        text=True,
        cwd=session.tmp,
        timeout=120,
    )
    rows: list[dict[str, Any]] = []
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m:
            rows.append(
                {
                    "module": m.group(4),
                    "self_us": int(m.group(1)),
                    "cumulative_us": int(m.group(2)),
                    "depth": len(m.group(3)) // 2,
                }
            )
    top = sorted(rows, key=lambda r: -r["cumulative_us"])[:10]
    top_level = sum(r["cumulative_us"] for r in rows if r["depth"] == 0)
    return {
        "top_cumulative": top,
        "total_us": top_level,
        "top_self": sorted(rows, key=lambda r: -r["self_us"])[:10],
    }


def cprofile(session: Session, path: Path) -> list[str]:
    """``--profile``: a cProfile of ``thv plan``, top 25 cumulative."""
    prof = session.tmp / "plan.prof"
    subprocess.run(
        [
            session.python,
            "-m",
            "cProfile",
            "-o",
            str(prof),
            *_thv_script(session),
            "plan",
            "-f",
            str(path),
        ],
        env=session.env,
        capture_output=True,
        cwd=session.tmp,
        timeout=120,
    )
    code = (
        "import pstats,sys; s=pstats.Stats(sys.argv[1]); s.sort_stats('cumulative');"
        "s.print_stats(25)"
    )
    text = subprocess.run(
        [session.python, "-c", code, str(prof)], capture_output=True, text=True
    ).stdout
    return text.splitlines()
