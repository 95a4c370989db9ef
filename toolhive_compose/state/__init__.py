"""ToolHive-compatible state on disk: run configs, status files, groups, the apply lock."""

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
