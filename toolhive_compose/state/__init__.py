"""ToolHive-compatible state on disk: run configs, status files, groups, the state lock.

:mod:`.store` holds the run configs and groups (:mod:`.runconfig` their format) and
:mod:`.status` the status files (:mod:`.status_format` their decoding and repairs,
:mod:`.filelock` ToolHive's per-file lock); :mod:`.ownership` records who owns groups and
adopted workloads; :mod:`.atomic` writes files whole; :mod:`.lock` is the lock every command
that changes workloads takes.  A damaged file is a
:class:`~toolhive_compose.errors.DamagedFile` naming it.
"""

from .lock import state_lock
from .status import StatusStore, WorkloadStatus
from .store import GroupStore, RunConfigStore, Store, group_document

__all__ = [
    "GroupStore",
    "RunConfigStore",
    "StatusStore",
    "Store",
    "WorkloadStatus",
    "group_document",
    "state_lock",
]
