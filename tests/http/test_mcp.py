"""The MCP bridge on the original's wire (session-less JSON-RPC over POST), over real HTTP:
the handshake, the tool list and schemas, every tool through the operation its HTTP route
uses, and the refusals (auth, garbage, size, rate) with the database checked unchanged."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from tests.conftest import Harness, drain, make_settings, start_platform

WAIT = 10.0


def bearer(ws: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {ws['connection']['auth_token']}"}


async def post(
    h: Harness, wid: str, body: Any, headers: dict[str, str], **kw: Any
) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await h.client.post(
        f"/workspaces/{wid}/mcp",
        content=raw,
        headers={"Content-Type": "application/json", **headers},
        **kw,
    )


async def rpc(
    h: Harness, ws: dict[str, Any], method: str, params: Any = None, rid: Any = 1
) -> dict[str, Any]:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
    if params is not None:
        body["params"] = params
    r = await post(h, ws["id"], body, bearer(ws))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    return r.json()  # type: ignore[no-any-return]


async def tool(h: Harness, ws: dict[str, Any], name: str, **arguments: Any) -> str:
    """A tool's answer text; fails the test on a JSON-RPC error."""
    answer = await rpc(h, ws, "tools/call", {"name": name, "arguments": arguments})
    assert "error" not in answer, answer
    [content] = answer["result"]["content"]
    assert content["type"] == "text"
    return str(content["text"])


async def tool_error(h: Harness, ws: dict[str, Any], name: str, **arguments: Any) -> str:
    """On the session-less wire a failing tool is the original's -32000 error."""
    answer = await rpc(h, ws, "tools/call", {"name": name, "arguments": arguments})
    assert "result" not in answer, answer
    assert answer["error"]["code"] == -32000 and answer["id"] == 1
    return str(answer["error"]["message"])


async def snapshot(h: Harness) -> dict[str, Any]:
    """Everything a refused MCP request could have written."""
    await h.svc.activity.flush()
    await h.svc.heartbeats.flush()
    found: dict[str, Any] = {}
    for table in ("workspaces", "agent_memories", "activity_logs", "a2a_queue"):
        rows = await h.svc.store.fetch(f"SELECT * FROM {table} ORDER BY 1")  # noqa: S608
        found[table] = [dict(r) for r in rows]
    return found


async def mock_target(h: Harness, name: str, **extra: Any) -> dict[str, Any]:
    r = await h.client.post(
        "/workspaces", json={"name": name, "runtime": "mock", **extra}, headers=h.admin
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


# -- the handshake and the list --------------------------------------------------------------


async def test_initialize_list_ping_and_notifications(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("agent")
    init = {
        "protocolVersion": "2024-11-05",
        "capabilities": {},
        "clientInfo": {"name": "opencode", "version": "1"},
    }
    body = {"jsonrpc": "2.0", "id": 7, "method": "initialize", "params": init}
    r = await post(h, ws["id"], body, bearer(ws))
    assert r.status_code == 200
    assert r.headers["mcp-session-id"]  # a session is offered; later requests may ignore it
    body = r.json()
    assert body["id"] == 7 and body["jsonrpc"] == "2.0"
    result = body["result"]
    assert result["protocolVersion"] == "2024-11-05"
    assert result["capabilities"] == {"tools": {"listChanged": False}}
    assert result["serverInfo"] == {"name": "molecule-a2a", "version": "1.0.0"}
    # an unknown version: our latest; none at all (the original's clients sent one): same
    later = await rpc(h, ws, "initialize", {**init, "protocolVersion": "1999-01-01"})
    assert later["result"]["protocolVersion"] == "2025-11-25"
    assert (await rpc(h, ws, "initialize"))["result"]["protocolVersion"] == "2025-11-25"

    # a notification is taken (202, no body), with or without a session
    r = await post(
        h, ws["id"], {"jsonrpc": "2.0", "method": "notifications/initialized"}, bearer(ws)
    )
    assert (r.status_code, r.content) == (202, b"")
    assert (await rpc(h, ws, "ping", rid="p-1")) == {"jsonrpc": "2.0", "id": "p-1", "result": {}}

    listed = (await rpc(h, ws, "tools/list"))["result"]["tools"]
    assert [t["name"] for t in listed] == [
        "delegate_task",
        "delegate_task_async",
        "check_task_status",
        "list_peers",
        "get_workspace_info",
        "commit_memory",
        "recall_memory",
    ]  # send_message_to_user only with MOLECULE_MCP_ALLOW_SEND_MESSAGE
    schemas = {t["name"]: t["inputSchema"] for t in listed}
    for name in ("delegate_task", "delegate_task_async"):
        assert schemas[name]["required"] == ["workspace_id", "task"]
        assert set(schemas[name]["properties"]) == {"workspace_id", "task"}
    assert schemas["check_task_status"]["required"] == ["workspace_id", "task_id"]
    assert schemas["list_peers"] == {"type": "object", "properties": {}}
    assert schemas["commit_memory"]["required"] == ["content"]
    assert schemas["commit_memory"]["properties"]["scope"]["enum"] == ["LOCAL", "TEAM"]
    assert schemas["recall_memory"]["properties"]["scope"]["enum"] == ["LOCAL", "TEAM", ""]
    assert "required" not in schemas["recall_memory"]
    assert all(t["description"] for t in listed)


# -- the tools --------------------------------------------------------------------------------


async def test_workspace_info_and_peers(platform: Harness) -> None:
    h = platform
    lone = await h.create_external("lone")
    assert await tool(h, lone, "list_peers") == "No peers found."
    root = await h.create_external("root", role="lead")
    a = await h.create_external("a", parent_id=root["id"], role="writer")
    b = await h.create_external("b", parent_id=root["id"])
    a1 = await h.create_external("a1", parent_id=a["id"])

    info = json.loads(await tool(h, a, "get_workspace_info"))
    assert info == {
        "id": a["id"],
        "name": "a",
        "role": "writer",
        "tier": info["tier"],
        "status": info["status"],
        "parent_id": root["id"],
    }
    assert "parent_id" not in json.loads(await tool(h, root, "get_workspace_info"))

    peers = json.loads(await tool(h, a, "list_peers"))
    assert {p["id"] for p in peers} == {root["id"], b["id"], a1["id"]}  # parent, sibling, child
    assert set(peers[0]) == {"id", "name", "role", "status", "tier"}
    # a root's peers are the other roots and its children
    assert {p["id"] for p in json.loads(await tool(h, root, "list_peers"))} == {
        lone["id"],
        a["id"],
        b["id"],
    }


async def test_memory_tools_share_the_memories_route(platform: Harness) -> None:
    h = platform
    root = await h.create_external("root")
    a = await h.create_external("a", parent_id=root["id"])
    b = await h.create_external("b", parent_id=root["id"])

    made = json.loads(await tool(h, a, "commit_memory", content="the build uses make"))
    assert set(made) == {"id", "scope"} and made["scope"] == "LOCAL"
    team = json.loads(await tool(h, a, "commit_memory", content="deploy on tuesdays", scope="TEAM"))
    secret = "OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"
    await tool(h, a, "commit_memory", content=f"the key is {secret}")
    stored = await h.svc.store.fetchval(
        "SELECT content FROM agent_memories WHERE content LIKE 'the key is%'"
    )
    assert "sk-proj-abcdefghij" not in stored and "[REDACTED" in stored  # redacted as the route

    # the HTTP route sees what the tool wrote (namespace: the route's default)
    r = await h.client.get(f"/workspaces/{a['id']}/memories", headers=bearer(a))
    assert {m["id"]: m["namespace"] for m in r.json()}[made["id"]] == "general"

    own = json.loads(await tool(h, a, "recall_memory"))
    assert {m["content"] for m in own} >= {"the build uses make", "deploy on tuesdays"}
    assert set(own[0]) == {"id", "content", "scope", "created_at"}
    assert own[0]["created_at"].endswith("Z")
    found = json.loads(await tool(h, a, "recall_memory", query="build"))
    assert [m["content"] for m in found] == ["the build uses make"]
    local = json.loads(await tool(h, a, "recall_memory", scope="LOCAL"))
    assert "deploy on tuesdays" not in {m["content"] for m in local}
    # TEAM reads the team's TEAM memories: b sees a's, never a's LOCAL ones
    seen = json.loads(await tool(h, b, "recall_memory", scope="TEAM"))
    assert [m["id"] for m in seen] == [team["id"]]
    assert await tool(h, b, "recall_memory", scope="LOCAL") == "No memories found."

    # GLOBAL is refused both ways, even from a root; nothing is written
    before = await snapshot(h)
    message = await tool_error(h, root, "commit_memory", content="company fact", scope="GLOBAL")
    assert message == "GLOBAL scope is not permitted via the MCP bridge — use LOCAL or TEAM"
    message = await tool_error(h, root, "recall_memory", scope="GLOBAL")
    assert message.startswith("GLOBAL scope is not permitted via the MCP bridge")
    assert await tool_error(h, a, "commit_memory", content="x", scope="team") == (
        "scope must be LOCAL or TEAM"
    )
    assert await tool_error(h, a, "commit_memory") == "content is required"
    assert await tool_error(h, a, "commit_memory", content=42) == "content must be a string"
    assert await tool_error(h, a, "commit_memory", content="x" * 70_000) == (
        "content must be at most 65536 bytes"
    )
    assert await tool_error(h, a, "recall_memory", query="q" * 1001) == (
        "q must be at most 1000 characters"
    )
    assert await snapshot(h) == before

    # a GLOBAL memory written through the route stays out of the bridge's own listing
    r = await h.client.post(
        f"/workspaces/{root['id']}/memories",
        json={"content": "global fact", "scope": "GLOBAL"},
        headers=bearer(root),
    )
    assert r.status_code == 201
    assert await tool(h, root, "recall_memory") == "No memories found."


async def test_delegate_task_waits_for_the_answer(platform: Harness) -> None:
    h = platform
    src = await h.create_external("src")
    helper = await mock_target(h, "helper")
    text = await tool(h, src, "delegate_task", workspace_id=helper["id"], task="say hi")
    assert text == "mock reply from helper"
    await h.svc.activity.flush()
    receipt = await h.svc.store.fetchrow(
        "SELECT source_id, method FROM activity_logs"
        " WHERE workspace_id = $1 AND activity_type = 'a2a_receive'",
        helper["id"],
    )
    assert receipt is not None and receipt["source_id"] == src["id"]  # as the workspace

    # CanCommunicate, as on the proxy: a cousin is refused and nothing is sent or recorded
    root = await h.create_external("root")
    a = await h.create_external("a", parent_id=root["id"])
    b = await h.create_external("b", parent_id=root["id"])
    a1 = await h.create_external("a1", parent_id=a["id"])
    b1 = await mock_target(h, "b1", parent_id=b["id"])
    before = await snapshot(h)
    message = await tool_error(h, a1, "delegate_task", workspace_id=b1["id"], task="x")
    assert message == "access denied: workspaces cannot communicate per hierarchy rules"
    assert await tool_error(h, a1, "delegate_task", workspace_id=a1["id"], task="x") == (
        "self-delegation not permitted"
    )
    assert await tool_error(h, a1, "delegate_task", task="x") == "workspace_id is required"
    assert await tool_error(h, a1, "delegate_task", workspace_id="nope", task="x") == (
        "workspace_id must be a workspace UUID"
    )
    assert await tool_error(h, a1, "delegate_task", workspace_id=a["id"]) == "task is required"
    assert await snapshot(h) == before


async def test_delegate_task_async_and_its_status(platform: Harness) -> None:
    h = platform
    src = await h.create_external("src")
    helper = await mock_target(h, "helper")
    started = json.loads(
        await tool(h, src, "delegate_task_async", workspace_id=helper["id"], task="summarise")
    )
    assert set(started) == {"task_id", "status", "target_id"}
    assert started["status"] == "dispatched" and started["target_id"] == helper["id"]
    task_id = started["task_id"]

    status: dict[str, Any] = {}
    with trio.fail_after(WAIT):
        while status.get("status") != "completed":
            await trio.sleep(0.05)
            status = json.loads(
                await tool(h, src, "check_task_status", workspace_id=helper["id"], task_id=task_id)
            )
    assert status == {
        "task_id": task_id,
        "status": "completed",
        "target_id": helper["id"],
        "result": "mock reply from helper",
    }
    # the same delegation the HTTP route lists
    r = await h.client.get(f"/workspaces/{src['id']}/delegations", headers=bearer(src))
    assert task_id in {d.get("delegation_id") for d in r.json()}

    unknown = json.loads(
        await tool(h, src, "check_task_status", workspace_id=helper["id"], task_id="nope")
    )
    assert unknown == {
        "task_id": "nope",
        "status": "not_found",
        "note": "task not tracked or not yet dispatched",
    }
    # someone else's delegation is not found either
    other = await h.create_external("other")
    foreign = await tool(h, other, "check_task_status", workspace_id=helper["id"], task_id=task_id)
    assert json.loads(foreign)["status"] == "not_found"

    # a non-peer is refused before anything is recorded
    root = await h.create_external("root")
    child = await h.create_external("child", parent_id=root["id"])
    cousin_parent = await h.create_external("cp", parent_id=root["id"])
    cousin = await h.create_external("cousin", parent_id=cousin_parent["id"])
    grandchild = await h.create_external("gc", parent_id=child["id"])
    before = await snapshot(h)
    message = await tool_error(
        h, grandchild, "delegate_task_async", workspace_id=cousin["id"], task="x"
    )
    assert message == "access denied: workspaces cannot communicate per hierarchy rules"
    assert await snapshot(h) == before


@pytest.fixture
async def talking_platform(aio_loop: object, dsn: str, tmp_path: Path) -> AsyncIterator[Harness]:
    """A platform with MOLECULE_MCP_ALLOW_SEND_MESSAGE on."""
    settings = make_settings(tmp_path, dsn, mcp_allow_send_message=True)
    async with trio.open_nursery() as nursery:
        svc, base, stop = await start_platform(settings, dsn, nursery)
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            yield Harness(svc, base, client)
        stop.set()


async def test_send_message_to_user_only_when_allowed(
    platform: Harness, talking_platform: Harness
) -> None:
    h = platform
    ws = await h.create_external("quiet")
    before = await snapshot(h)
    assert await tool_error(h, ws, "send_message_to_user", message="hi") == (
        "unknown tool: send_message_to_user"
    )
    assert await snapshot(h) == before

    h = talking_platform
    ws = await h.create_external("talker")
    names = [t["name"] for t in (await rpc(h, ws, "tools/list"))["result"]["tools"]]
    assert "send_message_to_user" in names and len(names) == 8
    with h.svc.bus.subscribe(ws["id"]) as sub:
        assert await tool(h, ws, "send_message_to_user", message="done!") == "Message sent."
        events = drain(sub)
    assert [(e.type, e.payload) for e in events] == [
        ("AGENT_MESSAGE", {"message": "done!", "workspace_id": ws["id"], "name": "talker"})
    ]
    row = await h.svc.store.fetchrow(
        "SELECT method, summary FROM activity_logs WHERE workspace_id = $1", ws["id"]
    )
    assert dict(row) == {"method": "notify", "summary": "Agent message: done!"}  # as /notify

    await h.svc.store.execute(
        "UPDATE workspaces SET talk_to_user_enabled = false WHERE id = $1", ws["id"]
    )
    before = await snapshot(h)
    assert await tool_error(h, ws, "send_message_to_user", message="hi") == (
        "talk_to_user_disabled"
    )
    assert await tool_error(h, ws, "send_message_to_user") == "message is required"
    assert await snapshot(h) == before


# -- refusals ---------------------------------------------------------------------------------


async def test_auth_refusals_change_nothing(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("mine")
    other = await h.create_external("other")
    gone = await h.create_external("gone")
    r = await h.client.delete(f"/workspaces/{gone['id']}?confirm=true", headers=h.admin)
    assert r.status_code == 200
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call"}
    call["params"] = {"name": "commit_memory", "arguments": {"content": "sneaky"}}  # type: ignore[assignment]
    before = await snapshot(h)

    r = await post(h, ws["id"], call, {})
    assert (r.status_code, r.json()) == (401, {"error": "missing workspace auth token"})
    r = await post(h, ws["id"], call, bearer(other))
    assert (r.status_code, r.json()) == (401, {"error": "invalid workspace auth token"})
    r = await post(h, ws["id"], call, {"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401
    r = await post(h, "not-a-uuid", call, h.admin)
    assert (r.status_code, r.json()) == (400, {"error": "invalid workspace ID"})
    r = await post(h, str(uuid.uuid4()), call, h.admin)
    assert (r.status_code, r.json()) == (404, {"error": "workspace not found"})
    r = await post(h, gone["id"], call, h.admin)
    assert r.status_code == 410
    body = r.json()
    assert body["error"] == "workspace removed" and body["id"] == gone["id"]
    assert {"hint", "removed_at"} <= set(body)
    r = await post(h, gone["id"], call, bearer(gone))  # its tokens went with it
    assert r.status_code == 401
    for path in ("/mcp", "/mcp/stream"):
        r = await h.client.get(f"/workspaces/{ws['id']}{path}")
        assert (r.status_code, r.json()) == (401, {"error": "missing workspace auth token"})
        r = await h.client.get(f"/workspaces/{ws['id']}{path}", headers=bearer(other))
        assert r.status_code == 401
        r = await h.client.get(f"/workspaces/{gone['id']}{path}", headers=h.admin)
        assert r.status_code == 410
    r = await h.client.delete(f"/workspaces/{ws['id']}/mcp", headers=bearer(other))
    assert r.status_code == 401
    assert await snapshot(h) == before


async def test_garbage_is_answered_with_json_rpc_errors(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("agent")
    before = await snapshot(h)

    async def refused(body: Any, status: int, code: int) -> str:
        r = await post(h, ws["id"], body, bearer(ws))
        assert r.status_code == status, r.text
        answer = r.json()
        assert answer["jsonrpc"] == "2.0" and answer["error"]["code"] == code, answer
        assert "result" not in answer
        return str(answer["error"]["message"])

    assert await refused(b"{not json", 400, -32700) == "parse error: malformed JSON"
    assert await refused(b"", 400, -32700) == "parse error: malformed JSON"
    message = await refused(b'{"jsonrpc":"2.0","id":1,"method":"ping\\u0000"}', 400, -32700)
    assert message.startswith("parse error: ")
    assert await refused(b"[" * 100 + b"]" * 100, 400, -32700)  # too deep
    assert "batches" in await refused([{"jsonrpc": "2.0", "id": 1, "method": "ping"}], 400, -32600)
    assert await refused("ping", 400, -32600)
    assert await refused({"jsonrpc": "2.0", "id": 1}, 400, -32600) == (
        "invalid request: method is required"
    )
    assert await refused({"jsonrpc": "1.0", "id": 1, "method": "ping"}, 400, -32600)
    assert await refused({"jsonrpc": "2.0", "id": {"x": 1}, "method": "ping"}, 400, -32600)
    assert await refused({"jsonrpc": "2.0", "id": True, "method": "ping"}, 400, -32600)
    assert await refused({"jsonrpc": "2.0", "id": 1, "method": 5}, 400, -32600)
    assert await refused({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": []}, 400, -32600)
    for r in (await post(h, ws["id"], b"[]", bearer(ws)),):
        assert r.json()["id"] is None

    async def answered(params: Any, code: int, method: str = "tools/call") -> str:
        answer = await rpc(h, ws, method, params, rid="x")
        assert answer["id"] == "x" and answer["error"]["code"] == code, answer
        return str(answer["error"]["message"])

    assert await answered(None, -32601, "resources/list") == "method not found: resources/list"
    assert await answered({}, -32602) == "invalid params: bad name"
    assert await answered({"name": 3}, -32602) == "invalid params: bad name"
    assert await answered({"name": "list_peers", "arguments": [1]}, -32602) == (
        "invalid params: bad arguments"
    )
    assert await answered({"name": "rm_rf"}, -32000) == "unknown tool: rm_rf"

    r = await post(h, ws["id"], b"{" + b" " * (1024 * 1024 + 10) + b"}", bearer(ws))
    assert (r.status_code, r.json()) == (413, {"error": "request body too large"})
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    r = await post(h, ws["id"], ping, {**bearer(ws), "Accept": "text/html"})
    assert r.status_code == 406
    assert r.json() == {"error": "Accept must include application/json or text/event-stream"}
    assert await snapshot(h) == before


async def test_rate_limit_per_credential(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("busy")
    other = await h.create_external("calm")
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    for _ in range(120):
        r = await post(h, ws["id"], ping, bearer(ws))
        assert r.status_code == 200
    before = await snapshot(h)
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "commit_memory", "arguments": {"content": "one too many"}},
    }
    r = await post(h, ws["id"], call, bearer(ws))
    assert r.status_code == 429
    wait = int(r.headers["retry-after"])
    assert 1 <= wait <= 60
    assert r.json() == {"error": "rate limit exceeded", "retry_after": wait}
    r = await h.client.get(f"/workspaces/{ws['id']}/mcp/stream", headers=bearer(ws))
    assert r.status_code == 429  # every MCP route counts
    assert await snapshot(h) == before
    # another credential has its own window, even for the same workspace
    assert (await post(h, ws["id"], ping, h.admin)).status_code == 200
    assert (await post(h, other["id"], ping, bearer(other))).status_code == 200
