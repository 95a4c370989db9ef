"""Workloads on this machine: what exists and the operations on it.

:mod:`.observe` (engine list + state files → ``ObservedState``) and :mod:`.queries` (ToolHive's
list/get view) read; :mod:`.lifecycle` creates, starts, stops, deletes and moves workloads,
with container parameters from :mod:`.containers`; :mod:`.importer` writes a workloads file
that reproduces existing ones.
"""
