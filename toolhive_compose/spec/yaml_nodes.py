"""Parsing YAML into nodes: YAML 1.2 core-schema scalars, no recursion.

libyaml's own composer recurses in C and crashes the interpreter on deeply nested input, so
parser events are composed into nodes here with an explicit stack, and nesting is capped.
Scalars resolve by the YAML 1.2 core schema, as Compose's Go parser does: ``yes``/``no``/``on``
are strings, ``017`` is 17, there are no timestamps and no ``1:30`` sexagesimal numbers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, cast

import yaml

try:
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - pyyaml built without libyaml
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

MAX_DEPTH = 40


class _Loader(_BaseLoader):  # type: ignore[misc]
    """Safe loader whose implicit scalar types are those of the YAML 1.2 core schema."""


_Loader.yaml_implicit_resolvers = {}
_CORE_RESOLVERS = (
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        list("-+0123456789."),
    ),
)
for _tag, _regexp, _first in _CORE_RESOLVERS:
    _Loader.add_implicit_resolver(_tag, re.compile(_regexp), _first)


def _to_int(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    if body[:2] in ("0o", "0x"):
        return sign * int(body[2:], 8 if body[1] == "o" else 16)
    return sign * int(body, 10)


def _to_float(text: str) -> float:
    lowered = text.lower()
    if lowered.endswith(".inf"):
        return float("-inf") if lowered.startswith("-") else float("inf")
    return float("nan") if lowered == ".nan" else float(text)


def _to_bool(text: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise ValueError(text)
    return text.lower() == "true"


def _to_null(text: str) -> None:
    if text not in ("", "~", "null", "Null", "NULL"):
        raise ValueError(text)


SCALARS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "tag:yaml.org,2002:null": ("null", _to_null),
    "tag:yaml.org,2002:bool": ("boolean", _to_bool),
    "tag:yaml.org,2002:int": ("integer", _to_int),
    "tag:yaml.org,2002:float": ("number", _to_float),
}


class TooComplex(Exception):
    """Conversion cannot go on; carries the problem."""

    def __init__(self, message: str, node: yaml.Node) -> None:
        super().__init__(message)
        self.message = message
        self.node = node


def compose(text: str) -> yaml.Node | None:
    loader = _Loader(text)
    try:
        loader.get_event()  # stream start
        if loader.check_event(yaml.StreamEndEvent):
            return None
        loader.get_event()  # document start
        root = _Composer(loader).run()
        loader.get_event()  # document end
        if not loader.check_event(yaml.StreamEndEvent):
            event = loader.get_event()
            assert event is not None  # check_event saw an event that is not stream end
            raise yaml.composer.ComposerError(
                "expected a single document in the stream",
                None,
                "but found another document",
                cast("yaml.error.Mark | None", event.start_mark),
            )
        return root
    finally:
        loader.dispose()


class _Composer:
    """Builds the node tree from parser events with an explicit stack."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.anchors: dict[str, yaml.Node] = {}
        self.stack: list[tuple[yaml.Node, list[yaml.Node]]] = []
        self.root: yaml.Node | None = None

    def run(self) -> yaml.Node | None:
        get_event, resolve = self.loader.get_event, self.loader.resolve
        stack, anchors = self.stack, self.anchors
        tags: dict[tuple[str, Any], str] = {}  # plain scalars' tags by (value, implicit)
        while True:
            event = get_event()
            kind = type(event)
            if kind is yaml.ScalarEvent:  # most events: a fast path, same result as _node
                tag = event.tag
                if tag is None or tag == "!":
                    key = (event.value, event.implicit)
                    tag = tags.get(key)
                    if tag is None:
                        tag = tags[key] = str(resolve(yaml.ScalarNode, event.value, event.implicit))
                node = yaml.ScalarNode(
                    tag, event.value, event.start_mark, event.end_mark, event.style
                )
                if event.anchor:
                    anchors[event.anchor] = node
                if not stack:
                    self.root = node
                    return node
                stack[-1][1].append(node)
                continue
            if kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                self._close()
            else:
                self._add(self._node(event), event)
            if not stack:
                return self.root

    def _node(self, event: Any) -> yaml.Node:
        if isinstance(event, yaml.AliasEvent):
            if event.anchor not in self.anchors:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"found undefined alias {event.anchor!r}",
                    cast("yaml.error.Mark | None", event.start_mark),
                )
            return self.anchors[event.anchor]
        if isinstance(event, yaml.ScalarEvent):
            tag = self._tag(event, yaml.ScalarNode, event.value)
            return yaml.ScalarNode(
                tag,
                event.value,
                cast("yaml.error.Mark | None", event.start_mark),
                cast("yaml.error.Mark | None", event.end_mark),
                event.style,
            )
        kind = yaml.SequenceNode if isinstance(event, yaml.SequenceStartEvent) else yaml.MappingNode
        tag = self._tag(event, kind, None)
        return kind(tag, [], event.start_mark, event.end_mark, event.flow_style)

    def _tag(self, event: Any, kind: type, value: str | None) -> str:
        if event.tag is None or event.tag == "!":
            return str(self.loader.resolve(kind, value, event.implicit))
        return str(event.tag)

    def _add(self, node: yaml.Node, event: Any) -> None:
        if getattr(event, "anchor", None) and not isinstance(event, yaml.AliasEvent):
            self.anchors[event.anchor] = node
        if self.stack:
            self.stack[-1][1].append(node)
        else:
            self.root = node
        if isinstance(event, yaml.CollectionStartEvent):
            if len(self.stack) >= MAX_DEPTH:
                raise TooComplex(f"the document is nested more than {MAX_DEPTH} levels deep", node)
            self.stack.append((node, []))

    def _close(self) -> None:
        node, children = self.stack.pop()
        if isinstance(node, yaml.MappingNode):
            node.value = list(zip(children[::2], children[1::2], strict=True))
        else:
            node.value = children
