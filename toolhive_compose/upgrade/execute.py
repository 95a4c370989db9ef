"""Applying a registry upgrade to one workload, never destroying first.

The order (ToolHive's ``thv upgrade apply``, with its guarantees kept):

1. re-derive the check from the stored run config and the registry (a result computed
   earlier is never trusted);
2. build the new spec: the run config's own, with only the image (and the registry location,
   plus any ``--env``/``--secret`` given) changed; every secret must be readable now;
3. pull the candidate and verify it is present, recording its digest;
4. only then recreate the workload (old container and proxy out, new ones in).

A failure in steps 1–3 leaves the old workload running and untouched.  Registries are read
through :class:`~.check.Registries`: ``--registry``, else the location the workload recorded
(``registry_url``), else ``$THV_REGISTRY``, else ToolHive's config.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..errors import EngineError, NotFound, SpecError, ThvError
from ..model import SecretRef, ServerSpec
from ..paths import Paths
from ..runtime import Runtime
from ..runtime.pulls import PULL_TIMEOUT
from ..secrets import resolve_secret_value, secret_digest, secret_key
from ..state import Store
from ..state.runconfig_spec import canonical_from_runconfig
from .check import AVAILABLE, UP_TO_DATE, Registries, UpgradeResult, spec_from_runconfig


@dataclass(frozen=True, slots=True)
class Prepared:
    """Everything decided before anything is touched."""

    result: UpgradeResult
    spec: ServerSpec
    canon: dict[str, Any]
    project: str
    container_id: str


def prepare(
    name: str,
    store: Store,
    runtime: Runtime,
    registries: Registries,
    *,
    env: Mapping[str, str] | None = None,
    secrets: Mapping[str, str] | None = None,
    force: bool = False,
) -> Prepared | UpgradeResult:
    """The upgrade to carry out, or the check result when there is nothing to upgrade.

    ``env`` adds or overrides plain variables; ``secrets`` maps a target variable to the
    host variable holding its value.  Raises :class:`ThvError` when it cannot be done.
    """
    from ..workloads.queries import get_workload

    rc = store.runconfigs.read(name)
    if rc is None:
        raise NotFound(f"workload {name} not found", hint="thv list --all shows every workload")
    result = registries.check(rc)
    if result.status == UP_TO_DATE:
        return result
    if result.status != AVAILABLE:
        why = f": {result.reason}" if result.reason else ""
        raise ThvError(f"cannot upgrade {name}: {result.status}{why}")
    workload = get_workload(runtime, store, name)
    project = workload.project  # the container's label, the run config's key or the record
    if project and not force:
        raise ThvError(
            f"workload {name} belongs to project {project}: the next thv apply of its workloads "
            "file would put the old image back",
            hint="upgrade it in the file (bump its image, or drop 'image:' to follow its "
            "'server:'), then thv apply; --force upgrades it here anyway",
        )
    spec, canon = _new_spec(rc, result.candidate_image, registries, env or {}, secrets or {})
    state = "stopped" if workload.status == "stopped" else "running"
    spec, canon = replace(spec, state=state), {**canon, "state": state}
    _check_env(spec, result)
    _check_secrets(spec, registries.environ)
    return Prepared(result, spec, canon, project, workload.container_id)


def _new_spec(
    rc: dict[str, Any],
    image: str,
    registries: Registries,
    env: Mapping[str, str],
    secrets: Mapping[str, str],
) -> tuple[ServerSpec, dict[str, Any]]:
    spec = spec_from_runconfig(rc, registries.environ)
    canon = canonical_from_runconfig(rc)
    canon = {**canon, "image": image, "env": {**canon.get("env", {}), **env}}
    refs = {s.target: s for s in spec.secrets}
    if secrets:
        key = secret_key(Paths.from_env().ours)
        canon["secrets"] = dict(canon.get("secrets") or {})
        for target, host_var in secrets.items():
            ref = SecretRef(target=target, source="env", ref=host_var, digest="")
            digest = secret_digest(key, resolve_secret_value(ref, registries.environ))
            refs[target] = replace(ref, digest=digest)
            canon["secrets"][target] = {"from": f"env:{host_var}", "digest": digest}
    spec = replace(
        spec,
        image=image,
        env=tuple(sorted({**dict(spec.env), **env}.items())),
        secrets=tuple(refs[t] for t in sorted(refs)),
        registry_url=registries.location(rc) or spec.registry_url,
    )
    return spec, canon


def _check_env(spec: ServerSpec, result: UpgradeResult) -> None:
    """The candidate's required variables must all be set (ToolHive validates them too)."""
    added = (result.env_var_drift or {}).get("added") or []
    have = {k for k, _ in spec.env} | {s.target for s in spec.secrets}
    missing = [v["name"] for v in added if v.get("required") and v["name"] not in have]
    if missing:
        raise ThvError(
            f"cannot upgrade {spec.name}: {result.candidate_image} requires environment "
            f"variable(s) the workload does not set: {', '.join(missing)}",
            hint="pass them with --env KEY=VALUE or --secret NAME,target=KEY",
        )


def _check_secrets(spec: ServerSpec, environ: Mapping[str, str]) -> None:
    try:
        for ref in spec.secrets:
            resolve_secret_value(ref, environ)
    except SpecError as exc:
        raise ThvError(
            f"cannot upgrade {spec.name}: {exc.message}; nothing was changed",
            hint="make the secret readable (for ToolHive secrets: $TOOLHIVE_SECRET_<name>)",
        ) from None


def pull_and_verify(runtime: Runtime, name: str, image: str) -> str:
    """Pull the candidate; its digest once it is verifiably here.  Nothing else is touched."""
    try:
        runtime.pull(image, timeout=PULL_TIMEOUT)
    except EngineError as exc:
        if not runtime.image_present(image):
            raise ThvError(
                f"cannot upgrade {name}: pulling {image} failed ({exc.message}); "
                "the workload was not touched",
                hint=exc.hint,
            ) from None
        sys.stderr.write(f"warning: pulling {image} failed; using the local image\n")
    digest = runtime.image_id(image)
    if not digest:
        raise ThvError(
            f"cannot upgrade {name}: {image} is not present after pulling it; "
            "the workload was not touched"
        )
    return digest


def recreate(prepared: Prepared, runtime: Runtime, store: Store) -> None:
    """The destructive step: replace the container (the run config's other keys are kept:
    the lifecycle rewrites it, never replaces it)."""
    from ..workloads.lifecycle import Lifecycle

    spec = prepared.spec
    try:
        Lifecycle(runtime, store).replace(
            spec, prepared.canon, project=prepared.project, container_id=prepared.container_id
        )
    except ThvError as exc:
        raise ThvError(
            f"upgrading {spec.name} failed after its old container was removed: {exc.message}",
            hint=exc.hint or f"thv logs {spec.name}; thv upgrade apply {spec.name} tries again",
        ) from None
