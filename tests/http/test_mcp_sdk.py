"""Interoperability: the official MCP Python SDK's own clients against a real platform.

The SDK runs on anyio, here on its Trio backend inside the test's own run: the Streamable
HTTP client (with the initialize handshake, and in `auto` mode, which first probes the 2026
per-request protocol and falls back), and the 2024-11-05 SSE client on `/mcp/stream`.
"""

from __future__ import annotations

import json
from typing import Any

import httpx2
import mcp_types
import pytest
import trio
from mcp.client.client import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.conftest import Harness
from tests.http.test_mcp import bearer, mock_target, snapshot

WAIT = 20.0
TOOLS = {
    "delegate_task",
    "delegate_task_async",
    "check_task_status",
    "list_peers",
    "get_workspace_info",
    "commit_memory",
    "recall_memory",
}


def leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaves(inner)]
    return [exc]


def text_of(result: mcp_types.CallToolResult) -> str:
    [content] = result.content
    assert isinstance(content, mcp_types.TextContent)
    return content.text


def streamable(h: Harness, wid: str, headers: dict[str, str]) -> Any:
    http = httpx2.AsyncClient(headers=headers, timeout=10)
    return streamable_http_client(f"{h.base_url}/workspaces/{wid}/mcp", http_client=http)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_streamable_http_client(platform: Harness, mode: str) -> None:
    h = platform
    ws = await h.create_external("agent")
    helper = await mock_target(h, "helper")
    with trio.fail_after(WAIT):
        async with Client(streamable(h, ws["id"], bearer(ws)), mode=mode) as client:
            listed = await client.list_tools()
            assert {t.name for t in listed.tools} == TOOLS
            schema = {t.name: t.input_schema for t in listed.tools}["commit_memory"]
            assert schema["properties"]["scope"]["enum"] == ["LOCAL", "TEAM"]

            made = await client.call_tool("commit_memory", {"content": "sdk was here"})
            assert not made.is_error
            memory = json.loads(text_of(made))
            found = await client.call_tool("recall_memory", {"query": "sdk"})
            assert [m["id"] for m in json.loads(text_of(found))] == [memory["id"]]

            refused = await client.call_tool("commit_memory", {"content": "x", "scope": "GLOBAL"})
            assert refused.is_error
            assert text_of(refused).startswith("GLOBAL scope is not permitted")

            answer = await client.call_tool(
                "delegate_task", {"workspace_id": helper["id"], "task": "hello"}
            )
            assert text_of(answer) == "mock reply from helper"
            # `auto` probed the 2026 per-request protocol, was refused, and shook hands
            assert client.session.protocol_version == "2025-11-25"
    rows = await h.svc.store.fetch("SELECT content FROM agent_memories")
    assert [r["content"] for r in rows] == ["sdk was here"]


async def test_sse_client(platform: Harness) -> None:
    h = platform
    root = await h.create_external("root")
    child = await h.create_external("child", parent_id=root["id"])
    url = f"{h.base_url}/workspaces/{child['id']}/mcp/stream"
    with trio.fail_after(WAIT):
        async with Client(sse_client(url, headers=bearer(child)), mode="legacy") as client:
            listed = await client.list_tools()
            assert {t.name for t in listed.tools} == TOOLS
            peers = json.loads(text_of(await client.call_tool("list_peers", {})))
            assert [p["id"] for p in peers] == [root["id"]]
            info = json.loads(text_of(await client.call_tool("get_workspace_info", {})))
            assert info["parent_id"] == root["id"]


async def test_sdk_client_is_refused_without_the_workspace_token(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("agent")
    other = await h.create_external("other")
    before = await snapshot(h)
    for headers in ({}, bearer(other)):
        with trio.fail_after(WAIT), pytest.raises(BaseException) as caught:
            async with Client(streamable(h, ws["id"], headers), mode="legacy") as client:
                await client.call_tool("commit_memory", {"content": "sneaky"})
        # the SDK reports the 401 of its initialize as an error response
        assert any(isinstance(e, MCPError) for e in leaves(caught.value)), caught.value
    assert await snapshot(h) == before
