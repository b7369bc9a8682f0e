"""The MCP bridge during a database outage: the store's 503, never a tool error or a 500, and
what a tool stored before is there when the server is back."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import trio

from molecule.errors import DatastoreUnavailable, NotFound
from molecule.operations.mcp_rpc import Dispatcher, Incoming, parse
from molecule.operations.mcp_tools import McpTools
from molecule.store.embedded import EmbeddedPostgres
from tests.store.test_outage import (  # noqa: F401 - fixtures
    ADMIN,
    assert_unavailable,
    client,
    own_server,
    restart,
)


def commit(content: str) -> dict[str, Any]:
    params = {"name": "commit_memory", "arguments": {"content": content}}
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}


async def test_mcp_routes_answer_503_in_an_outage(
    client: httpx.AsyncClient,  # noqa: F811
    own_server: EmbeddedPostgres,  # noqa: F811
) -> None:
    r = await client.post("/workspaces", json={"name": "m", "runtime": "external"}, headers=ADMIN)
    wid = r.json()["id"]
    url = f"/workspaces/{wid}/mcp"
    r = await client.post(url, json=commit("kept"), headers=ADMIN)
    assert "result" in r.json(), r.text

    own_server.stop()
    r = await client.post(url, json=commit("lost"), headers=ADMIN)
    assert_unavailable(r)
    r = await client.get(f"{url}/stream", headers=ADMIN)
    assert_unavailable(r)

    back = restart(own_server)
    try:
        with trio.fail_after(20):
            while True:
                r = await client.post(url, json=commit("again"), headers=ADMIN)
                if r.status_code == 200:
                    break
                await trio.sleep(0.1)
        recall = {"name": "recall_memory", "arguments": {}}
        r = await client.post(
            url,
            json={"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": recall},
            headers=ADMIN,
        )
        found = json.loads(r.json()["result"]["content"][0]["text"])
        assert sorted(m["content"] for m in found) == ["again", "kept"]
    finally:
        back.stop()


class FailingTools(McpTools):
    def __init__(self, error: Exception) -> None:
        self.error = error

    def available(self, name: str) -> bool:
        return True

    async def call(self, workspace_id: str, name: str, args: dict[str, Any]) -> str:
        raise self.error


async def test_a_tool_meeting_an_outage_is_not_a_tool_error() -> None:
    incoming = parse(commit("x"))
    assert isinstance(incoming, Incoming)
    for in_session in (False, True):
        dispatcher = Dispatcher(FailingTools(DatastoreUnavailable()), "w", in_session=in_session)
        with pytest.raises(DatastoreUnavailable):
            await dispatcher.answer(incoming)
    # any other refusal is the tool's answer
    dispatcher = Dispatcher(FailingTools(NotFound("workspace not found")), "w", in_session=False)
    answer = await dispatcher.answer(incoming)
    assert answer == {
        "jsonrpc": "2.0",
        "id": 1,
        "error": {"code": -32000, "message": "workspace not found"},
    }
