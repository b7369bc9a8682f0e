"""Raw ASGI routes in front of Quart, for request bodies that must stream (stack.md §7).

Quart drains `receive()` eagerly into `request.body` with no backpressure, so a 50 MB upload
to a slow upstream would land in platform memory. A raw route pulls `receive()` only when its
consumer asks for the next chunk; hypercorn's bounded app queue then stops reading the socket.

Modules declare their routes with `raw_route(method, pattern)`; `install(app)` wraps
`app.asgi_app` once (idempotent) so matching requests never reach Quart. Everything else,
lifespan and websockets included, goes to Quart unchanged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import trio
from quart import Quart
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from molecule.errors import ClientGone, MoleculeError, PayloadTooLarge
from molecule.http.auth import Credentials
from molecule.http.common import dumps
from molecule.services import Services

log = logging.getLogger("molecule.http.raw_routes")

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Handler = Callable[["RawRequest", Send], Awaitable[None]]

BODY_TIMEOUT = 60.0  # like the Quart app's BODY_TIMEOUT

_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []


class RawRequest:
    def __init__(self, app: Quart, scope: Scope, receive: Receive, match: re.Match[str]):
        self.app = app
        self.scope = scope
        self.receive = receive
        self.match = match
        self.body_done = False
        self.headers: dict[str, str] = {}
        for key, value in scope.get("headers", []):
            name = key.decode("latin-1").lower()
            if name not in self.headers:  # first value wins, like Header.Get
                self.headers[name] = value.decode("latin-1")

    @property
    def svc(self) -> Services:
        svc: Services = self.app.config["MOLECULE_SERVICES"]
        return svc

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def content_length(self) -> int | None:
        raw = self.header("content-length")
        if raw is None or not raw.strip().isdigit():
            return None
        return int(raw.strip())

    async def stream(self) -> AsyncIterator[bytes]:
        """The body, one ASGI message at a time, read only as the consumer iterates."""
        while not self.body_done:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                self.body_done = True
                raise ClientGone()
            if not message.get("more_body", False):
                self.body_done = True
            chunk = message.get("body", b"")
            if chunk:
                yield chunk

    async def read_body(self, limit: int, seconds: float = BODY_TIMEOUT) -> bytes:
        """The whole (small) body: 413 past `limit`, 408 when it takes longer than `seconds`."""
        declared = self.content_length
        if declared is not None and declared > limit:
            raise PayloadTooLarge("request body too large")
        chunks: list[bytes] = []
        size = 0
        with trio.move_on_after(seconds) as slow:
            async for chunk in self.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge("request body too large")
                chunks.append(chunk)
        if slow.cancelled_caught:
            raise MoleculeError("request body timeout", status=408)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def drain(self, limit: int, seconds: float = 30.0) -> None:
        """Read and drop what the client still sends (bounded), so an early answer is not
        destroyed by a connection reset."""
        total = 0
        with trio.move_on_after(seconds):
            try:
                async for chunk in self.stream():
                    total += len(chunk)
                    if total > limit:
                        return
            except ClientGone:
                return

    @property
    def credentials(self) -> Credentials:
        return Credentials.from_headers(self.header("authorization"), self.header("cookie"))


async def send_bytes(
    send: Send,
    status: int,
    data: bytes,
    content_type: str,
    headers: Mapping[str, str] | None = None,
) -> None:
    raw = [(b"content-type", content_type.encode()), (b"content-length", b"%d" % len(data))]
    if headers:
        raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data, "more_body": False})


async def send_json(
    send: Send, status: int, body: Any, headers: Mapping[str, str] | None = None
) -> None:
    await send_bytes(send, status, dumps(body).encode(), "application/json", headers)


def raw_route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    """Register `handler(request, send)` for `method` and a full-match path regex."""

    def register(handler: Handler) -> Handler:
        _ROUTES.append((method.upper(), re.compile(pattern), handler))
        return handler

    return register


class RawRoutes:
    def __init__(self, app: Quart, inner: ASGIApp) -> None:
        self.app = app
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            others: list[str] = []  # methods of raw routes on this path
            for method, pattern, handler in _ROUTES:
                match = pattern.fullmatch(scope["path"])
                if match is None:
                    continue
                if scope["method"] == method:
                    await self._run(handler, RawRequest(self.app, scope, receive, match), send)
                    return
                others.append(method)
            if others and not self._quart_serves(scope["path"]):
                allow = {"Allow": ", ".join(sorted(set(others)))}
                await send_json(send, 405, {"error": "method not allowed"}, allow)
                return
        await self.inner(scope, receive, send)

    def _quart_serves(self, path: str) -> bool:
        """Does Quart have a route for this path, with any method? (Else the raw route's
        path would answer 404 to other methods instead of 405.)"""
        try:
            self.app.url_map.bind("localhost").match(path, method="GET")
        except (MethodNotAllowed, RequestRedirect):
            return True
        except NotFound:
            return False
        return True

    @staticmethod
    async def _run(handler: Handler, req: RawRequest, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await handler(req, tracking_send)
        except ClientGone:
            return
        except MoleculeError as exc:
            if not started:
                await send_json(send, exc.status, exc.body(), exc.headers)
        except Exception:
            log.exception("unhandled error in %s %s", req.scope["method"], req.scope["path"])
            if not started:
                await send_json(send, 500, {"error": "internal error"})


def install(app: Quart) -> None:
    """Put the raw routes in front of Quart (idempotent)."""
    current: Any = app.asgi_app
    if isinstance(current, RawRoutes):
        return
    app.asgi_app = RawRoutes(app, current)  # type: ignore[method-assign, assignment]


__all__ = [
    "ClientGone",
    "RawRequest",
    "install",
    "raw_route",
    "send_bytes",
    "send_json",
]
