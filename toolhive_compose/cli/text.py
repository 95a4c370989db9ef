"""Human text of plans, apply progress and results (pure string builders; the CLI prints them).

The tables of ``thv list`` and ``thv upgrade`` are :mod:`.tables`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..plan.actions import (
    CLIENT_KINDS,
    KNOWN_AFTER_APPLY,
    SENSITIVE,
    Action,
    ActionKind,
    FieldChange,
    ImageChange,
    Plan,
)

if TYPE_CHECKING:
    from ..apply.executor import ApplyResult, Event
    from ..runtime import PullProgress

SYMBOL = {
    ActionKind.CREATE: "+", ActionKind.GROUP_CREATE: "+",
    ActionKind.DELETE: "-", ActionKind.GROUP_DELETE: "-",
    ActionKind.RECREATE: "-/+", ActionKind.UPGRADE: "-/+",
    ActionKind.START: "~", ActionKind.STOP: "~", ActionKind.MOVE_GROUP: "~",
    ActionKind.ADOPT: "~", ActionKind.RECONFIGURE: "~",
    ActionKind.GROUP_UPDATE: "~",
    ActionKind.CLIENT_REGISTER: "+", ActionKind.CLIENT_UPDATE: "~",
    ActionKind.CLIENT_UNREGISTER: "-",
}  # fmt: skip
HEADLINE = {
    ActionKind.CREATE: "will be created",
    ActionKind.DELETE: "will be stopped and deleted",
    ActionKind.RECREATE: "must be replaced",
    ActionKind.UPGRADE: "will be upgraded (replaced with the new image)",
    ActionKind.START: "will be started",
    ActionKind.STOP: "will be stopped",
    ActionKind.MOVE_GROUP: "will move to another group (no restart)",
    ActionKind.ADOPT: "will be adopted (no restart)",
    ActionKind.RECONFIGURE: "will be reconfigured (no restart)",
    ActionKind.GROUP_CREATE: "will be created",
    ActionKind.GROUP_UPDATE: "will be updated",
    ActionKind.GROUP_DELETE: "will be deleted",
    ActionKind.CLIENT_REGISTER: "will be registered",
    ActionKind.CLIENT_UPDATE: "will be updated",
    ActionKind.CLIENT_UNREGISTER: "will be removed",
}
PAST = {
    ActionKind.CREATE: "created", ActionKind.DELETE: "deleted",
    ActionKind.RECREATE: "recreated", ActionKind.UPGRADE: "upgraded",
    ActionKind.START: "started", ActionKind.STOP: "stopped",
    ActionKind.MOVE_GROUP: "moved", ActionKind.ADOPT: "adopted",
    ActionKind.RECONFIGURE: "reconfigured",
    ActionKind.GROUP_CREATE: "created",
    ActionKind.GROUP_UPDATE: "updated", ActionKind.GROUP_DELETE: "deleted",
    ActionKind.CLIENT_REGISTER: "registered", ActionKind.CLIENT_UPDATE: "updated",
    ActionKind.CLIENT_UNREGISTER: "removed",
}  # fmt: skip
COLOUR = {"+": "32", "-": "31", "~": "33", "-/+": "35"}
WIDENING = "privilege-widening"


class Style:
    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def __call__(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.colour else text


def render_plan(plan: Plan, *, colour: bool = False) -> str:
    style = Style(colour)
    if not plan.actions:
        lines = [f"No changes. The machine matches the workloads file (project {plan.project})."]
        return "\n".join(lines + _warnings(plan, style)) + "\n"
    lines = [f"toolhive-compose will perform these actions (project {plan.project}):", ""]
    for action in plan.actions:
        lines.extend(_action_block(action, style))
        lines.append("")
    lines.extend(_warnings(plan, style))
    lines.extend(_widening_note(plan, style))
    lines.append(summary_line(plan))
    return "\n".join(lines) + "\n"


def _action_block(action: Action, style: Style) -> list[str]:
    symbol = SYMBOL[action.kind]
    noun = "group" if action.is_group else "server"
    deps = f" (after #{', #'.join(map(str, action.depends_on))})" if action.depends_on else ""
    risk = f" [{', '.join(action.risks)}]" if action.risks else ""
    head = f"  # {noun} {action.name} {HEADLINE[action.kind]}: {action.reason}{deps}{risk}"
    title = f"{noun} {action.name!r}"
    if action.client is not None:
        symbol, headline = client_headline(action)
        head = f"  # client {action.client.name}: server {action.name} {headline}: "
        head += f"{action.reason}{deps}{risk}"
        title = f"client {action.client.name} {action.name!r} in {action.client.file}"
    lines = [style(head, "1"), f"{style(symbol.rjust(3), COLOUR[symbol])} {title}"]
    width = max((len(c.path) for c in action.changes), default=0)
    for change in action.changes:
        lines.append("      " + _change_line(change, width, style))
    if action.image is not None:
        lines.append("      " + _digest_line(action.image, width, style))
    if action.kind is ActionKind.CREATE and action.after and not action.after.get("port"):
        lines.append(
            "      " + style("+", "32") + " port".ljust(width + 1) + " = (known after apply)"
        )
    lines.extend("      " + style(f"! {WIDENING}: {w}", "31") for w in action.widening)
    if action.lock:
        lines.append("      " + style(LOCK_LINES[action.lock], "36"))
    return lines


LOCK_LINES = {
    "check": "tools: checked against workloads.lock once it is ready",
    "record": "tools: recorded into workloads.lock once it is ready (not in it yet)",
}


def _widening_note(plan: Plan, style: Style) -> list[str]:
    """Before the footer: the actions that widen privileges, and what apply asks of them."""
    widening = plan.carrying(WIDENING)
    if not widening:
        return []
    names = ", ".join(f"{a.kind} {a.name}" for a in widening)
    note = f"Privilege-widening: {names} (thv apply asks again before these)."
    return [style(note, "31"), ""]


def client_headline(action: Action) -> tuple[str, str]:
    """A client action that writes nothing only changes what is on record."""
    if action.kind is ActionKind.CLIENT_UNREGISTER and action.after is None and action.before:
        return SYMBOL[action.kind], HEADLINE[action.kind]
    if action.kind is ActionKind.CLIENT_UNREGISTER:
        return "~", "will be forgotten (the file is left as it is)"
    if action.before is not None and action.before == action.after:
        return "~", "will be taken on record (the file is left as it is)"
    return SYMBOL[action.kind], HEADLINE[action.kind]


def _digest_line(image: ImageChange, width: int, style: Style) -> str:
    before = _short(image.before_digest) or "(unknown)"
    after = _short(image.after_digest) or "(known after pull)"
    return f"{style('~', '33')} {'digest'.ljust(width)} = {before} -> {after}"


def _short(digest: str) -> str:
    """``repo@sha256:0123…`` or ``sha256:0123…`` → ``sha256:`` and 12 hex digits."""
    value = digest.rsplit("@", 1)[-1]
    return value[:19] if value.startswith("sha256:") else value


def _change_line(change: FieldChange, width: int, style: Style) -> str:
    path = change.path.ljust(width)
    if change.before is None:
        return f"{style('+', '32')} {path} = {field_value(change.after)}"
    if change.after is None:
        return f"{style('-', '31')} {path} = {field_value(change.before)}"
    before, after = field_value(change.before), field_value(change.after)
    return f"{style('~', '33')} {path} = {before} -> {after}"


def field_value(value: Any) -> str:
    """A field's value as JSON, or a placeholder as it reads (also for Markdown)."""
    if value in (SENSITIVE, KNOWN_AFTER_APPLY):
        return str(value)
    if isinstance(value, str) and value.startswith("sha256:") and len(value) == 71:
        return json.dumps(value[:19] + "…")  # a tool pin: the JSON plan has it whole
    return json.dumps(value, ensure_ascii=False)


def _warnings(plan: Plan, style: Style) -> list[str]:
    return [style(f"Warning: {w}", "33") for w in plan.warnings] + ([""] if plan.warnings else [])


# The counts of a plan's summary, in order; the first three are always shown.
COUNT_LABELS = (
    ("create", "to create"),
    ("recreate", "to recreate"),
    ("delete", "to delete"),
    ("upgrade", "to upgrade"),
    ("start", "to start"),
    ("stop", "to stop"),
    ("move-group", "to move"),
    ("adopt", "to adopt"),
    ("reconfigure", "to reconfigure"),
    ("group-create", "group(s) to create"),
    ("group-update", "group(s) to update"),
    ("group-delete", "group(s) to delete"),
    ("client-register", "client entr(ies) to register"),
    ("client-update", "client entr(ies) to update"),
    ("client-unregister", "client entr(ies) to remove"),
)


def summary_line(plan: Plan) -> str:
    counts = plan.summary()
    parts = [
        f"{counts[kind]} {label}"
        for index, (kind, label) in enumerate(COUNT_LABELS)
        if index < 3 or counts[kind]
    ]
    return "Plan: " + ", ".join(parts) + "."


def render_event(event: Event, *, colour: bool = False) -> str:
    style = Style(colour)
    action = event.action
    noun = "group " if action.is_group else ""
    who = f"{noun}{action.name}"
    if action.kind in CLIENT_KINDS and action.client is not None:
        who = f"client {action.client.name}: {action.name}"
    if event.state == "started":
        return f"{who}: {action.kind}..."
    if event.state == "done":
        note = f": {event.message}" if event.message else ""
        past = PAST[action.kind]
        if action.client is not None and client_headline(action)[1] != HEADLINE[action.kind]:
            # the file is left as it is: only the record changed
            past = "taken on record" if action.kind is ActionKind.CLIENT_REGISTER else "forgotten"
        return f"{who}: {style(past, '32')} ({event.seconds:.1f}s){note}"
    if event.state == "skipped":
        return (
            f"{who}: {style(str(action.kind) + ' skipped', '33')} (an action it depends on failed)"
        )
    if event.state == "not started":
        return f"{who}: {style(str(action.kind) + ' not started', '33')} (interrupted)"
    if event.state == "interrupted":
        cut = style(f"{action.kind} interrupted", "33")
        return f"{who}: {cut} (stopped before it finished)"
    return f"{who}: {style(str(action.kind) + ' failed', '31')}: {event.message}"


def render_result(result: ApplyResult) -> str:
    failed, skipped = result.count("failed"), result.count("skipped")
    done = result.count("done")
    if result.ok:
        return f"Apply complete: {done} action(s) done."
    converge = "Run thv plan to see what is left; thv apply converges from here."
    if not result.interrupted:
        counts = f"{failed} action(s) failed, {skipped} skipped, {done} done"
        return f"Apply failed: {counts}. {converge}"
    cut, unstarted = result.count("interrupted"), result.count("not started")
    lines = [
        f"Apply interrupted: {done} action(s) done, {cut} interrupted, {unstarted} not started, "
        f"{failed} failed, {skipped} skipped.",
        "Not done:",
    ]
    for event in result.events:
        if event.state != "done":
            noun = "group " if event.action.is_group else ""
            lines.append(f"  {event.action.kind} {noun}{event.action.name}: {event.state}")
    return "\n".join([*lines, converge])


def render_pull(progress: PullProgress, *, tty: bool) -> str:
    """One line for a pull's progress: bytes so far on a terminal, the step otherwise."""
    if tty and progress.total:
        mb = 1024 * 1024
        return f"pulling {progress.image}: {progress.done / mb:.1f}/{progress.total / mb:.1f} MB"
    return f"pulling {progress.image}: {progress.status.lower() or 'started'}"
