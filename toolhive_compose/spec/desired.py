"""A validated document → :class:`DesiredState`, with every default filled in.

Secrets enter the desired state only as keyed digests
(:mod:`toolhive_compose.secrets`); the key is read only when some server has secrets.  A
portable load (``Context.portable``, for ``thv render``) reads no secret value and no key:
secrets are only their sources (digest ``""``), and volume host paths stay as written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import SpecError
from ..model import DEFAULT_GROUP, DesiredState, GroupSpec, Pairs, SecretRef, ServerSpec
from ..secrets import Unavailable, read_secret, secret_digest, secret_key
from .field_values import (
    BUILTIN_PROFILES,
    HTTP_TRANSPORTS,
    Context,
    absolute,
    parse_volume,
    project_name,
    read_profile,
    scalar_text,
    transport_of,
)
from .schema import canonical_json
from .source import Origins


def build_state(
    doc: Mapping[str, Any], origins: Origins, ctx: Context, files: Sequence[str], ours: Path
) -> DesiredState:
    """The desired state of a document that passed validation."""
    servers: Mapping[str, Any] = doc.get("servers") or {}
    builder = _Builder(origins, ctx, _pairs((doc.get("labels") or {}).items()))
    if not (ctx.portable or ctx.machine) and any(
        server.get("secrets") for server in servers.values()
    ):
        builder.key = secret_key(ours)
    specs = sorted((builder.server(name, raw) for name, raw in servers.items()), key=_name)
    return DesiredState(
        project=project_name(doc, ctx),
        servers=tuple(specs),
        groups=_groups(doc.get("groups") or {}),
        labels=builder.common_labels,
        files=tuple(files),
        secret_env=builder.secret_env,
    )


def _name(spec: ServerSpec) -> str:
    return spec.name


def _pairs(items: Iterable[tuple[str, Any]]) -> Pairs:
    return tuple(sorted((str(key), scalar_text(value)) for key, value in items))


def _groups(groups: Mapping[str, Any]) -> tuple[GroupSpec, ...]:
    return tuple(
        GroupSpec(
            name=name,
            description=str((body or {}).get("description", "")),
            clients=tuple(str(c) for c in (body or {}).get("clients") or ()),
        )
        for name, body in sorted(groups.items())
    )


class _Builder:
    """Turns each raw server mapping into a :class:`ServerSpec`."""

    def __init__(self, origins: Origins, ctx: Context, common_labels: Pairs) -> None:
        self.origins = origins
        self.ctx = ctx
        self.common_labels = common_labels
        self.key = b""
        self.secret_env: dict[str, str] = {}  # env-sourced secrets: variable -> value

    def server(self, name: str, raw: Mapping[str, Any]) -> ServerSpec:
        transport = transport_of(raw)
        remote = "url" in raw
        profile, profile_json = ("network", "") if remote else self._profile(name, raw)
        return ServerSpec(
            name=name,
            image=str(raw.get("image", "")),
            url=str(raw.get("url", "")),
            transport=transport,
            target_port=_port(raw.get("target_port")),
            port=_port(raw.get("port")),
            proxy_mode=transport if transport in HTTP_TRANSPORTS else _proxy_mode(raw),
            args=tuple(scalar_text(arg) for arg in raw.get("args", ())),
            env=_pairs((raw.get("env") or {}).items()),
            secrets=self._secrets(name, raw.get("secrets") or {}),
            volumes=tuple(self._volume(text) for text in raw.get("volumes", ())),
            labels=_pairs({**dict(self.common_labels), **(raw.get("labels") or {})}.items()),
            group=str(raw.get("group", DEFAULT_GROUP)),
            permission_profile=profile,
            permission_profile_json=profile_json,
            state=str(raw.get("state", "running")),
            tools=tuple(sorted(set(raw.get("tools") or ()))),
            tools_override=_overrides(raw.get("tools_override") or {}),
        )

    def _secrets(self, name: str, raw: Mapping[str, Any]) -> tuple[SecretRef, ...]:
        return tuple(self._secret(name, target, raw[target]) for target in sorted(raw))

    def _secret(self, name: str, target: str, raw: Mapping[str, str]) -> SecretRef:
        source, ref = next(iter(raw.items()))
        if self.ctx.portable:  # where the value comes from is all another machine needs
            return SecretRef(target=target, source=source, ref=ref, digest="")
        if source == "file":
            ref = absolute(ref, self.ctx)
        if self.ctx.machine is not None:  # the machine's digest of what its source holds
            digest = self.ctx.machine.secret_digest(source, ref)
            return SecretRef(target=target, source=source, ref=ref, digest=digest)
        try:
            value = read_secret(source, ref, self.ctx.environ)
        except Unavailable as exc:
            path = ("servers", name, "secrets", target)
            problem = self.origins.problem(f"secret '{target}': {exc}", path, at_key=True)
            raise SpecError([problem]) from None
        if source == "env":
            self.secret_env[ref] = value
        digest = secret_digest(self.key, value)
        return SecretRef(target=target, source=source, ref=ref, digest=digest)

    def _volume(self, text: str) -> str:
        host, container, mode = parse_volume(text)
        suffix = ":ro" if mode == "ro" else ""
        host = host if self.ctx.portable else absolute(host, self.ctx)
        return f"{host}:{container}{suffix}"

    def _profile(self, name: str, raw: Mapping[str, Any]) -> tuple[str, str]:
        value = raw.get("permission_profile", "network")
        if isinstance(value, dict):
            return "inline", canonical_json(value)
        if value in BUILTIN_PROFILES:
            kind, profile = BUILTIN_PROFILES[value]
            return kind, canonical_json(profile)
        try:
            file, content = read_profile(value, self.ctx)
            return file, canonical_json(content)
        except Unavailable as exc:
            where = ("servers", name, "permission_profile")
            raise SpecError([self.origins.problem(f"permission profile: {exc}", where)]) from None


def _port(value: Any) -> int | None:
    """JSON Schema integers include 8080.0; the spec holds ints."""
    return None if value is None else int(value)


def _overrides(raw: Mapping[str, Any]) -> tuple[tuple[str, str, str], ...]:
    """``{actual: {name, description}}`` → sorted (actual, name, description) triples."""
    return tuple(
        (actual, str(body.get("name") or ""), str(body.get("description") or ""))
        for actual, body in sorted(raw.items())
    )


def _proxy_mode(raw: Mapping[str, Any]) -> str:
    return str(raw.get("proxy_mode", "streamable-http"))
