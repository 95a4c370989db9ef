"""A client's configuration file as a document of server entries, whatever its format.

:func:`open_document` parses the text (JSON with comments, YAML or TOML, per the client)
and gives the entries under the client's servers key; ``upsert`` and ``remove`` edit the text
in place (see :mod:`.jsonc`, :mod:`.yaml_edit`, :mod:`.toml_edit`), keeping every other byte.
Pure (no I/O).
"""

from __future__ import annotations

from typing import Any, Protocol

from . import jsonc
from .catalog import ClientApp
from .toml_edit import TomlDocument, TomlError
from .yaml_edit import YamlDocument, YamlError

BOM = "\ufeff"
FORMAT_NAMES = {"json": "JSON", "yaml": "YAML", "toml": "TOML"}


class DocumentError(ValueError):
    """The file cannot be read as the client's configuration; ``str()`` completes a sentence
    that starts with the file's path (``… is not valid JSON: line 2, column 3: …``)."""


class _Editor(Protocol):
    text: str

    def entries(self) -> dict[str, Any]: ...
    def upsert(self, name: str, entry: dict[str, Any]) -> bool: ...
    def remove(self, name: str, *, drop_key: bool = False) -> None: ...


class JsonDocument:
    """A JSON (or JSONC) file whose top-level ``key`` object holds the servers by name."""

    def __init__(self, text: str, key: str) -> None:
        self.key = key
        self.style = jsonc.Style.of(text)
        self._load(text)

    def _load(self, text: str) -> None:
        root = jsonc.parse(text)
        if root is None:
            text = "{}" + self.style.newline
            root = jsonc.parse(text)
        assert root is not None
        if root.members is None:
            raise DocumentError("is not a JSON object at the top level")
        self.text, self.root = text, root
        found = [m for m in root.members if m.key == self.key]
        self.member = found[-1] if found else None
        if self.member is not None and self.member.value.members is None:
            raise DocumentError(f"has '{self.key}' that is not an object")

    def entries(self) -> dict[str, Any]:
        return dict(self.member.value.data) if self.member else {}

    def upsert(self, name: str, entry: dict[str, Any]) -> bool:
        if self.member is None:
            self._load(
                jsonc.insert_member(self.text, self.root, self.key, {name: entry}, self.style)
            )
            return True
        servers = self.member.value
        assert servers.members is not None
        found = [m for m in servers.members if m.key == name]
        if found:
            text = jsonc.replace_value(self.text, found[-1], entry, self.style)
        else:
            text = jsonc.insert_member(self.text, servers, name, entry, self.style)
        self._load(text)
        return False

    def remove(self, name: str, *, drop_key: bool = False) -> None:
        if self.member is None:
            return
        servers = self.member.value
        assert servers.members is not None
        while any(m.key == name for m in servers.members):  # duplicates too: JSON keeps the last
            if drop_key and len(servers.members) == 1:
                position = self.root.members.index(self.member)  # type: ignore[union-attr]
                self._load(jsonc.remove_member(self.text, self.root, position))
                return
            index = max(i for i, m in enumerate(servers.members) if m.key == name)
            self._load(jsonc.remove_member(self.text, servers, index))
            if self.member is None:
                return
            servers = self.member.value
            assert servers.members is not None


class Document:
    """A client file's text and its server entries."""

    def __init__(self, app: ClientApp, text: str) -> None:
        self.app = app
        self.bom = text.startswith(BOM)
        body = text[1:] if self.bom else text
        self._editor = _guarded(lambda: _editor(app, body), app)

    @property
    def text(self) -> str:
        return (BOM if self.bom else "") + self._editor.text

    def entries(self) -> dict[str, Any]:
        return self._editor.entries()

    def entry(self, name: str) -> Any:
        return self.entries().get(name)

    def upsert(self, name: str, entry: dict[str, Any]) -> bool:
        """Add or replace ``name``'s entry; True when the servers key was created for it."""
        return _guarded(lambda: self._editor.upsert(name, entry), self.app)

    def remove(self, name: str, *, drop_key: bool = False) -> None:
        """Remove ``name``'s entry; ``drop_key`` also removes the servers key left empty."""
        _guarded(lambda: self._editor.remove(name, drop_key=drop_key), self.app)


def open_document(app: ClientApp, text: str) -> Document:
    """``text`` as ``app``'s configuration; :class:`DocumentError` when it is not."""
    return Document(app, text)


def _editor(app: ClientApp, text: str) -> _Editor:
    if app.format == "yaml":
        return YamlDocument(text, app.servers_key, listed=app.listed)
    if app.format == "toml":
        return TomlDocument(text, app.servers_key, listed=app.listed)
    return JsonDocument(text, app.servers_key)


def _guarded(step: Any, app: ClientApp) -> Any:
    try:
        return step()
    except (jsonc.JsoncError, YamlError, TomlError) as exc:
        detail = str(exc)
        if detail.startswith(("is not a ", "has ", "holds ")):
            raise DocumentError(detail) from None
        raise DocumentError(f"is not valid {FORMAT_NAMES[app.format]}: {detail}") from None
