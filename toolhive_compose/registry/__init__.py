"""MCP server registries: :mod:`.types` (entries, errors), :mod:`.client` (where a registry is,
reading it, cached per process) and :mod:`.upstream_format` (the upstream MCP registry format,
converted the way ToolHive converts it)."""
