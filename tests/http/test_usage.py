"""Token usage: counted from real A2A replies that carry it (a scripted agent behind the
proxy), written behind, and served as today's totals by `GET /workspaces/:id/metrics`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from molecule.store.token_usage import estimated_cost, usage_from_reply
from tests.a2a.agents import ScriptedAgent
from tests.conftest import Harness, make_settings, start_platform
from tests.http.footprint import rows

MESSAGE = {"method": "message/send", "params": {"message": {"role": "user", "content": "hi"}}}
CARD = {"name": "agent", "description": "usage test agent", "version": "1.0.0"}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def reply(**extra: Any) -> bytes:
    result: dict[str, Any] = {"kind": "message", "role": "agent", "messageId": "m", "parts": []}
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": "1", "result": result}
    if "result_usage" in extra:
        result["usage"] = extra["result_usage"]
    if "usage" in extra:
        body["usage"] = extra["usage"]
    return json.dumps(body).encode()


@dataclass
class WithAgents(Harness):
    agents: trio.Nursery

    async def serve(self, agent: ScriptedAgent) -> str:
        config = HypercornConfig()
        config.bind = ["127.0.0.1:0"]
        config.accesslog = None
        config.graceful_timeout = 0.1
        binds = await self.agents.start(
            lambda task_status: serve(agent, config, task_status=task_status)  # type: ignore[arg-type]
        )
        return f"http://localhost:{binds[0].rsplit(':', 1)[1]}"

    async def agent_workspace(self, agent: ScriptedAgent) -> tuple[str, str]:
        created = await self.create_external(f"agent-{id(agent)}")
        wid, token = str(created["id"]), created["connection"]["auth_token"]  # type: ignore[index]
        url = await self.serve(agent)
        body = {"id": wid, "url": url, "agent_card": CARD}
        r = await self.client.post("/registry/register", json=body, headers=auth(token))
        assert r.status_code == 200, r.text
        return wid, token


@pytest.fixture
async def h(aio_loop: object, dsn: str, tmp_path: Path) -> AsyncIterator[WithAgents]:
    settings = make_settings(tmp_path, dsn, dev_mode=True)  # loopback agent URLs allowed
    async with trio.open_nursery() as nursery:
        svc, base, stop = await start_platform(settings, dsn, nursery)
        async with trio.open_nursery() as agents:
            async with httpx.AsyncClient(base_url=base, timeout=15) as client:
                yield WithAgents(svc, base, client, agents)
            agents.cancel_scope.cancel()
        stop.set()


def today() -> tuple[str, str]:
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return start.strftime(fmt), (start + timedelta(days=1)).strftime(fmt)


async def test_usage_from_replies_is_recorded_per_day(h: WithAgents) -> None:
    agent = ScriptedAgent(body=reply(result_usage={"input_tokens": 1200, "output_tokens": 300}))
    wid, token = await h.agent_workspace(agent)
    metrics = f"/workspaces/{wid}/metrics"
    start, end = today()
    r = await h.client.get(metrics, headers=auth(token))
    assert r.status_code == 200
    assert r.json() == {
        "input_tokens": 0,
        "output_tokens": 0,
        "total_calls": 0,
        "estimated_cost_usd": "0.000000",
        "period_start": start,
        "period_end": end,
    }

    r = await h.client.post(f"/workspaces/{wid}/a2a", json=MESSAGE, headers=h.admin)
    assert r.status_code == 200 and r.json()["result"]["usage"]["input_tokens"] == 1200
    # A top-level `usage` counts too, a reply without one (or with zeros) does not.
    agent.body = reply(usage={"input_tokens": 10, "output_tokens": 5})
    assert (await h.client.post(f"/workspaces/{wid}/a2a", json=MESSAGE, headers=h.admin)).is_success
    for body in (reply(), reply(result_usage={"input_tokens": 0, "output_tokens": 0}), b"[1]"):
        agent.body = body
        await h.client.post(f"/workspaces/{wid}/a2a", json=MESSAGE, headers=h.admin)

    r = await h.client.get(metrics, headers=auth(token))
    assert r.json() == {
        "input_tokens": 1210,
        "output_tokens": 305,
        "total_calls": 2,
        "estimated_cost_usd": "0.008205",  # $3 / 1M input, $15 / 1M output
        "period_start": start,
        "period_end": end,
    }
    row = await h.svc.store.fetchrow(
        "SELECT * FROM workspace_token_usage WHERE workspace_id = $1", wid
    )
    assert row is not None and row["call_count"] == 2
    assert row["period_start"] == datetime.fromisoformat(start.replace("Z", "+00:00"))


async def test_an_agent_error_reply_still_counts_its_usage(h: WithAgents) -> None:
    body = json.dumps(
        {"error": "model overloaded", "usage": {"input_tokens": 7, "output_tokens": 0}}
    )
    agent = ScriptedAgent(status=429, body=body.encode())
    wid, token = await h.agent_workspace(agent)
    r = await h.client.post(f"/workspaces/{wid}/a2a", json=MESSAGE, headers=h.admin)
    assert r.status_code == 429
    r = await h.client.get(f"/workspaces/{wid}/metrics", headers=auth(token))
    assert (r.json()["input_tokens"], r.json()["total_calls"]) == (7, 1)


async def test_metrics_refusals_change_nothing(h: WithAgents) -> None:
    a = await h.create_external("a")
    b = await h.create_external("b")
    url = f"/workspaces/{a['id']}/metrics"
    before = await rows(h)
    assert (await h.client.get(url)).json() == {"error": "missing workspace auth token"}
    r = await h.client.get(url, headers=auth(b["connection"]["auth_token"]))  # type: ignore[index]
    assert r.status_code == 401 and r.json() == {"error": "invalid workspace auth token"}
    r = await h.client.get(
        "/workspaces/00000000-0000-0000-0000-000000000009/metrics", headers=h.admin
    )
    assert r.status_code == 404
    r = await h.client.get("/workspaces/zzz/metrics", headers=h.admin)
    assert r.status_code == 400
    assert await rows(h) == before


def test_what_counts_as_usage() -> None:
    assert usage_from_reply({"result": {"usage": {"input_tokens": 3, "output_tokens": 4}}}) == (
        3,
        4,
    )
    assert usage_from_reply({"usage": {"input_tokens": 3}}) == (3, 0)
    # result.usage wins over a top-level one; zeros there fall back to the top level.
    both = {"result": {"usage": {"input_tokens": 1}}, "usage": {"input_tokens": 9}}
    assert usage_from_reply(both) == (1, 0)
    zeros = {"result": {"usage": {"input_tokens": 0}}, "usage": {"output_tokens": 2}}
    assert usage_from_reply(zeros) == (0, 2)
    for junk in (None, [], "text", {"usage": "x"}, {"usage": {"input_tokens": "5"}},
                 {"usage": {"input_tokens": True}}, {"usage": {"input_tokens": 1.5}}):  # fmt: skip
        assert usage_from_reply(junk) is None, junk
    assert usage_from_reply({"usage": {"input_tokens": -5, "output_tokens": 1}}) == (0, 1)
    assert usage_from_reply({"usage": {"input_tokens": 10**18}}) == (10_000_000, 0)
    assert estimated_cost(1_000_000, 1_000_000) == Decimal("18.000000")
