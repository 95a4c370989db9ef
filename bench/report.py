"""The table of a bench run (a row per scenario: ours, the baselines, the ratio, the target),
what explains it (the no-op plan's phases and imports), and ``bench/results/latest.json``."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from harness import RESULTS, docker
from session import Session

TARGETS = {
    "cold_apply_ratio": 1.25,  # ours (containers + proxies + MCP readiness) / raw SDK create+start
    "noop_plan_small": 0.35,  # seconds, at N=50
    "noop_plan_large": 0.8,  # seconds, at N=500
    "one_change_ratio": 0.4,  # ours / docker-compose
    "down_ratio": 1.15,  # ours / raw SDK parallel remove
}


@dataclass
class Row:
    scenario: str
    ours: float | None
    baselines: dict[str, float | None] = field(default_factory=dict)
    ratio_to: str = ""  # which baseline the ratio is against
    target: str = ""  # e.g. "<= 0.35 s" or "<= 0.4x"
    limit: float | None = None
    kind: str = "info"  # seconds | ratio | info
    note: str = ""

    @property
    def ratio(self) -> float | None:
        base = self.baselines.get(self.ratio_to)
        if self.ours is None or not base:
            return None
        return self.ours / base

    @property
    def verdict(self) -> str:
        if self.kind == "info":
            return "info"
        value = self.ours if self.kind == "seconds" else self.ratio
        if value is None or self.limit is None:
            return "n/a"
        return "PASS" if value <= self.limit else "FAIL"


@dataclass
class Results:
    """What a run measured: every sample, and the medians (``latest.json``'s ``raw``)."""

    samples: dict[str, list[float]] = field(default_factory=dict)
    sdk: dict[str, float | None] = field(default_factory=dict)  # raw SDK create/remove, p8/p16
    compose: dict[str, Any] = field(default_factory=dict)
    ours_small: dict[str, Any] = field(default_factory=dict)  # at --n
    ours_large: dict[str, Any] = field(default_factory=dict)  # at --noop-n
    startup: dict[str, Any] = field(default_factory=dict)


def table_rows(args: argparse.Namespace, results: Results) -> list[Row]:
    """The table: each scenario of ours next to its baselines, against its target."""
    ours, large, comp, raw = results.ours_small, results.ours_large, results.compose, results.sdk
    start = results.startup
    py_start = _median(start["python -c pass"])
    n, big = args.n, args.noop_n
    rows = [
        Row(
            f"cold apply x{n}",
            ours.get("apply"),
            {
                "raw SDK p8": raw["create_p8"],
                "raw SDK p16": raw["create_p16"],
                "compose up": comp["up"],
            },
            ratio_to="raw SDK p8",
            target=f"<= {TARGETS['cold_apply_ratio']}x",
            limit=TARGETS["cold_apply_ratio"],
            kind="ratio",
        ),
        Row(
            f"no-op plan x{n} (median)",
            _median(ours.get("plan")),
            {"python -c pass": py_start, "thv --help": _median(start["thv --help"])},
            ratio_to="python -c pass",
            target=f"<= {TARGETS['noop_plan_small']} s",
            limit=TARGETS["noop_plan_small"],
            kind="seconds",
        ),
    ]
    if big:
        rows.append(
            Row(
                f"no-op plan x{big} (median, {large.get('state')})",
                _median(large.get("plan")),
                {"python -c pass": py_start},
                ratio_to="python -c pass",
                target=f"<= {TARGETS['noop_plan_large']} s",
                limit=TARGETS["noop_plan_large"],
                kind="seconds",
            )
        )
    rows += [
        Row(
            "one change (env of 1)",
            ours.get("change"),
            {
                "compose up -t0": comp["change"],
                "compose up (10s grace)": comp["change_default_grace"],
            },
            ratio_to="compose up -t0",
            target=f"<= {TARGETS['one_change_ratio']}x",
            limit=TARGETS["one_change_ratio"],
            kind="ratio",
        ),
        Row(
            f"down x{n}",
            ours.get("down"),
            {
                "raw SDK rm p8": raw["remove_p8"],
                "raw SDK rm p16": raw["remove_p16"],
                "compose down -t0": comp["down"],
            },
            ratio_to="raw SDK rm p8",
            target=f"<= {TARGETS['down_ratio']}x",
            limit=TARGETS["down_ratio"],
            kind="ratio",
        ),
    ]
    if big:
        rows += [
            Row(
                f"cold apply x{big} ({large.get('state')})",
                large.get("apply"),
                target="(setup)",
            ),
            Row(f"down x{big} ({large.get('state')})", large.get("down"), target="(cleanup)"),
        ]
    return rows


def _median(x: Any) -> float | None:
    return x["median"] if isinstance(x, dict) else None


def report(session: Session, rows: list[Row], results: Results, total: float) -> None:
    """Print the table and what explains it; write ``bench/results/latest.json``."""

    def fmt(x: float | None) -> str:
        return "-" if x is None else f"{x:.3f}s"

    header = ("scenario", "ours", "baseline(s)", "ratio", "target", "result")
    table = [header]
    for r in rows:
        bases = ", ".join(f"{k} {fmt(v)}" for k, v in r.baselines.items()) or "-"
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}x {r.ratio_to}"
        table.append((r.scenario, fmt(r.ours), bases, ratio, r.target or "-", r.verdict))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    print(
        f"\nthc bench {session.run_id}: engine {session.engine}, network {session.network}, "
        f"server {session.args.server}, {os.cpu_count()} cpus, "
        f"single-shot rows: median of {session.args.repeat} round(s), "
        f"{session.extra.get('other_containers', 0)} other running container(s), load average "
        f"{_load(session.extra.get('loadavg_start'))} at start, "
        f"{_load(session.extra.get('loadavg_end'))} at end\n"
    )
    for i, row in enumerate(table):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print(f"\ncompose: {session.compose_note}")
    for label, data in (
        (f"x{session.args.n}", results.ours_small),
        (f"x{session.args.noop_n}", results.ours_large),
    ):
        phases = data.get("phases") if data else None
        if phases:
            parts = ", ".join(f"{k} {v}" for k, v in phases.items())
            print(f"no-op plan phases {label} (ms, one process): {parts}")
    imp = session.extra.get("importtime")
    if imp:
        print(
            f"\npython -X importtime, thv plan (top 10 cumulative; all top-level imports "
            f"{imp['total_us'] / 1e6:.3f}s):"
        )
        for r in imp["top_cumulative"]:
            print(
                f"  {r['cumulative_us'] / 1e3:8.1f} ms cum  {r['self_us'] / 1e3:7.1f} ms "
                f"self  {'  ' * r['depth']}{r['module']}"
            )
    prof = session.extra.get("cprofile_plan")
    if prof:
        print("\ncProfile, thv plan (top 25 cumulative):")
        print("\n".join(line for line in prof if line.strip()))
    for err in session.errors:
        print(f"ERROR: {err}")
    print(f"\nbench took {total:.0f}s; results in {RESULTS / 'latest.json'}")

    RESULTS.mkdir(exist_ok=True)
    doc = {
        "run_id": session.run_id,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "config": {
            "n": session.args.n,
            "noop_n": session.args.noop_n,
            "runs": session.args.runs,
            "engine": session.engine,
            "network": session.network,
            "server": session.args.server,
            "thv": session.thv,
            "python": session.python,
            "compose": session.compose_note,
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "docker": docker(
                "version", "--format", "{{.Server.Version}}", check=False
            ).stdout.strip(),
            "timing": "hyperfine" if shutil.which("hyperfine") else "perf_counter",
            "other_containers": session.extra.get("other_containers"),
            "loadavg_start": session.extra.get("loadavg_start"),
            "loadavg_end": session.extra.get("loadavg_end"),
        },
        "targets": TARGETS,
        "rows": [{**asdict(r), "ratio": r.ratio, "verdict": r.verdict} for r in rows],
        "samples": results.samples,
        "raw": {
            "sdk": results.sdk,
            "compose": results.compose,
            "ours_small": results.ours_small,
            "ours_large": results.ours_large,
            "startup": results.startup,
        },
        "importtime": session.extra.get("importtime"),
        "cprofile_plan": session.extra.get("cprofile_plan"),
        "errors": session.errors,
        "total_seconds": total,
    }
    (RESULTS / "latest.json").write_text(json.dumps(doc, indent=2, default=str) + "\n")


def _load(avg: Any) -> str:
    return "/".join(f"{x:.1f}" for x in avg) if avg else "?"
