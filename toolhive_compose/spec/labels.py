"""Kubernetes label rules, as ToolHive applies them to ``--label`` and ``-l`` filters."""

from __future__ import annotations

import re

from ..errors import ThvError

_NAME = re.compile(r"^[A-Za-z0-9]([-_.A-Za-z0-9]*[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def key_problem(key: str) -> str | None:
    """Why ``key`` is not a valid label key, or None."""
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return (
            f"label key {key!r} has an invalid prefix (a DNS subdomain of at most 253 characters)"
        )
    if not name or len(name) > 63 or not _NAME.match(name):
        return (
            f"label key {key!r} is invalid (at most 63 characters: letters, digits, '-', '_', "
            "'.', starting and ending with a letter or digit)"
        )
    return None


def value_problem(value: str) -> str | None:
    """Why ``value`` is not a valid label value, or None."""
    if value and (len(value) > 63 or not _NAME.match(value)):
        return (
            f"label value {value!r} is invalid (at most 63 characters: letters, digits, '-', "
            "'_', '.', starting and ending with a letter or digit)"
        )
    return None


def parse_label(text: str, *, what: str = "label") -> tuple[str, str]:
    """Parse ``key=value``; a bad one is an error, never skipped silently."""
    key, eq, value = text.partition("=")
    key, value = key.strip(), value.strip()
    if not eq:
        raise ThvError(f"invalid {what} {text!r}: expected key=value")
    problem = key_problem(key) or value_problem(value)
    if problem:
        raise ThvError(f"invalid {what} {text!r}: {problem}")
    return key, value
