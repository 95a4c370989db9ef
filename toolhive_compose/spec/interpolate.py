"""Compose-spec variable interpolation, and ``.env`` files.

Syntax, as in the compose spec (``12-interpolation.md``):

* ``$VAR`` and ``${VAR}``: the value;
* ``${VAR:-default}`` / ``${VAR-default}``: ``default`` when VAR is unset or empty / unset;
* ``${VAR:?message}`` / ``${VAR?message}``: a problem when VAR is unset or empty / unset;
* ``${VAR:+other}`` / ``${VAR+other}``: ``other`` when VAR is set and non-empty / set;
* ``$$``: a literal ``$``.  Defaults and messages may themselves contain ``${...}``.

One deliberate difference: **an unset variable without a default is a problem**, where
Compose warns and substitutes an empty string.  A blank image tag or token is a footgun
(docker/compose#5505); write ``${VAR:-}`` to ask for an empty default.  A ``$`` followed by
anything that does not start a variable is a problem too, as in Compose.

Interpolation applies to string values only, never to keys, and runs on each file before
the files are merged.  Values that the schema wants as integers or booleans (ports, for
instance) are converted back after substitution, like Compose does.

``.env`` files hold ``KEY=VALUE`` lines; ``export KEY=VALUE`` is accepted, ``#`` starts a
comment (after whitespace, for unquoted values), single quotes are literal, double quotes
understand ``\\n``, ``\\t``, ``\\r``, ``\\"`` and ``\\\\`` and may span lines.  Variables
inside ``.env`` values are not expanded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import Problem
from .source import DocPath, Origins

_NAME = re.compile(r"[_A-Za-z][_A-Za-z0-9]*")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")
Cast = Callable[[str], Any]


class _Expander:
    """Expands one template against ``env``, collecting problems instead of stopping."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.errors: list[str] = []

    def expand(self, text: str) -> str:
        out: list[str] = []
        pos = 0
        while (dollar := text.find("$", pos)) >= 0:
            out.append(text[pos:dollar])
            pos = self._dollar(text, dollar + 1, out)
        out.append(text[pos:])
        return "".join(out)

    def _dollar(self, text: str, pos: int, out: list[str]) -> int:
        """Handle what follows a ``$`` at ``pos``; return where scanning resumes."""
        if text.startswith("$", pos):
            out.append("$")
            return pos + 1
        if text.startswith("{", pos):
            return self._braced(text, pos + 1, out)
        name = _NAME.match(text, pos)
        if name is None:
            self.errors.append("a '$' must start a variable; write '$$' for a literal dollar sign")
            out.append("$")
            return pos
        out.append(self._lookup(name.group()))
        return name.end()

    def _braced(self, text: str, start: int, out: list[str]) -> int:
        end = _closing_brace(text, start)
        if end < 0:
            self.errors.append("unterminated '${' (write '$$' for a literal dollar sign)")
            out.append(text[start - 2 :])
            return len(text)
        out.append(self._expression(text[start:end]))
        return end + 1

    def _expression(self, expr: str) -> str:
        name = _NAME.match(expr)
        if name is None:
            self.errors.append(f"invalid interpolation '${{{expr}}}': expected a variable name")
            return ""
        rest = expr[name.end() :]
        if not rest:
            return self._lookup(name.group())
        operator = next((op for op in _OPERATORS if rest.startswith(op)), None)
        if operator is None:
            self.errors.append(f"invalid interpolation '${{{expr}}}'")
            return ""
        return self._apply(name.group(), operator, rest[len(operator) :])

    def _apply(self, name: str, operator: str, arg: str) -> str:
        value = self.env.get(name)
        usable = bool(value) if operator.startswith(":") else value is not None
        if operator.endswith("-"):
            return value if usable and value is not None else self.expand(arg)
        if operator.endswith("+"):
            return self.expand(arg) if usable else ""
        if usable and value is not None:
            return value
        message = self.expand(arg)
        state = "is not set" if value is None else "is empty"
        self.errors.append(
            f"required variable {name} {state}" + (f": {message}" if message else "")
        )
        return ""

    def _lookup(self, name: str) -> str:
        value = self.env.get(name)
        if value is None:
            self.errors.append(
                f"variable {name} is not set (set it, or give a default: ${{{name}:-default}})"
            )
            return ""
        return value


def _closing_brace(text: str, start: int) -> int:
    """Index of the ``}`` closing a ``${`` whose body starts at ``start``; -1 if none."""
    depth = 1
    for index in range(start, len(text)):
        char = text[index]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
    return -1


def substitute(template: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """Interpolate one string; returns the result and the problems found (empty if none)."""
    expander = _Expander(env)
    result = expander.expand(template)
    return result, expander.errors


def interpolate_tree(
    data: Any,
    env: Mapping[str, str],
    origins: Origins,
    casts: Sequence[tuple[DocPath, Cast]] = (),
) -> tuple[Any, list[Problem]]:
    """Interpolate every string value of ``data`` (a new tree is returned).

    ``casts`` maps path patterns (``"*"`` matches any key or index) to converters applied to
    substituted values, e.g. ``(("servers", "*", "port"), int)``; a failed cast keeps the
    string (validation then says what is wrong).
    """
    walker = _TreeWalker(env, origins, casts)
    return walker.walk(data, ()), walker.problems


class _TreeWalker:
    def __init__(
        self, env: Mapping[str, str], origins: Origins, casts: Sequence[tuple[DocPath, Cast]]
    ) -> None:
        self.env, self.origins, self.casts = env, origins, casts
        self.problems: list[Problem] = []

    def walk(self, value: Any, path: DocPath) -> Any:
        if isinstance(value, dict):
            return {key: self.walk(item, (*path, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [self.walk(item, (*path, index)) for index, item in enumerate(value)]
        if not isinstance(value, str) or "$" not in value:
            return value
        result, errors = substitute(value, self.env)
        self.problems.extend(self.origins.problem(error, path) for error in errors)
        return result if errors else _cast(result, path, self.casts)


def _cast(value: str, path: DocPath, casts: Sequence[tuple[DocPath, Cast]]) -> Any:
    for pattern, convert in casts:
        if _matches(pattern, path):
            try:
                return convert(value)
            except ValueError:
                return value
    return value


def _matches(pattern: DocPath, path: DocPath) -> bool:
    if len(pattern) != len(path):
        return False
    return all(want == "*" or want == got for want, got in zip(pattern, path, strict=True))


# ---------------------------------------------------------------- .env files

_ASSIGNMENT = re.compile(r"[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.-]*)[ \t]*=[ \t]*(.*)")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def parse_env_file(text: str, file: str) -> tuple[dict[str, str], list[Problem]]:
    """Parse ``.env`` text; later assignments win.  Returns the values and any problems."""
    values: dict[str, str] = {}
    problems: list[Problem] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        start, index = index, index + 1
        if lines[start].strip() and not lines[start].lstrip().startswith("#"):
            index = _assignment(lines, start, file, values, problems)
    return values, problems


def _assignment(
    lines: list[str], start: int, file: str, values: dict[str, str], problems: list[Problem]
) -> int:
    """Parse the assignment on ``lines[start]``; returns the index of the next line."""
    match = _ASSIGNMENT.fullmatch(lines[start])
    if match is None:
        problems.append(Problem("expected KEY=VALUE", file, start + 1, 1))
        return start + 1
    key, rest = match.groups()
    index, error = start + 1, None
    if rest[:1] in ("'", '"'):
        value, index, error = _quoted(rest, lines, index)
    else:
        value = _strip_comment(rest)
    if error:
        problems.append(Problem(f"{key}: {error}", file, start + 1, match.start(2) + 1))
    else:
        values[key] = value
    return index


def _quoted(rest: str, lines: list[str], index: int) -> tuple[str, int, str | None]:
    """A quoted value starting at ``rest``, continued over ``lines[index:]`` if needed."""
    quote, body = rest[0], rest[1:]
    while (end := _closing_quote(body, quote)) < 0:
        if index >= len(lines):
            return "", index, f"unterminated {quote} quote"
        body += "\n" + lines[index]
        index += 1
    tail = body[end + 1 :].strip()
    if tail and not tail.startswith("#"):
        return "", index, "unexpected text after the closing quote"
    value = body[:end]
    return (_unescape(value) if quote == '"' else value), index, None


def _closing_quote(body: str, quote: str) -> int:
    if quote == "'":
        return body.find("'")
    index = 0
    while index < len(body):
        if body[index] == "\\":
            index += 2
            continue
        if body[index] == '"':
            return index
        index += 1
    return -1


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), value, flags=re.S)


def _strip_comment(rest: str) -> str:
    match = re.search(r"[ \t]#", rest)
    return (rest[: match.start()] if match else rest).strip()
