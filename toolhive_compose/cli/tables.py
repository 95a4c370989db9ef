"""The tables of ``thv list`` and ``thv upgrade`` (and the pinned servers ``thv plan
--check-upgrades`` adds): pure string builders, light to import."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..upgrade.check import UpgradeResult
    from ..workloads.queries import Workload

UNMANAGED = "-"  # PROJECT of a workload no toolhive-compose project owns


# -- upgrades -------------------------------------------------------------------------------
def upgrade_intro(result: UpgradeResult) -> str:
    lines = [
        f"{result.workload_name}: {result.current_image} -> {result.candidate_image} "
        f"(registry entry {result.registry_server})",
        "Everything else is kept: env, secrets, volumes, labels, ports, group, permission profile.",
    ]
    return "\n".join(lines + drift_lines(result))


def upgrade_table(results: Sequence[UpgradeResult]) -> str:
    if not results:
        return "No MCP servers found"
    rows = [("NAME", "STATUS", "CURRENT", "CANDIDATE", "NEW-ENV", "POSTURE")]
    for r in results:
        added = len((r.env_var_drift or {}).get("added") or [])
        posture = "drift" if r.config_drift else "-"
        rows.append(
            (r.workload_name, r.status, r.current_image or "-", r.candidate_image or "-",
             str(added), posture)
        )  # fmt: skip
    return columns(rows)


def upgrade_detail(r: UpgradeResult) -> str:
    lines = [f"Workload:  {r.workload_name}", f"Status:    {r.status}"]
    for label, value in (
        ("Registry:  ", r.registry_server),
        ("Current:   ", r.current_image),
        ("Candidate: ", r.candidate_image),
        ("Reason:    ", r.reason),
    ):
        if value:
            lines.append(label + value)
    return "\n".join(lines + drift_lines(r))


def drift_lines(r: UpgradeResult) -> list[str]:
    lines = []
    added = (r.env_var_drift or {}).get("added") or []
    if added:
        lines.append("New environment variables declared by the candidate:")
        for var in added:
            required = " (required)" if var.get("required") else ""
            about = f": {var['description']}" if var.get("description") else ""
            lines.append(f"  - {var['name']}{required}{about}")
    for key, label in (("transport", "transport"), ("permission_profile", "permission profile")):
        change = (r.config_drift or {}).get(key)
        if change:
            lines.append(f"Posture drift (kept as is): {label} {change['from']} -> {change['to']}")
    return lines


def columns(rows: Iterable[Sequence[str]], gap: str = "   ") -> str:
    """Rows as left-aligned columns, ``gap`` apart."""
    rows = list(rows)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(gap.join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows)


def render_pinned(behind: Sequence[UpgradeResult]) -> str:
    if not behind:
        return "\nUpgrades: every registry server is at its registry's image.\n"
    rows = [("SERVER", "PINNED", "REGISTRY", "ENTRY")]
    rows += [
        (r.workload_name, r.current_image, r.candidate_image, r.registry_server) for r in behind
    ]
    table = "\n".join("  " + line for line in columns(rows).splitlines())
    return (
        f"\nUpgrades: {len(behind)} registry server(s) pinned behind their registry:\n{table}\n"
        "Bump 'image:' in the workloads file (or drop it to follow 'server:'), then thv apply.\n"
    )


# -- workloads ------------------------------------------------------------------------------
def _status(w: Workload) -> str:
    """The status, marked when the proxy withholds tools that drifted from workloads.lock
    (the status file's context says which)."""
    from ..tools import DRIFT_CONTEXT

    return f"{w.status} (tools drifted)" if w.status_context.startswith(DRIFT_CONTEXT) else w.status


def workload_table(
    found: Sequence[Workload], upgrades: Mapping[str, UpgradeResult] | None = None
) -> str:
    """``thv list``: ToolHive's columns plus ``PROJECT`` (and ``UPGRADE`` when checked)."""
    rows: list[tuple[str, ...]] = [
        ("NAME", "PACKAGE", "STATUS", "URL", "PORT", "GROUP", "CREATED", "PROJECT")
    ]
    rows += [
        (
            w.name, w.package, _status(w), w.url, str(w.port), w.group, w.created_at[:19],
            w.project or UNMANAGED,
        )
        for w in found
    ]  # fmt: skip
    if upgrades is not None:  # thv list --check-upgrades: an UPGRADE column
        status = {name: result.status for name, result in upgrades.items()}
        rows = [(*rows[0], "UPGRADE")] + [(*r, status.get(r[0], "-")) for r in rows[1:]]
    return columns(rows, gap="  ")
