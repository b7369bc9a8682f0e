"""The platform's edge: security headers, CORS and the per-client rate limit, on every
request the app sees, raw routes (molecule.http.raw_routes) and Quart alike.

One ASGI middleware, installed like the request ids (molecule.http.request_ids): it wraps
the raw routes, which wrap Quart, and is itself wrapped by the request ids, so an answer it
gives by itself (a preflight, a 429) carries an `X-Request-ID` and is logged in the
request's context like any other. Per request it reads the few headers it needs in one pass
over the head, asks the rate limiter (molecule.http.edge_limits), and adds its headers
(molecule.http.edge_policy) to the response start, a WebSocket's acceptance or refusal
included.

Order, as in the original's middleware chain: a CORS preflight is answered first (it is not
counted), then the rate limit, then the route. Not limited: `GET /health` (probes and the
container healthcheck), and everything in the development fail-open mode (as the original).
A refused request gets 429 `{"error": "rate limit exceeded", "retry_after": N}` with
`Retry-After: N`; every limited response carries `X-RateLimit-Limit`, `-Remaining` and
`-Reset` (the window's end, in Unix seconds).
"""

from __future__ import annotations

import hashlib
from typing import Any

from quart import Quart

from molecule.asgi import Message, Receive, Scope, Send
from molecule.config import Settings
from molecule.http.edge_limits import RateLimiter, Verdict
from molecule.http.edge_policy import EdgePolicy, HeaderList, merge_headers
from molecule.jsontext import dumpb
from molecule.observability.live import RateLimitFigures
from molecule.observability.metrics import Metrics

_ANSWERS = frozenset({"http.response.start", "websocket.accept", "websocket.http.response.start"})
_EXEMPT_PATHS = frozenset({"/health"})
_BEARER = b"bearer "  # the limiter reads the scheme case-insensitively, as the original did
_SESSION = b"molecule_session="  # molecule.http.auth.SESSION_COOKIE


class Edge:
    """ASGI middleware: see the module docstring."""

    def __init__(self, inner: Any, policy: EdgePolicy, limiter: RateLimiter | None) -> None:
        self.inner = inner
        self.policy = policy
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.inner(scope, receive, send)
            return
        host = origin = authorization = cookie = None
        preflight = False
        for name, value in scope["headers"]:
            if name == b"host":
                host = host or value
            elif name == b"origin":
                origin = origin or value
            elif name == b"authorization":
                authorization = authorization or value
            elif name == b"cookie":
                cookie = cookie or value
            elif name == b"access-control-request-method":
                preflight = True
        tls = scope.get("scheme") in ("https", "wss")
        policy = self.policy
        headers = policy.headers(host, tls, origin)
        if headers is None:
            await _refuse_host(scope, receive, send)
            return
        if preflight and kind == "http" and scope["method"] == "OPTIONS":
            if origin is not None and policy.allowed(origin):
                security = policy.headers(host, tls, None) or []
                await _answer(send, 204, b"", [*security, *policy.preflight_headers(origin)])
                return
        limiter = self.limiter
        credential: bytes | None = None
        if limiter is not None and scope["path"] not in _EXEMPT_PATHS:
            credential = _credential(authorization, cookie)
            address = _address(scope)
            if credential is None:
                verdict = limiter.take(address)
            else:
                verdict = limiter.take(credential, address)
            headers = [*headers, *_limit_headers(verdict)]
            if not verdict.allowed:
                await _refuse(scope, receive, send, verdict, headers)
                return

        async def edge_send(message: Message) -> None:
            if message["type"] in _ANSWERS:
                message["headers"] = merge_headers(message.get("headers", ()), headers)
                if credential is not None:
                    assert limiter is not None
                    limiter.answered(credential, message.get("status", 101))
            await send(message)

        await self.inner(scope, receive, edge_send)


def _credential(authorization: bytes | None, cookie: bytes | None) -> bytes | None:
    """The limiter's key for the credential a request carries (a digest: the table keeps
    no secrets), else None."""
    if authorization is not None and authorization[:7].lower() == _BEARER:
        token = authorization[7:].strip()
        if token:
            return b"tok:" + hashlib.sha256(token).digest()
    if cookie is not None:
        start = cookie.find(_SESSION)
        if start != -1 and (start == 0 or cookie[start - 1 : start] in (b" ", b";")):
            value = cookie[start + len(_SESSION) :].split(b";", 1)[0].strip()
            if value:
                return b"ses:" + hashlib.sha256(value).digest()
    return None


def _address(scope: Scope) -> bytes:
    """The TCP peer (no proxy is trusted, as in the original): behind a reverse proxy every
    client shares the proxy's address unless it carries a credential."""
    client = scope.get("client")
    return b"ip:" + (str(client[0]).encode() if client else b"local")


def _limit_headers(verdict: Verdict) -> HeaderList:
    return [
        (b"x-ratelimit-limit", str(verdict.limit).encode()),
        (b"x-ratelimit-remaining", str(verdict.remaining).encode()),
        (b"x-ratelimit-reset", verdict.reset),
    ]


async def _refuse(
    scope: Scope, receive: Receive, send: Send, verdict: Verdict, headers: HeaderList
) -> None:
    """429 with Retry-After; a WebSocket is refused before it is accepted."""
    retry_after = verdict.retry_after
    body = dumpb({"error": "rate limit exceeded", "retry_after": retry_after})
    all_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(retry_after).encode()),
        *headers,
    ]
    if scope["type"] == "http":
        await _answer(send, 429, body, all_headers)
        return
    message = await receive()  # websocket.connect
    if message["type"] != "websocket.connect":
        return
    if "websocket.http.response" in scope.get("extensions", {}):
        start = {"type": "websocket.http.response.start", "status": 429, "headers": all_headers}
        await send(start)
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1013})  # try again later


async def _refuse_host(scope: Scope, receive: Receive, send: Send) -> None:
    """400 for a Host header no route can be matched against (edge_policy.usable_host)."""
    body = dumpb({"error": "invalid Host header"})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if scope["type"] == "http":
        await _answer(send, 400, body, headers)
    elif (await receive())["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": 1008})


async def _answer(send: Send, status: int, body: bytes, headers: HeaderList) -> None:
    if not body and status != 204:
        headers = [*headers, (b"content-length", b"0")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def install(app: Quart, settings: Settings, metrics: Metrics) -> None:
    """Wrap the app (raw routes included): after molecule.http.raw_routes, before
    molecule.http.request_ids. The limiter's refusals are on /metrics."""
    limited = settings.rate_limit > 0 and not settings.dev_fail_open
    limiter = RateLimiter(settings.rate_limit) if limited else None
    if limiter is not None:
        metrics.watch_rate_limits(RateLimitFigures(limiter))
    edge = Edge(app.asgi_app, EdgePolicy(settings.cors_origins), limiter)
    app.asgi_app = edge  # type: ignore[method-assign, assignment]
