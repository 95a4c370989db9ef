"""The files a plan was made from, and their digests.

Each workloads file, the env files read (``.env`` or ``--env-file``), the registry file and the
permission-profile files the servers use, and the lock file ``workloads.lock`` beside the first
file when there is one.  Secret files are not here: secrets are compared by their keyed digests.

Paths inside the project directory (the first file's) are kept relative to it, so a plan made
from a checkout elsewhere (``plan --observed`` in CI) names the same files on the machine.  Such
a plan leaves out what is not the machine's: the CI's env files and files outside the project.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..model import DesiredState
from ..registry.types import is_url
from .files import relative, resolve

LOCK_FILE = "workloads.lock"
MISSING = "missing"


@dataclass(frozen=True, slots=True)
class Input:
    path: str  # relative to the project directory, or absolute outside it
    role: str  # workloads | env | registry | profile | lock
    digest: str  # "sha256:…", or "missing"

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "role": self.role, "digest": self.digest}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Input:
        return cls(str(doc["path"]), str(doc["role"]), str(doc["digest"]))


def project_dir(desired: DesiredState) -> str:
    """The directory of the first workloads file (where relative paths start)."""
    return os.path.dirname(desired.files[0]) if desired.files else os.getcwd()


def inputs_of(desired: DesiredState, *, recorded_base: str | None = None) -> list[Input]:
    """The inputs of ``desired`` as read here.  ``recorded_base`` is the machine's project
    directory when planning for another machine: the servers' paths are that machine's."""
    local = project_dir(desired)
    found: dict[str, Input] = {}
    for role, path in _named(desired):
        if recorded_base is not None:  # planning for another machine
            if role == "env":
                continue  # the machine reads its own env files
            rel = relative(path, recorded_base if role == "profile" else local)
            if os.path.isabs(rel):
                continue  # outside the project: the machine's own file, not read here
            path = resolve(rel, local)
        name = relative(path, local)
        found.setdefault(name, Input(name, role, digest_of(path)))
    lock = os.path.join(local, LOCK_FILE)  # recorded even when absent: one may appear
    found.setdefault(LOCK_FILE, Input(LOCK_FILE, "lock", digest_of(lock)))
    return sorted(found.values(), key=lambda i: (_ORDER[i.role], i.path))


def recheck(inputs: list[Input], base: str) -> list[Input]:
    """The same inputs as they are now, ``base`` being the plan's project directory."""
    return [Input(i.path, i.role, digest_of(resolve(i.path, base))) for i in inputs]


def changed(before: list[Input], after: list[Input]) -> list[tuple[Input, str]]:
    """Each input that differs, with a phrase: ``workloads.yaml changed``, ``.env was
    removed``."""
    now = {i.path: i for i in after}
    out = []
    for old in before:
        new = now.get(old.path)
        if new is None or new.digest == old.digest:
            continue
        if new.digest == MISSING:
            out.append((old, f"{old.path} was removed"))
        elif old.digest == MISSING:
            out.append((old, f"{old.path} appeared"))
        else:
            out.append((old, f"{old.path} changed"))
    return out


def digest_of(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256")
    except FileNotFoundError:
        return MISSING
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    return "sha256:" + digest.hexdigest()


_ORDER = {"workloads": 0, "env": 1, "registry": 2, "profile": 3, "lock": 4}


def _named(desired: DesiredState) -> Iterator[tuple[str, str]]:
    for path in desired.files:
        yield "workloads", path
    for path in desired.env_files:
        yield "env", path
    for spec in desired.servers:
        if spec.registry_url and not is_url(spec.registry_url):
            yield "registry", spec.registry_url
        if os.path.isabs(spec.permission_profile):
            yield "profile", spec.permission_profile
