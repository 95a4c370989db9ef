"""The package's shape: no import cycles, and each stage imports only the stages below it.

Imports are read from the source (AST) wherever they stand: at module level, inside functions
and under ``if TYPE_CHECKING:``.  Relative imports are resolved, and ``from . import x`` is the
submodule ``x`` when there is one.  Importing a package's face (``a.b.c`` → ``a.b``) is an edge;
the implicit run of a package's ``__init__`` when one of its submodules is imported is not.

The stages, lowest first (a stage may import the ones its row names, and itself)::

    base        errors, model, paths, fingerprint, secrets, ports, gojson, tools, cancel,
                clients.catalog
    state  runtime  registry  plan        each on base only
    proxy       + state, runtime
    clients     + state (MCP client files: read, edit, our records of them)
    spec        + registry
    targets     base only (renderers for other platforms: pure, like the planner)
    workloads   + state, runtime, proxy, spec, registry
    apply       + workloads' stages, plan, clients    upgrade  + workloads' stages, plan
    review      + workloads' stages, plan
    service     + state (systemd units: written, enabled, listed)
    api         everything below it
    cli         everything below it, service
    entry       the package face and __main__

``clients.catalog`` (the table of MCP clients: pure data, which the loader, the planner and
the editor all need) belongs to the base.  ``plan/`` is also pure: what it reaches imports
nothing that does I/O (only the standard library's data modules and deepdiff); so is the
Kubernetes render (``targets/kubernetes/objects``).  The proxy process stays light: nothing it
imports (itself anywhere, the rest at module level) pulls in typer, docker, yaml, jsonschema or
deepdiff.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "toolhive_compose"

BASE = ("errors", "model", "paths", "fingerprint", "secrets", "ports", "gojson", "tools", "cancel")
STAGE_PACKAGES = ("state", "runtime", "registry", "plan", "proxy", "clients", "spec", "targets",
                  "workloads", "apply", "upgrade", "review", "service", "api", "cli")  # fmt: skip
# module or package → stage; a module takes the stage of its longest listed prefix
STAGES = (
    {f"{PACKAGE}.{module}": "base" for module in (*BASE, "clients.catalog")}
    | {f"{PACKAGE}.{stage}": stage for stage in STAGE_PACKAGES}
    | {PACKAGE: "entry", f"{PACKAGE}.__main__": "entry"}
)
_WORKLOADS = {"base", "state", "runtime", "proxy", "spec", "registry", "workloads"}
_BELOW_API = _WORKLOADS | {"plan", "clients", "targets", "apply", "upgrade", "review"}
ALLOWED = {
    "base": {"base"},
    "state": {"base", "state"},
    "runtime": {"base", "runtime"},
    "registry": {"base", "registry"},
    "plan": {"base", "plan"},
    "proxy": {"base", "state", "runtime", "proxy"},
    "clients": {"base", "state", "clients"},
    "spec": {"base", "registry", "spec"},
    "targets": {"base", "targets"},
    "workloads": _WORKLOADS,
    "apply": _WORKLOADS | {"plan", "clients", "apply"},
    "upgrade": _WORKLOADS | {"plan", "upgrade"},
    "review": _WORKLOADS | {"plan", "review"},
    "service": {"base", "state", "service"},
    "api": _BELOW_API | {"api"},
    "cli": _BELOW_API | {"api", "service", "cli"},
    "entry": set(STAGES.values()),
}
# What the planner may reach: its own package and the pure base modules ...
PURE_MODULES = (
    f"{PACKAGE}.plan",
    f"{PACKAGE}.errors",
    f"{PACKAGE}.model",
    f"{PACKAGE}.fingerprint",
    f"{PACKAGE}.tools",
    f"{PACKAGE}.clients.catalog",
)
# ... and, outside the package, data modules only: no os, io, socket, subprocess, time, random.
PURE_EXTERNAL = frozenset(
    {"__future__", "bisect", "collections", "dataclasses", "difflib", "enum", "functools",
     "hashlib", "heapq", "itertools", "json", "re", "sys", "typing", "deepdiff"}
)  # fmt: skip
# The Kubernetes render: pure as the planner, with the data modules it needs besides.
RENDER = f"{PACKAGE}.targets.kubernetes.objects"
RENDER_EXTERNAL = PURE_EXTERNAL | {"ipaddress", "posixpath"}
RENDER_PURE = (f"{PACKAGE}.targets",)  # what the render reaches of its own package
HEAVY = frozenset({"typer", "click", "docker", "requests", "yaml", "jsonschema", "deepdiff"})
PROXY_ENTRIES = (f"{PACKAGE}.proxy.main", f"{PACKAGE}.proxy.processes.launcher")


@dataclass(frozen=True, slots=True)
class Import:
    """One imported module: ``target`` is a module of the package, or an external top level."""

    source: str
    target: str
    file: Path
    line: int
    eager: bool  # runs when ``source`` is imported (module level, not under TYPE_CHECKING)
    internal: bool  # ``target`` is a module of the package

    def where(self) -> str:
        """``file:line``, relative to the repository when inside it."""
        file = self.file.relative_to(ROOT) if self.file.is_relative_to(ROOT) else self.file
        return f"{file}:{self.line}"


def is_ours(name: str, package: str = PACKAGE) -> bool:
    return name == package or name.startswith(package + ".")


# -- reading the imports ----------------------------------------------------------------------
def modules_of(directory: Path, package: str = PACKAGE) -> dict[str, Path]:
    """Every module of the package in ``directory``: dotted name → file."""
    found = {}
    for path in sorted(directory.rglob("*.py")):
        parts = list(path.relative_to(directory.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    assert package in found, f"no {package}/__init__.py in {directory.parent}"
    return found


def imports_of(modules: Mapping[str, Path], package: str = PACKAGE) -> list[Import]:
    """Every import statement of every module, resolved to what it imports."""
    found: list[Import] = []
    for name, path in modules.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node, eager in _statements(tree.body, eager=True):
            for target in dict.fromkeys(_targets(node, here, modules, package)):
                if target != name:
                    internal = is_ours(target, package)
                    found.append(Import(name, target, path, node.lineno, eager, internal))
    return found


def _statements(body: Iterable[ast.stmt], *, eager: bool) -> Iterator[tuple[ast.stmt, bool]]:
    """Import statements at any depth, each with whether it runs at import time."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, eager
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from _statements(node.body, eager=False)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _statements(node.body, eager=False)
            yield from _statements(node.orelse, eager=eager)
        else:  # class bodies, if/try/with/for blocks: they run when the module does
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    yield from _statements([child], eager=eager)
                elif isinstance(child, ast.ExceptHandler | ast.match_case):
                    yield from _statements(child.body, eager=eager)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(node: ast.stmt, here: str, modules: Mapping[str, Path], package: str) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield _module(alias.name, modules, package)
        return
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        parts = here.split(".")
        base_parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join(base_parts + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    if not is_ours(base, package):
        yield _module(base, modules, package)
        return
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        yield submodule if submodule in modules else _module(base, modules, package)


def _module(name: str, modules: Mapping[str, Path], package: str) -> str:
    """The package's module ``name`` names (its longest known prefix), or an external top level."""
    if not is_ours(name, package):
        return name.partition(".")[0]
    while name not in modules and "." in name:
        name = name.rpartition(".")[0]
    return name


# -- what the tests look for ------------------------------------------------------------------
def cycles(imports: Iterable[Import]) -> list[list[Import]]:
    """One cycle per strongly connected group of modules that import each other."""
    graph: dict[str, dict[str, Import]] = {}
    for imp in imports:
        if imp.internal:
            graph.setdefault(imp.source, {}).setdefault(imp.target, imp)
    found = []
    for group in _strongly_connected(graph):
        if len(group) > 1:
            found.append(_cycle_through(sorted(group)[0], group, graph))
    return found


def _strongly_connected(graph: Mapping[str, Mapping[str, Import]]) -> list[set[str]]:
    """Tarjan's algorithm, iteratively."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, {}))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, {})))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                groups.append(group)
    return groups


def _cycle_through(
    start: str, group: set[str], graph: Mapping[str, Mapping[str, Import]]
) -> list[Import]:
    """A shortest way from ``start`` back to itself inside ``group`` (breadth first)."""
    paths: dict[str, list[Import]] = {start: []}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for target, imp in sorted(graph.get(node, {}).items()):
            if target == start:
                return [*paths[node], imp]
            if target in group and target not in paths:
                paths[target] = [*paths[node], imp]
                queue.append(target)
    raise AssertionError(f"no cycle through {start}")


def stage_of(module: str, stages: Mapping[str, str] = STAGES) -> str | None:
    while True:
        if module in stages:
            return stages[module]
        if "." not in module:
            return None
        module = module.rpartition(".")[0]


def layering_violations(
    imports: Iterable[Import],
    stages: Mapping[str, str] = STAGES,
    allowed: Mapping[str, set[str]] = ALLOWED,
) -> list[str]:
    found = []
    for imp in imports:
        if not imp.internal:
            continue
        source, target = stage_of(imp.source, stages), stage_of(imp.target, stages)
        if source is None or target is None or target not in allowed[source]:
            found.append(
                f"{imp.where()}: {imp.source} ({source}) imports {imp.target} ({target}), above it"
            )
    return found


def reachable(starts: Iterable[str], imports: Iterable[Import], *, eager_only: bool) -> set[str]:
    edges: dict[str, set[str]] = {}
    for imp in imports:
        if imp.internal and (imp.eager or not eager_only):
            edges.setdefault(imp.source, set()).add(imp.target)
    seen, todo = set(), list(starts)
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(edges.get(module, ()))
    return seen


def impure_imports(
    imports: list[Import],
    package: str = PACKAGE,
    *,
    root: str = "plan",
    external: frozenset[str] = PURE_EXTERNAL,
    also_pure: tuple[str, ...] = (),
    who: str = "the planner",
) -> list[str]:
    """What ``root`` (the planner) reaches that it must not: a module outside the pure ones
    (and ``also_pure``), or an external module that is not in ``external``."""
    starts = [m for m in {i.source for i in imports} if m.startswith(f"{package}.{root}")]
    reached = reachable(starts, imports, eager_only=False)
    pure = tuple(p.replace(PACKAGE, package, 1) for p in (*PURE_MODULES, *also_pure))
    found = []
    for imp in imports:
        if imp.source not in reached:
            continue
        allowed = (
            any(imp.target == p or imp.target.startswith(p + ".") for p in pure)
            if imp.internal
            else imp.target in external
        )
        if not allowed:
            found.append(f"{imp.where()}: {who} reaches {imp.target} ({imp.source})")
    return found


def heavy_proxy_imports(imports: list[Import], package: str = PACKAGE) -> list[str]:
    """Heavy imports on the proxy process's path: any import of a proxy module, and the
    module-level imports of everything the proxy's entry points import at module level."""
    entries = [e.replace(PACKAGE, package, 1) for e in PROXY_ENTRIES]
    eager = reachable(entries, imports, eager_only=True)
    found = []
    for imp in imports:
        in_proxy = imp.source.startswith(f"{package}.proxy")
        if imp.target in HEAVY and (in_proxy or (imp.source in eager and imp.eager)):
            found.append(f"{imp.where()}: {imp.source} imports {imp.target}")
    return found


# -- the tests --------------------------------------------------------------------------------
MODULES = modules_of(ROOT / PACKAGE)
IMPORTS = imports_of(MODULES)


def _describe(cycle: list[Import]) -> str:
    steps = " → ".join([cycle[0].source, *(imp.target for imp in cycle)])
    return steps + "".join(f"\n    {imp.where()}: {imp.source} → {imp.target}" for imp in cycle)


def test_no_import_cycles() -> None:
    found = cycles(IMPORTS)
    assert not found, "import cycles:\n" + "\n".join(_describe(c) for c in found)


def test_every_module_has_a_stage() -> None:
    assert not [m for m in MODULES if stage_of(m) is None]


def test_no_stage_imports_a_higher_one() -> None:
    found = layering_violations(IMPORTS)
    assert not found, "imports against the layering:\n" + "\n".join(found)


def test_the_planner_does_no_io() -> None:
    found = impure_imports(IMPORTS)
    assert not found, "the planner must stay pure:\n" + "\n".join(found)


def test_the_kubernetes_render_does_no_io() -> None:
    root = RENDER.removeprefix(f"{PACKAGE}.")
    found = impure_imports(
        IMPORTS, root=root, external=RENDER_EXTERNAL, also_pure=RENDER_PURE, who="the render"
    )
    assert RENDER in MODULES
    assert not found, "the Kubernetes render must stay pure:\n" + "\n".join(found)


def test_the_proxy_process_stays_light() -> None:
    found = heavy_proxy_imports(IMPORTS)
    assert not found, "the proxy process must stay light:\n" + "\n".join(found)


# -- the checks themselves, on a made-up package ----------------------------------------------
def _package(tmp: Path, files: Mapping[str, str]) -> list[Import]:
    """The imports of a package ``pkg`` made of ``files`` (and an empty ``__init__.py``)."""
    for rel, text in {"__init__.py": "", **files}.items():
        path = tmp / "pkg" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return imports_of(modules_of(tmp / "pkg", "pkg"), "pkg")


def test_cycles_are_found_through_function_level_and_type_checking_imports(tmp_path: Path) -> None:
    found = _package(
        tmp_path,
        {
            "a.py": "def f():\n    from . import b\n",
            "b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .c import C\n",
            "c.py": "from .a import f\n",
            "sub/__init__.py": "from .x import X\n",
            "sub/x.py": "X = 1\n",  # sub/x → sub (implicit __init__ run) is no edge
        },
    )
    (cycle,) = cycles(found)
    assert [(i.source, i.target) for i in cycle] == [
        ("pkg.a", "pkg.b"),
        ("pkg.b", "pkg.c"),
        ("pkg.c", "pkg.a"),
    ]
    assert [i.eager for i in cycle] == [False, False, True]
    assert "pkg.a → pkg.b → pkg.c → pkg.a" in _describe(cycle)


def test_importing_a_package_face_is_an_edge(tmp_path: Path) -> None:
    found = _package(
        tmp_path,
        {
            "sub/__init__.py": "def make():\n    from .impl import Impl\n",
            "sub/impl.py": "from .. import sub\nfrom ..sub import make\n",
        },
    )
    assert {(i.source, i.target) for i in found} == {
        ("pkg.sub", "pkg.sub.impl"),
        ("pkg.sub.impl", "pkg.sub"),
    }
    assert len(cycles(found)) == 1


def test_a_lower_stage_importing_a_higher_one_is_reported_with_its_line(tmp_path: Path) -> None:
    found = _package(
        tmp_path,
        {
            "low.py": "import json\n\n\ndef f():\n    from .high import g\n",
            "high.py": "from .low import f\n",
        },
    )
    stages = {"pkg.low": "low", "pkg.high": "high", "pkg": "high"}
    allowed = {"low": {"low"}, "high": {"low", "high"}}
    (problem,) = layering_violations(found, stages, allowed)
    assert "low.py:5: pkg.low (low) imports pkg.high (high)" in problem


def test_the_planner_check_sees_io_anywhere_it_reaches(tmp_path: Path) -> None:
    found = _package(
        tmp_path,
        {
            "model.py": "import os\n",
            "plan/__init__.py": "",
            "plan/planner.py": "import heapq\nfrom ..model import X\n\n\ndef f():\n"
            "    import socket\n",
        },
    )
    problems = impure_imports(found, "pkg")
    assert any("model.py:1: the planner reaches os" in p for p in problems), problems
    assert any("planner.py:6: the planner reaches socket" in p for p in problems), problems
    assert not any("heapq" in p for p in problems)


def test_the_readme_layout_names_every_module() -> None:
    """The README's Layout table is where a newcomer finds a module: each one is named there."""
    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    layout = readme[readme.index("## Layout") :]
    rows = [line for line in layout.splitlines() if line.startswith("| `")]
    package = root / PACKAGE

    def named(module: Path) -> bool:  # `dir/name.py`, or `name.py` in a row that names `dir/…`
        rel, folder = module.relative_to(package), module.parent.relative_to(package)
        return any(
            f"`{rel}`" in row or (f"`{module.name}`" in row and f"`{folder}/" in row)
            for row in rows
        )

    found = (p for p in sorted(package.rglob("*.py")) if p.name != "__init__.py")
    missing = [str(p.relative_to(package)) for p in found if not named(p)]
    assert not missing, f"modules missing from the README's Layout table: {missing}"
