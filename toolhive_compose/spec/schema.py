"""The JSON Schema of workloads files: where it lives, and validation into readable problems.

The schema is found next to the package when installed (``toolhive_compose/_schemas/``,
force-included into the wheel) or in ``schemas/`` of a source checkout.

``jsonschema`` is slow to import, so it is imported only when a document actually needs
validating: a document that validated once leaves a marker file named after
``sha256(schema bytes + canonical JSON of the document)`` in the cache directory, and the
next run with the same document skips validation entirely.

Schema keywords may carry a non-standard ``errorMessage`` (understood by several editors);
it replaces the generic sentence for every failing keyword of that schema object except
``type``.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import ThvError
from .source import DocPath

SCHEMA_NAME = "workloads.schema.json"
_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "object": "a mapping",
    "array": "a list",
    "null": "empty",
}


class Issue(NamedTuple):
    """One schema violation, not yet located in a file."""

    path: DocPath
    message: str
    at_key: bool = False  # point at the key (unknown key, bad name, whole mapping)
    validator: str = ""  # the failing JSON Schema keyword


def _to_bool(text: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError(text)
    return text == "true"


# Values the schema wants as integers or booleans, converted back after interpolation.
_PROFILE = ("servers", "*", "permission_profile")
TYPE_CASTS: tuple[tuple[DocPath, Callable[[str], Any]], ...] = (
    (("servers", "*", "port"), int),
    (("servers", "*", "target_port"), int),
    ((*_PROFILE, "network", "outbound", "allow_port", "*"), int),
    ((*_PROFILE, "network", "outbound", "insecure_allow_all"), _to_bool),
    ((*_PROFILE, "privileged"), _to_bool),
)


def did_you_mean(word: object, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest candidate, or ``""``."""
    if not isinstance(word, str):
        return ""
    import difflib

    options = {c.lower(): c for c in sorted(set(candidates), reverse=True)}
    close = difflib.get_close_matches(word.lower(), list(options), n=1, cutoff=0.6)
    return f" (did you mean '{options[close[0]]}'?)" if close else ""


@functools.cache
def schema_path() -> Path:
    """The schema file: the installed copy, else the source checkout's."""
    package = Path(__file__).parent.parent
    candidates = (package / "_schemas" / SCHEMA_NAME, package.parent / "schemas" / SCHEMA_NAME)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    message = f"the workloads schema is missing (looked for {looked})"
    raise ThvError(message, hint="reinstall toolhive-compose")


@functools.cache
def schema_bytes() -> bytes:
    return schema_path().read_bytes()


def schema_text() -> str:
    """The schema as text (for ``thv schema`` and editors)."""
    return schema_bytes().decode("utf-8")


@functools.cache
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(schema_bytes())
    return loaded


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def validate(
    instance: Any, *, cache_dir: Path | None = None, definition: str | None = None
) -> list[Issue]:
    """Validate against the schema (or its ``$defs/<definition>``); ``[]`` when valid."""
    marker = _marker(instance, cache_dir, definition)
    if marker is not None and marker.exists():
        return []
    issues = _collect(_validator(definition).iter_errors(instance))
    if not issues and marker is not None:
        _touch(marker)
    return issues


def _marker(instance: Any, cache_dir: Path | None, definition: str | None) -> Path | None:
    if cache_dir is None:
        return None
    digest = hashlib.sha256(schema_bytes())
    digest.update(f"\0{definition or ''}\0{canonical_json(instance)}".encode())
    return cache_dir / "validated" / digest.hexdigest()


def _touch(marker: Path) -> None:
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:
        pass  # a cache that cannot be written only costs time


@functools.cache
def _validator(definition: str | None) -> Any:
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    if definition is None:
        return validator
    return validator.evolve(schema=schema()["$defs"][definition])


def _collect(errors: Iterable[Any]) -> list[Issue]:
    """Translate errors; drop the others at a path that already has a type error."""
    issues = [issue for error in errors for issue in _translate(error)]
    typed = {i.path for i in issues if i.validator == "type"}
    return [i for i in issues if i.path not in typed or i.validator == "type"]


def _translate(error: Any) -> list[Issue]:
    path: DocPath = tuple(error.absolute_path)
    spec = error.schema if isinstance(error.schema, dict) else {}
    if "propertyNames" in error.absolute_schema_path:
        return [Issue((*path, str(error.instance)), _message(error, spec), True, "propertyNames")]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        extra = _extra(error, spec)
        return [Issue((*path, key), _unknown(key, spec), True, error.validator) for key in extra]
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [k for k in error.validator_value if k not in error.instance]
        return [Issue(path, f"missing required key '{key}'", True, "required") for key in missing]
    at_key = isinstance(error.instance, dict | list)
    return [Issue(path, _message(error, spec), at_key, str(error.validator))]


def _extra(error: Any, spec: dict[str, Any]) -> list[str]:
    import re

    known = spec.get("properties", {})
    patterns = [re.compile(p) for p in spec.get("patternProperties", {})]
    return [
        key
        for key in error.instance
        if key not in known and not any(p.search(key) for p in patterns)
    ]


def _unknown(key: str, spec: dict[str, Any]) -> str:
    return f"unknown key '{key}'" + did_you_mean(key, spec.get("properties", {}))


def _message(error: Any, spec: dict[str, Any]) -> str:
    validator, value, instance = error.validator, error.validator_value, error.instance
    if validator == "type":
        return _type_message(value, instance)
    custom = spec.get("errorMessage")
    if validator == "enum":
        text = (custom or _one_of(value)).replace("{value}", str(instance))
        return text + did_you_mean(instance, map(str, value))
    if custom:
        return str(custom)
    if validator == "uniqueItems" and isinstance(instance, list):
        seen = [v for i, v in enumerate(instance) if v in instance[:i]]
        return f"lists {seen[0]!r} more than once" if seen else "lists a value more than once"
    return _generic(validator, value, error.message)


def _one_of(values: Sequence[Any]) -> str:
    return "must be one of " + ", ".join(str(v) for v in values)


def _generic(validator: str, value: Any, fallback: str) -> str:
    messages = {
        "minimum": f"must be at least {value}",
        "maximum": f"must be at most {value}",
        "minLength": "must not be empty" if value == 1 else f"must have {value} characters or more",
        "maxLength": f"must have at most {value} characters",
        "const": f"must be {value!r}",
        "pattern": f"must match the pattern {value}",
    }
    return messages.get(validator, fallback)


def _type_message(expected: str | list[str], instance: Any) -> str:
    names = [_TYPE_NAMES.get(t, t) for t in ([expected] if isinstance(expected, str) else expected)]
    wanted = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    return f"must be {wanted}, not {_kind(instance)}"


def _kind(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a mapping" if isinstance(value, dict) else "a list"
