"""Kubernetes names for the workloads file's names: one documented rule, and never two alike.

Objects (servers, groups) — :func:`object_name`:

1. a name that already is a DNS-1123 label (lowercase letters, digits and ``-``, starting and
   ending with a letter or digit) no longer than the kind's limit is kept as it is;
2. any other name is lowercased, each run of other characters than ``a-z0-9`` becomes one
   ``-``, ends are trimmed of ``-``, it is cut to leave room, and ``-`` plus the first six hex
   digits of the SHA-256 of the original name is appended (``My_Server`` →
   ``my-server-7115d5``).  A mapped name therefore never equals the name it came from, two
   names differing only in case or punctuation map apart, and the result depends on that
   one name only (adding a server never renames another).  Should two names still meet
   (a name written like another's mapping), the render refuses them, naming both.

The limits leave room for what the operator derives from a name: an ``MCPServer`` ``N``
gets the Services ``mcp-N-proxy`` and ``mcp-N-headless``, an ``MCPRemoteProxy``
``mcp-N-remote-proxy``, and a Service name is at most 63 characters.

Secrets — :func:`secret_name`: the variable's (or file's) name lowercased, each run of other
characters than ``a-z0-9`` as one ``-``, trimmed (``GH_TOKEN`` → ``gh-token``), since people
type these names into ``kubectl create secret``; only when two different sources of one
render meet does each of them get the hash suffix of its source.
"""

from __future__ import annotations

import hashlib
import re

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
SERVER_LIMIT = 50  # 63 - len("mcp-") - len("-headless")
REMOTE_LIMIT = 46  # 63 - len("mcp-") - len("-remote-proxy")
LABEL_LIMIT = 63  # groups, tool configs, secrets; namespaces
SUFFIX = 6  # hex digits of the hash suffix
_OTHER = re.compile(r"[^a-z0-9]+")


def is_label(name: str, limit: int = LABEL_LIMIT) -> bool:
    """``name`` is a DNS-1123 label of at most ``limit`` characters."""
    return len(name) <= limit and DNS_LABEL.match(name) is not None


def object_name(name: str, limit: int = LABEL_LIMIT) -> str:
    """The object name for the file's ``name`` (rule 1, else rule 2 above)."""
    if is_label(name, limit):
        return name
    return _with_suffix(_dashed(name), name, limit)


def secret_name(name: str, limit: int = LABEL_LIMIT) -> str:
    """The friendly Secret name for a variable or file name (``GH_TOKEN`` → ``gh-token``)."""
    return _dashed(name)[:limit].rstrip("-") or "secret"


def secret_name_with_suffix(name: str, source: str, limit: int = LABEL_LIMIT) -> str:
    """The Secret name when another source of the render has the same friendly name."""
    return _with_suffix(_dashed(name), source, limit)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:SUFFIX]


def _dashed(name: str) -> str:
    return _OTHER.sub("-", name.lower()).strip("-")


def _with_suffix(base: str, identity: str, limit: int) -> str:
    base = base[: limit - SUFFIX - 1].rstrip("-")
    return f"{base}-{digest(identity)}" if base else digest(identity)


def label_value_problem(value: str) -> str | None:
    """Why ``value`` cannot be a label value, or None."""
    if len(value) <= LABEL_LIMIT and LABEL_VALUE.match(value):
        return None
    return (
        "is not a valid Kubernetes label value (at most 63 letters, digits, '-', '_' and '.', "
        "starting and ending with a letter or digit)"
    )


def namespace_problem(namespace: str) -> str | None:
    """Why ``namespace`` is not a namespace name (a DNS-1123 label), or None."""
    if is_label(namespace):
        return None
    return (
        f"invalid namespace {namespace!r}: a namespace name is at most 63 lowercase letters, "
        "digits and '-', starting and ending with a letter or digit"
    )
