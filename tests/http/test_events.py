"""Live events over real sockets: the WebSocket `/ws` and the per-workspace SSE stream
(docs/compatibility.md §3.3, #d5 and #d38).

Every wait is bounded with `trio.fail_after`, so a missing event fails instead of hanging.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import ConnectionRejected, WebSocketConnection, open_websocket_url

from molecule.http.events import BATCH_SUBPROTOCOL
from tests.conftest import ADMIN_TOKEN, Harness, make_settings, start_platform
from tests.http.test_registry import CARD, auth, heartbeat, register

WAIT = 5.0
WIRE_KEYS = {"event", "workspace_id", "timestamp", "payload"}

# Found while writing these tests: `privileged()` and `lazy_bootstrap()` read `quart.request`,
# which does not exist while `/ws` authenticates its upgrade (only `quart.websocket` does).


def ws_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://", 1) + "/ws"


@asynccontextmanager
async def ws_client(
    h: Harness, headers: list[tuple[str, str]]
) -> AsyncIterator[WebSocketConnection]:
    """An open /ws connection whose server side is already subscribed to the bus."""
    before = h.svc.bus.subscriber_count
    async with open_websocket_url(
        ws_url(h.base_url),
        extra_headers=headers,  # type: ignore[arg-type]
        message_queue_size=64,
        connect_timeout=WAIT,
        disconnect_timeout=WAIT,
    ) as ws:
        with trio.fail_after(WAIT):
            while h.svc.bus.subscriber_count <= before:
                await trio.sleep(0.01)
        yield ws


async def rejection(base_url: str, headers: list[tuple[str, str]]) -> ConnectionRejected:
    """The HTTP refusal of an upgrade; fails the test if the upgrade is accepted."""
    with trio.fail_after(WAIT):
        try:
            async with open_websocket_url(ws_url(base_url), extra_headers=headers):  # type: ignore[arg-type]
                pass
        except ConnectionRejected as exc:
            return exc
    pytest.fail(f"the upgrade with {headers} was accepted")


async def events_until(
    ws: WebSocketConnection, last: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    """Messages received up to and including the first one matching `last`."""
    seen: list[dict[str, Any]] = []
    with trio.fail_after(WAIT):
        while True:
            message = json.loads(await ws.get_message())
            seen.append(message)
            if last(message):
                return seen


def is_event(kind: str, wid: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m["event"] == kind and m["workspace_id"] == wid


def assert_wire_shape(message: dict[str, Any]) -> None:
    assert set(message) == WIRE_KEYS, message
    stamp = message["timestamp"]
    assert stamp.endswith("Z"), stamp
    when = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    assert abs(when - time.time()) < 60
    assert isinstance(message["payload"], dict)


async def session_cookie(h: Harness) -> str:
    async with httpx.AsyncClient(base_url=h.base_url, timeout=10) as client:
        r = await client.get("/", params={"token": ADMIN_TOKEN}, follow_redirects=False)
    assert r.status_code == 302
    return r.headers["set-cookie"].split(";", 1)[0]


async def canvas_headers(h: Harness, kind: str) -> list[tuple[str, str]]:
    if kind == "admin":
        return [("Authorization", f"Bearer {ADMIN_TOKEN}")]
    if kind == "org":
        r = await h.client.post("/org/tokens", json={"name": "canvas"}, headers=h.admin)
        return [("Authorization", f"Bearer {r.json()['auth_token']}")]
    assert kind == "session cookie"
    return [("Cookie", await session_cookie(h))]


# --- /ws: who may connect ------------------------------------------------------------------


async def test_ws_refuses_bad_credentials_before_upgrade(platform: Harness) -> None:
    h = platform
    created = await h.create_external("agent")
    wid, token = created["id"], created["connection"]["auth_token"]
    before = h.svc.bus.subscriber_count

    # No credential at all: never upgraded.
    exc = await rejection(h.base_url, [])
    assert exc.status_code >= 400

    # A wrong bearer, or a workspace token without X-Workspace-ID (it is not a canvas).
    for value in ("Bearer wrong", f"Bearer {token}"):
        exc = await rejection(h.base_url, [("Authorization", value)])
        assert exc.status_code == 401, value
        assert json.loads(exc.body or b"{}") == {"error": "invalid auth token"}

    # An agent client with a wrong or missing bearer is refused too.
    for extra in ([("Authorization", "Bearer wrong")], []):
        exc = await rejection(h.base_url, [("X-Workspace-ID", wid), *extra])
        assert exc.status_code >= 400, extra

    exc = await rejection(h.base_url, [("X-Workspace-ID", "not-a-uuid")])
    assert exc.status_code == 400
    assert json.loads(exc.body or b"{}") == {"error": "X-Workspace-ID must be a workspace UUID"}
    assert h.svc.bus.subscriber_count == before  # nobody got subscribed


async def test_ws_without_credentials_is_401(platform: Harness) -> None:
    exc = await rejection(platform.base_url, [])
    assert exc.status_code == 401
    assert json.loads(exc.body or b"{}") == {
        "error": "authentication required: session cookie or bearer token"
    }


async def test_ws_agent_with_bad_bearer_is_401(platform: Harness) -> None:
    h = platform
    made = {n: await h.create_external(n) for n in ("agent", "other")}
    wid = made["agent"]["id"]
    other_token = made["other"]["connection"]["auth_token"]
    cases = [
        ([], "missing workspace auth token"),
        ([("Authorization", "Bearer wrong")], "invalid workspace auth token"),
        ([("Authorization", f"Bearer {other_token}")], "invalid workspace auth token"),
        ([("Authorization", f"Bearer {ADMIN_TOKEN}")], "invalid workspace auth token"),
    ]
    for extra, error in cases:
        exc = await rejection(h.base_url, [("X-Workspace-ID", wid), *extra])
        assert (exc.status_code, json.loads(exc.body or b"{}")) == (401, {"error": error})


# --- /ws: the canvas sees everything -------------------------------------------------------


async def test_canvas_ws_receives_every_event_as_wire_json(platform: Harness) -> None:
    h = platform
    async with ws_client(h, await canvas_headers(h, "admin")) as ws:
        x = await h.create_external("x")
        y = await h.create_external("y")
        r = await register(h, x["id"], x["connection"]["auth_token"])
        assert r.status_code == 200
        r = await heartbeat(h, y["id"], y["connection"]["auth_token"], active_tasks=2)
        assert r.status_code == 200
        seen = await events_until(ws, is_event("WORKSPACE_HEARTBEAT", y["id"]))

    for message in seen:
        assert_wire_shape(message)
    got = [(m["event"], m["workspace_id"]) for m in seen]
    assert got == [
        ("WORKSPACE_PROVISIONING", x["id"]),
        ("WORKSPACE_AWAITING_AGENT", x["id"]),
        ("WORKSPACE_PROVISIONING", y["id"]),
        ("WORKSPACE_AWAITING_AGENT", y["id"]),
        ("WORKSPACE_ONLINE", x["id"]),
        ("WORKSPACE_ONLINE", y["id"]),
        ("WORKSPACE_HEARTBEAT", y["id"]),
    ]
    assert seen[5]["payload"] == {"recovered_from": "awaiting_agent"}
    assert seen[6]["payload"] == {"active_tasks": 2, "uptime_seconds": 0}


@pytest.mark.parametrize(
    "credential",
    [
        "admin",
        "org",
        pytest.param("session cookie"),
    ],
)
async def test_external_agent_comes_online_on_the_canvas(
    platform: Harness, credential: str
) -> None:
    """Done criteria: create an external agent, register it with its connection token,
    heartbeat, and a canvas /ws client sees it online."""
    h = platform
    async with ws_client(h, await canvas_headers(h, credential)) as ws:
        created = await h.create_external("byo-agent")
        assert created["status"] == "awaiting_agent"
        wid, token = created["id"], created["connection"]["auth_token"]
        r = await register(h, wid, token, url="http://localhost:9321")
        assert r.status_code == 200 and r.json()["status"] == "registered"
        r = await heartbeat(h, wid, token, active_tasks=0, uptime_seconds=3)
        assert r.status_code == 200
        seen = await events_until(ws, is_event("WORKSPACE_HEARTBEAT", wid))

    online = [m for m in seen if m["event"] == "WORKSPACE_ONLINE"]
    assert len(online) == 1 and online[0]["workspace_id"] == wid
    assert online[0]["payload"]["url"] == "http://localhost:9321"
    assert online[0]["payload"]["agent_card"]["name"] == CARD["name"]
    assert seen[-1]["payload"] == {"active_tasks": 0, "uptime_seconds": 3}
    r = await h.client.get(f"/workspaces/{wid}", headers=h.admin)
    assert r.status_code == 200 and r.json()["status"] == "online"


async def test_ws_subscription_ends_with_the_connection(platform: Harness) -> None:
    h = platform
    before = h.svc.bus.subscriber_count
    async with ws_client(h, await canvas_headers(h, "admin")):
        assert h.svc.bus.subscriber_count == before + 1
    with trio.fail_after(WAIT):
        while h.svc.bus.subscriber_count != before:
            await trio.sleep(0.01)


async def test_ws_development_fail_open_accepts_the_canvas(
    aio_loop: object, dsn: str, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, dsn, admin_token_env=None, dev_mode=True)
    async with trio.open_nursery() as nursery:
        _svc, base, stop = await start_platform(settings, dsn, nursery)
        try:
            with trio.fail_after(WAIT):
                async with open_websocket_url(ws_url(base)) as ws:
                    assert not ws.closed
        finally:
            stop.set()


# --- /ws: an agent sees only workspaces it may talk to -------------------------------------


async def test_agent_ws_sees_only_reachable_workspaces(platform: Harness) -> None:
    await _reachable_only(platform, with_bearer=True)


async def test_agent_ws_lazy_bootstrap_in_development(dev_platform: Harness) -> None:
    """Development mode keeps the original's bootstrap: a workspace with no live token
    connects without a bearer, and sees the same filtered events."""
    await _reachable_only(dev_platform, with_bearer=False)


async def test_agent_ws_without_its_token_is_refused(platform: Harness) -> None:
    """Outside development a workspace with no live token is no open door
    (docs/compatibility.md#d13 and §3.3)."""
    h = platform
    made = await h.create_external("tokenless")
    await h.svc.tokens.revoke_all(made["id"])
    exc = await rejection(h.base_url, [("X-Workspace-ID", made["id"])])
    assert exc.status_code == 401


async def _reachable_only(h: Harness, *, with_bearer: bool) -> None:
    """root -> a, b; a -> a1; b -> b1. a1 may talk to a (parent) and root (ancestor), not to
    b (uncle) nor b1 (cousin). Without a bearer, a1's tokens are revoked first (the
    development bootstrap)."""
    made: dict[str, dict[str, Any]] = {}
    for name, parent in [("root", None), ("a", "root"), ("b", "root"), ("a1", "a"), ("b1", "b")]:
        extra = {"parent_id": made[parent]["id"]} if parent else {}
        made[name] = await h.create_external(name, **extra)
    ids = {n: made[n]["id"] for n in made}
    tokens = {n: made[n]["connection"]["auth_token"] for n in made}

    headers = [("X-Workspace-ID", ids["a1"])]
    if with_bearer:
        headers.append(("Authorization", f"Bearer {tokens['a1']}"))
    else:
        listed = await h.client.get(f"/workspaces/{ids['a1']}/tokens", headers=h.admin)
        for t in listed.json()["tokens"]:
            await h.client.delete(f"/workspaces/{ids['a1']}/tokens/{t['id']}", headers=h.admin)
        tokens["a1"] = "unused"  # lazy bootstrap: a1's own heartbeat needs none either

    async with ws_client(h, headers) as ws:
        for name in ("b1", "b", "a", "root", "a1"):  # a1 last: it closes the window
            r = await h.client.post(
                "/registry/heartbeat",
                json={"workspace_id": ids[name], "active_tasks": 1},
                headers=auth(tokens[name]) if name != "a1" or with_bearer else {},
            )
            assert r.status_code == 200, (name, r.text)
        seen = await events_until(ws, is_event("WORKSPACE_HEARTBEAT", ids["a1"]))

    names = {v: k for k, v in ids.items()}
    for message in seen:
        assert_wire_shape(message)
    got = [(m["event"], names[m["workspace_id"]]) for m in seen]
    assert got == [
        (kind, name)
        for name in ("a", "root", "a1")
        for kind in ("WORKSPACE_ONLINE", "WORKSPACE_HEARTBEAT")
    ]


async def test_removed_workspace_id_cannot_open_an_agent_ws(platform: Harness) -> None:
    h = platform
    root = await h.create_external("root")
    child = await h.create_external("child", parent_id=root["id"])
    r = await h.client.delete(f"/workspaces/{child['id']}", headers=h.admin)
    assert r.status_code == 200
    exc = await rejection(h.base_url, [("X-Workspace-ID", child["id"])])
    assert exc.status_code in (401, 410)


# --- SSE: GET /workspaces/:id/events/stream ------------------------------------------------


async def test_sse_requires_workspace_auth_and_a_live_workspace(platform: Harness) -> None:
    h = platform
    a = await h.create_external("a")
    b = await h.create_external("b")
    path = f"/workspaces/{a['id']}/events/stream"
    cases = [
        (path, {}, 401, "missing workspace auth token"),
        (path, auth("wrong"), 401, "invalid workspace auth token"),
        (path, auth(b["connection"]["auth_token"]), 401, "invalid workspace auth token"),
        ("/workspaces/not-a-uuid/events/stream", h.admin, 400, "invalid workspace ID"),
        (f"/workspaces/{uuid.uuid4()}/events/stream", h.admin, 404, "workspace not found"),
    ]  # fmt: skip
    for url, headers, status, error in cases:
        with trio.fail_after(WAIT):
            r = await h.client.get(url, headers=headers)
        assert (r.status_code, r.json()) == (status, {"error": error}), (url, headers)

    r = await h.client.delete(f"/workspaces/{b['id']}", headers=h.admin)
    assert r.status_code == 200
    with trio.fail_after(WAIT):
        r = await h.client.get(f"/workspaces/{b['id']}/events/stream", headers=h.admin)
    assert (r.status_code, r.json()) == (404, {"error": "workspace not found"})


@pytest.mark.parametrize("credential", ["own token", "session cookie"])
async def test_sse_streams_only_its_own_workspace(platform: Harness, credential: str) -> None:
    h = platform
    a = await h.create_external("a")
    b = await h.create_external("b")
    a_token, b_token = a["connection"]["auth_token"], b["connection"]["auth_token"]
    headers = auth(a_token) if credential == "own token" else {"Cookie": await session_cookie(h)}

    frames: list[dict[str, Any]] = []
    with trio.fail_after(WAIT):
        async with h.client.stream(
            "GET", f"/workspaces/{a['id']}/events/stream", headers=headers
        ) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            assert r.headers["cache-control"] == "no-cache"
            lines = r.aiter_lines()
            assert await anext(lines) == ": ping"
            assert await anext(lines) == ""
            # Events for b first, then a's: any leak of b's would arrive before a's last one.
            await heartbeat(h, b["id"], b_token, active_tasks=7, current_task="b's task")
            await heartbeat(h, a["id"], a_token, active_tasks=1)
            await heartbeat(h, a["id"], a_token, active_tasks=2)
            async for line in lines:
                if not line or line == ": ping":
                    continue
                assert line.startswith("data: "), line
                frames.append(json.loads(line[len("data: ") :]))
                if frames[-1]["type"] == "WORKSPACE_HEARTBEAT" and frames[-1]["data"] == {
                    "active_tasks": 2,
                    "uptime_seconds": 0,
                }:
                    break

    now_ms = time.time() * 1000
    for frame in frames:
        assert set(frame) == {"type", "timestamp", "data"}, frame
        assert isinstance(frame["timestamp"], int) and abs(frame["timestamp"] - now_ms) < 60_000
    assert [(f["type"], f["data"]) for f in frames] == [
        ("WORKSPACE_ONLINE", {"recovered_from": "awaiting_agent"}),
        ("WORKSPACE_HEARTBEAT", {"active_tasks": 1, "uptime_seconds": 0}),
        ("WORKSPACE_HEARTBEAT", {"active_tasks": 2, "uptime_seconds": 0}),
    ]


@asynccontextmanager
async def batch_client(h: Harness, subprotocols: list[str]) -> AsyncIterator[WebSocketConnection]:
    before = h.svc.bus.subscriber_count
    async with open_websocket_url(
        ws_url(h.base_url),
        subprotocols=subprotocols,
        extra_headers=await canvas_headers(h, "admin"),  # type: ignore[arg-type]
        connect_timeout=WAIT,
        disconnect_timeout=WAIT,
    ) as ws:
        with trio.fail_after(WAIT):
            while h.svc.bus.subscriber_count <= before:
                await trio.sleep(0.01)
        yield ws


async def test_ws_batch_subprotocol_sends_what_queued_up_as_one_array(platform: Harness) -> None:
    h = platform
    async with batch_client(h, ["other.v9", BATCH_SUBPROTOCOL]) as ws:
        assert ws.subprotocol == BATCH_SUBPROTOCOL
        for n in range(50):  # no checkpoint in between: all 50 wait for the sender at once
            h.svc.bus.broadcast("TASK_UPDATED", None, {"n": n})
        h.svc.bus.broadcast("TASK_UPDATED", None, {"n": 50})
        with trio.fail_after(WAIT):
            first = json.loads(await ws.get_message())
        assert isinstance(first, list) and [e["payload"]["n"] for e in first] == list(range(51))
        for event in first:
            assert_wire_shape(event)
        h.svc.bus.broadcast("TASK_UPDATED", None, {"n": 51})  # alone: still an array
        with trio.fail_after(WAIT):
            second = json.loads(await ws.get_message())
        assert [e["payload"] for e in second] == [{"n": 51}]


async def test_ws_without_the_batch_subprotocol_gets_one_event_per_message(
    platform: Harness,
) -> None:
    h = platform
    async with batch_client(h, ["other.v9"]) as ws:
        assert ws.subprotocol is None
        for n in range(20):
            h.svc.bus.broadcast("TASK_UPDATED", None, {"n": n})
        with trio.fail_after(WAIT):
            got = [json.loads(await ws.get_message()) for _ in range(20)]
    assert [m["payload"]["n"] for m in got] == list(range(20))
    for message in got:
        assert_wire_shape(message)
