"""Carry out a plan, exactly as planned: images first, then the action graph in parallel.

Every image that a create, recreate or upgrade needs is made present (pulled if missing, each
pull bounded by ``pull_timeout``) before any action runs, so a missing image fails its own
action and leaves the old workload untouched.  Independent actions run together; a failed
action's dependants are skipped.  A timed-out action is cancelled and holds its slot until
it has stopped (:mod:`.parallel`).  An :class:`~.parallel.Interrupt` (Ctrl-C) starts nothing
more and lets the running actions finish within its grace.  Progress goes to ``on_event``
(pulls to ``on_pull``); nothing here prints.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from ..clients.editor import ClientEditor
from ..errors import ThvError
from ..model import DesiredState
from ..plan.actions import CLIENT_KINDS, Action, ActionKind, Plan
from ..runtime import PullProgress
from ..runtime.pulls import PULL_TIMEOUT
from ..workloads.inflight import ContainerGone
from ..workloads.lifecycle import Lifecycle
from .lockcheck import LockKeeper, LockPolicy, keeper_for
from .parallel import DONE, FAILED, INTERRUPTED, NOT_STARTED, Interrupt, Outcome, run_graph

DEFAULT_PARALLELISM = 8
DEFAULT_TIMEOUT = 300.0
IMAGE_KINDS = frozenset({ActionKind.CREATE, ActionKind.RECREATE, ActionKind.UPGRADE})


@dataclass(frozen=True, slots=True)
class Event:
    action: Action
    state: str  # started | done | failed | skipped | not started | interrupted
    message: str = ""
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class ApplyResult:
    events: tuple[Event, ...]  # final event of every action, in plan order

    @property
    def ok(self) -> bool:
        return all(e.state == DONE for e in self.events)

    @property
    def interrupted(self) -> bool:
        return any(e.state in (NOT_STARTED, INTERRUPTED) for e in self.events)

    def count(self, state: str) -> int:
        return sum(1 for e in self.events if e.state == state)


def apply_plan(
    plan: Plan,
    desired: DesiredState,
    lifecycle: Lifecycle,
    *,
    parallelism: int = DEFAULT_PARALLELISM,
    timeout: float = DEFAULT_TIMEOUT,
    on_event: Callable[[Event], None] | None = None,
    interrupt: Interrupt | None = None,
    pull_timeout: float = PULL_TIMEOUT,
    on_pull: Callable[[PullProgress], None] | None = None,
    lock_policy: LockPolicy | None = None,
) -> ApplyResult:
    emit = on_event or (lambda event: None)
    run = _Run(parallelism, timeout, interrupt or Interrupt(), pull_timeout, on_pull)
    # Proxies come from a pre-loaded launcher, started first: its start-up overlaps the rest.
    launching = any(starts_proxy(a) for a in plan.actions)
    keeper = keeper_for(desired, lifecycle, lock_policy)
    with lifecycle.launching_proxies() if launching else contextlib.nullcontext():
        return _apply(plan, desired, lifecycle, run, emit, keeper)


@dataclass(frozen=True, slots=True)
class _Run:
    """How an apply runs: its limits, its interrupt, its pulls."""

    parallelism: int
    timeout: float
    interrupt: Interrupt
    pull_timeout: float
    on_pull: Callable[[PullProgress], None] | None


def _apply(
    plan: Plan,
    desired: DesiredState,
    lifecycle: Lifecycle,
    how: _Run,
    emit: Callable[[Event], None],
    keeper: LockKeeper | None,
) -> ApplyResult:
    actions = {a.id: a for a in plan.actions}
    lifecycle.store.groups.ensure_default()
    image_errors = _prepare_images(plan, desired, lifecycle, how)
    notes = _upgrade_notes(plan, lifecycle, image_errors)
    clients = ClientEditor(lifecycle.store)

    def run(action_id: int) -> None:
        action = actions[action_id]
        image = _image_of(action, desired)
        if action.kind in IMAGE_KINDS and image in image_errors:
            raise image_errors[image]
        if action.kind in CLIENT_KINDS:
            _client(action, desired.project, clients)
            return
        if keeper is not None:
            keeper.before(action)
        _dispatch(action, desired, lifecycle, clients)
        if keeper is not None and (note := keeper.after(action)):
            notes[action_id] = "; ".join(n for n in (notes.get(action_id), note) if n)

    finals: dict[int, Event] = {}

    def outcome(result: Outcome[int]) -> None:
        note = notes.get(result.key, "") if result.state == DONE else ""
        if result.late:
            note = f"finished after the {how.timeout:g}s timeout" + (f"; {note}" if note else "")
        message = _message(result.error) or note
        event = Event(actions[result.key], result.state, message, result.seconds)
        finals[result.key] = event
        emit(event)

    run_graph(
        [a.id for a in plan.actions],
        {a.id: a.depends_on for a in plan.actions},
        run,
        parallelism=how.parallelism,
        timeout=how.timeout,
        on_start=lambda key: emit(Event(actions[key], "started")),
        on_outcome=outcome,
        interrupt=how.interrupt,
    )
    return ApplyResult(tuple(finals[a.id] for a in plan.actions))


def starts_proxy(action: Action) -> bool:
    """Whether carrying out ``action`` starts a proxy (a start, or a container made running)."""
    if action.kind is ActionKind.START:
        return True
    if action.kind in IMAGE_KINDS:
        return (action.after or {}).get("state", "running") == "running"
    return False


def _image_of(action: Action, desired: DesiredState) -> str:
    """The image an action's container runs: the lock's pinned one when it wins."""
    image = str((action.after or {}).get("image") or "")
    if action.kind in IMAGE_KINDS and image:
        spec = desired.find_server(action.name)
        return (spec.image_ref if spec is not None else "") or image
    return image


def _prepare_images(
    plan: Plan, desired: DesiredState, lifecycle: Lifecycle, how: _Run
) -> dict[str, BaseException]:
    images = sorted({_image_of(a, desired) for a in plan.actions if a.kind in IMAGE_KINDS} - {""})
    runtime = lifecycle.runtime

    def ensure(image: str) -> None:
        if not runtime.image_present(image):
            runtime.pull(image, timeout=how.pull_timeout, progress=how.on_pull)

    outcomes = run_graph(images, {}, ensure, parallelism=how.parallelism, interrupt=how.interrupt)
    return {k: o.error for k, o in outcomes.items() if o.state == FAILED and o.error}


def _upgrade_notes(
    plan: Plan, lifecycle: Lifecycle, image_errors: dict[str, BaseException]
) -> dict[int, str]:
    """For each upgrade: ``old -> new (sha256:…)``, the new image's digest now that it is here."""
    digest_of = getattr(lifecycle.runtime, "image_id", None)
    notes = {}
    for action in plan.actions:
        change = action.image
        if action.kind is not ActionKind.UPGRADE or change is None or change.after in image_errors:
            continue
        digest = ""
        if digest_of is not None:
            try:
                digest = str(digest_of(change.after))[:19]
            except ThvError:
                digest = ""
        notes[action.id] = f"{change.before} -> {change.after}" + (f" ({digest})" if digest else "")
    return notes


def _dispatch(
    action: Action, desired: DesiredState, lifecycle: Lifecycle, clients: ClientEditor
) -> None:
    after = action.after or {}
    kind, name, project = action.kind, action.name, desired.project
    if kind in (ActionKind.GROUP_CREATE, ActionKind.GROUP_UPDATE):
        if kind is ActionKind.GROUP_CREATE or "description" in after:
            lifecycle.group_create(name, project=project, description=after.get("description", ""))
        if "registered_clients" in after:
            before = (action.before or {}).get("registered_clients") or []
            clients.register_clients(name, before, after["registered_clients"], project)
    elif kind is ActionKind.GROUP_DELETE:
        lifecycle.group_delete(name)
        clients.forget_group(name, project)
    elif kind is ActionKind.CREATE:
        lifecycle.create(desired.server(name), after, project=project)
    elif kind in (ActionKind.RECREATE, ActionKind.UPGRADE):
        lifecycle.replace(desired.server(name), after, project=project, container_id=action.target)
    elif kind is ActionKind.START:
        try:
            lifecycle.start(name, action.target)
        except ContainerGone:  # removed meanwhile (a removal a killed run left under way)
            lifecycle.create(desired.server(name), after, project=project)
    elif kind is ActionKind.STOP:
        lifecycle.stop(name, action.target)
    elif kind is ActionKind.DELETE:
        lifecycle.delete(name, action.target)
    elif kind is ActionKind.MOVE_GROUP:
        lifecycle.move_group(name, after["group"])
    elif kind is ActionKind.ADOPT:
        lifecycle.adopt(name, after, project=project)
    elif kind is ActionKind.RECONFIGURE:
        lifecycle.reconfigure(name, after)
    else:  # pragma: no cover - every kind is handled above
        raise AssertionError(f"unhandled action kind {kind}")


def _client(action: Action, project: str, clients: ClientEditor) -> None:
    """A client action: ``before`` is the entry the plan saw, ``after`` the one it wants
    (equal: take the entry on record; for an unregister, equal or both None: forget it)."""
    target = action.client
    assert target is not None
    if action.kind is ActionKind.CLIENT_UNREGISTER:
        keep = action.before is None or action.after is not None
        clients.unregister(target.name, target.file, action.name, seen=action.before, keep=keep)
        return
    take_over = action.before is not None and action.before == action.after
    clients.register(
        target.name, target.file, target.group, action.name,
        seen=action.before, project=project, take_over=take_over,
    )  # fmt: skip


def _message(error: BaseException | None) -> str:
    if error is None:
        return ""
    if isinstance(error, ThvError | TimeoutError):
        return str(error)
    return f"unexpected error: {type(error).__name__}: {error}"
