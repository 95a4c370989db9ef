"""One module per measured scenario; ``bench/run.py`` runs them in turn (see bench/README.md).

Baselines: :mod:`.baseline_raw_sdk`, :mod:`.baseline_compose`, :mod:`.startup`.  Ours:
:mod:`.preflight`, :mod:`.cold_apply`, :mod:`.noop_plan`, :mod:`.one_change`, :mod:`.down`;
:mod:`.where_time_goes` explains the no-op plan.
"""
