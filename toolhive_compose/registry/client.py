"""MCP server registries in the upstream MCP registry format, read the way ToolHive reads them.

A registry is a JSON document ``{"data": {"servers": [server.json, …]}}``; each server is an
upstream ``server.json`` with one OCI package (a container image) or ``remotes`` (a remote
server).  ToolHive's own extras (permissions, args, proxy port, tags…) live under
``_meta["io.modelcontextprotocol.registry/publisher-provided"]["io.github.stacklok"][<image or
url>]``.  The legacy ToolHive layout (top-level ``servers``) is refused with ToolHive's hint.
The format is :mod:`.upstream_format`, the entries and errors :mod:`.types`.

Where the registry is (:func:`choose`): ``--registry``, else the workloads file's ``registry:``,
else ``$THV_REGISTRY``, else ToolHive's ``config.yaml`` (``registry_url``, then
``local_registry_path``).  A location is a file path or an http(s) URL (read with urllib).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from .types import Registry, RegistryError, is_url
from .upstream_format import parse_registry

ENV_VAR = "THV_REGISTRY"
MAX_BYTES = 32 << 20
FETCH_TIMEOUT = 30.0


# -- where -------------------------------------------------------------------------------------
def location_of(text: str, base_dir: Path, environ: Mapping[str, str] | None = None) -> str:
    """A URL as is; a path made absolute (``~`` is the home directory, else from base_dir)."""
    if is_url(text):
        return text
    if text == "~" or text.startswith("~/"):
        env = os.environ if environ is None else environ
        text = (env.get("HOME") or os.path.expanduser("~")) + text[1:]
    return os.path.normpath(os.path.join(base_dir, text))


def choose(
    explicit: str | None,
    file_value: str | None,
    base_dir: Path,
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """The registry location in force, or None when nothing names one."""
    env = os.environ if environ is None else environ
    if explicit:
        return location_of(explicit, Path.cwd(), env)
    if file_value:
        return location_of(file_value, base_dir, env)
    if env.get(ENV_VAR):
        return location_of(env[ENV_VAR], Path.cwd(), env)
    return toolhive_configured(env)


def toolhive_configured(environ: Mapping[str, str]) -> str | None:
    """The registry ToolHive's ``config.yaml`` names: ``registry_url``, else the local path."""
    config_home = environ.get("XDG_CONFIG_HOME") or os.path.join(
        environ.get("HOME") or os.path.expanduser("~"), ".config"
    )
    path = Path(config_home) / "toolhive" / "config.yaml"
    try:
        import yaml

        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise RegistryError(f"cannot read ToolHive's config {path}: {exc}") from None
    if not isinstance(doc, dict):
        return None
    for key in ("registry_url", "local_registry_path"):
        if isinstance(doc.get(key), str) and doc[key]:
            return location_of(doc[key], path.parent, environ)
    if doc.get("registry_api_url"):
        raise RegistryError(
            f"ToolHive's config {path} names a registry API server (registry_api_url), "
            "which toolhive-compose cannot read",
            hint="pass --registry PATH|URL with a registry file",
        )
    return None


# -- reading -----------------------------------------------------------------------------------
_CACHE: dict[tuple[str, int, int], Registry] = {}


def load(location: str) -> Registry:
    """Read and parse the registry at ``location`` (cached per process by file version)."""
    if is_url(location):
        key = (location, 0, 0)
        if key not in _CACHE:
            _CACHE[key] = parse(_fetch(location), location)
        return _CACHE[key]
    try:
        stat = os.stat(location)
        key = (location, stat.st_mtime_ns, stat.st_size)
        if key not in _CACHE:
            _CACHE[key] = parse(_read(location), location)
    except OSError as exc:
        reason = "file not found" if isinstance(exc, FileNotFoundError) else exc.strerror
        raise RegistryError(f"cannot read the registry {location}: {reason or exc}") from None
    return _CACHE[key]


def parse(data: bytes, location: str) -> Registry:
    """A registry document → :class:`Registry` (see :mod:`.upstream_format`)."""
    return parse_registry(data, location)


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        data = handle.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise RegistryError(f"the registry {path} is larger than {MAX_BYTES >> 20} MiB")
    return data


def _fetch(url: str) -> bytes:
    import urllib.error  # only when a registry is fetched: urllib.request costs ~30 ms
    import urllib.request

    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:
            data: bytes = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise RegistryError(
            f"cannot fetch the registry {url}: HTTP {exc.code} {exc.reason}"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise RegistryError(f"cannot fetch the registry {url}: {reason}") from None
    if len(data) > MAX_BYTES:
        raise RegistryError(f"the registry {url} is larger than {MAX_BYTES >> 20} MiB")
    return data
