"""Per-client rate limits (molecule/http/edge_limits.py, molecule/http/edge.py).

In virtual time: the window, the credential/address rule, the bounded table, and the
middleware's answers (429, Retry-After, the X-RateLimit headers, a refused WebSocket) on a
stub app. Over real HTTP: Quart and raw routes alike are limited, a refused request changes
nothing, `/health` is exempt, made-up tokens are limited by their address while an accepted
token keeps its own allowance, and the development fail-open mode is not limited.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from molecule.asgi import Message
from molecule.http.app import create_app
from molecule.http.edge import Edge
from molecule.http.edge_limits import RateLimiter
from molecule.http.edge_policy import EdgePolicy
from tests.conftest import ADMIN_TOKEN, Harness, make_settings, start_platform

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


# --- the limiter, in virtual time -------------------------------------------------------


async def test_a_client_gets_its_limit_per_minute(autojump_clock: trio.abc.Clock) -> None:
    limiter = RateLimiter(3)
    assert [limiter.take(b"a").remaining for _ in range(3)] == [2, 1, 0]
    refused = limiter.take(b"a")
    assert not refused.allowed and refused.remaining == 0 and refused.retry_after == 60
    await trio.sleep(30)
    later = limiter.take(b"a")
    assert not later.allowed and later.retry_after == 30
    await trio.sleep(30)
    fresh = limiter.take(b"a")
    assert fresh.allowed and fresh.remaining == 2 and fresh.retry_after == 60
    assert limiter.refused == 2


async def test_clients_are_counted_apart(autojump_clock: trio.abc.Clock) -> None:
    limiter = RateLimiter(1)
    assert limiter.take(b"a").allowed
    assert not limiter.take(b"a").allowed
    assert limiter.take(b"b").allowed


async def test_made_up_credentials_spend_from_their_address(
    autojump_clock: trio.abc.Clock,
) -> None:
    limiter = RateLimiter(3)
    ip = b"ip:10.0.0.1"
    assert limiter.take(b"tok:good", ip).allowed  # its first request: the address pays too
    limiter.answered(b"tok:good", 200)  # accepted
    for n in range(2):
        assert limiter.take(f"tok:junk{n}".encode(), ip).allowed
        limiter.answered(f"tok:junk{n}".encode(), 401)
    junk = limiter.take(b"tok:junk2", ip)  # the address has spent its 3
    assert not junk.allowed and junk.retry_after == 60
    assert len(limiter) == 4  # the refused claim was not recorded
    assert limiter.take(b"tok:good", ip).allowed  # accepted: its own allowance only
    assert limiter.take(b"tok:good", ip).allowed
    assert not limiter.take(b"tok:good", ip).allowed  # ... which is 3 too


async def test_a_credential_refused_later_pays_from_its_address_again(
    autojump_clock: trio.abc.Clock,
) -> None:
    limiter = RateLimiter(2)
    ip = b"ip:10.0.0.2"
    limiter.take(b"tok:t", ip)
    limiter.answered(b"tok:t", 200)
    limiter.take(b"ip:10.0.0.2")  # the address's second request: it is spent
    assert limiter.take(b"tok:t", ip).allowed  # accepted: not the address's business
    limiter.answered(b"tok:t", 401)  # revoked meanwhile
    await trio.sleep(60)  # a new window for the token, and for the address
    assert limiter.take(b"tok:t", ip).allowed
    assert limiter.take(b"ip:10.0.0.2").allowed
    assert not limiter.take(b"tok:t", ip).allowed  # unaccepted: the address is spent


async def test_the_table_of_clients_is_bounded(autojump_clock: trio.abc.Clock) -> None:
    limiter = RateLimiter(1, max_clients=100)
    assert limiter.take(b"keep").allowed
    for n in range(1000):
        limiter.take(f"k{n}".encode())
        if n % 50 == 0:
            limiter.take(b"keep")  # seen recently: never the one evicted
    assert len(limiter) == 100
    assert not limiter.take(b"keep").allowed  # its window survived the flood
    assert limiter.take(b"k0").allowed  # evicted long ago: a fresh window


def test_a_limiter_needs_a_positive_limit() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0)
    with pytest.raises(ValueError):
        RateLimiter(1, max_clients=0)


# --- the middleware on a stub app, in virtual time ----------------------------------------


class Stub:
    """An ASGI app that answers 200 (or `status`) and counts its calls."""

    def __init__(self, status: int = 200) -> None:
        self.calls = 0
        self.status = status

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.calls += 1
        await send({"type": "http.response.start", "status": self.status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def call(
    app: Edge, path: str = "/x", headers: list[tuple[bytes, bytes]] | None = None, **scope: Any
) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    full = {
        "type": "http",
        "method": "GET",
        "path": path,
        "scheme": "http",
        "headers": [(b"host", b"platform.test"), *(headers or [])],
        "client": ("10.1.2.3", 5555),
        **scope,
    }
    await app(full, receive, send)
    return sent


def head(messages: list[Message]) -> dict[bytes, bytes]:
    return dict(messages[0]["headers"])


async def test_the_middleware_answers_429_with_retry_after(
    autojump_clock: trio.abc.Clock,
) -> None:
    stub = Stub()
    app = Edge(stub, EdgePolicy(), RateLimiter(2))
    first = await call(app)
    assert first[0]["status"] == 200
    assert head(first)[b"x-ratelimit-limit"] == b"2"
    assert head(first)[b"x-ratelimit-remaining"] == b"1"
    await trio.sleep(15)
    await call(app)
    refused = await call(app)
    assert stub.calls == 2  # the refused request never reached the app
    assert refused[0]["status"] == 429
    headers = head(refused)
    assert headers[b"retry-after"] == b"45"
    assert headers[b"x-ratelimit-remaining"] == b"0"
    assert int(headers[b"x-ratelimit-reset"]) >= int(headers[b"retry-after"])
    assert headers[b"x-frame-options"] == b"DENY"  # security headers on the refusal too
    assert json.loads(refused[1]["body"]) == {"error": "rate limit exceeded", "retry_after": 45}
    assert (await call(app, path="/health"))[0]["status"] == 200  # exempt
    assert b"x-ratelimit-limit" not in head(await call(app, path="/health"))
    await trio.sleep(45)
    assert (await call(app))[0]["status"] == 200


async def test_the_middleware_keys_on_the_bearer_and_the_session_cookie(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = Edge(Stub(), EdgePolicy(), RateLimiter(1))
    token = [(b"authorization", b"Bearer one")]
    assert (await call(app, headers=token))[0]["status"] == 200
    assert (await call(app, headers=token))[0]["status"] == 429
    lower = [(b"authorization", b"bearer one")]  # the scheme read case-insensitively
    assert (await call(app, headers=lower))[0]["status"] == 429
    session = [(b"cookie", b"theme=dark; molecule_session=abc")]
    assert (await call(app, headers=session, client=("10.9.9.9", 1)))[0]["status"] == 200
    assert (await call(app, headers=session, client=("10.9.9.8", 1)))[0]["status"] == 429
    other = [(b"cookie", b"molecule_session=def")]
    assert (await call(app, headers=other, client=("10.9.9.7", 1)))[0]["status"] == 200


async def test_a_websocket_over_its_limit_is_refused_before_acceptance(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = Edge(Stub(), EdgePolicy(), RateLimiter(1))
    await call(app)
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "path": "/ws",
        "scheme": "ws",
        "headers": [],
        "client": ("10.1.2.3", 1),
        "extensions": {"websocket.http.response": {}},
    }
    await app(scope, receive, send)
    assert sent[0]["type"] == "websocket.http.response.start" and sent[0]["status"] == 429
    assert dict(sent[0]["headers"])[b"retry-after"] == b"60"
    del scope["extensions"]
    sent.clear()
    await app(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1013}]


# --- over real HTTP -----------------------------------------------------------------------


@pytest.fixture
async def limited(aio_loop: object, dsn: str, tmp_path: Path) -> AsyncIterator[Harness]:
    settings = make_settings(tmp_path, dsn, rate_limit=3)
    async with trio.open_nursery() as nursery:
        svc, base, stop = await start_platform(settings, dsn, nursery)
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            yield Harness(svc, base, client)
        stop.set()


async def test_quart_and_raw_routes_are_limited_and_a_refusal_changes_nothing(
    limited: Harness,
) -> None:
    h = limited
    count = "SELECT count(*) FROM workspaces"
    assert (await h.client.get("/workspaces", headers=ADMIN)).status_code == 200
    r = await h.client.get("/workspaces", headers=ADMIN)
    assert r.status_code == 200 and r.headers["x-ratelimit-remaining"] == "1"
    raw = await h.client.post(f"/workspaces/{uuid.uuid4()}/a2a", headers=ADMIN, content=b"{}")
    assert raw.status_code == 404 and raw.headers["x-ratelimit-remaining"] == "0"
    before = await h.svc.store.fetchval(count)
    refused = await h.client.post(
        "/workspaces", headers=ADMIN, json={"name": "late", "runtime": "external"}
    )
    assert refused.status_code == 429, refused.text
    body = refused.json()
    assert body["error"] == "rate limit exceeded" and 50 <= body["retry_after"] <= 60
    assert refused.headers["retry-after"] == str(body["retry_after"])
    assert refused.headers["x-request-id"]  # answered inside the request ids
    assert await h.svc.store.fetchval(count) == before
    raw_refused = await h.client.post(
        f"/workspaces/{uuid.uuid4()}/a2a", headers=ADMIN, content=b"{}"
    )
    assert raw_refused.status_code == 429
    for _ in range(5):
        health = await h.client.get("/health")
        assert health.status_code == 200 and "x-ratelimit-limit" not in health.headers
    # No credential: the address's own window (the admin token's first request spent one).
    anonymous = [(await h.client.get("/workspaces")).status_code for _ in range(3)]
    assert anonymous == [401, 401, 429]


async def test_made_up_tokens_are_limited_by_address_not_the_accepted_token(
    limited: Harness,
) -> None:
    h = limited
    assert (await h.client.get("/workspaces", headers=ADMIN)).status_code == 200
    statuses = []
    for n in range(3):
        junk = {"Authorization": f"Bearer junk-{n}-{uuid.uuid4().hex}"}
        statuses.append((await h.client.get("/workspaces", headers=junk)).status_code)
    assert statuses == [401, 401, 429]
    assert (await h.client.get("/workspaces", headers=ADMIN)).status_code == 200
    assert (await h.client.get("/workspaces", headers=ADMIN)).status_code == 200
    assert (await h.client.get("/workspaces", headers=ADMIN)).status_code == 429


async def test_development_fail_open_is_not_limited(
    aio_loop: object, dsn: str, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, dsn, rate_limit=1, dev_mode=True, admin_token_env=None)
    async with trio.open_nursery() as nursery:
        svc, base, stop = await start_platform(settings, dsn, nursery)
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            for _ in range(3):
                r = await client.get("/workspaces")
                assert r.status_code == 200 and "x-ratelimit-limit" not in r.headers
        stop.set()


async def test_refusals_are_counted_on_metrics(limited: Harness) -> None:
    h = limited

    async def scrape() -> dict[str, float]:
        r = await h.client.get("/metrics", headers=ADMIN)
        assert r.status_code == 200, r.text
        wanted = ("molecule_rate_limited_requests_total", "molecule_rate_limit_clients")
        return {
            line.split()[0]: float(line.split()[1])
            for line in r.text.splitlines()
            if line.startswith(wanted)
        }

    before = await scrape()
    assert before["molecule_rate_limited_requests_total"] == 0
    assert before["molecule_rate_limit_clients"] >= 1  # the admin's window at least
    anonymous = [(await h.client.get("/workspaces")).status_code for _ in range(4)]
    assert anonymous == [401, 401, 429, 429]
    after = await scrape()
    assert after["molecule_rate_limited_requests_total"] == 2


async def test_an_app_built_again_on_the_services_does_not_repeat_the_series(
    limited: Harness,
) -> None:
    """Tests build more apps on a running platform (route tables); /metrics stays valid."""
    create_app(limited.svc)
    r = await limited.client.get("/metrics", headers=ADMIN)
    assert r.status_code == 200
    names = [line.split()[0] for line in r.text.splitlines() if line and line[0] != "#"]
    assert names.count("molecule_rate_limited_requests_total") == 1
    assert len(names) == len(set(names)), "a series is listed twice"
