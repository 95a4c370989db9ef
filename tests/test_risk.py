"""Risk classes as a data table (``tests/risk_cases.yaml``): one row per rule of
:mod:`toolhive_compose.plan.risk`, plus the rule that every action kind has a class."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from toolhive_compose.fingerprint import canonical
from toolhive_compose.model import ServerSpec
from toolhive_compose.plan.actions import RISK_CLASSES, ActionKind
from toolhive_compose.plan.risk import KIND_RISKS, ORDER, Risk, classify
from toolhive_compose.spec.field_values import BUILTIN_PROFILES

ROWS = yaml.safe_load((Path(__file__).parent / "risk_cases.yaml").read_text())
ROW_KEYS = {"name", "kind", "before", "after", "expect", "widening", "raw"}
FILLER_DIGEST = "hmac-sha256:" + "0" * 64


def spec_of(fields: dict[str, Any] | None) -> dict[str, Any] | None:
    """A local server's canonical spec with ``fields`` laid over it (see the table's header)."""
    if fields is None:
        return None
    _, network = BUILTIN_PROFILES["network"]
    base = canonical(
        ServerSpec(
            name="srv",
            image="img:1",
            permission_profile="network",
            permission_profile_json=json.dumps(network),
        )
    )
    fields = dict(fields)
    profile = fields.pop("profile", None)
    if isinstance(profile, str):
        source, content = BUILTIN_PROFILES[profile]
        base["permission_profile"] = {"source": source, "profile": content}
    elif profile is not None:
        base["permission_profile"] = {"source": "inline", "profile": profile}
    if "secrets" in fields:
        fields["secrets"] = {
            target: value if isinstance(value, dict) else {"from": value, "digest": FILLER_DIGEST}
            for target, value in fields["secrets"].items()
        }
    return {**base, **fields}


@pytest.mark.parametrize("row", ROWS, ids=[r["name"] for r in ROWS])
def test_row(row: dict[str, Any]) -> None:
    assert not set(row) - ROW_KEYS, f"unknown keys {set(row) - ROW_KEYS}"
    build = (lambda doc: doc) if row.get("raw") else spec_of
    risks, widening = classify(ActionKind(row["kind"]), build(row["before"]), build(row["after"]))
    assert [str(r) for r in risks] == row["expect"]
    assert list(widening) == row.get("widening", [])


def test_every_action_kind_has_a_class() -> None:
    """A new kind without a class fails here: whoever adds a kind classifies it."""
    assert set(KIND_RISKS) == set(ActionKind)
    for kind in ActionKind:
        risks, _ = classify(kind, {}, {})
        assert risks, kind


def test_every_rule_and_kind_has_a_row() -> None:
    assert {row["kind"] for row in ROWS} == {str(k) for k in ActionKind}
    assert {c for row in ROWS for c in row["expect"]} == set(RISK_CLASSES)
    assert len([r for r in ROWS if r.get("widening")]) >= 25


def test_the_classes_and_their_order() -> None:
    assert [str(r) for r in ORDER] == list(RISK_CLASSES) == [str(r) for r in Risk]


def test_benign_only_alone() -> None:
    for row in ROWS:
        assert "benign" not in row["expect"] or row["expect"] == ["benign"], row["name"]
