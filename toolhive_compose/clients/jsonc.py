"""JSON with comments (JSONC), edited in place: a member is added, replaced or removed by
splicing the text, so every other byte — comments, trailing commas, indentation, key order,
line endings — stays as it was.  Removing what an insertion added gives back the text as it
was before, byte for byte.  Pure (no I/O).

ToolHive edits these files through tailscale/hujson, which keeps comments but reformats the
whole file (tabs, aligned values); no well-kept Python library edits JSONC without losing
comments or formatting, hence this small editor.  Its parser accepts what hujson and VS Code
accept: ``//`` and ``/* */`` comments and trailing commas.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_STRING = re.compile(r'"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"')
_LITERALS = {"true": True, "false": False, "null": None}


class JsoncError(ValueError):
    """The text is not JSON(C); ``str()`` says where and what."""

    def __init__(self, message: str, text: str, pos: int) -> None:
        line = text.count("\n", 0, pos) + 1
        column = pos - (text.rfind("\n", 0, pos) + 1) + 1
        super().__init__(f"line {line}, column {column}: {message}")


@dataclass
class Value:
    """A parsed value and its span ``[start, end)`` in the text."""

    start: int
    end: int
    data: Any
    members: list[Member] | None = None  # objects only, in text order


@dataclass
class Member:
    key: str
    key_start: int
    value: Value
    comma: int = -1  # position of the comma after the value, -1 when none


@dataclass
class _Parser:
    text: str
    pos: int = 0
    depth: int = field(default=0)

    def error(self, message: str, pos: int | None = None) -> JsoncError:
        return JsoncError(message, self.text, self.pos if pos is None else pos)

    def skip(self) -> None:
        """Whitespace and comments."""
        text, n = self.text, len(self.text)
        while self.pos < n:
            ch = text[self.pos]
            if ch in " \t\r\n":
                self.pos += 1
            elif text.startswith("//", self.pos):
                end = text.find("\n", self.pos)
                self.pos = n if end < 0 else end
            elif text.startswith("/*", self.pos):
                end = text.find("*/", self.pos + 2)
                if end < 0:
                    raise self.error("unterminated /* comment")
                self.pos = end + 2
            else:
                return

    def value(self) -> Value:
        self.skip()
        if self.pos >= len(self.text):
            raise self.error("unexpected end of the file")
        ch = self.text[self.pos]
        if ch == "{":
            return self.container("}", self.member)
        if ch == "[":
            return self.container("]", self.item)
        return self.scalar()

    def scalar(self) -> Value:
        start, text = self.pos, self.text
        match = _STRING.match(text, start) or _NUMBER.match(text, start)
        if match:
            self.pos = match.end()
            return Value(start, self.pos, json.loads(match[0]))
        for word, data in _LITERALS.items():
            if text.startswith(word, start):
                self.pos = start + len(word)
                return Value(start, self.pos, data)
        if text[start] == '"':
            raise self.error("invalid string (unterminated, a control character or a bad escape)")
        raise self.error(f"unexpected character {text[start]!r}")

    def container(self, close: str, element: Any) -> Value:
        start = self.pos
        self.pos += 1
        self.depth += 1
        if self.depth > 200:
            raise self.error("nested too deeply")
        members: list[Member] = []
        items: list[Any] = []
        while True:
            self.skip()
            if self.pos >= len(self.text):
                raise self.error("unexpected end of the file")
            if self.text.startswith(close, self.pos):
                break
            if (members or items) and not self._had_comma(members, items):
                raise self.error(f"expected ',' or '{close}'")
            element(members, items)
            self.skip()
            if self.text.startswith(",", self.pos):
                self._mark_comma(members, items)
                self.pos += 1
            elif not self.text.startswith(close, self.pos):
                raise self.error(f"expected ',' or '{close}'")
        self.pos += 1
        self.depth -= 1
        if close == "}":
            data = {m.key: m.value.data for m in members}
            return Value(start, self.pos, data, members)
        return Value(start, self.pos, [i.data for i in items])

    def _had_comma(self, members: list[Member], items: list[Any]) -> bool:
        return members[-1].comma >= 0 if members else items[-1].end < self.pos

    def _mark_comma(self, members: list[Member], items: list[Any]) -> None:
        if members:
            members[-1].comma = self.pos

    def member(self, members: list[Member], items: list[Any]) -> None:
        key_start = self.pos
        match = _STRING.match(self.text, key_start)
        if not match:
            raise self.error("expected a string key")
        self.pos = match.end()
        self.skip()
        if not self.text.startswith(":", self.pos):
            raise self.error("expected ':'")
        self.pos += 1
        members.append(Member(json.loads(match[0]), key_start, self.value()))

    def item(self, members: list[Member], items: list[Any]) -> None:
        items.append(self.value())


def parse(text: str) -> Value | None:
    """The root value of ``text``; None for a blank file.  :class:`JsoncError` otherwise."""
    parser = _Parser(text)
    parser.skip()
    if parser.pos >= len(text):
        return None
    root = parser.value()
    parser.skip()
    if parser.pos < len(text):
        raise parser.error("unexpected content after the end of the document")
    return root


# -- editing -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Style:
    """How the file lays itself out: indent unit and line ending."""

    unit: str = "  "
    newline: str = "\n"

    @classmethod
    def of(cls, text: str) -> Style:
        newline = "\r\n" if "\r\n" in text else "\n"
        indents = re.findall(r"\n([ \t]+)\S", text)
        if any(i.startswith("\t") for i in indents):
            return cls("\t", newline)
        widths = [len(i) for i in indents if i.strip(" ") == ""]
        return cls(" " * min(widths) if widths else "  ", newline)


def render(value: Any, indent: str, style: Style) -> str:
    """``value`` as JSON whose continuation lines start at ``indent``."""
    if isinstance(value, dict) and value:
        inner = indent + style.unit
        parts = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {render(v, inner, style)}"
                 for k, v in value.items()]  # fmt: skip
        return (
            "{" + style.newline + ("," + style.newline).join(parts) + style.newline + indent + "}"
        )
    if isinstance(value, list) and value:
        inner = indent + style.unit
        parts = [inner + render(v, inner, style) for v in value]
        return (
            "[" + style.newline + ("," + style.newline).join(parts) + style.newline + indent + "]"
        )
    return json.dumps(value, ensure_ascii=False)


def line_start(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def line_end(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    end = len(text) if end < 0 else end
    return end - 1 if end > 0 and text[end - 1] == "\r" else end


def indent_of(text: str, pos: int) -> str:
    """The whitespace before ``pos`` on its line, or None-like "" when ``pos`` does not start
    its line."""
    start = line_start(text, pos)
    before = text[start:pos]
    return before if before.strip() == "" else ""


def _starts_line(text: str, pos: int) -> bool:
    return text[line_start(text, pos) : pos].strip() == ""


def _only_trivia(text: str, start: int, end: int) -> bool:
    """Only whitespace and comments between ``start`` and ``end``."""
    parser = _Parser(text[:end], start)
    try:
        parser.skip()
    except JsoncError:
        return False
    return parser.pos >= end


def insert_member(text: str, obj: Value, key: str, value: Any, style: Style) -> str:
    """``text`` with ``"key": value`` added as the last member of ``obj``."""
    assert obj.members is not None
    if not obj.members:
        return _fill_empty(text, obj, key, value, style)
    last = obj.members[-1]
    name = json.dumps(key, ensure_ascii=False)
    if not _starts_line(text, last.key_start):  # a one-line object stays on one line
        member = f"{name}: {json.dumps(value, ensure_ascii=False)}"
        if last.comma >= 0:
            return text[: last.comma + 1] + f" {member}," + text[last.comma + 1 :]
        return text[: last.value.end] + f", {member}" + text[last.value.end :]
    indent = indent_of(text, last.key_start)
    member = f"{name}: {render(value, indent, style)}"
    anchor = last.comma + 1 if last.comma >= 0 else last.value.end
    eol = line_end(text, anchor)
    if not _only_trivia(text, anchor, eol):
        eol = anchor
    added = style.newline + indent + member + ("," if last.comma >= 0 else "")
    comma = "" if last.comma >= 0 else ","
    return text[: last.value.end] + comma + text[last.value.end : eol] + added + text[eol:]


def _fill_empty(text: str, obj: Value, key: str, value: Any, style: Style) -> str:
    """The first member of an empty object: on its own lines, unless the file is one line."""
    name = json.dumps(key, ensure_ascii=False)
    interior = text[obj.start + 1 : obj.end - 1]
    if "\n" not in text.strip() and text.strip() != text[obj.start : obj.end]:
        member = f"{name}: {json.dumps(value, ensure_ascii=False)}"
        return text[: obj.start + 1] + member + text[obj.start + 1 :]
    start = line_start(text, obj.start)
    outer = text[start : start + _lead(text, obj.start)]
    indent = outer + style.unit
    member = f"{name}: {render(value, indent, style)}"
    close = obj.end - 1
    if interior.strip() == "":
        body = style.newline + indent + member + style.newline + outer
        return text[: obj.start + 1] + body + text[close:]
    close_line = line_start(text, close)
    if text[close_line:close].strip() == "":  # comments inside, the brace on its own line
        return text[:close_line] + indent + member + style.newline + text[close_line:]
    return text[:close] + style.newline + indent + member + style.newline + outer + text[close:]


def _lead(text: str, pos: int) -> int:
    """Length of the whitespace that starts the line holding ``pos``."""
    start = line_start(text, pos)
    return len(text[start:pos]) - len(text[start:pos].lstrip(" \t"))


def replace_value(text: str, member: Member, value: Any, style: Style) -> str:
    indent = indent_of(text, member.key_start)
    if _starts_line(text, member.key_start):
        new = render(value, indent, style)
    else:
        new = json.dumps(value, ensure_ascii=False)
    return text[: member.value.start] + new + text[member.value.end :]


def remove_member(text: str, obj: Value, index: int) -> str:
    """``text`` without ``obj``'s member ``index`` — the inverse of :func:`insert_member`."""
    assert obj.members is not None
    members = obj.members
    m = members[index]
    end = m.comma + 1 if m.comma >= 0 else m.value.end
    if len(members) == 1:
        rest = text[obj.start + 1 : m.key_start] + text[end : obj.end - 1]
        if rest.strip() == "":
            return text[: obj.start + 1] + text[obj.end - 1 :]
    if not _starts_line(text, m.key_start):  # a one-line object
        if index + 1 < len(members):
            return text[: m.key_start] + text[members[index + 1].key_start :]
        if index == 0:
            return text[: m.key_start] + text[end:]
        prev = members[index - 1]
        start = prev.comma + 1 if m.comma >= 0 else prev.value.end
        return text[:start] + text[end:]
    eol = line_end(text, end)
    if _only_trivia(text, end, eol):
        end = eol
    start = line_start(text, m.key_start)
    if start > 0:
        start -= 2 if text[start - 2 : start] == "\r\n" else 1
    if index == len(members) - 1 and m.comma < 0 and index > 0:
        prev = members[index - 1]
        if prev.comma >= 0:  # the comma the insertion added
            text = text[: prev.comma] + text[prev.comma + 1 :]
            start, end = start - 1, end - 1
    return text[:start] + text[end:]
