"""Workloads files → :class:`DesiredState`.

The pipeline: read each file (YAML, line and column kept for every value) → interpolate its
``${VAR}`` references (:mod:`.interpolate`) → merge the files → validate against the JSON
Schema (:mod:`.schema`) and the rules it cannot express (:mod:`.semantic`) → fill in defaults
(:mod:`.desired`).  Every problem found is reported at once, in one :class:`SpecError`, each
with the file, line and column that supplied the offending value.

Files:

* with no ``files``, ``workloads.yaml`` and then ``workloads.yml`` in the current directory;
* several files merge in order: **mappings merge key by key, while scalars and lists in a
  later file replace the earlier value entirely** (Compose appends some lists; we never do,
  so an override file always says exactly what it means);
* relative paths in any file (volumes, secret files, profile files) start at the directory
  of the first file, and its name is the default project name.

Variables come from the shell (``environ``), which wins, and from env files: ``.env`` beside
the first file if it exists, or instead the ``env_files`` given, read in order (later wins).
Secrets with ``env:`` are read from the same variables, as Compose does, once: the values go
to the containers through :attr:`DesiredState.secret_env`, so a container gets exactly the
value whose digest the plan compared.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import Problem, SpecError
from ..model import DesiredState, MachineView
from ..paths import Paths
from .desired import build_state
from .field_values import Context
from .interpolate import interpolate_tree, parse_env_file
from .schema import TYPE_CASTS, Issue, validate
from .semantic import check
from .server_entries import Resolved, expand, record
from .source import Origins, Source, parse

DEFAULT_FILES = ("workloads.yaml", "workloads.yml")
FileArg = str | Path


@dataclass(frozen=True, slots=True)
class _Resolved:
    document: dict[str, Any]
    origins: Origins
    files: tuple[str, ...]  # absolute paths
    ctx: Context
    resolved: Resolved  # servers resolved from the registry
    env_files: tuple[str, ...]  # the env files read (absolute)


def load(
    files: Sequence[FileArg] = (),
    *,
    env_files: Sequence[FileArg] = (),
    environ: Mapping[str, str] | None = None,
    project: str | None = None,
    paths: Paths | None = None,
    registry: str | None = None,
    portable: bool = False,
    machine: MachineView | None = None,
) -> DesiredState:
    """Load, validate and complete the workloads files; :class:`SpecError` lists every problem.

    ``environ`` defaults to ``os.environ``; ``project`` overrides the file's project name;
    ``paths`` locates the validation cache and the secret-digest key; ``registry`` (a path
    or URL) is where ``server:`` entries are looked up, ahead of the file's ``registry:``.
    ``portable`` loads for another machine (``thv render``): secret values are not read
    (their variables need not be set), and volume host paths stay as written.  ``machine``
    plans for another machine (paths and secret digests as it has them, secret values not
    read: see :class:`~toolhive_compose.model.MachineView`).
    """
    paths = paths or Paths.from_env()
    resolved = _resolve(
        files, env_files, environ, project, paths.cache, registry, portable, machine
    )
    state = build_state(
        resolved.document, resolved.origins, resolved.ctx, resolved.files, paths.ours
    )
    return record(replace(state, env_files=resolved.env_files), resolved.resolved)


def resolve_document(
    files: Sequence[FileArg] = (),
    *,
    env_files: Sequence[FileArg] = (),
    environ: Mapping[str, str] | None = None,
    paths: Paths | None = None,
    registry: str | None = None,
) -> dict[str, Any]:
    """The merged, interpolated and validated document (what ``thv config`` prints).

    Defaults are not filled in; ``server:`` entries are shown resolved.  With ``paths``, the
    validation cache is used.
    """
    cache = paths.cache if paths is not None else None
    return _resolve(files, env_files, environ, None, cache, registry).document


def discover(files: Sequence[FileArg], cwd: Path | None = None) -> list[str]:
    """The files to read: those given, else the default file of ``cwd``."""
    if isinstance(files, str | Path):
        files = [files]
    if files:
        return [str(f) for f in files]
    here = cwd or Path.cwd()
    for name in DEFAULT_FILES:
        if (here / name).is_file():
            return [name if cwd is None else str(here / name)]
    looked = " or ".join(DEFAULT_FILES)
    problem = Problem(f"no workloads file found in {here} (looked for {looked})")
    raise SpecError([problem], hint="pass a file with -f FILE")


def _resolve(
    files: Sequence[FileArg],
    env_files: Sequence[FileArg],
    environ: Mapping[str, str] | None,
    project: str | None,
    cache_dir: Path | None,
    registry: str | None = None,
    portable: bool = False,
    machine: MachineView | None = None,
) -> _Resolved:
    names = discover(files)
    absolute = tuple(os.path.abspath(name) for name in names)
    shell = os.environ if environ is None else environ
    base_dir = Path(absolute[0]).parent
    order = names + [str(f) for f in env_files]
    sources = [read_source(name) for name in names]
    variables, env_problems, read = _variables(env_files, base_dir, shell)
    ctx = Context(base_dir, variables, project, cache_dir, portable=portable, machine=machine)
    early = [p for source in sources for p in source.problems] + env_problems
    if env_problems or any(source.data is None for source in sources):
        raise SpecError(_ordered(early, order))
    document, origins, early = _combine(sources, variables, early)
    document, found, resolved = expand(document, origins, ctx, registry)
    early += found
    problems = early + _unreported(_validate(document, origins, ctx), early)
    if problems:
        raise SpecError(_ordered(problems, order))
    return _Resolved(document, origins, absolute, ctx, resolved, read)


def _unreported(late: list[Problem], early: list[Problem]) -> list[Problem]:
    """Validation problems, minus those at a value that already failed to parse or expand."""
    reported = {(p.file, p.path) for p in early if p.path}
    return [p for p in late if (p.file, p.path) not in reported]


def read_source(name: str) -> Source:
    """Read and parse one file; unreadable files become problems."""
    try:
        data = Path(name).read_bytes()
    except OSError as exc:
        reason = "file not found" if isinstance(exc, FileNotFoundError) else exc.strerror
        return Source(name, problems=[Problem(f"cannot read the file: {reason or exc}", name)])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return Source(name, problems=[Problem(f"not UTF-8 text (byte {exc.start})", name)])
    return parse(text, name)


def _variables(
    env_files: Sequence[FileArg], base_dir: Path, shell: Mapping[str, str]
) -> tuple[dict[str, str], list[Problem], tuple[str, ...]]:
    """Interpolation variables: env files in order, then the shell (which wins); the
    problems found and the files read."""
    candidates = [str(f) for f in env_files]
    if not candidates and (base_dir / ".env").is_file():
        candidates = [str(base_dir / ".env")]
    values: dict[str, str] = {}
    problems: list[Problem] = []
    for name in candidates:
        try:
            text = Path(name).read_bytes().decode("utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(f"cannot read the env file: {_reason(exc)}", name))
            continue
        parsed, found = parse_env_file(text, name)
        values.update(parsed)
        problems += found
    values.update(shell)
    return values, problems, tuple(os.path.abspath(name) for name in candidates)


def _reason(exc: Exception) -> str:
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte {exc.start})"
    return getattr(exc, "strerror", None) or str(exc)


def _combine(
    sources: list[Source], variables: Mapping[str, str], problems: list[Problem]
) -> tuple[dict[str, Any], Origins, list[Problem]]:
    """Interpolate each file, then merge them in order."""
    document: dict[str, Any] = {}
    origins = Origins()
    problems = list(problems)
    for source in sources:
        data, found = interpolate_tree(source.data, variables, source.origins, TYPE_CASTS)
        problems += found
        document = merge(document, data)
        origins.update(source.origins)
    return document, origins, problems


def merge(base: Any, override: Any) -> Any:
    """Mappings merge key by key; anything else in ``override`` replaces ``base``."""
    if not (isinstance(base, dict) and isinstance(override, dict)):
        return override
    merged = dict(base)
    for key, value in override.items():
        merged[key] = merge(base[key], value) if key in base else value
    return merged


def _validate(document: dict[str, Any], origins: Origins, ctx: Context) -> list[Problem]:
    issues = [i for i in validate(document, cache_dir=ctx.cache_dir) if not _named_elsewhere(i)]
    problems = [origins.problem(i.message, i.path, at_key=i.at_key) for i in issues]
    return problems + check(document, origins, ctx)


def _named_elsewhere(issue: Issue) -> bool:
    """Server and group names are judged by :mod:`.names` (through :mod:`.semantic`), with
    sentences of their own; the schema's patterns for them serve editors."""
    return (
        issue.validator == "propertyNames"
        and len(issue.path) == 2
        and issue.path[0] in ("servers", "groups")
    )


def _ordered(problems: list[Problem], files: list[str]) -> list[Problem]:
    """Without duplicates; general problems first, then by file, line and column."""
    order = {name: index for index, name in enumerate(files)}

    def key(problem: Problem) -> tuple[int, int, int, int]:
        if problem.file is None:
            return (0, 0, 0, 0)
        index = order.get(problem.file, len(files))
        return (1, index, problem.line or 0, problem.column or 0)

    return sorted(dict.fromkeys(problems), key=key)


def load_document(
    document: dict[str, Any],
    *,
    base_dir: Path,
    project: str | None = None,
    environ: Mapping[str, str] | None = None,
    paths: Paths | None = None,
    registry: str | None = None,
) -> DesiredState:
    """A document built in code (``thv run``'s flags) through the same checks and defaults."""
    paths = paths or Paths.from_env()
    shell = os.environ if environ is None else environ
    ctx = Context(base_dir, shell, project, paths.cache)
    origins = Origins()
    document, problems, resolved = expand(document, origins, ctx, registry)
    problems += _validate(document, origins, ctx)
    if problems:
        raise SpecError(problems)
    return record(build_state(document, origins, ctx, (), paths.ours), resolved)
