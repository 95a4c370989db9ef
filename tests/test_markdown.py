"""``--format markdown``: golden files for two plans, and what must hold of any plan.

Run with ``THC_UPDATE_GOLDEN=1`` to rewrite the golden files (then review the diff).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from toolhive_compose.cli.markdown import render_markdown
from toolhive_compose.plan.actions import (
    KNOWN_AFTER_APPLY,
    SENSITIVE,
    ActionKind,
    FieldChange,
    Plan,
)
from toolhive_compose.plan.planner import make_plan

from .test_plan_json import representative_plan
from .test_planner import CASES_DIR, load_case
from .test_render import _action

GOLDEN = Path(__file__).resolve().parent / "golden"


def widening_plan() -> Plan:
    _, desired, observed = load_case(CASES_DIR / "risk-privilege-widening.yaml")
    return make_plan(desired, observed)


@pytest.mark.parametrize(
    ("name", "plan", "notes"),
    [
        ("plan.md", representative_plan, ()),
        (
            "plan-widening.md",
            widening_plan,
            ("Saved plan `plan.json`, made 2026-01-02T03:04:05Z.",),
        ),
    ],
)
def test_golden(name: str, plan: object, notes: tuple[str, ...]) -> None:
    assert callable(plan)
    text = render_markdown(plan(), notes=notes)
    path = GOLDEN / name
    if os.environ.get("THC_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed; THC_UPDATE_GOLDEN=1 to accept"


def test_deterministic_and_secret_free() -> None:
    text = render_markdown(representative_plan())
    assert text == render_markdown(representative_plan())
    assert "hmac-sha256" not in text and "1111111111" not in text
    assert "+ secrets.TOKEN = (sensitive)" in text
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_headline_table_and_risk_line() -> None:
    lines = render_markdown(widening_plan()).splitlines()
    assert lines[0] == "### toolhive-compose plan: project `p`"
    assert "**3 actions**: 1 to create, 2 to recreate." in lines
    assert "Risk: **2 disruptive** · **1 privilege-widening** · 1 new-server · 0 benign" in lines
    assert (
        "| 0 | recreate | `a` | secrets, volumes changed | **disruptive**, **privilege-widening** |"
        in lines
    )
    assert "- **privilege-widening**: /srv/data becomes writable (was read-only)" in lines


def test_no_changes() -> None:
    text = render_markdown(Plan(project="quiet", warnings=("group g is kept",)))
    assert "**No changes.** The machine matches the workloads file." in text
    assert "> [!WARNING]\n> group g is kept\n" in text
    assert "| # |" not in text


def test_hostile_text_stays_in_its_place() -> None:
    hostile = "env | <b>changed</b>\nreally"
    change = FieldChange("env.X", "```", "a|b")
    action = replace(_action(ActionKind.RECREATE, "a"), reason=hostile, changes=(change,))
    text = render_markdown(Plan(project="p", actions=(action,)))
    assert "| env \\| &lt;b&gt;changed&lt;/b&gt; really |" in text
    assert "<summary><code>#0 -/+ server a</code> must be replaced: env | &lt;b&gt;" in text
    assert '````diff\n- env.X = "```"\n+ env.X = "a|b"\n````' in text


def test_placeholders_read_as_in_the_text() -> None:
    """``(known after apply)`` (a client entry's URL before its server has a port) and
    ``(sensitive)`` are placeholders, not strings: unquoted, as the text prints them."""
    change = FieldChange("mcpServers.fetch.url", None, KNOWN_AFTER_APPLY)
    secret = FieldChange("secrets.TOKEN", None, SENSITIVE, sensitive=True)
    action = replace(_action(ActionKind.CLIENT_REGISTER, "fetch"), changes=(change, secret))
    text = render_markdown(Plan(project="p", actions=(action,)))
    assert "+ mcpServers.fetch.url = (known after apply)\n" in text
    assert "+ secrets.TOKEN = (sensitive)\n" in text
    assert '"(known after apply)"' not in text
