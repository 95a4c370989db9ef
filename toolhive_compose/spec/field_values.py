"""How the fields of a workloads document are interpreted, shared by checks and builder.

Project names, transports, paths relative to the first file, volumes and permission
profiles (secret values are :mod:`toolhive_compose.secrets`): the checks use these to find
problems, the builder to fill in the desired state, so both always agree.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..model import BUILTIN_PROFILES as BUILTIN_PROFILES  # the loader reads them from here
from ..model import MachineView
from ..secrets import Unavailable, read_text_file

PROJECT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
HTTP_TRANSPORTS = ("sse", "streamable-http")


@dataclass(frozen=True, slots=True)
class Context:
    """What the checks need besides the document."""

    base_dir: Path  # the first file's directory: relative paths start here
    environ: Mapping[str, str]  # the variables: the shell over the env files (secrets too)
    project: str | None = None  # the --project override
    cache_dir: Path | None = None  # schema validation cache
    # Loading for another machine (``thv render``): secret values are not read (only where
    # they come from), and volume host paths stay as written.
    portable: bool = False
    # Planning for another machine (``plan --observed``): paths are recorded as that machine
    # resolves them, secrets are not read (their digests are the machine's), out-of-project
    # permission profiles are the machine's copies.
    machine: MachineView | None = None


def scalar_text(value: Any) -> str:
    """A YAML scalar as Compose stringifies it: true → "true", 8080 → "8080"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def normalize_project(name: str) -> str:
    """Compose's normalisation of a directory name into a project name."""
    return re.sub(r"[^a-z0-9_-]", "", name.lower()).lstrip("_-")


def project_name(doc: Mapping[str, Any], ctx: Context) -> str:
    """``--project``, else the file's ``project:``, else the first file's directory name."""
    if ctx.project is not None:
        return ctx.project
    if isinstance(doc.get("project"), str):
        return str(doc["project"])
    base = Path(ctx.machine.base_dir) if ctx.machine else ctx.base_dir
    return normalize_project(base.name)


def transport_of(server: Mapping[str, Any]) -> str:
    default = "streamable-http" if "url" in server else "stdio"
    return str(server.get("transport", default))


def absolute(path: str, ctx: Context) -> str:
    """``path`` made absolute as the machine the plan is for resolves it: ``~`` is the home
    directory, relative means from the first file's directory."""
    if ctx.machine is None:
        return local_path(path, ctx)
    if path == "~" or path.startswith("~/"):
        path = ctx.machine.home + path[1:]
    return os.path.normpath(os.path.join(ctx.machine.base_dir, path))


def local_path(path: str, ctx: Context) -> str:
    """``path`` made absolute here, where the files are read."""
    if path == "~" or path.startswith("~/"):
        home = ctx.environ.get("HOME") or os.path.expanduser("~")
        path = home + path[1:]
    return os.path.normpath(os.path.join(ctx.base_dir, path))


def read_profile(value: str, ctx: Context) -> tuple[str, dict[str, Any]]:
    """A profile file named in the document: (its path as recorded, its content).

    For another machine, a file outside the project directory (an absolute or ``~`` path) is
    that machine's copy when it sent one; a relative path is the project's own file, read
    here.  :class:`Unavailable` says why a file cannot be used.
    """
    recorded = absolute(value, ctx)
    inside = not (os.path.isabs(value) or value == "~" or value.startswith("~/"))
    copy = ctx.machine.profile(recorded) if ctx.machine and not inside else None
    if copy is not None:
        return recorded, json.loads(copy)
    return recorded, load_profile_file(local_path(value, ctx))


def parse_volume(text: str) -> tuple[str, str, str]:
    """``host:container[:ro|rw]`` → (host, container, mode); ValueError says what is wrong."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0]:
        raise ValueError(f"expected HOST:CONTAINER or HOST:CONTAINER:ro, not {text!r}")
    host, container = parts[0], parts[1]
    mode = parts[2] if len(parts) == 3 else "rw"
    if not container.startswith("/"):
        raise ValueError(f"the container path must be absolute, not {container!r}")
    if mode not in ("ro", "rw"):
        raise ValueError(f"the mode must be ro or rw, not {mode!r}")
    return host, posixpath.normpath(container).replace("//", "/"), mode


def load_profile_file(path: str) -> dict[str, Any]:
    """A JSON permission profile file as a dict; :class:`Unavailable` when unusable."""
    try:
        profile = json.loads(read_text_file(path))
    except ValueError as exc:
        raise Unavailable(f"{path} is not valid JSON ({exc})") from None
    except RecursionError:
        raise Unavailable(f"{path} is nested too deeply") from None
    if not isinstance(profile, dict):
        raise Unavailable(f"{path} must hold a JSON object")
    return profile
