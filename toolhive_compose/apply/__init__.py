"""Carrying out a plan: :mod:`.executor` runs its actions (images first, then the action
graph) through the workload lifecycle, :mod:`.parallel` is the dependency-aware runner."""
