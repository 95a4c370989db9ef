"""Secret values: reading them, and the keyed digests that stand in for them everywhere else.

A secret comes from a variable (``{env: VAR}``: the shell over the env files) or a file
(``{file: path}``: its content, one trailing newline dropped).  It is read when a workloads
file loads (:func:`read_secret`, to make its digest) and when its container is made
(:func:`resolve_secret_value`).  Values are never printed nor stored: plans and run configs
hold :func:`secret_digest` HMACs under a local key, 32 random bytes in ``<ours>/secret.key``
(mode 0600, directory 0700), created atomically on first use (:func:`secret_key`).

Every value read is remembered (in this process only) so that text bound for a log or an
error report can be cleaned of it (:func:`redact`).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
from collections.abc import Mapping
from pathlib import Path

from .errors import Problem, SpecError, StateError
from .model import SecretRef

KEY_FILE = "secret.key"
KEY_SIZE = 32
_MAX_FILE = 1 << 20


_READ: set[str] = set()  # every secret value this process has read
REDACTED = "(sensitive)"


class Unavailable(Exception):
    """A referenced secret or profile cannot be used; ``str()`` says why, never the value."""


# ---------------------------------------------------------------- values


def read_secret(source: str, ref: str, environ: Mapping[str, str]) -> str:
    """The value of a secret; :class:`Unavailable` when it cannot be had."""
    if source == "env":
        if ref not in environ:
            raise Unavailable(f"environment variable {ref} is not set")
        value = environ[ref]
    else:
        text = read_text_file(ref)
        value = text[:-2] if text.endswith("\r\n") else text.removesuffix("\n")
    if value:
        _READ.add(value)
    return value


def redact(text: str) -> str:
    """``text`` with every secret value this process has read replaced by ``(sensitive)``."""
    for value in sorted(_READ, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text


def resolve_secret_value(ref: SecretRef, environ: Mapping[str, str] | None = None) -> str:
    """The current value of a secret (for the container being created); never logged."""
    env = os.environ if environ is None else environ
    try:
        return read_secret(ref.source, ref.ref, env)
    except Unavailable as exc:
        raise SpecError([Problem(f"secret '{ref.target}': {exc}")]) from None


def read_text_file(path: str) -> str:
    """A referenced file's text (a secret, a permission profile): UTF-8, at most 1 MiB;
    :class:`Unavailable` says why not."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(_MAX_FILE + 1)
    except OSError as exc:
        raise Unavailable(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > _MAX_FILE:
        raise Unavailable(f"{path} is larger than 1 MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise Unavailable(f"{path} is not UTF-8 text") from None


# ---------------------------------------------------------------- digests


def secret_digest(key: bytes, value: str) -> str:
    """Keyed digest of a secret value: comparable across runs, useless to brute-force."""
    return "hmac-sha256:" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def key_id(key: bytes) -> str:
    """A name for the key, and so for the state directory holding it, that reveals nothing of
    it: saved plans and observed-state files carry it to be used only where they were made."""
    return hmac.new(key, b"toolhive-compose state directory", hashlib.sha256).hexdigest()[:32]


def secret_key(ours: Path) -> bytes:
    """The local key for secret digests, created on first use."""
    path = ours / KEY_FILE
    try:
        if not path.exists():
            _create_key(ours, path)
        key = path.read_bytes()
    except OSError as exc:
        raise StateError(
            f"cannot use the secret-digest key {path}: {exc.strerror or exc}"
        ) from None
    if len(key) != KEY_SIZE:
        raise StateError(
            f"the secret-digest key {path} is damaged ({len(key)} bytes, expected {KEY_SIZE})",
            hint="delete it; a new one is made on the next run (every secret then shows a change)",
        )
    return key


def _create_key(ours: Path, path: Path) -> None:
    """Write a fresh key to a temp file, then hard-link it into place (first writer wins)."""
    ours.mkdir(mode=0o700, parents=True, exist_ok=True)
    temp = ours / f".{KEY_FILE}.{os.getpid()}.{os.urandom(4).hex()}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(os.urandom(KEY_SIZE))
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process won the race: use its key
            os.link(temp, path)
    finally:
        temp.unlink(missing_ok=True)
