"""The MCP bridge's sessions over real HTTP: the Streamable HTTP transport (Mcp-Session-Id,
MCP-Protocol-Version, JSON or SSE per Accept, the GET stream, DELETE) and the 2024-11-05 SSE
transport (`/mcp/stream`), each session bound to its credential and workspace."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from molecule.http.app import create_app
from molecule.http.mcp_sessions import BRIDGE_KEY, IDLE_TTL, OUTBOX, PER_OWNER, Bridge
from molecule.http.server import serve
from molecule.platform import hypercorn_config, running_platform
from tests.conftest import Harness, make_settings
from tests.http.test_mcp import bearer, post, snapshot

WAIT = 10.0
INIT = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}
BOTH = "application/json, text/event-stream"


@dataclass
class Served:
    h: Harness
    bridge: Bridge


@pytest.fixture
async def bridged(aio_loop: object, dsn: str, tmp_path: Path) -> AsyncIterator[Served]:
    """The platform with its app at hand, to reach the bridge's sessions and clocks."""
    settings = make_settings(tmp_path, dsn)
    stop = trio.Event()
    async with trio.open_nursery() as nursery, running_platform(settings, dsn) as svc:
        app = create_app(svc)
        config = hypercorn_config(settings)
        binds = await nursery.start(
            lambda task_status: serve(
                app, config, shutdown_trigger=stop.wait, task_status=task_status
            )
        )
        bridge = app.config[BRIDGE_KEY] = Bridge()
        async with httpx.AsyncClient(base_url=binds[0], timeout=10) as client:
            yield Served(Harness(svc, binds[0], client), bridge)
        stop.set()


def call(name: str, rid: Any = 1, **arguments: Any) -> dict[str, Any]:
    params = {"name": name, "arguments": arguments}
    return {"jsonrpc": "2.0", "id": rid, "method": "tools/call", "params": params}


async def open_session(h: Harness, ws: dict[str, Any], headers: dict[str, str]) -> str:
    r = await post(h, ws["id"], INIT, {**headers, "Accept": BOTH})
    assert r.status_code == 200, r.text
    assert r.json()["result"]["protocolVersion"] == "2025-06-18"
    return r.headers["mcp-session-id"]


def in_session(headers: dict[str, str], sid: str) -> dict[str, str]:
    return {**headers, "Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-06-18", "Accept": BOTH}


async def sse_events(lines: AsyncIterator[str], count: int) -> list[tuple[str, str]]:
    """The next `count` SSE events as (event, data), skipping comments."""
    found: list[tuple[str, str]] = []
    event, data = "message", ""
    with trio.fail_after(WAIT):
        async for line in lines:
            if line.startswith(":"):
                continue
            if line.startswith("event: "):
                event = line[len("event: ") :]
            elif line.startswith("data: "):
                data = line[len("data: ") :]
            elif line == "" and data:
                found.append((event, data))
                event, data = "message", ""
                if len(found) == count:
                    return found
    return found


async def test_streamable_http_session(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("agent")
    sid = await open_session(h, ws, bearer(ws))
    headers = in_session(bearer(ws), sid)
    r = await post(h, ws["id"], {"jsonrpc": "2.0", "method": "notifications/initialized"}, headers)
    assert r.status_code == 202

    # inside a session a failing tool is a result with isError (the model reads why)
    before = await snapshot(h)
    r = await post(h, ws["id"], call("commit_memory", content="x", scope="GLOBAL"), headers)
    assert r.status_code == 200
    result = r.json()["result"]
    assert result["isError"] is True
    assert result["content"][0]["text"].startswith("GLOBAL scope is not permitted")
    r = await post(h, ws["id"], call("no_such_tool"), headers)
    assert r.json()["error"] == {"code": -32602, "message": "unknown tool: no_such_tool"}
    assert await snapshot(h) == before
    r = await post(h, ws["id"], call("commit_memory", content="kept"), headers)
    assert "isError" not in r.json()["result"]

    # an answer as one SSE event when the client takes only an event stream
    r = await post(h, ws["id"], call("list_peers"), {**headers, "Accept": "text/event-stream"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    event = r.text.split("\n")
    assert event[0] == "event: message" and event[1].startswith("data: ")
    assert json.loads(event[1][6:])["result"]["content"][0]["text"] == "No peers found."

    # the session is this credential's and this workspace's: anyone else gets a 404
    other = await h.create_external("other")
    for who, wid in ((h.admin, ws["id"]), (bearer(other), other["id"])):
        r = await post(h, wid, call("list_peers"), in_session(who, sid))
        assert r.status_code == 404
        assert r.json() == {
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": -32001, "message": "session not found"},
        }
    future = {**headers, "MCP-Protocol-Version": "2099-01-01"}
    r = await post(h, ws["id"], call("list_peers"), future)
    assert r.status_code == 400 and r.json()["error"]["code"] == -32600
    # session-less requests still work next to it (the original's wire)
    r = await post(h, ws["id"], call("get_workspace_info"), bearer(ws))
    assert json.loads(r.json()["result"]["content"][0]["text"])["id"] == ws["id"]

    r = await h.client.delete(f"/workspaces/{ws['id']}/mcp", headers=bearer(other))
    assert r.status_code == 401
    r = await h.client.delete(f"/workspaces/{ws['id']}/mcp", headers=headers)
    assert (r.status_code, r.content) == (204, b"")
    r = await post(h, ws["id"], call("list_peers"), headers)
    assert r.status_code == 404
    r = await h.client.delete(f"/workspaces/{ws['id']}/mcp", headers=headers)
    assert (r.status_code, r.json()) == (404, {"error": "session not found"})
    r = await h.client.delete(f"/workspaces/{ws['id']}/mcp", headers=bearer(ws))
    assert (r.status_code, r.json()) == (400, {"error": "Mcp-Session-Id header is required"})


async def test_session_stream(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("agent")
    sid = await open_session(h, ws, bearer(ws))
    headers = in_session(bearer(ws), sid)
    url = f"/workspaces/{ws['id']}/mcp"
    r = await h.client.get(url, headers=bearer(ws))
    assert r.status_code == 406
    r = await h.client.get(url, headers={**bearer(ws), "Accept": "text/event-stream"})
    assert (r.status_code, r.json()) == (400, {"error": "Mcp-Session-Id header is required"})
    r = await h.client.get(url, headers={**headers, "Mcp-Session-Id": "f" * 32})
    assert (r.status_code, r.json()) == (404, {"error": "session not found"})

    async with h.client.stream("GET", url, headers=headers) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        chunks = stream.aiter_text()
        with trio.fail_after(WAIT):
            assert (await chunks.__anext__()).startswith(": ping")
        r = await h.client.get(url, headers=headers)
        assert (r.status_code, r.json()) == (
            409,
            {"error": "this session's stream is already open"},
        )
        r = await h.client.delete(url, headers=headers)
        assert r.status_code == 204
        with trio.fail_after(WAIT):  # ending the session ends its stream
            async for _ in chunks:
                pass


async def test_sessions_per_credential_are_bounded(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("agent")
    first = await open_session(h, ws, bearer(ws))
    admins = await open_session(h, ws, h.admin)
    for _ in range(PER_OWNER):
        await open_session(h, ws, bearer(ws))
    # the credential's least recently used session made room; another credential's did not
    r = await post(h, ws["id"], call("list_peers"), in_session(bearer(ws), first))
    assert r.status_code == 404
    r = await post(h, ws["id"], call("list_peers"), in_session(h.admin, admins))
    assert r.status_code == 200


async def test_legacy_sse_transport(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("agent")
    url = f"/workspaces/{ws['id']}/mcp/stream"
    async with h.client.stream("GET", url, headers=bearer(ws)) as stream:
        assert stream.status_code == 200
        lines = stream.aiter_lines()
        [(event, endpoint)] = await sse_events(lines, 1)
        assert event == "endpoint"
        assert endpoint.startswith(f"/workspaces/{ws['id']}/mcp?session_id=")

        r = await h.client.post(endpoint, json=INIT, headers=bearer(ws))
        assert (r.status_code, r.text) == (202, "")
        remember = call("commit_memory", 2, content="via sse")
        r = await h.client.post(endpoint, json=remember, headers=bearer(ws))
        assert r.status_code == 202
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        r = await h.client.post(endpoint, json=note, headers=bearer(ws))
        assert r.status_code == 202
        (_, first), (_, second) = await sse_events(lines, 2)
        assert json.loads(first)["result"]["protocolVersion"] == "2025-06-18"
        committed = json.loads(json.loads(second)["result"]["content"][0]["text"])
        assert committed["scope"] == "LOCAL"
        assert (
            await h.svc.store.fetchval(
                "SELECT content FROM agent_memories WHERE id = $1", committed["id"]
            )
            == "via sse"
        )

        # garbage is still refused on the POST itself; another credential cannot use it
        r = await h.client.post(endpoint, content=b"nope", headers=bearer(ws))
        assert r.status_code == 400 and r.json()["error"]["code"] == -32700
        r = await h.client.post(endpoint, json=INIT, headers=h.admin)
        assert r.status_code == 404 and r.json()["error"]["code"] == -32001
    # the stream is gone, and its session with it
    with trio.fail_after(WAIT):
        while True:
            r = await h.client.post(endpoint, json=INIT, headers=bearer(ws))
            if r.status_code == 404:
                break
            await trio.sleep(0.02)


async def test_sse_outbox_is_bounded(bridged: Served) -> None:
    """A client that posts but does not read its stream: once its outbox holds 64 unread
    answers, a POST is refused with 503 before any work is done."""
    h, bridge = bridged.h, bridged.bridge
    ws = await h.create_external("agent")
    url = f"/workspaces/{ws['id']}/mcp/stream"
    async with h.client.stream("GET", url, headers=bearer(ws)) as stream:
        lines = stream.aiter_lines()  # held: a collected iterator closes the stream
        [(_, endpoint)] = await sse_events(lines, 1)
        [session] = [s for s in bridge.sessions._sessions.values() if s.kind == "sse"]
        # a stand-in outbox nobody drains (the stream reads the original one)
        original = session.outbox
        session.outbox, unread = trio.open_memory_channel[dict[str, Any]](OUTBOX)
        for i in range(OUTBOX - 1):
            session.outbox.send_nowait({"n": i})
        ping = {"jsonrpc": "2.0", "id": "last", "method": "ping"}
        r = await h.client.post(endpoint, json=ping, headers=bearer(ws))
        assert r.status_code == 202, r.text  # the 64th answer still fits
        before = await snapshot(h)
        lost = call("commit_memory", content="lost?")
        r = await h.client.post(endpoint, json=lost, headers=bearer(ws))
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert r.json() == {"error": "MCP session stream is not being read — retry shortly"}
        assert await snapshot(h) == before
        assert unread.statistics().current_buffer_used == OUTBOX
        assert original is not None and not session.closed.is_set()


async def test_idle_sessions_end_and_windows_reset(bridged: Served) -> None:
    h, bridge = bridged.h, bridged.bridge
    now = [1000.0]
    bridge.sessions.clock = bridge.limiter.clock = lambda: now[0]
    ws = await h.create_external("agent")
    idle = await open_session(h, ws, bearer(ws))
    watched = await open_session(h, ws, bearer(ws))
    headers = in_session(bearer(ws), watched)
    async with h.client.stream("GET", f"/workspaces/{ws['id']}/mcp", headers=headers) as stream:
        with trio.fail_after(WAIT):
            await stream.aiter_text().__anext__()
        now[0] += IDLE_TTL + 1
        # the idle session is gone; the one with an open stream is not
        r = await post(h, ws["id"], call("list_peers"), in_session(bearer(ws), idle))
        assert r.status_code == 404
        r = await post(h, ws["id"], call("list_peers"), headers)
        assert r.status_code == 200

    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    used = 2  # the two posts since the clock moved on started a new window
    for _ in range(120 - used):
        assert (await post(h, ws["id"], ping, bearer(ws))).status_code == 200
    r = await post(h, ws["id"], ping, bearer(ws))
    assert r.status_code == 429 and r.headers["retry-after"] == "60"
    now[0] += 59.5
    r = await post(h, ws["id"], ping, bearer(ws))
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    now[0] += 0.5
    assert (await post(h, ws["id"], ping, bearer(ws))).status_code == 200
