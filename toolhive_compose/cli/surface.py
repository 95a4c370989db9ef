"""The tool-surface commands: ``thv tools``, ``thv lock``, ``thv verify``.

``thv tools NAME`` lists what a running workload serves through its proxy (after the filter,
overrides and pins), each tool with its digest and, where ``workloads.lock`` names the
workload, whether it matches.  ``thv lock`` writes the lock from the running servers of the
file; ``thv verify`` checks them against it for CI (exit 0 when all match, 1 otherwise).
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import ThvError
from .app import Files, FormatOpt, PlanFormat, RegistryOpt, Source, app, option_groups

if TYPE_CHECKING:
    from ..model import DesiredState, Lock
    from ..workloads.surface import Surface
    from ..workloads.verify import ServerCheck

Names = Annotated[list[str] | None, typer.Argument(help="Servers (default: every one).")]


class Format(StrEnum):
    text = "text"
    json = "json"


@app.command("tools")
def tools_(
    name: Annotated[str, typer.Argument(help="The workload.")],
    files: Files = None,
    output: Annotated[Format, typer.Option("--format", help="text or json.")] = Format.text,
) -> None:
    """The tools a workload serves through its proxy, with digests (and the lock's verdict)."""
    from ..state import Store
    from ..workloads.surface import read_surface

    surface = read_surface(Store.from_env(), name)
    lock = _lock_near(files)
    rows = _tool_rows(surface, lock.servers.get(name) if lock and lock.exists else None)
    if output is Format.json:
        doc = {"name": name, "lock": lock.path if lock and lock.exists else None, "tools": rows}
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        return
    from .tables import columns

    table = [("TOOL", "DIGEST", "LOCK", "DESCRIPTION")]
    for row in rows:
        verdict = row["lock"] or "-"
        if row["withheld"]:
            verdict += f" (withheld: {row['withheld']})"
        description = " ".join(str(row["description"]).split())
        table.append((row["name"], row["sha256"][:19], verdict, _cut(description, 60)))
    typer.echo(columns(table, gap="  ") if rows else f"{name} serves no tools")


def _tool_rows(surface: Surface, entry: Any) -> list[dict[str, Any]]:
    rows = []
    pinned = entry.tools if entry is not None else None
    for tool, view in sorted(surface.views.items()):
        verdict = None
        if pinned is not None:
            verdict = "not-in-lock" if tool not in pinned else (
                "match" if pinned[tool].digest == view.digest else "changed"
            )  # fmt: skip
        rows.append({
            "name": tool, "sha256": view.digest, "description": view.description,
            "served": tool in surface.served, "withheld": surface.withheld.get(tool),
            "lock": verdict,
        })  # fmt: skip
    for tool in sorted(set(pinned or {}) - set(surface.views)):
        rows.append({"name": tool, "sha256": "", "description": "", "served": False,
                     "withheld": None, "lock": "missing"})  # fmt: skip
    return rows


@app.command("lock")
@option_groups
def lock_(
    source: Source,
    names: Names = None,
    update: Annotated[
        bool, typer.Option("--update", help="Record servers whose tools changed too.")
    ] = False,
    prune: Annotated[
        bool, typer.Option("--prune", help="Drop servers the workloads file no longer has.")
    ] = False,
    registry: RegistryOpt = None,
) -> None:
    """Write workloads.lock from the running servers: their images and tool surfaces."""
    from ..runtime import get_runtime
    from ..state import Store
    from ..workloads.lockfile import write_lock
    from ..workloads.verify import record

    desired = _desired(source, registry)
    lock, said = record(
        desired, Store.from_env(), get_runtime(), names or [], update=update, prune=prune
    )
    write_lock(lock)
    for line in said:
        typer.echo(line)
    typer.echo(f"Wrote {lock.path}. thv apply hands changed pins to the running proxies.")


@app.command()
@option_groups
def verify(
    source: Source,
    output: FormatOpt = PlanFormat.text,
    registry: RegistryOpt = None,
) -> None:
    """Check every server of the file, live, against workloads.lock (exit 1 on any mismatch)."""
    from ..runtime import get_runtime
    from ..state import Store
    from ..workloads.verify import verify as verify_servers

    desired = _desired(source, registry)
    if desired.lock is None or not desired.lock.exists:
        raise ThvError(
            f"there is no {desired.lock.path if desired.lock else 'workloads.lock'} to verify "
            "against",
            hint="run thv lock once the servers run, and commit the file",
        )
    checks = verify_servers(desired, Store.from_env(), get_runtime())
    render = {"json": _verify_json, "markdown": _verify_markdown}.get(output.value, _verify_text)
    sys.stdout.write(render(desired, checks))
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


def _verify_text(desired: DesiredState, checks: list[ServerCheck]) -> str:
    lines = []
    for c in checks:
        image = f"; image {c.image}" if c.image and c.image != "match" else ""
        lines.append(f"{c.name}: {c.status}" + (f" ({c.detail})" if c.detail else "") + image)
        lines += [f"  {line}" for line in c.diff.lines()]
    return "\n".join([*lines, _summary(desired, checks)]) + "\n"


def _verify_json(desired: DesiredState, checks: list[ServerCheck]) -> str:
    assert desired.lock is not None
    doc = {
        "lock": desired.lock.path,
        "project": desired.project,
        "ok": all(c.ok for c in checks),
        "servers": [c.to_dict() for c in checks],
        "not_in_file": _stale(desired),
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _verify_markdown(desired: DesiredState, checks: list[ServerCheck]) -> str:
    mark = {True: "✅", False: "❌"}
    lines = [f"### {_summary(desired, checks)}", "", "| server | tools | image | details |",
             "| --- | --- | --- | --- |"]  # fmt: skip
    for c in checks:
        tools_ok = c.status in ("match", "skipped")
        image_cell = f"{mark[c.image_ok]} {c.image or 'not pinned'}"
        detail = c.detail.replace("|", "\\|")
        lines.append(f"| `{c.name}` | {mark[tools_ok]} {c.status} | {image_cell} | {detail} |")
    for c in checks:
        if c.diff.lines():
            lines += ["", f"<details><summary>{c.name}</summary>", ""]
            lines += [f"- `{line}`" for line in c.diff.lines()] + ["", "</details>"]
    return "\n".join(lines) + "\n"


def _summary(desired: DesiredState, checks: list[ServerCheck]) -> str:
    good = sum(1 for c in checks if c.ok)
    stale = _stale(desired)
    note = f"; the lock also names {', '.join(stale)}, no longer in the file" if stale else ""
    return (
        f"workloads.lock, project {desired.project}: {good} of {len(checks)} server(s) match{note}"
    )


def _stale(desired: DesiredState) -> list[str]:
    lock = desired.lock
    return sorted(set(lock.servers) - {s.name for s in desired.servers}) if lock else []


def _desired(source: Source, registry: str | None) -> DesiredState:
    from ..spec.loader import load
    from ..workloads.pins import attach_lock

    desired = load(
        source.files or [], env_files=source.env_file or [], project=source.project,
        registry=registry,
    )  # fmt: skip
    return attach_lock(desired, None)[0]


def _lock_near(files: list[Path] | None) -> Lock | None:
    """The lock beside the first file given (or the current directory's workloads file)."""
    from ..errors import SpecError
    from ..spec.loader import discover
    from ..workloads.lockfile import lock_path, read_lock

    try:
        found = discover(files or [])
    except SpecError:
        found = []
    return read_lock(lock_path([str(Path(f).resolve()) for f in found]))


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
