"""MCP clients' configuration files: registering servers in Cursor, VS Code, Claude Code and the
rest.

:mod:`.catalog` is ToolHive's table of clients (a base module: pure data the loader and the
planner use too); :mod:`.documents` reads a client file as server entries, edited in place by
:mod:`.jsonc`, :mod:`.yaml_edit` and :mod:`.toml_edit`; :mod:`.files` reads, locks and writes
files, :mod:`.records` keeps what toolhive-compose wrote; :mod:`.observe` reads what a plan
needs, :mod:`.editor` carries out client actions, :mod:`.report` is ``thv client list``'s view.
"""
