"""Delegation over real HTTP (docs/compatibility.md#d32): delegate, the detached execution, the
list, record and update.

Targets are real: a `runtime: "mock"` workspace (the platform answers), a poll-mode external
workspace, and, on a development-mode platform that may call loopback agents, an external
push workspace backed by a scripted HTTP agent speaking JSON-RPC. Every wait is bounded.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve
from quart import Response, request
from quart_trio import QuartTrio

from molecule.errors import MoleculeError
from molecule.events import Event, Subscription
from molecule.operations import delegation
from molecule.operations.delegation import should_retry
from tests.conftest import Harness, make_settings, start_platform
from tests.http.test_registry import auth, register

WAIT = 10.0
IDLE = 0.5  # the dev platform's A2A idle timeout: a silent agent is "busy" after this


# -- helpers ---------------------------------------------------------------------------------


async def source(h: Harness) -> tuple[str, str]:
    """A workspace with its own token (the delegating side)."""
    created = await h.create_external("src-" + uuid.uuid4().hex[:6])
    return str(created["id"]), str(created["connection"]["auth_token"])  # type: ignore[index]


async def mock_target(h: Harness, name: str = "m") -> str:
    r = await h.client.post("/workspaces", json={"name": name, "runtime": "mock"}, headers=h.admin)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def poll_target(h: Harness) -> str:
    created = await h.create_external("poll-" + uuid.uuid4().hex[:6])
    wid, token = str(created["id"]), str(created["connection"]["auth_token"])  # type: ignore[index]
    r = await register(h, wid, token, url="", delivery_mode="poll")
    assert r.status_code == 200, r.text
    return wid


PUSH_TOKENS: dict[str, str] = {}  # workspace id -> the token its create answered with


async def push_target(h: Harness, url: str) -> str:
    r = await h.client.post(
        "/workspaces",
        json={"name": "push-" + uuid.uuid4().hex[:6], "runtime": "external", "url": url},
        headers=h.admin,
    )
    assert r.status_code == 201, r.text
    PUSH_TOKENS[r.json()["id"]] = r.json()["connection"]["auth_token"]
    return str(r.json()["id"])


async def delegate(h: Harness, wid: str, token: str, **body: Any) -> Any:
    return await h.client.post(f"/workspaces/{wid}/delegate", json=body, headers=auth(token))


async def events_until(sub: Subscription, kind: str, timeout: float = WAIT) -> list[Event]:
    """Events of the subscription up to and including the first `kind`."""
    seen: list[Event] = []
    with trio.fail_after(timeout):
        while True:
            event = await sub.receive.receive()
            seen.append(event)
            if event.type == kind:
                return seen


def of(events: list[Event], kind: str) -> list[dict[str, Any]]:
    return [e.payload for e in events if e.type == kind]


async def delegation_rows(h: Harness, wid: str) -> list[dict[str, Any]]:
    rows = await h.svc.store.fetch(
        "SELECT * FROM activity_logs WHERE workspace_id = $1"
        " AND method IN ('delegate', 'delegate_result') ORDER BY created_at",
        wid,
    )
    return [dict(r) for r in rows]


async def recorded(h: Harness, wid: str) -> list[tuple[str, dict[str, Any]]]:
    rows = await h.svc.store.fetch(
        "SELECT event_type, payload FROM structure_events WHERE workspace_id = $1"
        " AND event_type LIKE 'DELEGATION_%' ORDER BY created_at",
        wid,
    )
    return [(r["event_type"], r["payload"]) for r in rows]


async def activity_count(h: Harness, wid: str) -> int:
    value: int = await h.svc.store.fetchval(
        "SELECT count(*) FROM activity_logs WHERE workspace_id = $1", wid
    )
    return value


def a2a_reply(text: str) -> bytes:
    return json.dumps(
        {
            "jsonrpc": "2.0",
            "id": "1",
            "result": {
                "kind": "message",
                "role": "agent",
                "messageId": str(uuid.uuid4()),
                "parts": [{"kind": "text", "text": text}],
            },
        }
    ).encode()


# -- a scripted agent over real HTTP -----------------------------------------------------------

HANG = "hang"


@dataclass
class FakeAgent:
    """Answers each POST with the next scripted (status, body), or hangs for HANG."""

    url: str = ""
    script: list[Any] = field(default_factory=list)
    requests: list[Any] = field(default_factory=list)
    release: trio.Event = field(default_factory=trio.Event)


@asynccontextmanager
async def fake_agent() -> AsyncIterator[FakeAgent]:
    agent = FakeAgent()
    app = QuartTrio("fake-agent")

    @app.post("/")
    async def receive() -> Response:
        agent.requests.append(await request.get_json(force=True))
        step = agent.script.pop(0) if agent.script else (200, a2a_reply("default"))
        if step == HANG:
            with trio.move_on_after(WAIT):
                await agent.release.wait()
            step = (200, a2a_reply("late"))
        status, body, *rest = step
        kind = rest[0] if rest else "application/json"
        return Response(body, status=status, content_type=kind)

    cfg = HypercornConfig()
    cfg.bind = ["127.0.0.1:0"]
    cfg.accesslog = None
    cfg.graceful_timeout = 1
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(
            lambda task_status: serve(app, cfg, shutdown_trigger=stop.wait, task_status=task_status)
        )
        # The stored URL must be a name (IP-literal loopback is refused at create time).
        agent.url = binds[0].replace("127.0.0.1", "localhost") + "/"
        try:
            yield agent
        finally:
            agent.release.set()
            stop.set()


@pytest.fixture
async def dev_platform(
    aio_loop: object, dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Harness]:
    """Development mode (loopback agents allowed), admin token set (no fail-open)."""
    import httpx

    monkeypatch.setattr(delegation, "RETRY_DELAY", 0.05)
    settings = make_settings(tmp_path, dsn, dev_mode=True, a2a_idle_timeout=IDLE)
    async with trio.open_nursery() as nursery:
        svc, base, stop = await start_platform(settings, dsn, nursery)
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            yield Harness(svc, base, client)
        stop.set()


@pytest.fixture
async def agent() -> AsyncIterator[FakeAgent]:
    async with fake_agent() as a:
        yield a


# -- delegate: success through the proxy --------------------------------------------------------


async def test_delegate_to_mock_target_completes(platform: Harness) -> None:
    h = platform
    src, token = await source(h)
    tgt = await mock_target(h, "helper")
    task = "summarise the quarterly numbers " + "é" * 100  # 232 bytes: previews are cut
    with h.svc.bus.subscribe(src) as sub:
        r = await delegate(h, src, token, target_id=tgt.upper(), task=task)
        assert r.status_code == 202, r.text
        body = r.json()
        did = body["delegation_id"]
        assert body == {"delegation_id": did, "status": "delegated", "target_id": tgt}
        events = await events_until(sub, "DELEGATION_COMPLETE")

    sent = of(events, "DELEGATION_SENT")
    assert len(sent) == 1 and sent[0]["delegation_id"] == did and sent[0]["target_id"] == tgt
    preview = sent[0]["task_preview"]
    assert preview.endswith("…") and len(preview.encode()) <= 100 and task.startswith(preview[:-1])
    assert of(events, "DELEGATION_STATUS") == [
        {"delegation_id": did, "target_id": tgt, "status": "dispatched"}
    ]
    assert of(events, "DELEGATION_COMPLETE") == [
        {"delegation_id": did, "target_id": tgt, "response_preview": "mock reply from helper"}
    ]
    # SENT precedes the execution's events; all of them are persisted.
    kinds = [e.type for e in events if e.type.startswith("DELEGATION_")]
    assert kinds == ["DELEGATION_SENT", "DELEGATION_STATUS", "DELEGATION_COMPLETE"]
    assert [k for k, _ in await recorded(h, src)] == kinds

    rows = await delegation_rows(h, src)
    assert [(r["method"], r["status"]) for r in rows] == [
        ("delegate", "completed"),
        ("delegate_result", "completed"),
    ]
    ask, result = rows
    assert ask["activity_type"] == "delegation" and ask["summary"] == f"Delegating to {tgt}"
    assert ask["request_body"] == {"task": task, "delegation_id": did}
    assert ask["response_body"] == {"delegation_id": did}
    assert (ask["source_id"], ask["target_id"], ask["idempotency_key"]) == (src, tgt, None)
    assert result["response_body"] == {"text": "mock reply from helper", "delegation_id": did}
    assert result["summary"] == "Delegation completed (mock reply from helper)"
    assert (result["source_id"], result["target_id"]) == (src, tgt)

    # The target received a message/send from the source, keyed by the delegation id.
    inbox = await h.svc.store.fetchrow(
        "SELECT source_id, request_body FROM activity_logs"
        " WHERE workspace_id = $1 AND activity_type = 'a2a_receive'",
        tgt,
    )
    assert inbox is not None and inbox["source_id"] == src
    envelope = inbox["request_body"]
    assert envelope["jsonrpc"] == "2.0" and envelope["method"] == "message/send"
    message = envelope["params"]["message"]
    assert message["messageId"] == did and message["metadata"] == {"delegation_id": did}
    assert message["role"] == "user" and message["parts"][0]["text"] == task


async def test_poll_target_is_queued_not_completed(platform: Harness) -> None:
    """The original marked this delegation completed with the poll ack as its "reply"."""
    h = platform
    src, token = await source(h)
    tgt = await poll_target(h)
    with h.svc.bus.subscribe(src) as sub:
        r = await delegate(h, src, token, target_id=tgt, task="work for a poller")
        assert r.status_code == 202
        did = r.json()["delegation_id"]
        events = await events_until(sub, "DELEGATION_STATUS")
        events += await events_until(sub, "DELEGATION_STATUS")
    assert of(events, "DELEGATION_STATUS")[-1] == {
        "delegation_id": did,
        "target_id": tgt,
        "status": "queued",
        "delivery_mode": "poll",
    }
    rows = await delegation_rows(h, src)
    assert [(r["method"], r["status"]) for r in rows] == [("delegate", "queued")]
    assert not [k for k, _ in await recorded(h, src) if k == "DELEGATION_COMPLETE"]
    # The message waits in the poller's inbox, with the delegation id for its answer.
    inbox = await h.svc.store.fetchval(
        "SELECT request_body FROM activity_logs WHERE workspace_id = $1"
        " AND activity_type = 'a2a_receive'",
        tgt,
    )
    assert inbox["params"]["message"]["metadata"] == {"delegation_id": did}

    listed = (await h.client.get(f"/workspaces/{src}/delegations", headers=auth(token))).json()
    assert [(e["type"], e["status"], e["delegation_id"]) for e in listed] == [
        ("delegate", "queued", did)
    ]


# -- idempotency ---------------------------------------------------------------------------------


async def test_idempotent_hit_returns_the_first_delegation(platform: Harness) -> None:
    h = platform
    src, token = await source(h)
    other, other_token = await source(h)
    tgt = await mock_target(h)
    with h.svc.bus.subscribe(src) as sub:
        r = await delegate(h, src, token, target_id=tgt, task="once", idempotency_key="k-1")
        assert r.status_code == 202
        did = r.json()["delegation_id"]
        await events_until(sub, "DELEGATION_COMPLETE")

    r = await delegate(h, src, token, target_id=tgt, task="once again", idempotency_key="k-1")
    assert r.status_code == 200
    assert r.json() == {
        "delegation_id": did,
        "status": "completed",
        "target_id": tgt,
        "idempotent_hit": True,
    }
    rows = await delegation_rows(h, src)
    assert [r["method"] for r in rows] == ["delegate", "delegate_result"]
    assert rows[0]["idempotency_key"] == "k-1"
    assert [k for k, _ in await recorded(h, src)].count("DELEGATION_SENT") == 1

    # Keys are per workspace: the same key elsewhere is a new delegation.
    r = await delegate(h, other, other_token, target_id=tgt, task="mine", idempotency_key="k-1")
    assert r.status_code == 202 and r.json()["delegation_id"] != did


async def test_concurrent_requests_with_one_key_make_one_delegation(platform: Harness) -> None:
    h = platform
    src, token = await source(h)
    tgt = await mock_target(h)
    answers: list[Any] = []

    async def send() -> None:
        answers.append(await delegate(h, src, token, target_id=tgt, task="t", idempotency_key="k"))

    with trio.fail_after(WAIT):
        async with trio.open_nursery() as nursery:
            for _ in range(8):
                nursery.start_soon(send)
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * 7 + [202]
    ids = {a.json()["delegation_id"] for a in answers}
    assert len(ids) == 1
    assert all(a.json()["idempotent_hit"] is True for a in answers if a.status_code == 200)
    delegates = [r for r in await delegation_rows(h, src) if r["method"] == "delegate"]
    assert len(delegates) == 1


async def test_failed_delegation_is_retried_under_the_same_key(
    dev_platform: Harness, agent: FakeAgent
) -> None:
    h = dev_platform
    src, token = await source(h)
    tgt = await push_target(h, agent.url)
    agent.script = [(500, b'{"error":"agent crashed"}'), (200, a2a_reply("second time lucky"))]
    with h.svc.bus.subscribe(src) as sub:
        r = await delegate(h, src, token, target_id=tgt, task="try", idempotency_key="again")
        first = r.json()["delegation_id"]
        events = await events_until(sub, "DELEGATION_FAILED")
        assert of(events, "DELEGATION_FAILED") == [
            {"delegation_id": first, "target_id": tgt, "error": "agent crashed"}
        ]
        assert len(agent.requests) == 1  # a 500 is not retried
        rows = await delegation_rows(h, src)
        assert [(r["method"], r["status"]) for r in rows] == [
            ("delegate", "failed"),
            ("delegate_result", "failed"),
        ]
        assert rows[0]["error_detail"] == "agent crashed"
        assert rows[1]["summary"] == "Delegation failed"
        assert rows[1]["error_detail"] == "agent crashed"

        r = await delegate(h, src, token, target_id=tgt, task="try", idempotency_key="again")
        assert r.status_code == 202, r.text
        second = r.json()["delegation_id"]
        assert second != first and "idempotent_hit" not in r.json()
        await events_until(sub, "DELEGATION_COMPLETE")

    rows = await delegation_rows(h, src)
    delegates = [r for r in rows if r["method"] == "delegate"]
    assert len(delegates) == 1  # the failed holder of the key was deleted
    assert delegates[0]["request_body"]["delegation_id"] == second
    assert delegates[0]["status"] == "completed" and delegates[0]["idempotency_key"] == "again"
    results = {
        r["response_body"]["delegation_id"]: r["status"]
        for r in rows
        if r["method"] == "delegate_result"
    }
    assert results[first] == "failed" and results[second] == "completed"


# -- the execution's outcomes against a scripted agent -------------------------------------------


async def test_502_is_retried_once_then_completes(dev_platform: Harness, agent: FakeAgent) -> None:
    h = dev_platform
    src, token = await source(h)
    tgt = await push_target(h, agent.url)
    long_text = "résultat " * 60  # 600 bytes
    agent.script = [(502, b'{"error":"bad gateway upstream"}'), (200, a2a_reply(long_text))]
    with h.svc.bus.subscribe(src) as sub:
        r = await delegate(h, src, token, target_id=tgt, task="fetch it")
        did = r.json()["delegation_id"]
        events = await events_until(sub, "DELEGATION_COMPLETE")
    assert len(agent.requests) == 2
    assert all(req["params"]["message"]["messageId"] == did for req in agent.requests)
    assert not of(events, "DELEGATION_FAILED")

    (done,) = of(events, "DELEGATION_COMPLETE")
    assert done["delegation_id"] == did and done["target_id"] == tgt
    assert done["response_preview"].endswith("…")
    assert len(done["response_preview"].encode()) <= 200
    assert long_text.startswith(done["response_preview"][:-1])

    result = (await delegation_rows(h, src))[-1]
    assert result["response_body"] == {"text": long_text, "delegation_id": did}
    inner = result["summary"].removeprefix("Delegation completed (").removesuffix(")")
    assert inner.endswith("…") and len(inner.encode()) <= 80

    listed = (await h.client.get(f"/workspaces/{src}/delegations", headers=auth(token))).json()
    preview = listed[0]["response_preview"]
    assert listed[0]["type"] == "delegate_result"
    assert preview.endswith("…") and len(preview.encode()) <= 300


async def test_agent_503_is_not_retried(dev_platform: Harness, agent: FakeAgent) -> None:
    h = dev_platform
    src, token = await source(h)
    tgt = await push_target(h, agent.url)
    agent.script = [(503, b'{"error":"too busy"}'), (200, a2a_reply("never asked"))]
    with h.svc.bus.subscribe(src) as sub:
        did = (await delegate(h, src, token, target_id=tgt, task="x")).json()["delegation_id"]
        events = await events_until(sub, "DELEGATION_FAILED")
    assert of(events, "DELEGATION_FAILED") == [
        {"delegation_id": did, "target_id": tgt, "error": "too busy"}
    ]
    await trio.sleep(0.3)  # well past the (patched) retry delay
    assert len(agent.requests) == 1


async def test_unreachable_agent_is_retried_once_then_fails(dev_platform: Harness) -> None:
    h = dev_platform
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    src, token = await source(h)
    tgt = await push_target(h, f"http://localhost:{port}")
    with h.svc.bus.subscribe(src) as sub:
        did = (await delegate(h, src, token, target_id=tgt, task="x")).json()["delegation_id"]
        events = await events_until(sub, "DELEGATION_FAILED")
    assert of(events, "DELEGATION_FAILED") == [
        {"delegation_id": did, "target_id": tgt, "error": "failed to reach workspace agent"}
    ]
    attempts = await h.svc.store.fetchval(
        "SELECT count(*) FROM activity_logs WHERE workspace_id = $1 AND status = 'error'", tgt
    )
    assert attempts == 2
    rows = await delegation_rows(h, src)
    assert [(r["method"], r["status"]) for r in rows] == [
        ("delegate", "failed"),
        ("delegate_result", "failed"),
    ]


async def test_empty_agent_answer_fails(dev_platform: Harness, agent: FakeAgent) -> None:
    h = dev_platform
    src, token = await source(h)
    tgt = await push_target(h, agent.url)
    agent.script = [(200, b"")]
    with h.svc.bus.subscribe(src) as sub:
        did = (await delegate(h, src, token, target_id=tgt, task="x")).json()["delegation_id"]
        events = await events_until(sub, "DELEGATION_FAILED")
    assert of(events, "DELEGATION_FAILED") == [
        {"delegation_id": did, "target_id": tgt, "error": "workspace agent returned empty response"}
    ]
    assert len(agent.requests) == 1
    rows = await delegation_rows(h, src)
    assert rows[0]["error_detail"] == "workspace agent returned empty response"


async def test_busy_target_queues_then_the_drain_completes(
    dev_platform: Harness, agent: FakeAgent
) -> None:
    h = dev_platform
    src, token = await source(h)
    tgt = await push_target(h, agent.url)
    agent.script = [HANG, (200, a2a_reply("done after the queue"))]
    with h.svc.bus.subscribe(src) as sub:
        did = (await delegate(h, src, token, target_id=tgt, task="x")).json()["delegation_id"]
        events = await events_until(sub, "DELEGATION_STATUS")
        events += await events_until(sub, "DELEGATION_STATUS")
        assert of(events, "DELEGATION_STATUS")[-1] == {
            "delegation_id": did,
            "target_id": tgt,
            "status": "queued",
        }
        rows = await delegation_rows(h, src)
        assert [(r["method"], r["status"]) for r in rows] == [
            ("delegate", "queued"),
            ("delegate_result", "queued"),
        ]
        assert rows[1]["response_body"] == {"delegation_id": did, "queued": True}
        assert rows[1]["summary"] == "Delegation queued — target at capacity"

        # The target reports spare capacity: the queue drains and the stitch completes it.
        r = await h.client.post(
            "/registry/heartbeat",
            json={"workspace_id": tgt, "active_tasks": 0},
            headers=auth(PUSH_TOKENS[tgt]),
        )
        assert r.status_code == 200, r.text
        events = await events_until(sub, "DELEGATION_COMPLETE")
    assert of(events, "DELEGATION_COMPLETE") == [
        {
            "delegation_id": did,
            "target_id": tgt,
            "response_preview": "done after the queue",
            "via": "queue_drain",
        }
    ]
    result = (await delegation_rows(h, src))[1]
    assert result["status"] == "completed"
    assert result["response_body"] == {"text": "done after the queue", "delegation_id": did}


async def test_streamed_reply_completes_with_its_message_text(
    dev_platform: Harness, agent: FakeAgent
) -> None:
    h = dev_platform
    src, token = await source(h)
    tgt = await push_target(h, agent.url)
    working = {"jsonrpc": "2.0", "id": "1", "result": {"kind": "status-update", "final": False}}
    stream = (
        b"data: " + json.dumps(working).encode() + b"\n\n"
        b"data: " + a2a_reply("streamed answer") + b"\n\n"
        b"data: " + json.dumps({**working, "result": {"kind": "status-update"}}).encode() + b"\n\n"
    )
    agent.script = [(200, stream, "text/event-stream")]
    with h.svc.bus.subscribe(src) as sub:
        did = (await delegate(h, src, token, target_id=tgt, task="x")).json()["delegation_id"]
        events = await events_until(sub, "DELEGATION_COMPLETE")
    assert of(events, "DELEGATION_COMPLETE") == [
        {"delegation_id": did, "target_id": tgt, "response_preview": "streamed answer"}
    ]


async def test_execution_deadline_fails_the_delegation(
    dev_platform: Harness, agent: FakeAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delegation, "EXECUTION_TIMEOUT", IDLE / 5)
    h = dev_platform
    src, token = await source(h)
    tgt = await push_target(h, agent.url)
    agent.script = [HANG]
    with h.svc.bus.subscribe(src) as sub:
        did = (await delegate(h, src, token, target_id=tgt, task="x")).json()["delegation_id"]
        events = await events_until(sub, "DELEGATION_FAILED")
    assert of(events, "DELEGATION_FAILED") == [
        {"delegation_id": did, "target_id": tgt, "error": "delegation timed out"}
    ]
    rows = await delegation_rows(h, src)
    assert [(r["method"], r["status"]) for r in rows] == [
        ("delegate", "failed"),
        ("delegate_result", "failed"),
    ]


def test_retry_rule() -> None:
    assert should_retry(MoleculeError("failed to reach workspace agent", status=502))
    restarting = MoleculeError("restarting", status=503, extra={"restarting": True})
    assert should_retry(restarting)
    assert not should_retry(MoleculeError("busy", status=503, extra={"busy": True}))
    assert not should_retry(MoleculeError("plain 503", status=503))
    assert not should_retry(
        MoleculeError("read failed", status=502, extra={"delivery_confirmed": True})
    )
    assert not should_retry(MoleculeError("boom", status=500))


# -- validation and auth -----------------------------------------------------------------------


async def test_delegate_validation_writes_nothing(platform: Harness) -> None:
    h = platform
    src, token = await source(h)
    tgt = await mock_target(h)
    bad = "invalid delegation request"
    cases: list[tuple[Any, str]] = [
        ({"task": "t"}, bad),
        ({"target_id": tgt}, bad),
        ({"target_id": tgt, "task": ""}, bad),
        ({"target_id": tgt, "task": 5}, bad),
        ({"target_id": 7, "task": "t"}, bad),
        ({"target_id": tgt, "task": "t", "idempotency_key": ["k"]}, bad),
        ([tgt, "t"], bad),
        ({"target_id": "not-a-uuid", "task": "t"}, "target_id must be a valid UUID"),
        ({"target_id": src, "task": "t"}, "self-delegation not permitted"),
        ({"target_id": src.upper(), "task": "t"}, "self-delegation not permitted"),
    ]
    before = await activity_count(h, src)
    for body, message in cases:
        r = await h.client.post(f"/workspaces/{src}/delegate", json=body, headers=auth(token))
        assert r.status_code == 400, body
        assert r.json() == {"error": message}, body
    r = await h.client.post(
        f"/workspaces/{src}/delegate",
        content=b"{nope",
        headers={**auth(token), "Content-Type": "application/json"},
    )
    assert r.status_code == 400 and r.json() == {"error": bad}
    assert await activity_count(h, src) == before
    assert await recorded(h, src) == []

    # A source that does not exist (admin may name any id) is a 404, not a half-written row.
    ghost = str(uuid.uuid4())
    r = await h.client.post(
        f"/workspaces/{ghost}/delegate", json={"target_id": tgt, "task": "t"}, headers=h.admin
    )
    assert r.status_code == 404 and r.json() == {"error": "workspace not found"}
    assert await recorded(h, ghost) == []


async def test_routes_refuse_missing_and_foreign_credentials(platform: Harness) -> None:
    h = platform
    src, token = await source(h)
    _other, other_token = await source(h)
    tgt = await mock_target(h)
    did = str(uuid.uuid4())
    calls = [
        ("POST", f"/workspaces/{src}/delegate", {"target_id": tgt, "task": "t"}),
        ("GET", f"/workspaces/{src}/delegations", None),
        (
            "POST",
            f"/workspaces/{src}/delegations/record",
            {"target_id": tgt, "task": "t", "delegation_id": did},
        ),
        ("POST", f"/workspaces/{src}/delegations/{did}/update", {"status": "completed"}),
    ]
    for method, path, body in calls:
        r = await h.client.request(method, path, json=body)
        assert r.status_code == 401 and r.json() == {"error": "missing workspace auth token"}
        r = await h.client.request(method, path, json=body, headers=auth(other_token))
        assert r.status_code == 401 and r.json() == {"error": "invalid workspace auth token"}
    assert await activity_count(h, src) == 0
    assert await recorded(h, src) == []

    # The right token and the admin token are let in.
    r = await h.client.get(f"/workspaces/{src}/delegations", headers=auth(token))
    assert r.status_code == 200 and r.json() == []
    r = await h.client.get(f"/workspaces/{src}/delegations", headers=h.admin)
    assert r.status_code == 200 and r.json() == []


# -- record / update / list ----------------------------------------------------------------------


async def test_record_and_update(platform: Harness) -> None:
    h = platform
    src, token = await source(h)
    tgt = str(uuid.uuid4())  # agent-initiated: the platform only tracks it
    done, broken = str(uuid.uuid4()), str(uuid.uuid4())
    base = f"/workspaces/{src}/delegations"
    with h.svc.bus.subscribe(src) as sub:
        for did in (done, broken):
            r = await h.client.post(
                f"{base}/record",
                json={"target_id": tgt, "task": "agent task", "delegation_id": did},
                headers=auth(token),
            )
            assert r.status_code == 202 and r.json() == {"delegation_id": did, "status": "recorded"}
        sent = await events_until(sub, "DELEGATION_SENT")
        assert of(sent, "DELEGATION_SENT") == [
            {"delegation_id": done, "target_id": tgt, "task_preview": "agent task"}
        ]
        rows = await delegation_rows(h, src)
        assert [(r["method"], r["status"]) for r in rows] == [("delegate", "dispatched")] * 2
        assert rows[0]["request_body"] == {"task": "agent task", "delegation_id": done}

        preview = "all done " * 40
        r = await h.client.post(
            f"{base}/{done}/update",
            json={"status": "completed", "response_preview": preview},
            headers=auth(token),
        )
        assert r.status_code == 200 and r.json() == {"status": "completed", "delegation_id": done}
        (complete,) = of(await events_until(sub, "DELEGATION_COMPLETE"), "DELEGATION_COMPLETE")
        assert set(complete) == {"delegation_id", "response_preview"}  # no target_id
        assert complete == {"delegation_id": done, "response_preview": preview[:197] + "…"}

        r = await h.client.post(
            f"{base}/{broken}/update",
            json={"status": "failed", "error": "peer said no"},
            headers=auth(token),
        )
        assert r.status_code == 200 and r.json() == {"status": "failed", "delegation_id": broken}
        (failed,) = of(await events_until(sub, "DELEGATION_FAILED"), "DELEGATION_FAILED")
        assert failed == {"delegation_id": broken, "error": "peer said no"}

    by_key = {
        (r["method"], r["response_body"]["delegation_id"]): r for r in await delegation_rows(h, src)
    }
    assert by_key[("delegate", done)]["status"] == "completed"
    assert by_key[("delegate", broken)]["status"] == "failed"
    assert by_key[("delegate", broken)]["error_detail"] == "peer said no"
    result = by_key[("delegate_result", done)]
    assert result["target_id"] is None and result["status"] == "completed"
    assert result["response_body"] == {"text": preview, "delegation_id": done}
    assert ("delegate_result", broken) not in by_key

    listed = (await h.client.get(base, headers=auth(token))).json()
    assert [(e["type"], e["status"], e["delegation_id"]) for e in listed] == [
        ("delegate_result", "completed", done),
        ("delegate", "failed", broken),
        ("delegate", "completed", done),
    ]
    assert listed[0]["response_preview"] == preview[:297] + "…"  # 360 bytes, cut at 300
    assert listed[1]["error"] == "peer said no"
    assert set(listed[2]) == {
        "id",
        "type",
        "source_id",
        "target_id",
        "summary",
        "status",
        "created_at",
        "delegation_id",
    }
    assert listed[2]["source_id"] == src and listed[2]["target_id"] == tgt


async def test_record_and_update_refusals_write_nothing(platform: Harness) -> None:
    h = platform
    src, token = await source(h)
    tgt = str(uuid.uuid4())
    base = f"/workspaces/{src}/delegations"
    cases: list[tuple[Any, str]] = [
        ({"target_id": tgt, "task": "t"}, "invalid request body"),
        ({"target_id": tgt, "delegation_id": "d"}, "invalid request body"),
        ({"task": "t", "delegation_id": "d"}, "invalid request body"),
        (
            {"target_id": "nope", "task": "t", "delegation_id": "d"},
            "target_id must be a valid UUID",
        ),
    ]
    for body, message in cases:
        r = await h.client.post(f"{base}/record", json=body, headers=auth(token))
        assert r.status_code == 400 and r.json() == {"error": message}, body
    for body in ({}, {"status": "done"}, {"status": "pending"}, {"status": None}):
        r = await h.client.post(f"{base}/d-1/update", json=body, headers=auth(token))
        assert r.status_code == 400
        assert r.json() == {"error": "status must be 'completed' or 'failed'"}
    r = await h.client.post(f"{base}/d-1/update", json={"status": "failed"}, headers=auth(token))
    assert r.status_code == 404 and r.json() == {"error": "delegation not found"}
    assert await activity_count(h, src) == 0
    assert await recorded(h, src) == []


async def test_list_folds_the_last_fifty_rows(platform: Harness) -> None:
    h = platform
    src, token = await source(h)
    tgt = str(uuid.uuid4())
    ids = [str(uuid.uuid4()) for _ in range(55)]
    for did in ids:
        r = await h.client.post(
            f"/workspaces/{src}/delegations/record",
            json={"target_id": tgt, "task": "t", "delegation_id": did},
            headers=auth(token),
        )
        assert r.status_code == 202
    listed = (await h.client.get(f"/workspaces/{src}/delegations", headers=auth(token))).json()
    assert len(listed) == 50
    assert [e["delegation_id"] for e in listed] == ids[::-1][:50]  # newest first
    assert all(e["type"] == "delegate" and e["status"] == "dispatched" for e in listed)
