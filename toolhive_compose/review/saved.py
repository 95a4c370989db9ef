"""A saved plan (``thv plan -o FILE``): the plan together with everything it was made from.

The body holds the plan (its JSON, exactly as ``plan --format json`` prints it), and what
carrying it out needs beyond that (each action's target container and planned spec; secrets in
them as keyed digests only), plus what :mod:`.stale` checks before anything runs: the digests
of the input files (:mod:`.inputs`), each server's resolved spec and the declared groups, the
fingerprint of the observed state (:mod:`.fingerprint`), the project, the state directory's
identity, the tool version and the time.  The file format is :mod:`.files`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import PlanFileError
from ..fingerprint import canonical
from ..model import DesiredState
from ..plan.actions import Action, Plan
from . import files
from .inputs import Input

VERSION = "1"


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """How to load the workloads again at apply time, on the machine."""

    files: tuple[str, ...]  # relative to the project directory, or absolute
    env_files: tuple[str, ...] | None = None  # None: the default .env beside the first file
    registry: str | None = None  # --registry as given (a URL, or a path made absolute)
    project: str | None = None  # --project
    adopt: bool = False
    strict: bool = False

    def to_dict(self) -> dict[str, Any]:
        doc = dataclasses.asdict(self)
        doc["files"] = list(self.files)
        doc["env_files"] = list(self.env_files) if self.env_files is not None else None
        return doc

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Options:
        env = doc["env_files"]
        return cls(
            files=tuple(str(f) for f in doc["files"]),
            env_files=tuple(str(f) for f in env) if env is not None else None,
            registry=str(doc["registry"]) if doc["registry"] is not None else None,
            project=str(doc["project"]) if doc["project"] is not None else None,
            adopt=bool(doc["adopt"]),
            strict=bool(doc["strict"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SavedPlan:
    plan: Plan  # its actions carry their target and planned spec
    project: str
    created_at: str
    tool_version: str
    state_directory: dict[str, str]  # {"path", "id"} of the state directory it is for
    base_dir: str  # the project directory on that machine
    observed_from: dict[str, str]  # {"source": "engine"} or {"source": "snapshot", "created_at"}
    options: Options
    inputs: tuple[Input, ...]
    servers: dict[str, dict[str, Any]]  # name -> canonical spec as resolved (secrets: digests)
    groups: dict[str, dict[str, Any]]  # declared group -> {description, clients}
    fingerprint: dict[str, Any]

    @property
    def made_for_another_machine(self) -> bool:
        return self.observed_from.get("source") == "snapshot"

    def to_body(self) -> dict[str, Any]:
        return {
            **files.header(self.project, self.created_at, self.tool_version, self.state_directory),
            "base_dir": self.base_dir,
            "observed_from": self.observed_from,
            "options": self.options.to_dict(),
            "inputs": [i.to_dict() for i in self.inputs],
            "desired": {"servers": self.servers, "groups": self.groups},
            "fingerprint": self.fingerprint,
            "plan": self.plan.to_dict(),
            "execution": [
                {"id": a.id, "target": a.target, "before": a.before, "after": a.after}
                for a in self.plan.actions
            ],
        }


def desired_record(
    desired: DesiredState,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """(servers, groups) of a desired state, as a saved plan keeps them."""
    servers = {s.name: canonical(s) for s in desired.servers}
    groups = {g.name: {"description": g.description, "clients": list(g.clients)}
              for g in desired.groups}  # fmt: skip
    return servers, groups


def write(path: Path, saved: SavedPlan) -> None:
    files.write(path, files.PLAN_KIND, VERSION, saved.to_body())


def read(path: Path) -> SavedPlan:
    doc = files.read(path, files.PLAN_KIND, VERSION)
    try:
        return _from_body(doc)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        what = f"{exc.args[0]!r} is missing" if isinstance(exc, KeyError) else str(exc)
        raise PlanFileError(f"{path} is damaged: {what}") from None


def _from_body(doc: dict[str, Any]) -> SavedPlan:
    plan = Plan.from_dict(doc["plan"])
    execution = {int(e["id"]): e for e in doc["execution"]}
    actions = tuple(_executable(a, execution[a.id]) for a in plan.actions)
    desired = doc["desired"]
    return SavedPlan(
        plan=dataclasses.replace(plan, actions=actions),
        project=str(doc["project"]),
        created_at=str(doc["created_at"]),
        tool_version=str(doc["tool_version"]),
        state_directory={k: str(v) for k, v in doc["state_directory"].items()},
        base_dir=str(doc["base_dir"]),
        observed_from={k: str(v) for k, v in doc["observed_from"].items()},
        options=Options.from_dict(doc["options"]),
        inputs=tuple(Input.from_dict(i) for i in doc["inputs"]),
        servers={str(k): dict(v) for k, v in desired["servers"].items()},
        groups={str(k): dict(v) for k, v in desired["groups"].items()},
        fingerprint=dict(doc["fingerprint"]),
    )


def _executable(action: Action, execution: dict[str, Any]) -> Action:
    before, after = execution["before"], execution["after"]
    if not all(side is None or isinstance(side, dict) for side in (before, after)):
        raise ValueError(f"the specs of action #{action.id} are not objects")
    return dataclasses.replace(action, target=str(execution["target"]), before=before, after=after)


def with_known_secrets(plan: Plan, desired: DesiredState) -> Plan:
    """The plan with every secret digest that was unknown when it was made (a plan made from
    an observed-state file, for a secret source the machine had not reported) taken from the
    secrets as the machine reads them now."""
    names = {s.name for s in desired.servers}
    actions = []
    for action in plan.actions:
        after = action.after
        if after and action.name in names and _unknown_secrets(after):
            now = canonical(desired.server(action.name))["secrets"]
            secrets = {
                target: {**value, "digest": value.get("digest") or _digest(now, target)}
                for target, value in after["secrets"].items()
            }
            action = dataclasses.replace(action, after={**after, "secrets": secrets})
        actions.append(action)
    return dataclasses.replace(plan, actions=tuple(actions))


def _unknown_secrets(after: dict[str, Any]) -> bool:
    return any(not v.get("digest") for v in (after.get("secrets") or {}).values())


def _digest(secrets: dict[str, Any], target: str) -> str:
    return str((secrets.get(target) or {}).get("digest") or "")
