"""YAML configuration files edited in place: a server entry is added, replaced or removed by
splicing the text at positions the parser reports, so comments, key order, quoting and
indentation everywhere else stay byte for byte.  Removing what an insertion added gives back
the text as it was.  Pure (no I/O); PyYAML supplies the positions (its event stream).

ToolHive re-marshals these files (every comment lost, keys sorted); a round-trip library
would still re-indent the whole file to one style, so the edits are splices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from .catalog import servers_by_name
from .jsonc import line_end, line_start


class YamlError(ValueError):
    """The text is not one YAML document; ``str()`` says where and what."""


@dataclass
class Node:
    kind: str  # map | seq | scalar | alias
    start: int
    end: int  # past the last character of the node's content
    flow: bool = False
    value: str = ""  # a scalar's text, as loaded
    key: str = ""  # for a mapping's value: its key
    key_start: int = -1
    key_end: int = -1
    items: list[Node] = field(default_factory=list)  # mapping values (with keys) or items


def parse(text: str) -> tuple[Node | None, Any]:
    """The root node (None for an empty document) and the loaded data."""
    try:
        events = list(yaml.parse(text, Loader=yaml.SafeLoader))
        if sum(isinstance(e, yaml.DocumentStartEvent) for e in events) > 1:
            raise YamlError("holds several YAML documents, not one")
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise YamlError(where + ", ".join(filter(None, [exc.context, exc.problem]))) from None
    except yaml.YAMLError as exc:
        raise YamlError(str(exc).splitlines()[0]) from None
    body = [e for e in events if isinstance(e, _NODE_EVENTS)]
    if not body:
        return None, data
    root, _ = _node(body, 0, text)
    return root, data


_NODE_EVENTS = (
    yaml.ScalarEvent,
    yaml.AliasEvent,
    yaml.CollectionStartEvent,
    yaml.CollectionEndEvent,
)


def _node(events: list[Any], i: int, text: str) -> tuple[Node, int]:
    event = events[i]
    if isinstance(event, yaml.ScalarEvent):
        start = _at(event.start_mark)
        end = max(start, _trimmed(text, _at(event.end_mark)))
        return Node("scalar", start, end, value=str(event.value)), i + 1
    if isinstance(event, yaml.AliasEvent):
        return Node("alias", _at(event.start_mark), _at(event.end_mark)), i + 1
    mapping = isinstance(event, yaml.MappingStartEvent)
    node = Node("map" if mapping else "seq", _at(event.start_mark), 0, bool(event.flow_style))
    i += 1
    while not isinstance(events[i], yaml.CollectionEndEvent):
        key = None
        if mapping:
            key, i = _node(events, i, text)
        child, i = _node(events, i, text)
        if key is not None:
            child.key = key.value
            child.key_start, child.key_end = key.start, key.end
        node.items.append(child)
    end = events[i]
    if node.flow:
        node.end = _at(end.end_mark)
    else:
        node.end = max((c.end for c in node.items), default=node.start)
    return node, i + 1


def _at(mark: Any) -> int:
    return int(mark.index)


def _trimmed(text: str, end: int) -> int:
    """A block scalar's end mark lies past its trailing line breaks: back off to its text."""
    while end > 0 and text[end - 1] in " \t\r\n":
        end -= 1
    return end


# -- rendering -----------------------------------------------------------------------------------
def scalar(value: Any) -> str:
    """One scalar as YAML writes it (quoted only when it must be)."""
    dumped = yaml.safe_dump([value], default_flow_style=True, width=2**30, allow_unicode=True)
    return dumped.strip()[1:-1]


def block(value: dict[str, Any], indent: str, newline: str) -> str:
    """The lines of a flat mapping, each starting with ``indent`` (no final line break)."""
    return newline.join(f"{indent}{scalar(k)}: {scalar(v)}" for k, v in value.items())


def flow(value: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{scalar(k)}: {scalar(v)}" for k, v in value.items()) + "}"


# -- the document --------------------------------------------------------------------------------
class YamlDocument:
    """A YAML client file whose top-level ``key`` holds the servers: a mapping by name, or
    (``listed``) a list of mappings identified by their ``name``."""

    def __init__(self, text: str, key: str, *, listed: bool) -> None:
        self.key, self.listed = key, listed
        self.newline = "\r\n" if "\r\n" in text else "\n"
        self.unit = _unit(text)
        self._load(text)

    def _load(self, text: str) -> None:
        self.text = text
        self.root, data = parse(text)
        if data is None:
            data = {}
        if not isinstance(data, dict) or (self.root is not None and self.root.kind != "map"):
            raise YamlError("is not a mapping at the top level")
        found = [n for n in (self.root.items if self.root else []) if n.key == self.key]
        self.container = found[-1] if found else None
        self.value = data.get(self.key)
        wanted = list if self.listed else dict
        if self.value is not None and not isinstance(self.value, wanted):
            kind = "a list" if self.listed else "a mapping"
            raise YamlError(f"has '{self.key}' that is not {kind}")

    def entries(self) -> dict[str, Any]:
        return servers_by_name(self.value, listed=self.listed)

    def _index(self, name: str) -> int | None:
        if self.container is None or not self.value or self.container.kind not in ("map", "seq"):
            return None
        found = None
        for index, node in enumerate(self.container.items):
            if self.listed:
                item = self.value[index]
                if isinstance(item, dict) and str(item.get("name")) == name:
                    found = index
            elif node.key == name:
                found = index
        return found

    def _lines(self, name: str, entry: dict[str, Any]) -> list[str]:
        body = block(entry, "", self.newline).split(self.newline)
        if self.listed:
            return [f"- {body[0]}", *(f"  {line}" for line in body[1:])]
        return [f"{scalar(name)}:", *(self.unit + line for line in body)]

    def _flat(self, name: str, entry: dict[str, Any]) -> str:
        return flow(entry) if self.listed else f"{scalar(name)}: {flow(entry)}"

    def upsert(self, name: str, entry: dict[str, Any]) -> bool:
        """Add or replace the entry; True when the servers key had to be created."""
        lines, flat = self._lines(name, entry), self._flat(name, entry)
        index = self._index(name)
        node = self.container
        created = False
        if node is not None and index is not None:
            text = _replace_item(self.text, node, index, lines, flat, self.newline)
        elif node is not None and node.kind in ("map", "seq") and (node.items or not _bare(node)):
            text = append_item(self.text, node, lines, flat, self.newline)
        elif node is not None:  # null, or an empty {} / []
            indent = column(self.text, node.key_start) + self.unit
            text = replace_empty(self.text, node, lines, indent, self.newline)
        else:
            created = True
            nested = [f"{scalar(self.key)}:", *(self.unit + line for line in lines)]
            if self.root is None:
                text = self.newline.join(nested) + self.newline
            else:
                text = append_item(self.text, self.root, nested, "", self.newline)
        self._load(text)
        return created

    def remove(self, name: str, *, drop_key: bool = False) -> None:
        """Remove the entry; with ``drop_key``, the servers key too when it is left empty."""
        index = self._index(name)
        if index is None or self.container is None:
            return
        if drop_key and len(self.container.items) == 1 and self.root is not None:
            position = next(i for i, n in enumerate(self.root.items) if n is self.container)
            self._load(remove_item(self.text, self.root, position, "{}"))
            return
        empty = "[]" if self.listed else "{}"
        self._load(remove_item(self.text, self.container, index, empty))


def _unit(text: str) -> str:
    widths = [len(line) - len(line.lstrip(" ")) for line in text.splitlines()]
    positive = [w for w in widths if w > 0]
    return " " * min(positive) if positive and min(positive) <= 4 else "  "


def _bare(node: Node) -> bool:
    """A flow collection with nothing in it (``{}`` / ``[]``)."""
    return node.flow and not node.items


# -- splicing ------------------------------------------------------------------------------------
def column(text: str, pos: int) -> str:
    """The whitespace from the start of ``pos``'s line up to it (spaces for other text)."""
    before = text[line_start(text, pos) : pos]
    return before if before.strip() == "" else " " * len(before)


def item_start(text: str, item: Node, parent: Node) -> int:
    """Where a member's text starts: its key, or a block sequence item's dash."""
    if parent.kind == "map":
        return item.key_start
    dash = text.rfind("-", line_start(text, item.start), item.start)
    return dash if dash >= 0 else item.start


def _key_line_rest(text: str, node: Node) -> tuple[int, int]:
    """The span after a collection's key colon up to the end of the key's line."""
    colon = text.find(":", node.key_end)
    return colon + 1, line_end(text, colon)


def remove_item(text: str, parent: Node, index: int, empty: str) -> str:
    """``text`` without ``parent``'s member ``index`` — the inverse of :func:`append_item`
    and :func:`replace_empty`: a block collection left empty becomes ``empty`` after its key."""
    item = parent.items[index]
    if parent.flow:
        return _remove_flow(text, parent, index)
    start, end = item_start(text, item, parent), line_end(text, item.end)
    if len(parent.items) == 1 and parent.key_end >= 0:
        after_colon, eol = _key_line_rest(text, parent)
        return text[: after_colon - 1] + f": {empty}" + text[after_colon:eol] + text[end:]
    if text[line_start(text, start) : start].strip():  # not first on its line
        return text[:start] + text[_next_line(text, end) :]
    cut = line_start(text, start)
    if cut == 0:
        return text[_next_line(text, end) :]
    cut -= 2 if text[cut - 2 : cut] == "\r\n" else 1
    return text[:cut] + text[end:]


def _next_line(text: str, end: int) -> int:
    nl = text.find("\n", end)
    return len(text) if nl < 0 else nl + 1


def _remove_flow(text: str, parent: Node, index: int) -> str:
    starts = [i.key_start if parent.kind == "map" else i.start for i in parent.items]
    if index + 1 < len(parent.items):
        return text[: starts[index]] + text[starts[index + 1] :]
    if index == 0:
        return text[: parent.start + 1] + text[parent.end - 1 :]
    prev = parent.items[index - 1]
    return text[: prev.end] + text[parent.items[index].end :]


def append_item(text: str, parent: Node, lines: list[str], flat: str, newline: str) -> str:
    """``text`` with a member appended to ``parent``: ``lines`` (the first starting the
    member, the others relative to its column) in a block collection, ``flat`` in a flow one."""
    if parent.flow:
        close = parent.end - 1
        return text[:close] + (", " if parent.items else "") + flat + text[close:]
    last = parent.items[-1]
    indent = column(text, item_start(text, last, parent))
    end = line_end(text, last.end)
    return text[:end] + "".join(newline + indent + line for line in lines) + text[end:]


def replace_empty(text: str, node: Node, lines: list[str], indent: str, newline: str) -> str:
    """A null or empty flow collection after its key replaced by a block of ``lines``; what
    follows the value on the key's line (a comment) stays there."""
    after_colon, eol = _key_line_rest(text, node)
    rest = text[node.end : eol] if node.end <= eol else ""
    block_text = "".join(newline + indent + line for line in lines)
    return text[: after_colon - 1] + ":" + rest + block_text + text[eol:]


def _replace_item(
    text: str, parent: Node, index: int, lines: list[str], flat: str, newline: str
) -> str:
    item = parent.items[index]
    if parent.flow:
        start = item.key_start if parent.kind == "map" else item.start
        return text[:start] + flat + text[item.end :]
    start = item_start(text, item, parent)
    indent = column(text, start)
    body = lines[0] + "".join(newline + indent + line for line in lines[1:])
    return text[:start] + body + text[line_end(text, item.end) :]
