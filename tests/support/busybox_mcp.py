"""A stdio MCP server in busybox ``sh``: answers ``initialize`` and ``tools/list``, echoing the
request id, so that a workload of ``thc-test/busybox:1`` passes apply's readiness round trip
in well under a second.  ``workload_args()`` is the server's ``args:`` in a workloads file
(``$`` doubled: no interpolation)."""

from __future__ import annotations

_INIT = (
    '{"jsonrpc":"2.0","id":%s,"result":{"protocolVersion":"2025-06-18",'
    '"capabilities":{"tools":{}},"serverInfo":{"name":"bb","version":"1"}}}'
)
_TOOLS = '{"jsonrpc":"2.0","id":%s,"result":{"tools":[]}}'
_ID = (
    """sed -n -e 's/.*"id": *\\([0-9][0-9]*\\).*/\\1/p'"""
    """ -e 's/.*"id": *\\("[^"]*"\\).*/\\1/p' | head -n 1"""
)
MCP_SH = "\n".join(
    [
        "while IFS= read -r line; do",
        f"  id=$(printf '%s' \"$line\" | {_ID})",
        '  case "$line" in',
        f"    *'\"initialize\"'*) printf '{_INIT}\\n' \"$id\" ;;",
        f"    *'\"tools/list\"'*) printf '{_TOOLS}\\n' \"$id\" ;;",
        "  esac",
        "done",
    ]
)


def workload_args() -> list[str]:
    return ["sh", "-c", MCP_SH.replace("$", "$$")]
