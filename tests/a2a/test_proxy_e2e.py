"""The A2A proxy end to end: real platform, real agents on loopback, real sockets.

`POST /workspaces/:id/a2a` against
- a real a2a-sdk 1.3 JSON-RPC echo server in a subprocess, called through the proxy by the
  a2a-sdk client (v0.3 `message/send`, v1.0 `SendMessage`, streaming `message/stream`) and by
  raw v0.2-shaped JSON (docs/compatibility.md#d6);
- scripted in-process agents (slow, hung, failing, empty) for the busy queue and its drain
  (docs/compatibility.md#d2, #d3), the error outcomes (docs/architecture.md §4.1, step 6),
  X-Timeout (docs/compatibility.md#d7) and a platform restart;
- poll-mode and mock workspaces, and the hierarchy/auth refusals.

The platform runs in development URL mode (loopback agents allowed) with ADMIN_TOKEN set, so
every route still enforces auth. Real time is used with small timeouts; every wait is bounded.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from molecule.events import Event
from tests.a2a.agents import (
    EchoProcess,
    ScriptedAgent,
    free_port,
    serve_dropping_agent,
    start_echo_agent,
)
from tests.conftest import ADMIN_TOKEN, Harness, make_settings, start_platform

ACCESS_DENIED = "access denied: workspaces cannot communicate per hierarchy rules"
BUSY_MESSAGE = "workspace agent busy — request queued, will dispatch when capacity available"
CARD = {"name": "agent", "description": "e2e test agent", "version": "1.0.0"}
WAIT = 15.0  # upper bound for any single wait in this module


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


ADMIN = auth(ADMIN_TOKEN)


def v03(text: str, message_id: str | None = None, **params: Any) -> dict[str, Any]:
    """A v0.3 JSON-RPC `message/send` body."""
    message = {
        "role": "user",
        "messageId": message_id or str(uuid.uuid4()),
        "parts": [{"kind": "text", "text": text}],
    }
    return {
        "jsonrpc": "2.0",
        "id": str(uuid.uuid4()),
        "method": "message/send",
        "params": {"message": message, **params},
    }


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def echo_agent() -> Iterator[EchoProcess]:
    agent = start_echo_agent()
    try:
        yield agent
    finally:
        agent.stop()


async def serve_scripted(nursery: trio.Nursery, agent: ScriptedAgent) -> str:
    """Serve `agent` on a free loopback port in `nursery`; returns its registrable URL."""
    config = HypercornConfig()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.graceful_timeout = 0.1
    binds = await nursery.start(
        lambda task_status: serve(agent, config, task_status=task_status)  # type: ignore[arg-type]
    )
    return f"http://localhost:{binds[0].rsplit(':', 1)[1]}"


@dataclass
class E2E(Harness):
    """The conftest harness plus a nursery for in-process agents and workspace helpers."""

    agents: trio.Nursery

    async def serve(self, agent: ScriptedAgent) -> str:
        return await serve_scripted(self.agents, agent)

    async def workspace(self, name: str, **extra: Any) -> tuple[str, str]:
        """An external workspace awaiting its agent: (id, connection token)."""
        created = await self.create_external(f"{name}-{uuid.uuid4().hex[:6]}", **extra)
        connection = created["connection"]
        assert isinstance(connection, dict)
        return str(created["id"]), str(connection["auth_token"])

    async def register(self, wid: str, token: str, url: str | None, **body: Any) -> None:
        payload = {"id": wid, "url": url, "agent_card": CARD, **body}
        r = await self.client.post("/registry/register", json=payload, headers=auth(token))
        assert r.status_code == 200, r.text

    async def agent_workspace(self, name: str, url: str, **extra: Any) -> tuple[str, str]:
        wid, token = await self.workspace(name, **extra)
        await self.register(wid, token, url)
        return wid, token

    async def heartbeat(self, wid: str, token: str, **body: Any) -> None:
        payload = {"workspace_id": wid, "active_tasks": 0, **body}
        r = await self.client.post("/registry/heartbeat", json=payload, headers=auth(token))
        assert r.status_code == 200, r.text

    async def send(
        self, wid: str, body: Any, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        kwargs: dict[str, Any] = {"headers": ADMIN if headers is None else headers}
        if isinstance(body, bytes):
            kwargs["content"] = body
        else:
            kwargs["json"] = body
        return await self.client.post(f"/workspaces/{wid}/a2a", **kwargs)

    async def activity(self, wid: str) -> list[dict[str, Any]]:
        await self.svc.activity.flush()  # receipts are staged, written just after the reply
        rows = await self.svc.store.fetch(
            "SELECT * FROM activity_logs WHERE workspace_id = $1 AND activity_type = 'a2a_receive'"
            " ORDER BY created_at",
            wid,
        )
        return [dict(r) for r in rows]

    async def queue_rows(self, wid: str) -> list[dict[str, Any]]:
        rows = await self.svc.store.fetch(
            "SELECT * FROM a2a_queue WHERE workspace_id = $1 ORDER BY enqueued_at", wid
        )
        return [dict(r) for r in rows]

    async def queue_row(self, queue_id: str) -> dict[str, Any]:
        row = await self.svc.store.fetchrow("SELECT * FROM a2a_queue WHERE id = $1", queue_id)
        assert row is not None
        return dict(row)


@pytest.fixture
async def h(aio_loop: object, dsn: str, tmp_path: Path) -> AsyncIterator[E2E]:
    settings = make_settings(tmp_path, dsn, dev_mode=True)
    async with trio.open_nursery() as nursery:
        svc, base, stop = await start_platform(settings, dsn, nursery)
        async with trio.open_nursery() as agents:
            async with httpx.AsyncClient(base_url=base, timeout=WAIT) as client:
                yield E2E(svc, base, client, agents)
            agents.cancel_scope.cancel()
        stop.set()


async def eventually(
    check: Callable[[], Awaitable[Any]], what: str, timeout: float = WAIT, every: float = 0.05
) -> Any:
    """Poll `check` until it returns something truthy (bounded)."""
    with trio.move_on_after(timeout):
        while True:
            value = await check()
            if value:
                return value
            await trio.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


async def next_event(sub: Any, type_: str) -> Event:
    with trio.fail_after(5):
        async for event in sub:
            if event.type == type_:
                return event  # type: ignore[no-any-return]
    raise AssertionError(f"subscription closed before {type_}")


# -- 1. a real a2a-sdk agent behind the proxy ------------------------------------------------


async def _a2a_sdk_call(
    url: str, text: str, *, version: str, streaming: bool
) -> tuple[list[Any], list[float], list[httpx.Response]]:
    """Send `text` with the a2a-sdk client to `url`; (events, arrival times, responses)."""
    from a2a.client import ClientConfig, ClientFactory
    from a2a.types.a2a_pb2 import (
        AgentCapabilities,
        AgentCard,
        AgentInterface,
        Message,
        Part,
        Role,
        SendMessageRequest,
    )

    responses: list[httpx.Response] = []

    async def on_response(response: httpx.Response) -> None:
        responses.append(response)

    card = AgentCard(
        name="molecule-proxy",
        description="the platform's A2A proxy",
        version="1.0.0",
        supported_interfaces=[
            AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version=version)
        ],
        capabilities=AgentCapabilities(streaming=streaming),
    )
    events: list[Any] = []
    arrivals: list[float] = []
    async with httpx.AsyncClient(
        headers=ADMIN, timeout=WAIT, event_hooks={"response": [on_response]}
    ) as http:
        client = ClientFactory(ClientConfig(streaming=streaming, httpx_client=http)).create(card)
        request = SendMessageRequest(
            message=Message(
                role=Role.ROLE_USER, message_id=str(uuid.uuid4()), parts=[Part(text=text)]
            )
        )
        with trio.fail_after(WAIT):
            async for event in client.send_message(request):
                events.append(event)
                arrivals.append(trio.current_time())
    return events, arrivals, responses


async def test_a2a_sdk_client_v03_and_v10_through_proxy(h: E2E, echo_agent: EchoProcess) -> None:
    wid, _ = await h.agent_workspace("echo", echo_agent.url)
    proxy_url = f"{h.base_url}/workspaces/{wid}/a2a"

    with h.svc.bus.subscribe(wid) as sub:
        events, _, responses = await _a2a_sdk_call(
            proxy_url, "hello v0.3", version="0.3", streaming=False
        )
        assert len(events) == 1 and events[0].HasField("message")
        assert [p.text for p in events[0].message.parts] == ["echo: hello v0.3"]
        assert responses[-1].status_code == 200
        assert responses[-1].request.headers["A2A-Version"] == "0.3"
        # The canvas (admin bearer, no X-Workspace-ID) gets A2A_RESPONSE on the bus.
        event = await next_event(sub, "A2A_RESPONSE")
        assert event.payload["method"] == "message/send"
        reply = event.payload["response_body"]
        assert reply["result"]["parts"] == [{"kind": "text", "text": "echo: hello v0.3"}]
        assert isinstance(event.payload["duration_ms"], int)

    # v1.0 SendMessage only works when A2A-Version: 1.0 reaches the agent
    # (docs/compatibility.md#d6).
    events, _, responses = await _a2a_sdk_call(
        proxy_url, "hello v1.0", version="1.0", streaming=False
    )
    assert len(events) == 1 and events[0].HasField("message")
    assert [p.text for p in events[0].message.parts] == ["echo: hello v1.0"]
    assert responses[-1].request.headers["A2A-Version"] == "1.0"

    rows = await h.activity(wid)
    assert [r["method"] for r in rows] == ["message/send", "SendMessage"]
    for row, text in zip(rows, ["hello v0.3", "hello v1.0"], strict=True):
        assert row["status"] == "ok" and row["source_id"] is None and row["target_id"] == wid
        assert row["request_body"]["params"]["message"]["parts"][0]["text"] == text
        assert row["response_body"]["result"] is not None
        assert isinstance(row["duration_ms"], int) and row["duration_ms"] >= 0
        assert row["summary"].startswith(f"{row['method']} → echo-")
    assert "echo: hello v1.0" in json.dumps(rows[1]["response_body"])


async def test_a2a_sdk_streaming_passes_through_as_sse(h: E2E, echo_agent: EchoProcess) -> None:
    wid, _ = await h.agent_workspace("stream", echo_agent.url)
    proxy_url = f"{h.base_url}/workspaces/{wid}/a2a"

    # `steps:` makes the agent emit task, working, artifact, completed spaced 0.4 s apart.
    events, arrivals, responses = await _a2a_sdk_call(
        proxy_url, "steps: stream me", version="0.3", streaming=True
    )
    assert responses[-1].status_code == 200
    assert responses[-1].headers["content-type"].startswith("text/event-stream")
    kinds = [e.WhichOneof("payload") for e in events]
    assert kinds[0] == "task" and "artifact_update" in kinds and kinds[-1] == "status_update"
    artifact = next(e.artifact_update.artifact for e in events if e.HasField("artifact_update"))
    assert [p.text for p in artifact.parts] == ["echo: steps: stream me"]
    # Event by event: the first arrived well before the last (not buffered to the end).
    assert arrivals[-1] - arrivals[0] >= 0.5, arrivals

    async def logged() -> list[dict[str, Any]]:
        return [r for r in await h.activity(wid) if r["method"] == "message/stream"]

    rows = await eventually(logged, "the streamed call's activity row")
    assert rows[0]["status"] == "ok" and rows[0]["duration_ms"] >= 500


async def test_stream_raw_sse_frames(h: E2E, echo_agent: EchoProcess) -> None:
    """The SSE bytes reach a raw HTTP client unchanged, as text/event-stream."""
    wid, _ = await h.agent_workspace("sse", echo_agent.url)
    body = v03("steps: raw")
    body["method"] = "message/stream"
    frames: list[dict[str, Any]] = []
    with trio.fail_after(WAIT):
        async with h.client.stream("POST", f"/workspaces/{wid}/a2a", json=body, headers=ADMIN) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            async for line in r.aiter_lines():
                if line.startswith("data:"):
                    frames.append(json.loads(line[5:]))
    assert [f["result"]["kind"] for f in frames] == [
        "task",
        "status-update",
        "artifact-update",
        "status-update",
    ]
    assert all(f["id"] == body["id"] for f in frames)
    assert frames[-1]["result"]["status"]["state"] == "completed"


async def test_streamed_reply_a2a_response_has_no_sentinel(h: E2E, echo_agent: EchoProcess) -> None:
    wid, _ = await h.agent_workspace("sse-event", echo_agent.url)
    body = v03("plain stream")
    body["method"] = "message/stream"
    with h.svc.bus.subscribe(wid) as sub:
        r = await h.send(wid, body)
        assert r.status_code == 200 and "echo: plain stream" in r.text
        event = await next_event(sub, "A2A_RESPONSE")
    wire = json.loads(event.wire_json)
    assert wire["payload"]["method"] == "message/stream"
    # No sentinel: the event that answered (a stream logs its reply, not a placeholder).
    said = wire["payload"]["response_body"]
    assert isinstance(said, dict) and "echo: plain stream" in json.dumps(said), wire["payload"]

    async def logged() -> list[dict[str, Any]]:
        return [r for r in await h.activity(wid) if r["method"] == "message/stream"]

    rows = await eventually(logged, "the streamed call's activity row")
    assert rows[0]["response_body"] == said


async def test_raw_v02_shapes_through_proxy(h: E2E, echo_agent: EchoProcess) -> None:
    wid, _ = await h.agent_workspace("v02", echo_agent.url)
    # v0.2: no jsonrpc envelope, `content` string, no messageId.
    body = {"method": "message/send", "params": {"message": {"role": "user", "content": "old"}}}
    with h.svc.bus.subscribe(wid) as sub:
        r = await h.send(wid, body)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/json"
        reply = r.json()
        assert reply["jsonrpc"] == "2.0" and "error" not in reply
        assert reply["result"]["parts"] == [{"kind": "text", "text": "echo: old"}]
        event = await next_event(sub, "A2A_RESPONSE")
        assert event.payload["response_body"] == reply

    # The legacy `{"type": "text"}` part tag (the platform's own delegate shape) also works.
    legacy = {
        "method": "message/send",
        "params": {"message": {"role": "user", "parts": [{"type": "text", "text": "typed"}]}},
    }
    r = await h.send(wid, legacy)
    assert r.status_code == 200 and r.json()["result"]["parts"][0]["text"] == "echo: typed"

    rows = await h.activity(wid)
    assert len(rows) == 2
    sent = rows[0]["request_body"]
    # What was forwarded (and logged) is the normalised envelope.
    assert sent["jsonrpc"] == "2.0" and sent["method"] == "message/send"
    assert uuid.UUID(sent["id"]) and uuid.UUID(sent["params"]["message"]["messageId"])
    assert sent["params"]["message"]["parts"] == [{"kind": "text", "text": "old"}]
    assert "content" not in sent["params"]["message"]
    assert rows[0]["response_body"] == reply and rows[0]["duration_ms"] is not None


# -- 2. busy -> durable queue -> drain ---------------------------------------------------------


async def test_busy_queue_lookup_and_drain(h: E2E) -> None:
    agent = ScriptedAgent(delay=None)  # accepts and never answers: busy
    url = await h.serve(agent)
    wid, token = await h.agent_workspace("busy", url, max_concurrent_tasks=2)
    other_wid, other_token = await h.workspace("bystander")
    await h.heartbeat(wid, token, runtime_metadata={"idle_timeout_seconds": 1})

    message_id = str(uuid.uuid4())
    body = v03("please wait", message_id, expires_in_seconds=600)
    started = trio.current_time()
    r = await h.send(wid, body)
    elapsed = trio.current_time() - started
    assert r.status_code == 202, r.text
    queued = r.json()
    assert queued["queued"] is True and queued["queue_depth"] == 1
    assert queued["message"] == BUSY_MESSAGE
    queue_id = queued["queue_id"]
    # The agent never answers, so only the 1 s idle timer can have ended the call, and not
    # before it was due.
    assert elapsed >= 0.9, elapsed

    row = await h.queue_row(queue_id)
    assert row["status"] == "queued" and row["workspace_id"] == wid
    assert row["idempotency_key"] == message_id and row["caller_id"] is None
    assert row["method"] == "message/send" and row["attempts"] == 0
    assert row["body"]["params"]["message"]["messageId"] == message_id
    ttl = row["expires_at"] - row["enqueued_at"]
    assert timedelta(seconds=595) <= ttl <= timedelta(seconds=605), ttl
    # The failed attempt is on record even though the request was queued, as in the original.
    failures = await h.activity(wid)
    assert [f["status"] for f in failures] == ["error"]
    assert failures[0]["summary"].startswith("A2A request to busy-")

    # Same messageId again: the same queue row (idempotency), nothing new enqueued.
    r = await h.send(wid, body)
    assert r.status_code == 202 and r.json()["queue_id"] == queue_id
    assert r.json()["queue_depth"] == 1
    assert len(await h.queue_rows(wid)) == 1

    # docs/compatibility.md#d3: the lookup trusts only verified bearers; every refusal is the
    # same 404.
    path = f"/workspaces/{wid}/a2a/queue/{queue_id}"
    for headers in (auth(token), ADMIN):
        r = await h.client.get(path, headers=headers)
        assert r.status_code == 200, r.text
        item = r.json()
        assert item["queue_id"] == queue_id and item["workspace_id"] == wid
        assert item["status"] == "queued" and item["priority"] == 50 and item["attempts"] == 0
        assert "body" not in item and "caller_id" not in item and "response_body" not in item
        assert "T" in item["enqueued_at"] and datetime.fromisoformat(item["enqueued_at"])
        assert datetime.fromisoformat(item["expires_at"]) > datetime.fromisoformat(
            item["enqueued_at"]
        )
    not_found = {"error": "queue item not found"}
    for headers in (
        auth(other_token),
        {},
        {"X-Workspace-ID": wid},  # unverified header alone is no identity
        auth("not-a-token"),
    ):
        r = await h.client.get(path, headers=headers)
        assert r.status_code == 404 and r.json() == not_found, headers
    r = await h.client.get(f"/workspaces/{wid}/a2a/queue/{uuid.uuid4()}", headers=ADMIN)
    assert r.status_code == 404 and r.json() == not_found

    # docs/compatibility.md#d2: a drain that finds the agent busy again puts the item back,
    # attempts counted.
    agent.delay = 30.0
    await h.heartbeat(wid, token, runtime_metadata={"idle_timeout_seconds": 1})

    async def released() -> bool:
        rows = {r["id"]: r for r in await h.queue_rows(wid)}
        first = rows[queue_id]
        return bool(first["status"] == "queued" and first["attempts"] == 1)

    await eventually(released, "the busy-again item back in the queue")
    row = await h.queue_row(queue_id)
    assert row["last_error"].startswith("target busy") and row["dispatched_at"] is None

    # A second message is a second row.
    agent.delay = None
    r = await h.send(wid, v03("me too"))
    assert r.status_code == 202 and r.json()["queue_depth"] == 2
    assert r.json()["queue_id"] != queue_id

    # The agent is fast again: one heartbeat drains up to the spare capacity (2 - 0).
    agent.delay = 0.0
    agent.reply_text = "done now"
    before = len(agent.received)
    await h.heartbeat(wid, token, runtime_metadata={"idle_timeout_seconds": 1})

    async def drained() -> bool:
        return all(r["status"] == "completed" for r in await h.queue_rows(wid))

    await eventually(drained, "both queue items completed")
    rows = await h.queue_rows(wid)
    assert all(r["completed_at"] is not None for r in rows)
    # The agent received each queued message exactly once more, as enqueued.
    redelivered = [rq.json()["params"]["message"]["messageId"] for rq in agent.received[before:]]
    assert sorted(redelivered) == sorted(r["idempotency_key"] for r in rows)

    # docs/compatibility.md#d2: a drained success writes the activity row a direct call would.
    ok_rows = [r for r in await h.activity(wid) if r["status"] == "ok"]
    assert len(ok_rows) == 2
    by_message = {r["request_body"]["params"]["message"]["messageId"]: r for r in ok_rows}
    drained_row = by_message[message_id]
    assert drained_row["method"] == "message/send" and drained_row["duration_ms"] is not None
    assert drained_row["response_body"]["result"]["parts"][0]["text"] == "done now"

    r = await h.client.get(path, headers=auth(token))
    assert r.status_code == 200
    item = r.json()
    assert item["status"] == "completed" and item["attempts"] == 2
    assert datetime.fromisoformat(item["completed_at"])
    # A new message with the completed item's messageId is a new row (the key is free again).
    r = await h.send(wid, body)
    assert r.status_code == 200 and r.json()["result"]["parts"][0]["text"] == "done now"


async def test_busy_again_drain_returns_every_claimed_item(h: E2E) -> None:
    agent = ScriptedAgent(delay=None)
    wid, token = await h.agent_workspace("stranded", await h.serve(agent), max_concurrent_tasks=2)
    await h.heartbeat(wid, token, runtime_metadata={"idle_timeout_seconds": 1})
    ids = []
    for text in ("first", "second"):
        r = await h.send(wid, v03(text))
        assert r.status_code == 202, r.text
        ids.append(r.json()["queue_id"])

    await h.heartbeat(wid, token, runtime_metadata={"idle_timeout_seconds": 1})

    # docs/compatibility.md#d2: nothing may be lost or stuck. The tried item is back with its
    # attempt counted; the one claimed alongside it but never sent is back untouched, not
    # stranded 'dispatched'.
    async def both_back() -> bool:
        rows = {r["id"]: r for r in await h.queue_rows(wid)}
        return [(rows[i]["status"], rows[i]["attempts"]) for i in ids] == [
            ("queued", 1),
            ("queued", 0),
        ]

    await eventually(both_back, "both claimed items back in the queue")
    assert len(agent.received) == 3  # two busy tries, then only the first item re-sent

    # Fast again: both drain.
    agent.delay = 0.0
    await h.heartbeat(wid, token)

    async def drained() -> bool:
        return [r["status"] for r in await h.queue_rows(wid)] == ["completed", "completed"]

    await eventually(drained, "both items completed")


async def test_native_session_target_is_not_queued(h: E2E) -> None:
    agent = ScriptedAgent(delay=None)
    url = await h.serve(agent)
    wid, token = await h.agent_workspace("session", url)
    await h.heartbeat(
        wid,
        token,
        runtime_metadata={"capabilities": {"session": True}, "idle_timeout_seconds": 1},
    )
    r = await h.send(wid, v03("busy?", str(uuid.uuid4())))
    assert r.status_code == 503, r.text
    assert r.headers["Retry-After"] == "30"
    assert r.json() == {
        "error": "workspace agent busy — adapter handles retry (native_session)",
        "busy": True,
        "retry_after": 30,
        "native_session": True,
    }
    assert await h.queue_rows(wid) == []
    assert [row["status"] for row in await h.activity(wid)] == ["error"]


# -- 3. agent failures ---------------------------------------------------------------------


async def test_a_v03_body_is_forwarded_byte_for_byte_and_a_fixed_one_re_serialised(
    h: E2E,
) -> None:
    agent = ScriptedAgent()
    wid, _ = await h.agent_workspace("verbatim", await h.serve(agent))
    verbatim = (
        b'{ "params": {"message": {"parts": [{"kind":"text","text":"caf\\u00e9"}],'
        b' "messageId": "m-1", "role": "user"}}, "id": 7, "jsonrpc": "2.0",'
        b' "method": "message/send" }'
    )
    r = await h.send(wid, verbatim)
    assert r.status_code == 200, r.text
    assert agent.received[-1].body == verbatim  # nothing to normalise: the caller's bytes

    fixed = b'{"jsonrpc":"2.0","id":8,"method":"message/send","params":{"message":{"parts":[]}}}'
    r = await h.send(wid, fixed)
    assert r.status_code == 200, r.text
    forwarded = agent.received[-1]
    assert forwarded.body != fixed and forwarded.json()["params"]["message"]["messageId"]


async def test_other_methods_on_the_raw_proxy_route_are_405(h: E2E) -> None:
    wid = str(uuid.uuid4())
    for method in ("GET", "PUT", "DELETE"):
        r = await h.client.request(method, f"/workspaces/{wid}/a2a", headers=ADMIN)
        assert r.status_code == 405 and r.headers["allow"] == "POST", (method, r.text)
        assert r.json() == {"error": "method not allowed"}
    # A path Quart serves with other methods is still Quart's (GET feed, raw POST report).
    r = await h.client.get(f"/workspaces/{wid}/activity", headers=ADMIN)
    assert r.status_code != 405


async def test_agent_error_status_and_empty_body(h: E2E) -> None:
    failing = ScriptedAgent(status=502, body=json.dumps({"error": "agent exploded"}).encode())
    wid, _ = await h.agent_workspace("bad-gateway", await h.serve(failing))
    r = await h.send(wid, v03("hi"))
    assert r.status_code == 502 and r.json() == {"error": "agent exploded"}
    rows = await h.activity(wid)
    assert [row["status"] for row in rows] == ["error"]

    # A non-JSON error body: the status text is the message; the body is not passed through.
    failing.status, failing.body = 503, b"<html>upstream down</html>"
    r = await h.send(wid, v03("again"))
    assert r.status_code == 503 and r.json() == {"error": "Service Unavailable"}

    empty = ScriptedAgent(body=b"")
    empty_wid, _ = await h.agent_workspace("empty", await h.serve(empty))
    r = await h.send(empty_wid, v03("anyone?"))
    assert r.status_code == 200 and r.json() == {"error": "agent returned empty response body"}
    assert len(empty.received) == 1
    assert await h.activity(empty_wid) == []


async def test_unreachable_agent_is_502_with_failure_row(h: E2E) -> None:
    dead_wid, _ = await h.agent_workspace("nobody", f"http://localhost:{free_port()}")
    r = await h.send(dead_wid, v03("hello?"))
    assert r.status_code == 502 and r.json() == {"error": "failed to reach workspace agent"}
    rows = await h.activity(dead_wid)
    assert len(rows) == 1 and rows[0]["status"] == "error"
    assert rows[0]["summary"].startswith("A2A request to nobody-")
    assert rows[0]["error_detail"] and rows[0]["request_body"]["method"] == "message/send"
    assert await h.queue_rows(dead_wid) == []  # unreachable is not busy


async def test_dropped_connection_is_busy_and_queued(h: E2E) -> None:
    """An agent that hangs up mid-request is busy, not dead, as in the original: the message
    queues."""
    dropped: list[bytes] = []
    port = await serve_dropping_agent(h.agents, dropped)
    wid, _ = await h.agent_workspace("hangup", f"http://localhost:{port}")
    message_id = str(uuid.uuid4())
    r = await h.send(wid, v03("are you there?", message_id))
    assert r.status_code == 202, r.text
    assert r.json()["queued"] is True and r.json()["queue_depth"] == 1
    assert dropped and dropped[0].startswith(b"POST / HTTP/1.1")
    [row] = await h.queue_rows(wid)
    assert row["status"] == "queued" and row["idempotency_key"] == message_id
    assert [a["status"] for a in await h.activity(wid)] == ["error"]


# -- 4. poll mode and the mock runtime -------------------------------------------------------


async def test_poll_mode_records_without_dispatch(h: E2E) -> None:
    wid, token = await h.workspace("poller")
    await h.register(wid, token, None, delivery_mode="poll")
    with h.svc.bus.subscribe(wid) as sub:
        r = await h.send(wid, {"method": "message/send", "params": {"message": {"content": "x"}}})
        assert r.status_code == 200
        assert r.json() == {"status": "queued", "delivery_mode": "poll", "method": "message/send"}
        logged = await next_event(sub, "ACTIVITY_LOGGED")
        assert logged.payload["activity_type"] == "a2a_receive"
    rows = await h.activity(wid)
    assert len(rows) == 1
    row = rows[0]
    assert row["summary"].endswith("(queued for poll)") and row["status"] == "ok"
    assert row["request_body"]["params"]["message"]["parts"] == [{"kind": "text", "text": "x"}]
    assert row["response_body"] is None and row["source_id"] is None
    assert await h.queue_rows(wid) == []


async def test_mock_runtime_answers_canned_reply(h: E2E) -> None:
    name = f"mocky-{uuid.uuid4().hex[:6]}"
    r = await h.client.post("/workspaces", json={"name": name, "runtime": "mock"}, headers=ADMIN)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "online"
    wid = r.json()["id"]
    body = v03("hello mock")
    with h.svc.bus.subscribe(wid) as sub:
        r = await h.send(wid, body)
        assert r.status_code == 200, r.text
        reply = r.json()
        assert reply["id"] == body["id"] and reply["result"]["role"] == "agent"
        assert reply["result"]["parts"] == [{"kind": "text", "text": f"mock reply from {name}"}]
        logged = await next_event(sub, "ACTIVITY_LOGGED")
        assert logged.payload["method"] == "message/send"
    rows = await h.activity(wid)
    assert len(rows) == 1 and rows[0]["response_body"] == reply and rows[0]["status"] == "ok"


# -- 5. hierarchy and caller authentication ---------------------------------------------------


async def test_hierarchy_and_caller_auth(h: E2E) -> None:
    agent = ScriptedAgent()
    url = await h.serve(agent)
    root, root_token = await h.agent_workspace("root", url)
    left, left_token = await h.agent_workspace("left", url, parent_id=root)
    right, _ = await h.agent_workspace("right", url, parent_id=root)
    left_kid, left_kid_token = await h.agent_workspace("left-kid", url, parent_id=left)
    right_kid, right_kid_token = await h.agent_workspace("right-kid", url, parent_id=right)

    def as_(wid: str, token: str) -> dict[str, str]:
        return {"X-Workspace-ID": wid, **auth(token)}

    allowed = [
        (root, root_token, left),  # parent -> child
        (left, left_token, root),  # child -> parent
        (left, left_token, right),  # siblings
        (left_kid, left_kid_token, root),  # descendant -> ancestor
    ]
    for caller, token, target in allowed:
        with h.svc.bus.subscribe(target) as sub:
            r = await h.send(target, v03(f"from {caller}"), as_(caller, token))
            assert r.status_code == 200, (caller, target, r.text)
            # A2A_RESPONSE would be buffered before the reply; ACTIVITY_LOGGED follows the
            # receipt's write, which flush() waits for.
            await h.svc.activity.flush()
            seen = []
            while True:
                try:
                    seen.append(sub.receive.receive_nowait().type)
                except trio.WouldBlock:
                    break
        assert "ACTIVITY_LOGGED" in seen and "A2A_RESPONSE" not in seen  # canvas-only event
        rows = await h.activity(target)
        assert rows[-1]["source_id"] == caller and rows[-1]["status"] == "ok"
        caller_row = await h.row(caller)
        assert caller_row is not None and caller_row["last_outbound_at"] is not None
    # A bare workspace bearer identifies its owner (no X-Workspace-ID needed).
    r = await h.send(right, v03("bearer only"), auth(left_token))
    assert r.status_code == 200 and (await h.activity(right))[-1]["source_id"] == left

    count = await h.svc.store.fetchval("SELECT count(*) FROM activity_logs")
    dispatched = len(agent.received)

    refusals: list[tuple[str, Any, dict[str, str], int, str]] = [
        (right_kid, v03("cousin"), as_(left_kid, left_kid_token), 403, ACCESS_DENIED),
        (right, v03("uncle"), as_(left_kid, left_kid_token), 403, ACCESS_DENIED),
        (right_kid, v03("cousin, bearer only"), auth(left_kid_token), 403, ACCESS_DENIED),
        (
            left,
            v03("wrong token"),
            as_(left_kid, right_kid_token),
            401,
            "invalid caller auth token",
        ),
        (left, v03("no token"), {"X-Workspace-ID": left_kid}, 401, "missing caller auth token"),
        (left, v03("anonymous"), {}, 401, "missing caller auth token"),
        (left, v03("bad bearer"), auth("nope"), 401, "invalid caller auth token"),
        (left, b"{not json", ADMIN, 400, "invalid JSON"),
        (left, b"", ADMIN, 400, "invalid JSON"),
        (str(uuid.uuid4()), v03("ghost"), ADMIN, 404, "workspace not found"),
    ]
    for prefix in ("system:", "webhook:", "test:", "channel:"):
        headers = {"X-Workspace-ID": f"{prefix}spoof", **ADMIN}
        refusals.append((left, v03("spoof"), headers, 403, "invalid caller ID"))
    for target, body, headers, status, error in refusals:
        r = await h.send(target, body, headers)
        assert r.status_code == status, (error, r.text)
        assert r.json()["error"] == error

    r = await h.send("not-a-uuid", v03("bad id"))
    assert r.status_code == 400 and "error" in r.json()

    await h.svc.activity.flush()
    assert await h.svc.store.fetchval("SELECT count(*) FROM activity_logs") == count
    assert len(agent.received) == dispatched


# -- 6. X-Timeout bounds the upstream call (docs/compatibility.md#d7) -------------------------


async def test_x_timeout_bounds_the_upstream_call(h: E2E) -> None:
    agent = ScriptedAgent(delay=None)
    wid, _ = await h.agent_workspace("timeout", await h.serve(agent))
    # No idle override: the default idle window is 300 s and the agent never answers, so a
    # call that ends at all before that was ended by X-Timeout (and not before it was due).
    started = trio.current_time()
    with trio.fail_after(120):
        r = await h.send(wid, v03("slowly"), {**ADMIN, "X-Timeout": "1"})
    elapsed = trio.current_time() - started
    assert r.status_code == 202 and r.json()["queued"] is True, r.text
    assert elapsed >= 0.9, elapsed
    assert len(agent.received) == 1
    assert [row["status"] for row in await h.queue_rows(wid)] == ["queued"]


# -- 7. the queue survives a platform restart -------------------------------------------------


async def test_queued_item_survives_restart(aio_loop: object, dsn: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, dsn, dev_mode=True)
    agent = ScriptedAgent(delay=None)
    async with trio.open_nursery() as agents:
        url = await serve_scripted(agents, agent)

        async with trio.open_nursery() as first:
            svc, base, stop = await start_platform(settings, dsn, first)
            async with httpx.AsyncClient(base_url=base, timeout=WAIT) as client:
                h = E2E(svc, base, client, agents)
                wid, token = await h.agent_workspace("durable", url)
                await h.heartbeat(wid, token, runtime_metadata={"idle_timeout_seconds": 1})
                message_id = str(uuid.uuid4())
                r = await h.send(wid, v03("survive", message_id))
                assert r.status_code == 202, r.text
                queue_id = r.json()["queue_id"]
            stop.set()
        # The first platform is fully stopped here (its nursery finished).

        agent.delay = 0.0
        async with trio.open_nursery() as second:
            svc, base, stop = await start_platform(settings, dsn, second)
            async with httpx.AsyncClient(base_url=base, timeout=WAIT) as client:
                h = E2E(svc, base, client, agents)
                row = await h.queue_row(queue_id)
                assert row["status"] == "queued" and row["idempotency_key"] == message_id
                await h.heartbeat(wid, token)

                async def completed() -> bool:
                    return bool((await h.queue_row(queue_id))["status"] == "completed")

                await eventually(completed, "the restored item drained")
                delivered = [rq.json()["params"]["message"]["messageId"] for rq in agent.received]
                assert delivered.count(message_id) == 2  # the busy try, then the drain
                ok = [r for r in await h.activity(wid) if r["status"] == "ok"]
                assert len(ok) == 1
                assert ok[0]["request_body"]["params"]["message"]["messageId"] == message_id
            stop.set()
        agents.cancel_scope.cancel()
