"""Upgrade checks of registry-sourced workloads, as ToolHive's ``thv upgrade check`` does them.

:func:`check` is pure: a run config and a loaded registry in, an :class:`UpgradeResult` out;
nothing is pulled.  :class:`Registries` reads the registry each workload is checked against
(for ``thv upgrade``, ``thv list --check-upgrades`` and, with :func:`plan_upgrades`, ``thv plan
--check-upgrades``).

- no ``registry_server_name`` → ``not-registry-sourced``; the name not in the registry →
  ``server-not-found``; a registry that cannot be read, a remote entry, a different repository,
  ``latest`` on either side or unequal tags that are not both semver → ``unknown`` with a reason;
- otherwise the tags are compared as semantic versions (``1.2.3`` and ``v1.2.3`` are equal,
  ``1.2`` is ``1.2.0``; build metadata is ignored): ``upgrade-available`` when the registry's
  is newer, else ``up-to-date``;
- with an upgrade available, the registry's env vars the workload does not set
  (``env_var_drift.added``; secret defaults blanked) and posture changes
  (``config_drift``: transport, permission profile) are reported.  They are only reported:
  an upgrade keeps the workload's own settings.

:func:`spec_from_runconfig` rebuilds the :class:`ServerSpec` a run config describes, for an
upgrade that changes nothing but the image.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import semver

from ..errors import ThvError
from ..model import SecretRef, ServerSpec
from ..registry.client import choose, load
from ..registry.types import Entry, Registry, RegistryError
from ..state.runconfig_spec import canonical_from_runconfig

if TYPE_CHECKING:
    from ..model import DesiredState
    from ..plan.actions import Action, Plan
    from ..runtime import Runtime

UP_TO_DATE = "up-to-date"
AVAILABLE = "upgrade-available"
NOT_REGISTRY = "not-registry-sourced"
NOT_FOUND = "server-not-found"
UNKNOWN = "unknown"
_DEFAULT_HOST = "index.docker.io"


@dataclass(frozen=True, slots=True, kw_only=True)
class UpgradeResult:
    """ToolHive's CheckResult: ``to_dict()`` is its JSON (empty fields left out)."""

    workload_name: str
    status: str
    registry_server: str = ""
    current_image: str = ""
    candidate_image: str = ""
    reason: str = ""
    env_var_drift: dict[str, Any] | None = None
    config_drift: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"workload_name": self.workload_name}
        if self.registry_server:
            doc["registry_server"] = self.registry_server
        doc["status"] = self.status
        for key in ("current_image", "candidate_image", "reason", "env_var_drift"):
            if getattr(self, key):
                doc[key] = getattr(self, key)
        if self.config_drift:
            doc["config_drift"] = self.config_drift
        return doc


def check(rc: Mapping[str, Any], registry: Registry | None, *, error: str = "") -> UpgradeResult:
    """The upgrade status of the workload ``rc`` describes; ``error`` says why no registry."""
    name = str(rc.get("name") or rc.get("base_name") or "")
    server = str(rc.get("registry_server_name") or "")
    current = str(rc.get("image") or "")
    base: dict[str, Any] = {
        "workload_name": name,
        "registry_server": server,
        "current_image": current,
    }
    if not server:
        return UpgradeResult(status=NOT_REGISTRY, **base)
    if registry is None:
        return UpgradeResult(status=UNKNOWN, reason=error or "registry lookup failed", **base)
    try:
        entry = registry.find(server)
    except RegistryError as exc:
        return UpgradeResult(status=UNKNOWN, reason=exc.message, **base)
    if entry is None:
        return UpgradeResult(status=NOT_FOUND, **base)
    if entry.remote or not entry.image:
        why = f"registry entry {server!r} is not a container image (cannot determine upgrade)"
        return UpgradeResult(status=UNKNOWN, reason=why, **base)
    newer, reason = compare_images(current, entry.image)
    result: dict[str, Any] = {"candidate_image": entry.image, **base}
    if newer is None:
        return UpgradeResult(status=UNKNOWN, reason=reason, **result)
    if not newer:
        return UpgradeResult(status=UP_TO_DATE, **result)
    return UpgradeResult(
        status=AVAILABLE,
        env_var_drift=_env_drift(rc, entry),
        config_drift=_config_drift(rc, entry),
        **result,
    )


# -- image references --------------------------------------------------------------------
def parse_reference(ref: str) -> tuple[str, str]:
    """``(normalised repository, tag)`` of a tagged image reference; ValueError otherwise.

    Docker Hub names are normalised (``busybox`` → ``index.docker.io/library/busybox``); no
    tag means ``latest``; a digest reference (``@sha256:…``) is not a tag.
    """
    if not ref or ref != ref.strip() or " " in ref:
        raise ValueError(f"{ref!r} is not an image reference")
    if "@" in ref:
        raise ValueError(f"reference {ref!r} is not a tag")
    repo, tag = ref, "latest"
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = ref.rsplit(":", 1)
    if not repo or not tag:
        raise ValueError(f"{ref!r} is not an image reference")
    first, sep, rest = repo.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        host = "index.docker.io" if first == "docker.io" else first
        return f"{host}/{rest}", tag
    return f"{_DEFAULT_HOST}/{repo if sep else 'library/' + repo}", tag


def semantic_version(tag: str) -> semver.Version | None:
    """The tag as a semantic version (``v`` prefix allowed, ``1.2`` = ``1.2.0``), or None."""
    text = tag[1:] if tag[:1] == "v" else tag
    if not text[:1].isdigit():
        return None
    try:
        return semver.Version.parse(text, optional_minor_and_patch=True)
    except ValueError:
        return None


def compare_images(current: str, candidate: str) -> tuple[bool | None, str]:
    """``(True, "")`` when the candidate is newer, ``(False, "")`` when not, ``(None, why)``
    when the two cannot be ordered."""
    try:
        current_repo, current_tag = parse_reference(current)
    except ValueError as exc:
        return None, f"cannot parse current image {current!r}: {exc}"
    try:
        candidate_repo, candidate_tag = parse_reference(candidate)
    except ValueError as exc:
        return None, f"cannot parse candidate image {candidate!r}: {exc}"
    if current_repo != candidate_repo:
        return None, f"repository differs: current {current_repo!r} vs candidate {candidate_repo!r}"
    if "latest" in (current_tag, candidate_tag):
        return (
            None,
            'image uses the "latest" tag, which defers to the registry and cannot be ordered',
        )
    old, new = semantic_version(current_tag), semantic_version(candidate_tag)
    if old is not None and new is not None:
        return new.compare(old) > 0, ""
    if current_tag == candidate_tag:
        return False, ""
    return None, f"tags are not comparable: current {current_tag!r} vs candidate {candidate_tag!r}"


# -- drift -------------------------------------------------------------------------------
def _env_drift(rc: Mapping[str, Any], entry: Entry) -> dict[str, Any] | None:
    satisfied = set(rc.get("env_vars") or {})
    for item in rc.get("secrets") or []:
        _, sep, target = str(item).partition(",target=")
        if sep and target:
            satisfied.add(target)
    added = []
    for var in entry.env_vars:
        if var.name in satisfied:
            continue
        info: dict[str, Any] = {"name": var.name}
        if var.description:
            info["description"] = var.description
        info["required"] = var.required
        if var.secret:
            info["secret"] = True
        elif var.default:
            info["default"] = var.default
        added.append(info)
    return {"added": added} if added else None


def _config_drift(rc: Mapping[str, Any], entry: Entry) -> dict[str, Any] | None:
    drift: dict[str, Any] = {}
    transport = str(rc.get("transport") or "")
    if entry.transport and transport and transport != entry.transport:
        drift["transport"] = {"from": transport, "to": entry.transport}
    if entry.permissions is not None:
        current = _profile_name(rc)
        wanted = str(entry.permissions.get("name") or "")
        same_content = _same(rc.get("permission_profile"), entry.permissions)
        if (wanted and current and current != wanted) or (not wanted and not same_content):
            drift["permission_profile"] = {"from": current or "inline", "to": wanted or "inline"}
    return drift or None


def _profile_name(rc: Mapping[str, Any]) -> str:
    named = rc.get("permission_profile_name_or_path")
    if named:
        return str(named)
    profile = rc.get("permission_profile")
    return str(profile.get("name") or "") if isinstance(profile, dict) else ""


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


# -- specs and run configs -------------------------------------------------------------------
def view_of_spec(spec: ServerSpec) -> dict[str, Any]:
    """The run-config fields :func:`check` reads, for a desired (not yet deployed) spec."""
    view: dict[str, Any] = {
        "name": spec.name,
        "image": spec.image,
        "registry_server_name": spec.registry_server_name,
        "transport": spec.transport,
        "permission_profile": json.loads(spec.permission_profile_json or "null"),
        "env_vars": dict(spec.env),
        "secrets": [f"{s.ref},target={s.target}" for s in spec.secrets],
    }
    if spec.permission_profile != "inline":
        view["permission_profile_name_or_path"] = spec.permission_profile
    return view


def spec_from_runconfig(rc: Mapping[str, Any], environ: Mapping[str, str]) -> ServerSpec:
    """The spec that recreates the workload of ``rc`` exactly (its canonical form is the
    run config's).  Secrets ToolHive recorded by name are read from ``$TOOLHIVE_SECRET_<name>``
    when set, else from ``$<name>`` (as ``thv run --secret`` does)."""
    canon = canonical_from_runconfig(dict(rc))
    profile = canon.get("permission_profile") or {}
    name = str(rc.get("base_name") or rc.get("name") or "")
    return ServerSpec(
        name=name,
        image=str(canon.get("image") or ""),
        url=str(canon.get("url") or ""),
        transport=str(canon.get("transport") or "stdio"),
        target_port=canon.get("target_port") or None,
        port=canon.get("port") or None,
        proxy_mode=str(canon.get("proxy_mode") or "streamable-http"),
        args=tuple(str(a) for a in canon.get("args") or ()),
        env=tuple(sorted((str(k), str(v)) for k, v in (canon.get("env") or {}).items())),
        secrets=tuple(
            _secret(target, value, environ)
            for target, value in sorted((canon.get("secrets") or {}).items())
        ),
        volumes=tuple(str(v) for v in canon.get("volumes") or ()),
        labels=tuple(sorted((str(k), str(v)) for k, v in (canon.get("labels") or {}).items())),
        group=str(canon.get("group") or "default"),
        permission_profile=str(profile.get("source") or "inline"),
        permission_profile_json=_profile_json(profile.get("profile")),
        state=str(canon.get("state") or "running"),
        registry_server_name=str(rc.get("registry_server_name") or ""),
        registry_url=str(rc.get("registry_url") or ""),
    )


def _secret(target: str, value: Mapping[str, Any], environ: Mapping[str, str]) -> SecretRef:
    source, _, ref = str(value.get("from") or "").partition(":")
    if source == "toolhive":
        provider = f"TOOLHIVE_SECRET_{ref}"
        source, ref = "env", provider if provider in environ else ref
    return SecretRef(target=target, source=source, ref=ref, digest=str(value.get("digest") or ""))


def _profile_json(profile: Any) -> str:
    if profile is None:
        return ""
    return json.dumps(profile, sort_keys=True, separators=(",", ":"))


# -- checking workloads (registries are read) ----------------------------------------------
class Registries:
    """The registry each workload is checked against, each location read once."""

    def __init__(self, explicit: str | None, environ: Mapping[str, str] | None = None) -> None:
        self.explicit = explicit
        self.environ = os.environ if environ is None else environ
        self._loaded: dict[str, Registry | str] = {}

    def location(self, rc: Mapping[str, Any]) -> str | None:
        recorded = str(rc.get("registry_url") or "") or None
        return choose(self.explicit, recorded, Path.cwd(), self.environ)

    def for_runconfig(self, rc: Mapping[str, Any]) -> tuple[Registry | None, str]:
        """(registry, "") or (None, why not)."""
        try:
            location = self.location(rc)
        except RegistryError as exc:
            return None, exc.message
        if location is None:
            return None, "no registry is configured (pass --registry PATH|URL)"
        if location not in self._loaded:
            try:
                self._loaded[location] = load(location)
            except RegistryError as exc:
                self._loaded[location] = exc.message
        found = self._loaded[location]
        return (found, "") if isinstance(found, Registry) else (None, found)

    def check(self, rc: Mapping[str, Any]) -> UpgradeResult:
        if not rc.get("registry_server_name"):
            return check(rc, None)
        registry, error = self.for_runconfig(rc)
        return check(rc, registry, error=error)


def list_upgrades(names: Iterable[str], registry: str | None) -> dict[str, UpgradeResult]:
    """``thv list --check-upgrades``: each listed workload's check result, by name."""
    from ..state import Store

    store, registries = Store.from_env(), Registries(registry, os.environ)
    found = {}
    for name in names:
        rc = store.runconfigs.read_or_none(name)  # a damaged one was named by the list
        if rc is not None:
            found[name] = registries.check(rc)
    return found


def plan_upgrades(plan: Plan, desired: DesiredState) -> tuple[Plan, list[UpgradeResult]]:
    """``thv plan --check-upgrades``: digests of the plan's new images where present, and the
    registry servers whose pinned image the registry has moved past (offline)."""
    from ..runtime import get_runtime

    behind = []
    for spec in desired.servers:
        if spec.registry_server_name and spec.registry_url:
            result = check(view_of_spec(spec), load(spec.registry_url))
            if result.status == AVAILABLE:
                behind.append(result)
    if any(a.image is not None for a in plan.actions):
        runtime = get_runtime()
        plan = replace(plan, actions=tuple(_with_digest(a, runtime) for a in plan.actions))
    return plan, behind


def _with_digest(action: Action, runtime: Runtime) -> Action:
    if action.image is None:
        return action
    try:
        digest = runtime.image_id(action.image.after)
    except ThvError:
        digest = ""
    return replace(action, image=replace(action.image, after_digest=digest))
