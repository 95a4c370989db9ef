"""A plan as Markdown for a pull request or a CI job summary (pure string builders).

A headline count, the risk counts, one table row per action (kind, server, reason, risk), then
per action a collapsible ``<details>`` block with how it widens privileges and its field changes
as a ``diff`` block, and the warnings.  Sensitive values are masked as in the text
(``(sensitive)``); the output depends on the plan alone, so it is byte-for-byte stable.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..plan.actions import Action, ActionKind, FieldChange, Plan
from .text import COUNT_LABELS, HEADLINE, SYMBOL, client_headline, field_value

if TYPE_CHECKING:
    from ..upgrade.check import UpgradeResult

LOUD = frozenset({"disruptive", "privilege-widening"})  # shown in bold


def render_markdown(plan: Plan, *, notes: Sequence[str] = ()) -> str:
    """The plan as Markdown; ``notes`` are lines shown under the title (e.g. where a saved
    plan came from)."""
    lines = [f"### toolhive-compose plan: project `{plan.project}`", ""]
    lines += [*(f"{note}  " for note in notes), *([""] if notes else [])]
    if not plan.actions:
        lines += ["**No changes.** The machine matches the workloads file.", ""]
        return "\n".join(lines + _warnings(plan))
    lines += [_headline(plan), "", _risk_line(plan), ""]
    lines += _table(plan.actions)
    lines.append("")
    for action in plan.actions:
        lines += _details(action)
    return "\n".join(lines + _warnings(plan))


def render_pinned_markdown(behind: Sequence[UpgradeResult]) -> str:
    """``plan --check-upgrades``: the registry servers pinned behind their registry."""
    if not behind:
        return "\n**Upgrades**: every registry server is at its registry's image.\n"
    count = len(behind)
    lines = [
        "",
        f"**Upgrades**: {count} registry server{'s' if count != 1 else ''} pinned behind "
        f"{'their registry' if count != 1 else 'its registry'}.",
        "",
        "| server | pinned | registry | entry |",
        "| --- | --- | --- | --- |",
    ]
    lines += [
        f"| `{r.workload_name}` | `{r.current_image}` | `{r.candidate_image}` | "
        f"`{_cell(r.registry_server)}` |"
        for r in behind
    ]
    lines += [
        "",
        "Bump `image:` in the workloads file (or drop it to follow `server:`), then `thv apply`.",
    ]
    return "\n".join(lines) + "\n"


def _headline(plan: Plan) -> str:
    counts = plan.summary()
    parts = [f"{counts[kind]} {label}" for kind, label in COUNT_LABELS if counts.get(kind)]
    total = len(plan.actions)
    return f"**{total} action{'s' if total != 1 else ''}**: {', '.join(parts)}."


def _risk_line(plan: Plan) -> str:
    parts = []
    for risk, count in plan.risk_counts().items():
        text = f"{count} {risk}"
        parts.append(f"**{text}**" if count and risk in LOUD else text)
    return "Risk: " + " · ".join(parts)


def _table(actions: Sequence[Action]) -> list[str]:
    rows = ["| # | kind | server | reason | risk |", "| ---: | --- | --- | --- | --- |"]
    for a in actions:
        who = f"group `{a.name}`" if a.is_group else f"`{a.name}`"
        if a.client is not None:
            who = f"`{a.name}` in {a.client.name}"
        risk = ", ".join(f"**{r}**" if r in LOUD else r for r in a.risks)
        rows.append(f"| {a.id} | {a.kind} | {who} | {_cell(a.reason)} | {risk} |")
    return rows


def _details(action: Action) -> list[str]:
    noun = "group" if action.is_group else "server"
    symbol, headline = SYMBOL[action.kind], HEADLINE[action.kind]
    if action.client is not None:
        symbol, headline = client_headline(action)
        noun = f"client {action.client.name}: server"
    title = (
        f"<code>#{action.id} {html.escape(symbol)} {noun} {action.name}</code> "
        f"{html.escape(headline)}: {html.escape(action.reason)}"
    )
    lines = [f"<details><summary>{title}</summary>", ""]
    if action.client is not None:
        lines += [f"In `{action.client.file}` at `{action.client.location}`.", ""]
    if action.depends_on:
        lines += [f"After {', '.join(f'#{d}' for d in action.depends_on)}.", ""]
    lines += [f"- **privilege-widening**: {_inline(w)}" for w in action.widening]
    lines += [""] if action.widening else []
    body = _diff(action)
    lines += _fenced(body, "diff") if body else ["No field changes."]
    return [*lines, "", "</details>", ""]


def _diff(action: Action) -> list[str]:
    out: list[str] = []
    for change in action.changes:
        out += _change_lines(change)
    if action.image is not None:
        before = action.image.before_digest or "(unknown)"
        after = action.image.after_digest or "(known after pull)"
        out += [f"- digest = {before}", f"+ digest = {after}"]
    if action.kind is ActionKind.CREATE and action.after and not action.after.get("port"):
        out.append("+ port = (known after apply)")
    return out


def _change_lines(change: FieldChange) -> list[str]:
    lines = []
    if change.before is not None:
        lines.append(f"- {change.path} = {field_value(change.before)}")
    if change.after is not None:
        lines.append(f"+ {change.path} = {field_value(change.after)}")
    return lines


def _fenced(lines: list[str], language: str) -> list[str]:
    """A code block whose fence is longer than any run of backticks inside it."""
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{language}", *lines, fence]


def _warnings(plan: Plan) -> list[str]:
    lines = []
    for warning in plan.warnings:
        lines += ["> [!WARNING]", f"> {_inline(warning)}", ""]
    return lines


def _cell(text: str) -> str:
    """Text safe inside a table cell: no pipes or line breaks, no HTML."""
    return _inline(text).replace("|", "\\|")


def _inline(text: str) -> str:
    return html.escape(" ".join(text.split()), quote=False)
