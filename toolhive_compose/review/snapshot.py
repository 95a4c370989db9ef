"""``thv state export``: the observed state of this machine for one project, as a file that
``thv plan --observed`` plans against anywhere, with no engine.

It carries exactly what planning needs from the machine:

- the workloads of the project in full — the run-config spec with secrets as keyed digests,
  container id and state, status, proxy — and, exported with ``--adopt``, the unmanaged ones
  too (adoption compares them; their env may hold what their owner typed on a command line, so
  only on request); any other workload only by name, owner, host ports and group (what can
  clash);
- the groups, each workload's group, and the containers ToolHive does not manage (by name: a
  new server could clash with one);
- every MCP client file this tool knows (a pull request may list any client), with only the
  entries a plan compares — the servers of the machine's workloads file and those on record as
  written by toolhive-compose (other entries are the user's own, and may carry tokens) — and
  the record of what toolhive-compose wrote;
- how the machine resolves the workloads file: its project directory and home directory
  (relative paths, ``~``), the keyed digests of what its secret sources hold now (the key stays
  on the machine), and the permission profiles it reads from outside the project directory;
- the state directory's identity, so a plan made from it is only applied there.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import PlanFileError
from ..model import (
    ClientEntryRecord,
    ClientRegistration,
    DesiredState,
    MachineView,
    ObservedClientFile,
    ObservedGroup,
    ObservedState,
    ObservedWorkload,
)
from . import files
from .inputs import project_dir

VERSION = "1"
_WORKLOAD_FIELDS = tuple(f.name for f in dataclasses.fields(ObservedWorkload))


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    project: str
    created_at: str
    tool_version: str
    state_directory: dict[str, str]  # {"path", "id"}
    machine: MachineView
    env_files: tuple[str, ...] | None  # the machine's --env-file list; None: its default .env
    adopt: bool = False  # unmanaged workloads in full, for plan --observed --adopt
    observed: ObservedState  # foreign containers: every one, by name

    def observed_for(self, names: Collection[str]) -> ObservedState:
        """The observed state as ``observe`` reports it when planning ``names``."""
        known = {w.name for w in self.observed.workloads}
        foreign = tuple(
            (n, i) for n, i in self.observed.foreign_containers if n in names and n not in known
        )
        return dataclasses.replace(self.observed, foreign_containers=foreign)

    def to_body(self) -> dict[str, Any]:
        return {
            **files.header(self.project, self.created_at, self.tool_version, self.state_directory),
            "machine": {
                "base_dir": self.machine.base_dir,
                "home": self.machine.home,
                "secret_digests": dict(self.machine.secret_digests),
                "profiles": dict(self.machine.profiles),
            },
            "env_files": list(self.env_files) if self.env_files is not None else None,
            "adopt": self.adopt,
            "observed": _observed_doc(self.observed, self.project, self.adopt),
        }


def machine_view(desired: DesiredState, home: str) -> MachineView:
    """How this machine resolves ``desired``'s file: its directories, the digests of its secret
    sources' current values, and the profiles it reads from outside the project directory."""
    base = project_dir(desired)
    digests: dict[str, str] = {}
    profiles: dict[str, str] = {}
    for spec in desired.servers:
        for secret in spec.secrets:
            digests[f"{secret.source}:{secret.ref}"] = secret.digest
        profile = spec.permission_profile
        if os.path.isabs(profile) and os.path.isabs(files.relative(profile, base)):
            profiles[profile] = spec.permission_profile_json
    return MachineView(
        base_dir=base,
        home=home,
        secret_digests=tuple(sorted(digests.items())),
        profiles=tuple(sorted(profiles.items())),
    )


def write(path: Path, snapshot: Snapshot) -> None:
    files.write(path, files.SNAPSHOT_KIND, VERSION, snapshot.to_body())


def read(path: Path) -> Snapshot:
    doc = files.read(path, files.SNAPSHOT_KIND, VERSION)
    try:
        machine = doc["machine"]
        return Snapshot(
            project=str(doc["project"]),
            created_at=str(doc["created_at"]),
            tool_version=str(doc["tool_version"]),
            state_directory={k: str(v) for k, v in doc["state_directory"].items()},
            machine=MachineView(
                base_dir=str(machine["base_dir"]),
                home=str(machine["home"]),
                secret_digests=_pairs(machine["secret_digests"]),
                profiles=_pairs(machine["profiles"]),
            ),
            env_files=tuple(map(str, doc["env_files"])) if doc["env_files"] is not None else None,
            adopt=bool(doc["adopt"]),
            observed=_observed(doc["observed"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PlanFileError(f"{path} is damaged: {_what(exc)}") from None


# -- observed state <-> JSON ---------------------------------------------------------------------
def _observed_doc(observed: ObservedState, project: str, adopt: bool) -> dict[str, Any]:
    full = {project, ""} if adopt else {project}
    return {
        "workloads": [_workload_doc(w, full) for w in observed.workloads],
        "groups": [dataclasses.asdict(g) for g in observed.groups],
        "foreign_containers": dict(observed.foreign_containers),
        "memberships": dict(observed.memberships),
        "client_files": [
            {**dataclasses.asdict(f), "entries": dict(f.entries)} for f in observed.client_files
        ],
        "client_records": [dataclasses.asdict(r) for r in observed.client_records],
        "client_registrations": [dataclasses.asdict(r) for r in observed.client_registrations],
    }


def _workload_doc(w: ObservedWorkload, full: set[str]) -> dict[str, Any]:
    if w.project in full:
        doc = dataclasses.asdict(w)
        doc["labels"] = dict(w.labels)
        return doc
    spec = w.spec or {}
    ports = {k: spec[k] for k in ("port", "target_port") if spec.get(k)}
    return {"name": w.name, "project": w.project, "spec": {**ports, "group": spec.get("group")}}


def _observed(doc: dict[str, Any]) -> ObservedState:
    workloads = tuple(sorted((_workload(w) for w in doc["workloads"]), key=lambda w: w.name))
    groups = tuple(
        ObservedGroup(
            name=str(g["name"]),
            project=str(g["project"]),
            description=str(g["description"]),
            registered_clients=tuple(map(str, g["registered_clients"])),
        )
        for g in doc["groups"]
    )
    return ObservedState(
        workloads=workloads,
        groups=tuple(sorted(groups, key=lambda g: g.name)),
        foreign_containers=_pairs(doc["foreign_containers"]),
        memberships=_pairs(doc["memberships"]),
        client_files=tuple(_client_file(f) for f in doc["client_files"]),
        client_records=tuple(ClientEntryRecord(**_strings(r)) for r in doc["client_records"]),
        client_registrations=tuple(
            ClientRegistration(**_strings(r)) for r in doc["client_registrations"]
        ),
    )


def _client_file(doc: dict[str, Any]) -> ObservedClientFile:
    if not isinstance(doc["entries"], dict):
        raise ValueError("a client file's entries are not an object")
    return ObservedClientFile(
        client=str(doc["client"]),
        path=str(doc["path"]),
        installed=bool(doc["installed"]),
        current=bool(doc["current"]),
        exists=bool(doc["exists"]),
        problem=str(doc["problem"]),
        entries=doc["entries"],
    )


def _strings(doc: dict[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in doc.items()}


def _workload(doc: dict[str, Any]) -> ObservedWorkload:
    fields = {k: v for k, v in doc.items() if k in _WORKLOAD_FIELDS}
    if not isinstance(fields.get("name"), str) or not isinstance(fields.get("spec"), dict | None):
        raise ValueError(f"a workload entry is malformed ({doc.get('name')!r})")
    fields["labels"] = _pairs(fields.get("labels") or {})
    fields["extra_container_ids"] = tuple(str(i) for i in fields.get("extra_container_ids") or ())
    return ObservedWorkload(**fields)


def _pairs(mapping: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in mapping.items()))


def _what(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"{exc.args[0]!r} is missing"
    return str(exc) or type(exc).__name__
