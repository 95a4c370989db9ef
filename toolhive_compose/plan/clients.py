"""MCP client actions, planned (pure): which server entries to write into, update in or
remove from the clients' configuration files, and which clients each group file registers.

Per (client, server) of a group that lists the client, a running server gets one entry, the
one ToolHive's ``thv client register`` would write (URL of its proxy, the client's transport
label).  The entries this project wrote are on record (with a digest of what was written):

- no entry → ``client-register`` (after a hand removal too, saying so);
- an entry we did not write: equal to ours → taken on record (``client-register`` that writes
  nothing), different → left alone, with a warning;
- our entry, changed by the plan (a new port) → ``client-update``; edited by hand since we
  wrote it → left alone, with a warning (drift);
- an entry on record that is no longer wanted → ``client-unregister``; edited by hand → kept
  in the file and forgotten; already gone → forgotten.

Client actions wait for every action of their server (its URL answers by then) and nothing
waits for them.  A group's ``registered_clients`` gains the clients its file lists and loses
those this project added and no longer lists (in the group's create or update action).
A client that is not installed is skipped with a warning (an error when ``strict``); a file
that cannot be read, an entry another project wrote: plan errors.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..clients.catalog import CLIENTS, SSE, STREAMABLE, entry, entry_digest, location, proxy_url
from ..errors import PlanError
from ..model import ClientEntryRecord, DesiredState, ObservedClientFile, ObservedState, ServerSpec
from .actions import KNOWN_AFTER_APPLY, ActionKind, ClientTarget, FieldChange
from .order import Draft

REGISTER, UPDATE, UNREGISTER = (
    ActionKind.CLIENT_REGISTER, ActionKind.CLIENT_UPDATE, ActionKind.CLIENT_UNREGISTER
)  # fmt: skip


def plan_clients(
    desired: DesiredState, observed: ObservedState, drafts: list[Draft], *, strict: bool = False
) -> tuple[list[Draft], list[str]]:
    """Client drafts for ``desired`` (given the server and group ``drafts``, whose group
    drafts gain their ``registered_clients``), and the plan's warnings about clients."""
    return _Planner(desired, observed, drafts, strict).run()


class _Planner:
    def __init__(
        self, desired: DesiredState, observed: ObservedState, drafts: list[Draft], strict: bool
    ) -> None:
        self.desired, self.observed, self.base, self.strict = desired, observed, drafts, strict
        self.project = desired.project
        self.here = {f.client: f for f in observed.client_files if f.current}
        self.files = {f.path: f for f in observed.client_files}
        self.records = {(r.path, r.server): r for r in observed.client_records}
        self.servers = {s.name: s for s in desired.servers}
        self.waits: dict[str, set[Any]] = defaultdict(set)
        for d in drafts:
            if d.is_workload_kind():
                self.waits[d.name].add(d.key)
        self.drafts: list[Draft] = []
        self.warnings: list[str] = []
        self.problems: list[str] = []
        self.unreadable: set[str] = set()  # files already reported as a problem

    def run(self) -> tuple[list[Draft], list[str]]:
        usable = self._usable()
        wanted = self._wanted(usable)
        for (_, _), (client, group, spec) in sorted(wanted.items()):
            self._entry(usable[client], group, spec)
        for rec in self.observed.client_records:
            if rec.project == self.project and (rec.path, rec.server) not in wanted:
                self._leftover(rec)
        self._registrations(usable)
        if self.problems:
            raise PlanError(
                _join(self.problems),
                hint="fix or move the file it names, or take the client out of the group's "
                "clients: in the workloads file; nothing was changed",
            )
        return self.drafts, self.warnings

    # -- which clients, which entries ------------------------------------------------------------
    def _usable(self) -> dict[str, ObservedClientFile]:
        usable: dict[str, ObservedClientFile] = {}
        listed = dict.fromkeys(c for g in self.desired.groups for c in g.clients)
        for name in listed:
            found = self.here.get(name)
            if CLIENTS[name].deprecated:
                self.warnings.append(f"client {name} is deprecated: {CLIENTS[name].deprecated}")
            if found is None or not found.installed:
                marker = _marker(name, found)
                message = f"client {name} is not installed here ({marker} does not exist)"
                if self.strict:
                    self.problems.append(message)
                else:
                    self.warnings.append(f"{message}; skipped")
            elif found.problem:
                self.problems.append(f"{found.problem}; nothing is written for {name}")
                self.unreadable.add(found.path)
            else:
                usable[name] = found
        return usable

    def _wanted(
        self, usable: dict[str, ObservedClientFile]
    ) -> dict[tuple[str, str], tuple[str, str, ServerSpec]]:
        wanted = {}
        for group in self.desired.groups:
            members = [s for s in self.desired.servers if s.group == group.name]
            for client in group.clients:
                if client not in usable:
                    continue
                for spec in members:
                    if spec.state == "running":  # ToolHive lists only running servers
                        wanted[(usable[client].path, spec.name)] = (client, group.name, spec)
        return wanted

    def _entry(self, file: ObservedClientFile, group: str, spec: ServerSpec) -> None:
        client, name = file.client, spec.name
        app = CLIENTS[client]
        url, kind = self._url(spec)
        want = entry(app, name, url, kind)
        current = file.entries.get(name)
        rec = self.records.get((file.path, name))
        target = ClientTarget(client, file.path, location(app, name), group)
        if rec is not None and rec.project != self.project:
            self.problems.append(
                f"client {client}: the entry {name} in {file.path} belongs to project "
                f"{rec.project or '(unknown)'}"
            )
        elif current is None:
            reason = "removed by hand since it was written; written again" if rec else (
                "not in the file")  # fmt: skip
            self._add(REGISTER, name, reason, None, want, target, wait=True)
        elif rec is None and current == want:
            reason = f"already in the file; taken on record for project {self.project}"
            self._add(REGISTER, name, reason, current, current, target, wait=True)
        elif rec is None:
            self.warnings.append(
                f"client {client}: {file.path} already has an entry {name} that "
                "toolhive-compose did not write; left as is (remove it to let apply write it)"
            )
        elif current == want:
            return
        elif entry_digest(current) != rec.digest:
            self.warnings.append(
                f"client {client}: the entry {name} in {file.path} was edited by hand since "
                "toolhive-compose wrote it; left as is (delete it to have it written again)"
            )
        else:
            changed = sorted(k for k in set(want) | set(current) if want.get(k) != current.get(k))
            self._add(UPDATE, name, f"{', '.join(changed)} changed", current, want, target,
                      wait=True)  # fmt: skip

    def _url(self, spec: ServerSpec) -> tuple[str, str]:
        after = next(
            (
                d.after
                for d in self.base
                if d.is_workload_kind() and d.name == spec.name and d.after
            ),
            None,
        )
        if after is None:
            obs = self.observed.workload(spec.name)
            after = obs.spec if obs and obs.spec else {}
        mode = SSE if after.get("proxy_mode", spec.proxy_mode) == SSE else STREAMABLE
        port = after.get("port")
        if not port:
            return KNOWN_AFTER_APPLY, mode
        return proxy_url(int(port), mode, spec.name, str(after.get("url") or "")), mode

    def _leftover(self, rec: ClientEntryRecord) -> None:
        if rec.client not in CLIENTS:  # written by another version, which knew this client
            self.warnings.append(
                f"client {rec.client}: the entry {rec.server} in {rec.path} was written by a "
                "toolhive-compose that knows this client and this one does not; left as it is"
            )
            return
        file = self.files.get(rec.path)
        target = ClientTarget(rec.client, rec.path, location(CLIENTS[rec.client], rec.server),
                              rec.group)  # fmt: skip
        if file is not None and file.problem:
            if file.path not in self.unreadable:  # else named once, as the file a client needs
                self.problems.append(f"{file.problem}; its entry {rec.server} cannot be removed")
            return
        current = file.entries.get(rec.server) if file else None
        if current is None:
            reason = "already gone from the file; forgotten"
            self._add(UNREGISTER, rec.server, reason, None, None, target)
        elif entry_digest(current) != rec.digest:
            reason = "edited by hand since it was written; left in the file, no longer managed"
            self._add(UNREGISTER, rec.server, reason, current, current, target)
        else:
            self._add(UNREGISTER, rec.server, self._why_leaving(rec), current, None, target)

    def _why_leaving(self, rec: ClientEntryRecord) -> str:
        spec = self.servers.get(rec.server)
        if spec is None:
            return "server no longer in the workloads file"
        if spec.state != "running":
            return "server is stopped"
        group = next((g for g in self.desired.groups if g.name == spec.group), None)
        if group is None or rec.client not in group.clients:
            return f"group {spec.group} does not list client {rec.client}"
        return f"client {rec.client} is skipped here"

    def _add(
        self,
        kind: ActionKind,
        name: str,
        reason: str,
        before: Any,
        after: Any,
        target: ClientTarget,
        *,
        wait: bool = False,
    ) -> None:
        draft = Draft(kind, name, reason, before=before, after=after, client=target)
        draft.changes = _changes(target.location, before, after)
        if wait:
            draft.deps.update(self.waits.get(name, ()))
        self.drafts.append(draft)

    # -- the group files' registered_clients -------------------------------------------------
    def _registrations(self, usable: dict[str, ObservedClientFile]) -> None:
        observed = {g.name: g for g in self.observed.groups}
        ours: dict[str, set[str]] = defaultdict(set)
        for reg in self.observed.client_registrations:
            if reg.project == self.project:
                ours[reg.group].add(reg.client)
        wanted = {g.name: [c for c in g.clients if c in usable] for g in self.desired.groups}
        group_drafts = {d.name: d for d in self.base if d.is_group_kind()}
        for name in sorted(set(wanted) | set(ours)):
            group = observed.get(name)
            current = list(group.registered_clients) if group else []
            want = wanted.get(name, [])
            kept = [c for c in current if c in want or c not in ours[name]]
            new = kept + [c for c in want if c not in kept]
            draft = group_drafts.get(name)
            if new == current or (draft is not None and draft.kind is ActionKind.GROUP_DELETE):
                continue
            added = [c for c in new if c not in current]
            removed = [c for c in current if c not in new]
            why = "; ".join(
                [f"registers {', '.join(added)}"] * bool(added)
                + [f"unregisters {', '.join(removed)}"] * bool(removed)
            )
            if draft is None:
                self.drafts.append(
                    Draft(ActionKind.GROUP_UPDATE, name, f"clients: {why}",
                          before={"registered_clients": current},
                          after={"registered_clients": new})
                )  # fmt: skip
                continue
            draft.after = {**(draft.after or {}), "registered_clients": new}
            if draft.kind is ActionKind.GROUP_UPDATE:
                draft.before = {**(draft.before or {}), "registered_clients": current}
                draft.reason += f"; clients: {why}"


def _changes(where: str, before: Any, after: Any) -> tuple[FieldChange, ...]:
    """Field by field, the entry's change (none when it stays as it is)."""
    if before == after:
        return ()
    old, new = before or {}, after or {}
    keys = list(dict.fromkeys([*new, *old]))
    return tuple(
        FieldChange(f"{where}.{k}", old.get(k), new.get(k))
        for k in keys
        if old.get(k) != new.get(k)
    )


def _marker(name: str, found: ObservedClientFile | None) -> str:
    """What ToolHive looks for to call the client installed: its file's directory (Claude
    Code: the file)."""
    if found is None:
        return f"the configuration directory of {name}"
    if len(CLIENTS[name].path) == 1:
        return found.path
    return found.path.rpartition("/")[0]


def _join(problems: list[str]) -> str:
    if len(problems) == 1:
        return problems[0]
    return f"{len(problems)} problems with MCP clients:\n" + "\n".join(f"  - {p}" for p in problems)
