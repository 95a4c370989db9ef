"""The MCP clients we can register servers in, as facts read from ToolHive's client table
(``pkg/client/config.go``): where each keeps its MCP configuration, the key that holds the
servers, and the shape of one entry.  Pure data and pure functions (no I/O): the loader
validates names against it, the planner builds entries from it, the editor writes them.

Paths are ToolHive's: the home directory plus a literal prefix per platform (``.config`` on
Linux, ``Library/Application Support`` on macOS), never ``$XDG_CONFIG_HOME``.  A client is
*installed* when the directory of its file exists (Claude Code: the file itself).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

SSE = "sse"
STREAMABLE = "streamable-http"
PLATFORMS = ("linux", "darwin")
_LINUX_CONFIG = (".config",)
_MAC_SUPPORT = ("Library", "Application Support")
_HTTP = {SSE: "sse", STREAMABLE: "http"}
_DASHED = {SSE: "sse", STREAMABLE: "streamable-http"}


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientApp:
    """One MCP client: its configuration file and how a server entry looks there."""

    name: str
    description: str
    path: tuple[str, ...]  # below the home directory, on Linux
    mac_path: tuple[str, ...] = ()  # on macOS, when it differs
    format: str = "json"  # json (JSONC accepted) | yaml | toml
    servers_key: str = "mcpServers"  # the one top-level key holding the servers
    listed: bool = False  # servers are a list of tables/mappings identified by ``name``
    url_fields: dict[str, str] = field(default_factory=dict)  # kind -> field; default "url"
    types: dict[str, str] | None = None  # kind -> transport label; None = no type written
    type_key: str = "type"
    named: bool = False  # the entry repeats its server name (``name:``)
    defaults: tuple[tuple[str, Any], ...] = ()  # extra fields of a new entry
    deprecated: str = ""  # why, for a client ToolHive has deprecated

    def file_parts(self, platform: str) -> tuple[str, ...]:
        return self.mac_path if platform == "darwin" and self.mac_path else self.path

    def url_field(self, kind: str) -> str:
        return self.url_fields.get(kind, "url")


def _config_dir(name: str, description: str, parts: tuple[str, ...], **more: Any) -> ClientApp:
    """A client whose file is under ``~/.config`` on Linux, ``~/Library/Application Support``
    on macOS."""
    path, mac_path = (*_LINUX_CONFIG, *parts), (*_MAC_SUPPORT, *parts)
    return ClientApp(name=name, description=description, path=path, mac_path=mac_path, **more)


_EXT = ("Code", "User", "globalStorage")
CLIENTS: dict[str, ClientApp] = {
    app.name: app
    for app in (
        ClientApp(name="amp-cli", description="Sourcegraph Amp CLI",
                  path=(".config", "amp", "settings.json"), servers_key="amp.mcpServers",
                  types=_HTTP),
        ClientApp(name="antigravity", description="Google Antigravity IDE",
                  path=(".gemini", "antigravity", "mcp_config.json"),
                  url_fields={SSE: "serverUrl", STREAMABLE: "serverUrl"}),
        ClientApp(name="claude-code", description="Claude Code CLI", path=(".claude.json",),
                  types=_HTTP),
        _config_dir("cline", "VS Code Cline extension",
                    (*_EXT, "saoudrizwan.claude-dev", "settings", "cline_mcp_settings.json"),
                    types={SSE: "sse", STREAMABLE: "streamableHttp"}),
        ClientApp(name="codex", description="OpenAI Codex CLI",
                  path=(".codex", "config.toml"), format="toml", servers_key="mcp_servers"),
        ClientApp(name="continue", description="Continue.dev IDE plugins",
                  path=(".continue", "config.yaml"), format="yaml", listed=True, named=True,
                  types=_DASHED),
        ClientApp(name="copilot-cli", description="GitHub Copilot CLI",
                  path=(".copilot", "mcp-config.json"), types=_HTTP),
        ClientApp(name="cursor", description="Cursor editor", path=(".cursor", "mcp.json"),
                  types=_HTTP),
        ClientApp(name="factory", description="Factory.ai Droid CLI",
                  path=(".factory", "mcp.json"), types=_HTTP),
        ClientApp(name="gemini-cli", description="Google Gemini CLI",
                  path=(".gemini", "settings.json"), url_fields={STREAMABLE: "httpUrl"}),
        ClientApp(name="goose", description="Goose AI agent",
                  path=(".config", "goose", "config.yaml"), format="yaml",
                  servers_key="extensions", named=True, url_fields={SSE: "uri", STREAMABLE: "uri"},
                  types={SSE: "sse", STREAMABLE: "streamable_http"},
                  defaults=(("enabled", True), ("timeout", 60), ("description", ""))),
        ClientApp(name="kimi-cli", description="Kimi Code CLI", path=(".kimi", "mcp.json")),
        ClientApp(name="kiro", description="Kiro AI IDE", path=(".kiro", "settings", "mcp.json")),
        ClientApp(name="lm-studio", description="LM Studio application",
                  path=(".lmstudio", "mcp.json"), types=_HTTP),
        ClientApp(name="mistral-vibe", description="Mistral Vibe IDE",
                  path=(".vibe", "config.toml"), format="toml", servers_key="mcp_servers",
                  listed=True, named=True, type_key="transport",
                  types={SSE: "http", STREAMABLE: "streamable-http"}),
        ClientApp(name="opencode", description="OpenCode editor",
                  path=(".config", "opencode", "opencode.json"), servers_key="mcp",
                  types={SSE: "remote", STREAMABLE: "remote"}),
        ClientApp(name="qoder", description="Qoder IDE", path=(".qoder", "mcp.json"),
                  types=_HTTP),
        _config_dir("roo-code", "VS Code Roo Code extension",
                    (*_EXT, "rooveterinaryinc.roo-cline", "settings", "mcp_settings.json"),
                    types=_DASHED,
                    deprecated="the Roo Code extension has been discontinued; ToolHive "
                    "recommends Cline (client 'cline')"),
        _config_dir("trae", "Trae IDE", ("Trae", "User", "mcp.json")),
        _config_dir("vscode", "Visual Studio Code", ("Code", "User", "mcp.json"),
                    servers_key="servers", types=_HTTP),
        _config_dir("vscode-insider", "Visual Studio Code Insiders",
                    ("Code - Insiders", "User", "mcp.json"), servers_key="servers", types=_HTTP),
        ClientApp(name="vscode-server",
                  description="Microsoft's VS Code Server (remote development)",
                  path=(".vscode-server", "data", "User", "mcp.json"), servers_key="servers"),
        ClientApp(name="windsurf", description="Windsurf IDE",
                  path=(".codeium", "windsurf", "mcp_config.json"),
                  url_fields={SSE: "serverUrl", STREAMABLE: "serverUrl"}, types=_HTTP),
        ClientApp(name="windsurf-jetbrains", description="Windsurf plugin for JetBrains IDEs",
                  path=(".codeium", "mcp_config.json"),
                  url_fields={SSE: "serverUrl", STREAMABLE: "serverUrl"}, types=_HTTP),
        ClientApp(name="zed", description="Zed editor", path=(".config", "zed", "settings.json"),
                  servers_key="context_servers"),
    )
}  # fmt: skip
CLIENT_NAMES = tuple(sorted(CLIENTS))


def config_path(app: ClientApp, home: str, platform: str) -> str:
    """The client's MCP configuration file under ``home`` (ToolHive's buildConfigFilePath)."""
    return "/".join((home.rstrip("/") or "", *app.file_parts(platform)))


def install_marker(app: ClientApp, home: str, platform: str) -> str:
    """What must exist for the client to count as installed: the file's directory, or for a
    file right in the home directory (Claude Code's ``~/.claude.json``) the file itself."""
    parts = app.file_parts(platform)
    return "/".join((home.rstrip("/") or "", *(parts[:-1] if len(parts) > 1 else parts)))


def entry(app: ClientApp, server: str, url: str, kind: str) -> dict[str, Any]:
    """The entry ToolHive's buildMCPServer writes for a server reached at ``url``; ``kind`` is
    what the URL speaks (``sse`` or ``streamable-http``)."""
    doc: dict[str, Any] = {"name": server} if app.named else {}
    doc[app.url_field(kind)] = url
    if app.types is not None:
        doc[app.type_key] = app.types[kind]
    for key, value in app.defaults:
        doc.setdefault(key, value)
    return doc


def servers_by_name(servers: Any, *, listed: bool) -> dict[str, Any]:
    """The entries under a servers key by server name: a mapping as it is, or (``listed``) the
    items of a list that carry a ``name``."""
    if not servers:
        return {}
    if listed:
        return {
            str(item["name"]): item
            for item in servers
            if isinstance(item, dict) and item.get("name") is not None
        }
    return {str(k): v for k, v in servers.items()}


def location(app: ClientApp, server: str) -> str:
    """Where the entry sits in the file, for plans: ``mcpServers.fetch``,
    ``mcpServers[name=fetch]``."""
    if app.listed:
        return f"{app.servers_key}[name={server}]"
    return f"{app.servers_key}.{server}"


# -- the URL a client is given ---------------------------------------------------------------
_URL_PATH = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*([^?#]*)")
_UNRESERVED = re.compile(r"[^A-Za-z0-9._~-]")


def proxy_url(
    port: int, mode: str, name: str, remote_url: str = "", host: str = "127.0.0.1"
) -> str:
    """ToolHive's GenerateMCPServerURL: the proxy's URL for a workload whose proxy speaks
    ``mode`` (``sse`` or ``streamable-http``).  SSE URLs carry the name as a fragment; a
    remote server keeps its URL's path."""
    base = f"http://{host}:{port}"
    fragment = "#" + _UNRESERVED.sub(lambda m: "".join(f"%{b:02X}" for b in m[0].encode()), name)
    if remote_url:
        match = _URL_PATH.match(remote_url)
        path = match[1] if match and match[1] != "/" else ""
        return f"{base}{path or '/sse'}{fragment}" if mode == SSE else base + path
    if mode == SSE:
        return f"{base}/sse{fragment}"
    return f"{base}/mcp"


def entry_digest(entry: Any) -> str:
    """What an entry is, for telling a hand edit from what was written: sha256 of its
    canonical JSON."""
    blob = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()
