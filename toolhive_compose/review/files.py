"""The two files of the review loop on disk: a saved plan and an observed-state snapshot.

Both are one JSON object: ``kind`` (what it is), ``format_version``, the body, and last a
``digest`` — sha256 over the canonical JSON of everything else — so a truncated or hand-edited
file is refused, never half-used.  They are written atomically with mode 0600.  Reading checks,
in order: readable, complete JSON, the right kind, a format version this tool reads, the digest.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

from ..errors import PlanFileError
from ..state.atomic import atomic_write

PLAN_KIND = "toolhive-compose plan"
SNAPSHOT_KIND = "toolhive-compose observed state"
WHAT = {PLAN_KIND: "saved plan", SNAPSHOT_KIND: "observed-state file"}
MAKE = {PLAN_KIND: "thv plan -o FILE", SNAPSHOT_KIND: "thv state export -o FILE"}
A = {PLAN_KIND: "a saved plan", SNAPSHOT_KIND: "an observed-state file"}
WORKLOADS_SUFFIXES = (".yaml", ".yml")
MAX_BYTES = 64 << 20


def tool_version() -> str:
    """The installed toolhive-compose's version (recorded in the files it writes)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("toolhive-compose")
    except PackageNotFoundError:
        return "unknown"


def header(
    project: str, created_at: str, tool_version: str, state_directory: dict[str, str]
) -> dict[str, Any]:
    """What both files begin with: for which project and state directory, when, by what."""
    return {
        "project": project,
        "created_at": created_at,
        "tool_version": tool_version,
        "state_directory": state_directory,
    }


def body_digest(doc: dict[str, Any]) -> str:
    """sha256 of the document without its ``digest`` (canonical JSON: sorted, compact)."""
    body = {k: v for k, v in doc.items() if k != "digest"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def render(kind: str, version: str, body: dict[str, Any]) -> bytes:
    doc = {"kind": kind, "format_version": version, **body}
    doc["digest"] = body_digest(doc)
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()


def write(path: Path, kind: str, version: str, body: dict[str, Any]) -> None:
    """Write the document, mode 0600 (it names this machine's paths and digests)."""
    data = render(kind, version, body)
    if path.is_dir():
        raise PlanFileError(f"cannot write {path}: it is a directory", hint="-o takes a file name")
    try:
        write_output(path, data, mode=0o600)
    except OSError as exc:
        raise PlanFileError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_output(path: Path, data: bytes, *, mode: int) -> None:
    """A file the user named (``-o``, ``PATH``): a regular file is replaced atomically, through
    a symlink (which stays); anything else that exists — ``/dev/null``, ``/dev/stdout``, a
    FIFO — is written in place, since a rename would put a regular file where it was (as
    root, in ``/dev``).  :class:`OSError` when it cannot be written."""
    try:
        found = os.stat(path)  # follows symlinks
    except FileNotFoundError:
        atomic_write(path, data, mode=mode)
        return
    if not stat.S_ISREG(found.st_mode):
        with open(path, "wb") as handle:
            handle.write(data)
        return
    atomic_write(Path(os.path.realpath(path)), data, mode=mode)


def read(path: Path, kind: str, version: str) -> dict[str, Any]:
    """The checked document at ``path``: :class:`PlanFileError` says why it cannot be used."""
    what = WHAT[kind]
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        reason = "file not found" if isinstance(exc, FileNotFoundError) else exc.strerror
        raise PlanFileError(f"cannot read the {what} {path}: {reason or exc}") from None
    doc = _json(data, path, kind)
    found = doc.get("kind")
    if found != kind:
        other = f" (it is {A[found]})" if found in A else ""
        raise PlanFileError(f"{path} is not {A[kind]}{other}", hint=f"make one with {MAKE[kind]}")
    theirs = doc.get("format_version")
    if not isinstance(theirs, str) or not theirs.isdigit():
        raise PlanFileError(f"{path} is damaged: its format version is missing")
    if int(theirs) > int(version):
        raise PlanFileError(
            f"{path} has format version {theirs}, newer than this thv reads ({version})",
            hint="use the toolhive-compose version that wrote it, or a newer one",
        )
    if doc.get("digest") != body_digest(doc):
        raise PlanFileError(
            f"{path} was changed after it was written (its digest does not match its content)",
            hint=f"nothing was used from it; make a new one with {MAKE[kind]}",
        )
    return doc


def _json(data: bytes, path: Path, kind: str) -> dict[str, Any]:
    if len(data) > MAX_BYTES:
        raise PlanFileError(f"{path} is larger than {MAX_BYTES >> 20} MiB; it is not {A[kind]}")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        if path.suffix.lower() in WORKLOADS_SUFFIXES:  # `thv apply workloads.yaml`: -f forgotten
            raise PlanFileError(
                f"{path} is a workloads file, not {A[kind]}",
                hint=f"a workloads file is given with -f: thv plan -f {path}, thv apply -f {path}",
            ) from None
        raise PlanFileError(
            f"{path} is not a complete {WHAT[kind]} (it is truncated or not JSON)",
            hint="copy it again, or make a new one",
        ) from None
    if not isinstance(doc, dict):
        raise PlanFileError(f"{path} is not {A[kind]}")
    return doc


def relative(path: str, base: str) -> str:
    """``path`` relative to ``base`` when it lies inside it, else as given."""
    rel = os.path.relpath(path, base)
    return path if rel == ".." or rel.startswith("../") or os.path.isabs(rel) else rel


def resolve(path: str, base: str) -> str:
    return os.path.normpath(os.path.join(base, path))
