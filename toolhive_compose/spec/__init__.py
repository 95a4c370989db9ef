"""Workloads files → :class:`~toolhive_compose.model.DesiredState`.

:mod:`.source` reads YAML as data with the line and column of every value (its nodes made by
:mod:`.yaml_nodes`); :mod:`.interpolate` expands ``${VAR}``; :mod:`.server_entries` resolves
``server:`` entries against the registry; :mod:`.schema` validates against the JSON Schema and
:mod:`.semantic` checks what the schema cannot express; :mod:`.desired` fills in the defaults.
:mod:`.loader` runs them in that order, :mod:`.field_values` is how both the checks and the
builder read a field, :mod:`.labels` the label rules ToolHive applies, :mod:`.names` the rules
for workload and group names and image references (also used by the CLI and the library).
"""
