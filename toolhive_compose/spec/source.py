"""YAML files as plain data, with the line and column of every value.

Scalars follow the YAML 1.2 core schema (see :mod:`.yaml_nodes`).  Mapping keys are always
the text as written.  Duplicate keys, unknown tags, keys that are not scalars, undefined
aliases and documents nested too deeply (or expanded too far by aliases) are problems,
never exceptions.  ``<<`` merge keys work: explicit keys win over merged ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import yaml

from ..errors import Problem
from .yaml_nodes import MAX_DEPTH, SCALARS, TooComplex, compose

DocPath = tuple[str | int, ...]
MAX_VALUES = 20_000
_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"


class Mark(NamedTuple):
    """Where a value starts in a file."""

    file: str
    line: int  # 1-based
    column: int  # 1-based


def dotted(path: DocPath) -> str:
    """``("servers", "fetch", "volumes", 0)`` → ``servers.fetch.volumes[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


class Origins:
    """Where each path of a document was written: the value, and its key.

    One layer per file, as the parser left them (libyaml's own marks: nothing is made per
    value until a problem asks).  Merging files is ``update`` in file order: a merged value
    always comes from the last file that has its path, because mappings merge and everything
    else is replaced, so a lookup asks the layers last first.
    """

    __slots__ = ("_layers",)

    def __init__(self) -> None:
        self._layers: list[tuple[str, dict[DocPath, Any], dict[DocPath, Any]]] = []

    def add_file(self, file: str) -> tuple[dict[DocPath, Any], dict[DocPath, Any]]:
        """A new layer: the dicts in which a parser records, by path, each value's and each
        key's start (an object with 0-based ``line`` and ``column``)."""
        values: dict[DocPath, Any] = {}
        keys: dict[DocPath, Any] = {}
        self._layers.append((file, values, keys))
        return values, keys

    def update(self, other: Origins) -> None:
        self._layers.extend(other._layers)

    def mark(self, path: DocPath, *, at_key: bool = False) -> Mark | None:
        """The mark of ``path`` (its key if asked and known), else of its nearest ancestor."""
        layers = self._layers[::-1]
        if at_key:
            for file, _, keys in layers:
                if path in keys:
                    return _at(file, keys[path])
        while True:
            for file, values, _ in layers:
                if path in values:
                    return _at(file, values[path])
            if not path:
                return None
            path = path[:-1]

    def problem(self, message: str, path: DocPath, *, at_key: bool = False) -> Problem:
        mark = self.mark(path, at_key=at_key)
        if mark is None:
            return Problem(message, path=dotted(path))
        return Problem(message, mark.file, mark.line, mark.column, dotted(path))


def _at(file: str, start: Any) -> Mark:
    return Mark(file, start.line + 1, start.column + 1)


@dataclass(slots=True)
class Source:
    """One parsed file: its data (None when unusable), origins and problems."""

    file: str
    data: Any = None
    origins: Origins = field(default_factory=Origins)
    problems: list[Problem] = field(default_factory=list)


def parse(text: str, file: str) -> Source:
    """Parse one YAML document into a :class:`Source`; problems never raise."""
    source = Source(file)
    try:
        node = compose(text)
    except yaml.YAMLError as exc:
        source.problems.append(_yaml_problem(exc, text, file))
        return source
    except TooComplex as exc:
        source.problems.append(_node_problem(exc.message, exc.node, file))
        return source
    _convert_root(node, source)
    return source


def _convert_root(node: yaml.Node | None, source: Source) -> None:
    if node is None:
        source.problems.append(Problem("the file is empty", source.file))
        return
    if not isinstance(node, yaml.MappingNode):
        kind = "a list" if isinstance(node, yaml.SequenceNode) else "a scalar"
        message = f"the top level must be a mapping of keys, not {kind}"
        source.problems.append(_node_problem(message, node, source.file))
        return
    converter = _Converter(source)
    try:
        source.data = converter.value(node, (), 0)
    except TooComplex as exc:
        source.problems.append(_node_problem(exc.message, exc.node, source.file))
        source.data = None


def _node_problem(message: str, node: yaml.Node, file: str) -> Problem:
    mark = _at(file, node.start_mark)
    return Problem(message, file, mark.line, mark.column)


def _describe(problem: str | None, context: str | None, started: int | None) -> str:
    """libyaml's problem and context as one phrase."""
    if not (problem and context):
        return problem or context or "syntax error"
    if not context.startswith("while"):
        return f"{context}, {problem}"
    return f"{problem} ({context}" + (f" started on line {started})" if started else ")")


def _short(text: str) -> str:
    return repr(text) if len(text) <= 40 else repr(text[:37] + "...")


def _yaml_problem(exc: yaml.YAMLError, text: str, file: str) -> Problem:
    """A parser error as one problem at the parser's mark."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        context_mark = exc.context_mark
        started = None
        if context_mark and mark and context_mark.line != mark.line:
            started = context_mark.line + 1
        what = _describe(exc.problem, exc.context, started)
        if mark is None:
            return Problem(f"invalid YAML: {what}", file)
        return Problem(f"invalid YAML: {what}", file, mark.line + 1, mark.column + 1)
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character or "\0")
        return Problem(f"invalid YAML: {exc.reason} (character #x{code:04x})", file, line, column)
    return Problem(f"invalid YAML: {exc}", file)


# ---------------------------------------------------------------- composing (no recursion)


# ---------------------------------------------------------------- nodes → data


class _Converter:
    """Nodes to plain values, recording marks and problems."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.file = source.file
        self.count = 0
        self.values, self.keys = source.origins.add_file(source.file)

    def value(self, node: yaml.Node, path: DocPath, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            raise TooComplex(
                f"the document has more than {MAX_VALUES} values (alias expansion?)", node
            )
        if depth > MAX_DEPTH:
            raise TooComplex(f"the document is nested more than {MAX_DEPTH} levels deep", node)
        self.values[path] = node.start_mark
        kind = type(node)
        if kind is yaml.ScalarNode:
            if node.tag == _STR:
                return node.value
            return self.scalar(node, path)
        if kind is yaml.MappingNode:
            return self.mapping(node, path, depth)
        self._check_tag(node, _SEQ, path)
        return [self.value(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]

    def scalar(self, node: yaml.Node, path: DocPath) -> Any:
        if node.tag == _STR:
            return node.value
        kind, convert = SCALARS.get(node.tag, ("", None))
        if convert is None:
            self._problem(f"unsupported YAML tag '{_pretty(node.tag)}'", node, path)
            return node.value
        try:
            return convert(node.value)
        except ValueError:
            self._problem(f"{_short(node.value)} is not a valid {kind}", node, path)
            return node.value

    def mapping(self, node: yaml.Node, path: DocPath, depth: int) -> dict[str, Any]:
        self._check_tag(node, _MAP, path)
        out: dict[str, Any] = {}
        pairs = node.value
        if any(_is_merge_key(k) for k, _ in pairs):
            for key_node, value_node in pairs:
                if _is_merge_key(key_node):
                    self._merge(value_node, out, path, depth)
            pairs = [(k, v) for k, v in pairs if not _is_merge_key(k)]
        first_line: dict[str, int] = {}
        keys = self.keys
        for key_node, value_node in pairs:
            if type(key_node) is yaml.ScalarNode:
                key = str(key_node.value)
            else:
                self._problem("mapping keys must be plain strings", key_node, path)
                continue
            here = (*path, key)
            if key in first_line:
                message = f"duplicate key '{key}' (first defined on line {first_line[key]})"
                self._problem(message, key_node, here)
            else:
                first_line[key] = key_node.start_mark.line + 1
            keys[here] = key_node.start_mark
            out[key] = self.value(value_node, here, depth + 1)
        return out

    def _merge(self, node: yaml.Node, out: dict[str, Any], path: DocPath, depth: int) -> None:
        """``<<: *anchor`` or ``<<: [*a, *b]``: copy the keys in; the earliest source wins."""
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        for item in reversed(items):
            if isinstance(item, yaml.MappingNode):
                out.update(self.mapping(item, path, depth + 1))
            else:
                message = "a '<<' merge value must be a mapping or a list of mappings"
                self._problem(message, item, path)

    def _check_tag(self, node: yaml.Node, expected: str, path: DocPath) -> None:
        if node.tag != expected:
            self._problem(f"unsupported YAML tag '{_pretty(node.tag)}'", node, path)

    def _problem(self, message: str, node: yaml.Node, path: DocPath) -> None:
        mark = _at(self.file, node.start_mark)
        problem = Problem(message, self.file, mark.line, mark.column, dotted(path))
        self.source.problems.append(problem)


def _pretty(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!", 1)


def _is_merge_key(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.value == "<<" and not node.style
