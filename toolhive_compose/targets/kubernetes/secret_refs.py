"""Which Kubernetes Secret, and which key in it, holds each secret of the workloads file.

Values never travel: the file says where a value comes from, and the render names the Secret
the cluster must hold instead.  One Secret per source, shared by every server that uses it:

* ``{env: VAR}`` → Secret ``secret_name(VAR)``, key ``VAR`` (``GH_TOKEN`` → ``gh-token``,
  key ``GH_TOKEN``): ``kubectl create secret generic gh-token --from-literal=GH_TOKEN=…``;
* ``{file: path}`` → Secret ``secret_name(<file name>)``, key ``<file name>``
  (``./secrets/token.txt`` → ``token-txt``, key ``token.txt``):
  ``kubectl create secret generic token-txt --from-file=token.txt=./secrets/token.txt``;
* a ToolHive secret ``NAME`` (``thv export`` of a run config) → Secret ``secret_name(NAME)``,
  key ``NAME``.

Characters a Secret key cannot hold (anything but letters, digits, ``-``, ``_``, ``.``)
become ``_``.  When two different sources of one render have the same Secret name, both get
the hash suffix of their source (:func:`~.names.secret_name_with_suffix`).
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from ...model import SecretRef
from .names import secret_name, secret_name_with_suffix

_NOT_KEY = re.compile(r"[^-._A-Za-z0-9]")
Source = tuple[str, str]  # (source kind, reference)


@dataclass(frozen=True, slots=True)
class SecretKey:
    """A key of a Kubernetes Secret."""

    name: str  # the Secret's name
    key: str  # the key inside it


def source_of(ref: SecretRef) -> Source:
    return (ref.source, ref.ref)


def secret_keys(refs: Iterable[SecretRef]) -> dict[Source, SecretKey]:
    """The Secret and key of every source among ``refs``, by the rule above."""
    sources = sorted({source_of(ref) for ref in refs})
    friendly = {source: secret_name(_base(source)) for source in sources}
    taken = Counter(friendly.values())
    keys = {}
    for source in sources:
        name = friendly[source]
        if taken[name] > 1:
            name = secret_name_with_suffix(_base(source), ":".join(source))
        keys[source] = SecretKey(name, _key(_base(source)))
    return keys


def describe(source: Source) -> str:
    """How the file writes ``source``: ``{env: GH_TOKEN}``."""
    return f"{{{source[0]}: {source[1]}}}"


def _base(source: Source) -> str:
    kind, ref = source
    if kind == "file":
        return posixpath.basename(ref.rstrip("/")) or ref
    return ref


def _key(name: str) -> str:
    return _NOT_KEY.sub("_", name) or "value"
