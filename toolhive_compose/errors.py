"""Errors a user can see.

Every expected failure is a :class:`ThvError`: its ``str()`` is the one sentence the CLI
prints on stderr, ``hint`` an optional second line, ``exit_code`` what the process returns.
Anything else that escapes is a bug and keeps its traceback.

Hierarchy::

    ThvError                      exit 1
    ├── SpecError                 the workloads file (all problems at once, file:line:col)
    ├── EngineUnavailable         the container engine does not answer
    ├── EngineError               the engine refused an operation
    ├── StateError                an unreadable or unwritable state file
    │   └── DamagedFile           a state file that cannot be read as its format says (names it)
    ├── LockHeld                  another command holds the state lock
    ├── PlanError                 the desired state cannot be reached (name clash, port clash)
    ├── NotFound                  a named workload or group does not exist
    ├── ApplyFailed               some actions failed (the summary was already printed)
    ├── PlanFileError             a saved plan or observed-state file that cannot be used
    ├── StalePlan                 a saved plan whose inputs or machine moved (nothing done)
    ├── RiskDenied                the plan has an action of a class denied by --deny
    ├── Cancelled                 the work was cancelled (timed out, or interrupted)
    └── Interrupted               Ctrl-C (at a prompt, or while a command ran)   exit 130

Exit codes: 0 success, 1 any error, 2 only for ``plan --detailed-exitcode`` with changes,
130 interrupted.
"""

from __future__ import annotations

from dataclasses import dataclass


class ThvError(Exception):
    """An expected error with a user-facing sentence."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found in a workloads file."""

    message: str
    file: str | None = None
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    path: str = ""  # dotted path in the document, e.g. "servers.fetch.transport"

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        path = f"{self.path}: " if self.path else ""
        return f"{where}{path}{self.message}"


class SpecError(ThvError):
    """The workloads file is invalid; carries every problem found."""

    def __init__(
        self,
        problems: list[Problem] | tuple[Problem, ...],
        *,
        hint: str | None = None,
        subject: str = "the workloads file",
    ):
        self.problems = tuple(problems)
        count = len(self.problems)
        if count == 1:
            message = str(self.problems[0])
        else:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            message = f"{subject} has {count} problems:\n{lines}"
        super().__init__(message, hint=hint)


class EngineUnavailable(ThvError):
    """The container engine cannot be reached."""


class EngineError(ThvError):
    """The container engine refused or failed an operation."""


class StateError(ThvError):
    """A state file cannot be read or written."""


class DamagedFile(StateError):
    """A state file exists but cannot be read as its format says: not JSON, not an object,
    a field of the wrong type.  ``path`` names it, ``reason`` says what is wrong; the message
    names both."""

    def __init__(self, kind: str, path: object, reason: str, *, hint: str | None = None) -> None:
        self.kind = kind  # "run config", "status file", "group file", …
        self.path = str(path)
        self.reason = reason
        super().__init__(f"damaged {kind} {self.path}: {reason}", hint=hint)


class FileBusy(StateError):
    """A state file's lock was held by another process for longer than its wait."""


class LockHeld(ThvError):
    """Another process holds the state lock."""


class PlanError(ThvError):
    """The desired state conflicts with what exists (several conflicts joined)."""


class NotFound(ThvError):
    """A named workload or group does not exist."""


class ApplyFailed(ThvError):
    """At least one action failed; the details were reported as events."""


class PlanFileError(ThvError):
    """A saved plan or an observed-state snapshot cannot be used: unreadable, truncated,
    edited, from another project or state directory, or of a newer format."""


class StalePlan(ThvError):
    """Something a saved plan was made from changed since; nothing was done."""


class RiskDenied(ThvError):
    """The plan has actions of a risk class that ``--deny`` (or a refused question) forbids."""


class Cancelled(ThvError):
    """The work was cancelled (its timeout passed, or Ctrl-C): it stopped before its next
    engine call or state write (:mod:`toolhive_compose.cancel`)."""


class Interrupted(ThvError):
    """The user pressed Ctrl-C (SIGINT); nothing more was done."""

    exit_code = 130
