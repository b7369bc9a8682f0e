"""Security headers on every response and the CORS allowlist (molecule/http/edge_policy.py).

Over real HTTP: Quart routes, raw routes, refusals, unknown paths and the WebSocket handshake
all carry the policy; a Host header cannot write into the CSP; no HSTS over plain HTTP; an
allowed origin gets CORS headers (and its preflight a 204, not counted by the rate limit),
any other origin none.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import trio

from molecule.http.edge_policy import EdgePolicy, merge_headers
from tests.conftest import ADMIN_TOKEN, Harness, make_settings, start_platform

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CANVAS = "https://canvas.example.com"


def assert_policy(r: httpx.Response, host: str) -> None:
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "camera=()" in r.headers["permissions-policy"]
    assert "strict-transport-security" not in r.headers  # plain HTTP
    csp = dict(d.strip().split(" ", 1) for d in r.headers["content-security-policy"].split(";"))
    assert csp["default-src"] == "'self'"
    assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'" and csp["object-src"] == "'none'"
    assert csp["connect-src"] == f"'self' ws://{host}"
    assert "unsafe" not in r.headers["content-security-policy"]


async def test_every_kind_of_answer_carries_the_security_headers(platform: Harness) -> None:
    h = platform
    host = h.base_url.removeprefix("http://")
    wid = uuid.uuid4()
    answers = [
        await h.client.get("/health"),
        await h.client.get("/workspaces", headers=ADMIN),
        await h.client.get("/workspaces"),  # 401
        await h.client.get("/no/such/path"),  # 404
        await h.client.post(f"/workspaces/{wid}/a2a", content=b"{}"),  # raw route, 401
        await h.client.post(f"/workspaces/{wid}/a2a", content=b"{}", headers=ADMIN),  # raw 404
        await h.client.get(f"/workspaces/{wid}/a2a"),  # raw path, 405
        await h.client.post(f"/workspaces/{wid}/chat/uploads", headers=ADMIN),  # raw upload
        await h.client.get("/", params={"token": "wrong"}),  # the login page, refused
        await h.client.get("/"),  # the page
    ]
    assert [r.status_code for r in answers][:4] == [200, 200, 401, 404]
    for r in answers:
        assert_policy(r, host)
        assert "access-control-allow-origin" not in r.headers  # no allowlist: no CORS
        assert r.headers.get_list("x-frame-options") == ["DENY"]


async def test_the_websocket_handshake_carries_them(platform: Harness) -> None:
    host, port = platform.base_url.removeprefix("http://").rsplit(":", 1)
    stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        await stream.send_all(
            b"GET /ws HTTP/1.1\r\nHost: platform.test:8080\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n"
            b"Authorization: Bearer " + ADMIN_TOKEN.encode() + b"\r\n\r\n"
        )
        answer = b""
        with trio.fail_after(10):
            while b"\r\n\r\n" not in answer and (chunk := await stream.receive_some(65536)):
                answer += chunk
    head = answer.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 101"), head
    assert b"\r\nx-frame-options: deny" in head
    assert b"connect-src 'self' ws://platform.test:8080" in head


@pytest.mark.parametrize(
    "host",
    [
        "evil.example; script-src *",
        "a b",
        "host:99999999",
        "under_score.internal",
        "",
    ],
)
async def test_a_host_header_cannot_write_into_the_policy(platform: Harness, host: str) -> None:
    r = await platform.client.get("/health", headers={"Host": host})
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert csp.endswith("connect-src 'self'"), csp
    assert csp.count(";") == 9


@pytest.mark.parametrize("host", ["x" * 64, "a..b", "x" * 64 + ":8080"])
async def test_a_host_no_route_can_match_is_a_400(platform: Harness, host: str) -> None:
    """Quart failed on these with a bare 500 (an IDNA label over 63 characters, an empty
    one) and logged an error for each."""
    r = await platform.client.get("/workspaces", headers={**ADMIN, "Host": host})
    assert r.status_code == 400 and r.json() == {"error": "invalid Host header"}
    assert r.headers["x-request-id"]


async def test_a_route_keeps_a_header_it_set_itself() -> None:
    policy = EdgePolicy()
    extra = policy.headers(b"h", False, None)
    own = [(b"content-security-policy", b"sandbox"), (b"vary", b"Accept")]
    merged = merge_headers(own, extra)
    assert [v for n, v in merged if n == b"content-security-policy"] == [b"sandbox"]
    assert (b"x-frame-options", b"DENY") in merged
    assert merge_headers([], extra) == extra


@pytest.fixture
async def cors(aio_loop: object, dsn: str, tmp_path: Path) -> AsyncIterator[Harness]:
    settings = make_settings(tmp_path, dsn, cors_origins=(CANVAS,), rate_limit=2)
    async with trio.open_nursery() as nursery:
        svc, base, stop = await start_platform(settings, dsn, nursery)
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            yield Harness(svc, base, client)
        stop.set()


async def test_an_allowed_origin_gets_cors_headers_and_others_none(cors: Harness) -> None:
    h = cors
    allowed = await h.client.get(
        "/workspaces", headers={**ADMIN, "Origin": "HTTPS://Canvas.Example.com"}
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == CANVAS
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert "x-request-id" in allowed.headers["access-control-expose-headers"].lower()
    assert "mcp-session-id" in allowed.headers["access-control-expose-headers"].lower()
    assert "Origin" in allowed.headers.get_list("vary")
    raw = await h.client.post(
        f"/workspaces/{uuid.uuid4()}/a2a", content=b"{}", headers={"Origin": CANVAS}
    )
    assert raw.status_code == 401 and raw.headers["access-control-allow-origin"] == CANVAS
    for origin in ("https://evil.example", "https://canvas.example.com.evil.example", "null"):
        other = await h.client.get("/health", headers={"Origin": origin})
        assert other.status_code == 200
        assert not any(k.startswith("access-control-") for k in other.headers), origin
        assert "Origin" in other.headers.get_list("vary")


async def test_an_allowed_preflight_is_answered_and_not_counted(cors: Harness) -> None:
    h = cors
    ask = {
        "Origin": CANVAS,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    wid = uuid.uuid4()
    for path in ("/workspaces", f"/workspaces/{wid}/a2a", "/ws"):
        for _ in range(3):  # more than the rate limit of 2: preflights are not counted
            r = await h.client.options(path, headers=ask)
            assert r.status_code == 204, (path, r.text)
            assert r.content == b""
            assert r.headers.get_list("access-control-allow-origin") == [CANVAS]
            assert r.headers.get_list("access-control-allow-credentials") == ["true"]
            assert "POST" in r.headers["access-control-allow-methods"]
            assert "Authorization" in r.headers["access-control-allow-headers"]
            assert "Mcp-Session-Id" in r.headers["access-control-allow-headers"]
            assert r.headers["access-control-max-age"] == "600"
            assert r.headers["x-frame-options"] == "DENY"
            assert "x-ratelimit-limit" not in r.headers
    refused = await h.client.options(
        "/workspaces", headers={**ask, "Origin": "https://evil.example"}
    )
    assert not any(k.startswith("access-control-") for k in refused.headers)
    assert refused.headers["x-ratelimit-limit"] == "2"  # an ordinary OPTIONS request
