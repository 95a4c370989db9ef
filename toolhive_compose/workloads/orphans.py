"""Orphans: what outlived its workload, and what this state directory cannot account for.

Three kinds, each with one rule (README, "Surviving restarts"):

- **A proxy process whose workload no longer exists**: a ``thv start NAME --foreground``
  process writing its log into this state directory's ``logs/`` (so it was started from
  here, by ToolHive or by us) while ``NAME`` has neither a run config nor a status file here,
  for at least :data:`MIN_AGE` seconds.  ``thv list`` reports it; ``thv apply``/``down``
  stop it (SIGTERM, re-checked with the recogniser first).
- **A status file whose PID belongs to another program** (the proxy died and its PID was
  reused): ``thv list`` shows the workload ``unhealthy`` saying so; ``thv apply``/``down``
  clear the PID (only while it is still that one), so that nothing — ToolHive's ``thv stop``
  included, which signals the recorded PID unchecked — ever signals that program.  A
  ToolHive or thv process of any kind is never "another program".
- **A container with ToolHive labels and no run config here**: never removed on a guess.  It
  may be ToolHive's own from another state directory, or a ``thv run`` being made right now.
  ``thv list`` marks it (status context) and reports it; ``thv rm NAME`` removes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..proxy.processes.control import terminate
from ..proxy.processes.procfs import is_proxy_for, is_thv_process, pid_alive, proxy_processes
from ..state import Store

MIN_AGE = 5.0  # seconds: a proxy younger than this may belong to a workload being made
NO_RUN_CONFIG = (
    "no run config in this state directory: ToolHive's from another one, or being created "
    "(thv rm {name} removes it)"
)


@dataclass(frozen=True, slots=True)
class Orphan:
    kind: str  # proxy | pid | container
    name: str
    pid: int = 0
    container_id: str = ""

    def describe(self) -> str:
        if self.kind == "proxy":
            return f"proxy process {self.pid} serves workload {self.name}, which no longer exists"
        if self.kind == "pid":
            return f"the status of {self.name} records PID {self.pid}, which is another program"
        return (
            f"container {self.name} ({self.container_id[:12]}) has ToolHive labels but no run "
            "config here; it is kept"
        )

    def outcome(self) -> str:
        """What :func:`clean` did about it."""
        return {"proxy": "stopped it", "pid": "cleared that PID"}.get(self.kind, "kept it")

    def remedy(self) -> str:
        if self.kind == "proxy":
            return f"thv apply stops it (or kill {self.pid})"
        if self.kind == "pid":
            return "thv apply clears that PID"
        return f"thv rm {self.name} removes it"


def foreign_pid(pid: int) -> bool:
    """A live process that is no ToolHive or thv process: a reused PID."""
    return pid > 0 and pid_alive(pid) and not is_thv_process(pid)


def orphan_proxies(store: Store) -> list[Orphan]:
    logs = store.paths.logs.resolve()
    known = set(store.runconfigs.names()) | set(store.statuses.names())
    found = []
    for proc in proxy_processes():
        if proc.name in known or proc.age < MIN_AGE or not proc.log:
            continue
        if Path(proc.log).parent == logs:
            found.append(Orphan("proxy", proc.name, pid=proc.pid))
    return sorted(found, key=lambda o: (o.name, o.pid))


def foreign_pids(recorded: Iterable[tuple[str, int]]) -> list[Orphan]:
    """``(name, PID in its status file)`` pairs whose PID is now another program."""
    found = [Orphan("pid", name, pid=pid) for name, pid in recorded if foreign_pid(pid)]
    return sorted(found, key=lambda o: o.name)


def stray_containers(containers: Iterable[tuple[str, str]], store: Store) -> list[Orphan]:
    """``(name, container id)`` pairs of ToolHive containers without a run config here."""
    known = set(store.runconfigs.names())
    found = [Orphan("container", n, container_id=c) for n, c in containers if n not in known]
    return sorted(found, key=lambda o: o.name)


def sweep(store: Store, recorded: Iterable[tuple[str, int]]) -> list[Orphan]:
    """Find and clean orphan proxies, and the foreign PIDs among ``recorded`` (``apply``,
    ``down``: the observed workloads and their status PIDs)."""
    return clean(store, [*orphan_proxies(store), *foreign_pids(recorded)])


def clean(store: Store, orphans: Iterable[Orphan]) -> list[Orphan]:
    """Apply the rules above; the orphans actually dealt with (containers never are)."""
    done = []
    for orphan in orphans:
        if orphan.kind == "proxy":
            made_since = store.runconfigs.read(orphan.name) or store.statuses.get(orphan.name)
            if not made_since and is_proxy_for(orphan.pid, orphan.name) and terminate(orphan.pid):
                done.append(orphan)
        elif orphan.kind == "pid" and store.statuses.reset_pid_if_match(orphan.name, orphan.pid):
            done.append(orphan)
    return done
