"""Proxy building blocks without Docker: frames, id routing, the process recogniser."""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest

from toolhive_compose.proxy import foreground_target
from toolhive_compose.proxy.engine_async import Demuxer
from toolhive_compose.proxy.http.guard import guarded, is_loopback, refusal
from toolhive_compose.proxy.http.wire import Headers, Request
from toolhive_compose.proxy.processes.procfs import cmdline_contains_workload, contains_thv_binary
from toolhive_compose.proxy.transports.bridge import Bridge, LineSplitter, Sink
from toolhive_compose.proxy.transports.jsonrpc import Router, parse_messages


def frame(stream: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(payload)) + payload


# -- Docker's multiplexed attach stream ------------------------------------------------------
def test_demuxer_reassembles_frames_fed_byte_by_byte() -> None:
    data = frame(1, b'{"a":1}\n') + frame(2, b"warning\n") + frame(1, b"") + frame(1, b"x" * 70000)
    demux = Demuxer()
    frames = [f for i in range(len(data)) for f in demux.feed(data[i : i + 1])]
    assert frames == [(1, b'{"a":1}\n'), (2, b"warning\n"), (1, b""), (1, b"x" * 70000)]
    assert demux.pending == 0


def test_demuxer_keeps_a_partial_frame_for_later() -> None:
    demux = Demuxer()
    whole = frame(1, b"hello") + frame(2, b"err")
    assert demux.feed(whole[:10]) == []
    assert demux.feed(whole[10:16]) == [(1, b"hello")]
    assert demux.feed(whole[16:]) == [(2, b"err")]


def test_line_splitter_joins_lines_across_chunks() -> None:
    lines = LineSplitter()
    assert lines.feed(b'{"id":') == []
    assert lines.feed(b'1}\n{"id"') == [b'{"id":1}']
    assert lines.feed(b":2}\n\n") == [b'{"id":2}', b""]


# -- id rewriting -----------------------------------------------------------------------------
def request(msg_id: Any, method: str = "tools/call", **params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}


def test_router_makes_ids_unique_across_clients_and_restores_them() -> None:
    router = Router()
    a = router.outgoing("A", request(1), "sink-a")
    b = router.outgoing("B", request(1), "sink-b")
    c = router.outgoing("B", request("x"), "sink-b2")
    assert len({a["id"], b["id"], c["id"]}) == 3
    routed = router.incoming_response({"jsonrpc": "2.0", "id": b["id"], "result": {"ok": 1}})
    assert routed is not None
    pending, answer = routed
    assert (pending.session, pending.sink, answer["id"]) == ("B", "sink-b", 1)
    assert router.incoming_response({"jsonrpc": "2.0", "id": b["id"], "result": {}}) is None
    pending, answer = router.incoming_response({"id": c["id"], "error": {"code": 1}})  # type: ignore[misc]
    assert (pending.sink, answer["id"], answer["error"]) == ("sink-b2", "x", {"code": 1})
    assert list(router.pending) == [a["id"]]


def test_router_leaves_notifications_and_client_responses_alone() -> None:
    router = Router()
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    reply = {"jsonrpc": "2.0", "id": 7, "result": {}}  # a client answering a server request
    assert router.outgoing("A", note, None) is note
    assert router.outgoing("A", reply, None) is reply
    assert router.pending == {}


def test_router_rewrites_progress_tokens_and_cancellations() -> None:
    router = Router()
    router.outgoing("A", request(1), None)
    sent = router.outgoing("B", request(1, _meta={"progressToken": 1}, name="echo"), "sink-b")
    assert sent["params"]["_meta"]["progressToken"] == sent["id"]
    assert sent["params"]["name"] == "echo"
    progress = {"method": "notifications/progress", "params": {"progressToken": sent["id"]}}
    routed = router.incoming_progress(progress)
    assert routed is not None and routed[0].sink == "sink-b"
    assert routed[1]["params"]["progressToken"] == 1
    cancel = {"method": "notifications/cancelled", "params": {"requestId": 1, "reason": "x"}}
    assert router.outgoing("B", cancel, None)["params"] == {"requestId": sent["id"], "reason": "x"}
    router.forget_session("B")
    assert router.incoming_progress(progress) is None


def test_parse_messages_accepts_single_messages_and_batches() -> None:
    assert parse_messages(b'{"jsonrpc":"2.0","method":"x"}') == (
        [{"jsonrpc": "2.0", "method": "x"}],
        False,
    )
    assert parse_messages(b'[{"id":1},{"id":2}]')[1] is True
    for bad in (b"[]", b"3", b"{", b"[1]"):
        with pytest.raises(ValueError):
            parse_messages(bad)


def test_bridge_routes_answers_notifications_and_server_requests() -> None:
    written: list[bytes] = []

    async def drain() -> None:
        return None

    bridge = Bridge(written.append, drain)
    one, two = bridge.new_session(), bridge.new_session()
    sink_one, sink_two, stream_two = Sink(), Sink(), Sink()
    two.open_stream(stream_two)
    bridge.forward(one, [request(1)], sink_one)
    bridge.forward(two, [request(1)], sink_two)
    ids = [json.loads(line)["id"] for chunk in written for line in chunk.splitlines()]
    assert len(set(ids)) == 2
    bridge.on_line(json.dumps({"jsonrpc": "2.0", "id": ids[0], "result": {"n": 1}}).encode())
    assert sink_one.queue.get_nowait() == {"jsonrpc": "2.0", "id": 1, "result": {"n": 1}}
    assert sink_two.queue.empty()
    bridge.on_line(b'{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}')
    assert stream_two.queue.get_nowait()["method"] == "notifications/tools/list_changed"
    assert one.backlog[0]["method"] == "notifications/tools/list_changed"  # no stream: kept
    bridge.on_line(b'{"jsonrpc":"2.0","id":"s1","method":"roots/list"}')  # two's call in flight
    assert stream_two.queue.get_nowait()["id"] == "s1"
    bridge.on_line(b"not json at all")
    bridge.end_session(two)
    assert stream_two.queue.get_nowait() is None


# -- the detached proxy's command line ---------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/usr/local/bin/thv start fetch --foreground", True),
        ("thv start fetch", True),
        ("C:\\bin\\thv.exe start fetch", True),
        ("/venv/bin/python /venv/bin/thv start x --foreground", True),
        ("python -m toolhive_compose start fetch --foreground", False),
        ("/usr/bin/toolhive serve", False),
        ("/usr/bin/python3 -c pass", False),
    ],
)
def test_contains_thv_binary(text: str, expected: bool) -> None:
    assert contains_thv_binary(text) is expected


@pytest.mark.parametrize(
    ("cmdline", "name", "expected"),
    [
        ("thv start github --foreground", "github", True),
        ("thv start github", "github", True),
        ("thv start github --foreground", "g", False),
        ("thv start github-2 --foreground", "github", True),  # ToolHive's rule: '-' may follow
        ("thv start githubx", "github", False),
        ("thv restart github", "github", False),
        ("thv start github", "", False),
    ],
)
def test_cmdline_contains_workload(cmdline: str, name: str, expected: bool) -> None:
    assert cmdline_contains_workload(cmdline, name) is expected


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["start", "fetch", "--foreground"], {}, "fetch"),
        (["start", "fetch", "-f"], {}, "fetch"),
        (["start", "fetch"], {"TOOLHIVE_DETACHED": "1"}, "fetch"),
        (["start", "fetch"], {}, None),
        (["start", "a", "b", "--foreground"], {}, None),
        (["start", "--all"], {"TOOLHIVE_DETACHED": "1"}, None),
        (["stop", "fetch", "--foreground"], {}, None),
        ([], {}, None),
    ],
)
def test_foreground_target(args: list[str], env: dict[str, str], expected: str | None) -> None:
    assert foreground_target(args, env) == expected


def test_the_proxy_entry_path_stays_lean() -> None:
    """50 proxies start next to 50 containers: no CLI framework, SDK or YAML on that path."""
    import subprocess
    import sys

    code = (
        "import sys; import toolhive_compose.__main__, toolhive_compose.proxy.main;"
        "heavy = {'typer', 'click', 'docker', 'jsonschema', 'deepdiff', 'yaml', 'requests'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- DNS-rebinding protection ------------------------------------------------------------------
def _request(**headers: str) -> Request:
    fields = Headers()
    for name, value in headers.items():
        fields.add(name.replace("_", "-"), value)
    return Request("POST", "/mcp", "HTTP/1.1", fields)


@pytest.mark.parametrize(
    ("headers", "refused"),
    [
        ({"Host": "127.0.0.1:8080"}, ""),
        ({"Host": "localhost:8080"}, ""),
        ({"Host": "[::1]:8080"}, ""),
        ({}, ""),  # HTTP/1.0 without Host
        ({"Host": "localhost:8080", "Origin": "http://localhost:6274"}, ""),  # MCP Inspector
        ({"Host": "127.0.0.1:8080", "Origin": "http://127.0.0.1:3000"}, ""),
        ({"Host": "app.localhost", "Origin": "https://app.localhost"}, ""),
        ({"Host": "evil.example:8080"}, "host 'evil.example:8080' is not allowed"),
        ({"Host": "127.0.0.1.nip.io:8080"}, "is not allowed"),
        ({"Host": "127.0.0.1:8080", "Origin": "https://evil.example"}, "origin 'https://evil"),
        ({"Host": "127.0.0.1:8080", "Origin": "null"}, "origin 'null' is not allowed"),
        ({"Host": "127.0.0.1:8080", "Origin": "http://[::1"}, "is not allowed"),  # malformed
    ],
)
def test_rebinding_refusals(headers: dict[str, str], refused: str) -> None:
    reason = refusal(_request(**headers))
    assert (reason == "") if not refused else (refused in reason)


@pytest.mark.parametrize(
    ("host", "expected"),
    [("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True),
     ("localhost", True), ("LOCALHOST.", True), ("0.0.0.0", False), ("10.0.0.1", False),
     ("", False), ("example.com", False)],
)  # fmt: skip
def test_is_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


def test_guard_applies_to_loopback_binds_only() -> None:
    async def app(request: Request, conn: Any) -> bool:
        return True

    assert guarded(app, "0.0.0.0") is app
    assert guarded(app, "127.0.0.1") is not app
