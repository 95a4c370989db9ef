"""TOML configuration files edited in place.  A server entry we write is its own table —
``[mcp_servers.NAME]`` (Codex) or one ``[[mcp_servers]]`` item (Mistral Vibe) — spliced in
after the servers already there, so comments, order and layout elsewhere stay byte for byte,
and removing it gives the text back as it was.  tomlkit (a round-trip TOML library) parses
and checks the file and supplies the values; servers kept in an inline table or array, which
cannot take a table, are edited through tomlkit itself.  Pure (no I/O).

ToolHive re-marshals these files (comments lost); we do not.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from .catalog import servers_by_name

_KEY_PART = re.compile(r"""\s*(?:([A-Za-z0-9_-]+)|"((?:[^"\\]|\\.)*)"|'([^']*)')\s*""")
_HEADER = re.compile(r"^[ \t]*(\[\[?)(.*?)(\]\]?)[ \t]*(?:#.*)?$")
_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


class TomlError(ValueError):
    """The text is not TOML; ``str()`` says where and what."""


@dataclass(frozen=True, slots=True)
class Header:
    start: int  # offset of the line
    end: int  # offset past the line's text (before its line break)
    path: tuple[str, ...]
    array: bool


def key_path(text: str) -> tuple[str, ...] | None:
    """``a."b.c".'d'`` → ``("a", "b.c", "d")``; None when it is not a key."""
    parts: list[str] = []
    pos = 0
    while True:
        match = _KEY_PART.match(text, pos)
        if not match or match.end() == pos:
            return None
        bare, basic, literal = match.groups()
        parts.append(bare if bare is not None else literal if literal is not None else
                     json.loads(f'"{basic}"'))  # fmt: skip
        pos = match.end()
        if pos == len(text):
            return tuple(parts)
        if text[pos] != ".":
            return None
        pos += 1


def headers(text: str) -> list[Header]:
    """Every table and array-of-tables header, outside multi-line strings."""
    found: list[Header] = []
    in_string = ""
    pos = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        if in_string:
            if body.count(in_string) % 2 == 1:
                in_string = ""
        else:
            match = _HEADER.match(body)
            path = key_path(match[2]) if match and len(match[1]) == len(match[3]) else None
            if match and path is not None:
                found.append(Header(pos, pos + len(body), path, match[1] == "[["))
            else:
                in_string = _opens_multiline(body)
        pos += len(line)
    return found


def _opens_multiline(line: str) -> str:
    """The delimiter of a multi-line string left open at the end of ``line``, or ""."""
    code = line.split("#", 1)[0] if '"' not in line and "'" not in line else line
    for quote in ('"""', "'''"):
        if code.count(quote) % 2 == 1:
            return quote
    return ""


def render_key(key: str) -> str:
    return key if _BARE.match(key) else json.dumps(key, ensure_ascii=False)


def render_table(header: str, entry: dict[str, Any], newline: str) -> str:
    lines = [
        header,
        *(f"{render_key(k)} = {tomlkit.item(v).as_string()}" for k, v in entry.items()),
    ]
    return newline.join(lines)


class TomlDocument:
    """A TOML client file whose top-level ``key`` holds the servers: a table by name, or
    (``listed``) an array of tables identified by their ``name``."""

    def __init__(self, text: str, key: str, *, listed: bool) -> None:
        self.key, self.listed = key, listed
        self.newline = "\r\n" if "\r\n" in text else "\n"
        self._load(text)

    def _load(self, text: str) -> None:
        self.text = text
        try:
            self.doc = tomlkit.parse(text)
        except TOMLKitError as exc:
            raise TomlError(str(exc)) from None
        value = self.doc.get(self.key)
        self.value = value.unwrap() if value is not None and hasattr(value, "unwrap") else value
        wanted = list if self.listed else dict
        if self.value is not None and not isinstance(self.value, wanted):
            kind = "an array of tables" if self.listed else "a table"
            raise TomlError(f"has '{self.key}' that is not {kind}")
        self.headers = headers(text)

    def entries(self) -> dict[str, Any]:
        return servers_by_name(self.value, listed=self.listed)

    # -- where things are ----------------------------------------------------------------------
    def _own(self, h: Header) -> bool:
        return h.path[:1] == (self.key,)

    def _blocks(self) -> list[tuple[Header, int]]:
        """The servers' headers, each with the end of its block's last content line."""
        out = []
        for i, h in enumerate(self.headers):
            if not self._own(h):
                continue
            nxt = next(
                (o.start for o in self.headers[i + 1 :] if not _inside(o, h)), len(self.text)
            )
            out.append((h, _content_end(self.text, h.end, nxt)))
        return out

    def _entry_block(self, name: str) -> tuple[Header, int] | None:
        blocks = self._blocks()
        if self.listed:
            items = [b for b in blocks if b[0].array and b[0].path == (self.key,)]
            names = [i.get("name") if isinstance(i, dict) else None for i in self.value or []]
            if len(items) == len(names) and name in names:
                return items[len(names) - 1 - names[::-1].index(name)]
            return None
        return next((b for b in blocks if b[0].path == (self.key, name) and not b[0].array), None)

    # -- editing ---------------------------------------------------------------------------------
    def _header(self, name: str) -> str:
        if self.listed:
            return f"[[{render_key(self.key)}]]"
        return f"[{render_key(self.key)}.{render_key(name)}]"

    def _spliceable(self) -> bool:
        """The servers live in header tables (or nowhere yet), so a table can be added."""
        if self.key not in self.doc:
            return True
        item = self.doc[self.key]
        if self.listed:
            return isinstance(item, tomlkit.items.AoT)
        return isinstance(item, tomlkit.items.Table)

    def upsert(self, name: str, entry: dict[str, Any]) -> bool:
        """Add or replace the entry; True when the servers key had to be created."""
        created, original = self.key not in self.doc, self.text
        table = render_table(self._header(name), entry, self.newline)
        if not self._spliceable():
            self._through_tomlkit(name, entry)
            return created
        found = self._entry_block(name)
        if found is not None:
            header, end = found
            text = self.text[: header.start] + table + self.text[end:]
        else:
            blocks = self._blocks()
            end = blocks[-1][1] if blocks else len(self.text.rstrip("\r\n"))
            if self.text.strip():
                text = self.text[:end] + self.newline * 2 + table + self.text[end:]
            else:
                text = table + self.newline
        try:
            self._load(text)
        except TomlError:  # a table the file's layout does not admit: let tomlkit place it
            self._load(original)
            self._through_tomlkit(name, entry)
        return created

    def remove(self, name: str, *, drop_key: bool = False) -> None:
        """Remove the entry (``drop_key``: unused, a table of tables needs no key of its own)."""
        if name not in self.entries():
            return
        found = self._entry_block(name) if self._spliceable() else None
        if found is None:
            self._through_tomlkit(name, None)
            return
        header, end = found
        start = header.start
        newline_after = self.text.startswith(self.newline, end)
        if newline_after:
            end += len(self.newline)
        if self.text[:start].endswith(self.newline * 2):  # the blank line the insertion added
            start -= len(self.newline) * (1 if newline_after else 2)
        self._load(self.text[:start] + self.text[end:])

    def _through_tomlkit(self, name: str, entry: dict[str, Any] | None) -> None:
        servers = self.doc.get(self.key)
        if self.listed:
            items = [
                i for i in (servers or []) if not (isinstance(i, dict) and i.get("name") == name)
            ]
            if entry is not None:
                items.append(entry)
            self.doc[self.key] = items
        else:
            if servers is None:
                servers = self.doc[self.key] = tomlkit.table()
            if entry is None:
                del servers[name]
            else:
                servers[name] = tomlkit.inline_table() if isinstance(
                    servers, tomlkit.items.InlineTable) else tomlkit.table()  # fmt: skip
                servers[name].update(entry)
        self._load(tomlkit.dumps(self.doc))


def _inside(other: Header, header: Header) -> bool:
    """``other`` is a sub-table of ``header``'s table (or of its array item)."""
    return len(other.path) > len(header.path) and other.path[: len(header.path)] == header.path


def _content_end(text: str, start: int, stop: int) -> int:
    """The end of the last line in ``[start, stop)`` that is neither blank nor a comment."""
    end = start
    pos = start
    for line in text[start:stop].splitlines(keepends=True):
        body = line.rstrip("\r\n")
        if body.strip() and not body.lstrip().startswith("#"):
            end = pos + len(body)
        pos += len(line)
    return end
