"""Planning, pure: desired and observed state in, a :class:`~.actions.Plan` out.

:mod:`.planner` decides each action (hashes decide), :mod:`.diff` explains a change field by
field, :mod:`.order` links the actions (groups first, ports freed before they are taken) and
orders them; :mod:`.risk` gives each action its risk classes (disruptive, privilege-widening,
new-server, benign); :mod:`.actions` is the plan itself, plain data with its JSON form.
Nothing here does I/O: no engine, no state files, no clock.
"""
