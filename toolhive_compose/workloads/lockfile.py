"""``workloads.lock``: the images and tool surfaces a project's servers were reviewed with.

JSON beside the first workloads file, meant to be committed::

    {
      "version": 1,
      "servers": {
        "fetch": {
          "image": "ghcr.io/example/fetch:1.2.0",
          "image_digest": "ghcr.io/example/fetch@sha256:…",
          "tools": {
            "fetch": {"description": "Fetch a URL.", "sha256": "sha256:…"}
          }
        },
        "docs": {"url": "https://mcp.example.com/mcp", "tools": {}}
      }
    }

``image_digest`` is the repo digest when the image came from a registry, else the image id.
A tool's ``sha256`` is :func:`~toolhive_compose.tools.tool_digest` of what the client sees of
it (after the filter and overrides); its description is kept so that a change can be shown as
a diff.  Keys are sorted and each tool is one line, so a review shows one line per tool.
Nothing secret goes in.

A lock that is not JSON, or not this shape, is a :class:`~toolhive_compose.errors.SpecError`
naming the file (and the line where it can tell): it is never rewritten over.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import Problem, SpecError, StateError
from ..model import Lock, LockedServer
from ..state.atomic import atomic_write
from ..tools import ToolView

LOCK_NAME = "workloads.lock"
VERSION = 1
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
IMAGE_DIGEST = re.compile(r"^(\S+@)?sha256:[0-9a-f]{64}$")
HINT = f"restore {LOCK_NAME} from version control, or delete it and run thv lock to record again"


def lock_path(files: Sequence[str]) -> Path:
    """Beside the first workloads file (the current directory's without one)."""
    return (Path(files[0]).parent if files else Path.cwd()) / LOCK_NAME


def read_lock(path: Path) -> Lock:
    """The lock at ``path`` (``exists`` False when there is none); damage is a SpecError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Lock(path=str(path), exists=False)
    except (OSError, UnicodeDecodeError) as exc:
        raise StateError(f"cannot read {path}: {exc}") from None
    return parse_lock(text, str(path))


def parse_lock(text: str, path: str) -> Lock:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        line, column = getattr(exc, "lineno", None), getattr(exc, "colno", None)
        problem = Problem(f"is not valid JSON ({exc.args[0].split(':')[0]})", path, line, column)
        raise SpecError([problem], hint=HINT) from None
    problems = _Checker(text, path).document(doc)
    if problems:
        raise SpecError(problems, hint=HINT, subject=path)
    servers = {name: _server(entry) for name, entry in sorted(doc["servers"].items())}
    return Lock(path=path, servers=servers)


def _server(entry: Mapping[str, Any]) -> LockedServer:
    tools = {n: ToolView(t["sha256"], t.get("description", "")) for n, t in entry["tools"].items()}
    return LockedServer(
        image=entry.get("image", ""),
        image_digest=entry.get("image_digest", ""),
        url=entry.get("url", ""),
        tools=dict(sorted(tools.items())),
    )


class _Checker:
    """Every problem of a parsed lock, each with where it is (as near as the text tells)."""

    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.problems: list[Problem] = []

    def document(self, doc: Any) -> list[Problem]:
        if not isinstance(doc, dict):
            return [Problem("must be a JSON object", self.path)]
        self._keys(doc, {"version", "servers"}, ())
        if doc.get("version") != VERSION:
            self.problem(
                f"unsupported version {doc.get('version')!r} (this thv reads 1)", "version"
            )
        servers = doc.get("servers")
        if not isinstance(servers, dict):
            self.problem("must be a mapping of server names", "servers")
            return self.problems
        for name, entry in servers.items():
            self._entry(entry, ("servers", name))
        return self.problems

    def _entry(self, entry: Any, where: tuple[str, ...]) -> None:
        if not isinstance(entry, dict):
            self.problem("must be a mapping", *where)
            return
        self._keys(entry, {"image", "image_digest", "url", "tools"}, where)
        if not isinstance(entry.get("image", entry.get("url")), str):
            self.problem("needs 'image' or 'url' (a string)", *where)
        digest = entry.get("image_digest")
        if digest is not None and not (isinstance(digest, str) and IMAGE_DIGEST.match(digest)):
            self.problem(
                "must be an image id or repo digest (…sha256:<64 hex>)", *where, "image_digest"
            )
        tools = entry.get("tools")
        if not isinstance(tools, dict):
            self.problem("must be a mapping of tool names", *where, "tools")
            return
        for name, tool in tools.items():
            at = (*where, "tools", name)
            if not isinstance(tool, dict):
                self.problem("must be a mapping", *at)
                continue
            self._keys(tool, {"sha256", "description"}, at)
            if not isinstance(tool.get("sha256"), str) or not DIGEST.match(tool["sha256"]):
                self.problem("must be 'sha256:' and 64 hex digits", *at, "sha256")
            if not isinstance(tool.get("description", ""), str):
                self.problem("must be a string", *at, "description")

    def _keys(self, doc: dict[str, Any], known: set[str], where: tuple[str, ...]) -> None:
        for key in sorted(set(doc) - known):
            self.problem("unknown key (hand-edited?)", *where, key)

    def problem(self, message: str, *where: str) -> None:
        line = self._line(where)
        self.problems.append(Problem(message, self.path, line, None, ".".join(where)))

    def _line(self, where: Sequence[str]) -> int | None:
        """The line of the last key of ``where``, found key after key in the text."""
        at = 0
        for key in where:
            found = self.text.find(json.dumps(key, ensure_ascii=False) + ":", at)
            if found < 0:
                return None
            at = found + 1
        return self.text.count("\n", 0, at) + 1 if where else None


def render_lock(lock: Lock) -> str:
    """The file's text: keys sorted, one line per tool, a trailing newline."""
    entries = []
    for name, server in sorted(lock.servers.items()):
        fields = [f'"url": {_s(server.url)}'] if server.url else [f'"image": {_s(server.image)}']
        if server.image_digest:
            fields.append(f'"image_digest": {_s(server.image_digest)}')
        tools = [
            f"        {_s(tool)}: "
            + json.dumps({"description": v.description, "sha256": v.digest}, ensure_ascii=False)
            for tool, v in sorted(server.tools.items())
        ]
        block = "{\n" + ",\n".join(tools) + "\n      }" if tools else "{}"
        fields.append(f'"tools": {block}')
        body = ",\n".join(f"      {f}" for f in fields)
        entries.append(f"    {_s(name)}: {{\n{body}\n    }}")
    servers = "{\n" + ",\n".join(entries) + "\n  }" if entries else "{}"
    return f'{{\n  "version": {VERSION},\n  "servers": {servers}\n}}\n'


def write_lock(lock: Lock) -> None:
    """Atomically (readers see the old file or the new), mode 0644 like the workloads file."""
    atomic_write(Path(lock.path), render_lock(lock).encode(), mode=0o644, dir_mode=0o755)


def _s(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)
