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
from collections.abc import AsyncIterator, Awaitable, Callable
from http.cookies import CookieError, SimpleCookie
from typing import Any

import trio
from quart import Quart

from molecule.errors import DatastoreUnavailable, MoleculeError, Unauthorized
from molecule.http.auth import SESSION_COOKIE, Principal, session_valid
from molecule.http.common import dumps
from molecule.security.tokens import bearer_from_header, constant_time_equal
from molecule.services import Services

log = logging.getLogger("molecule.http.streaming")

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Handler = Callable[["RawRequest", Send], Awaitable[None]]

_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []


class ClientGone(Exception):
    """The client disconnected while its body was being read."""


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

    def cookie(self, name: str) -> str | None:
        raw = self.header("cookie")
        if not raw:
            return None
        try:
            jar = SimpleCookie(raw)
        except CookieError:
            return None
        morsel = jar.get(name)
        return None if morsel is None else morsel.value


async def workspace_auth(req: RawRequest, workspace_id: str) -> Principal:
    """WorkspaceAuth from the scope's headers: the same rules as `http.auth.workspace_auth`."""
    svc = req.svc
    bearer = bearer_from_header(req.header("authorization"))
    if bearer is not None:
        if constant_time_equal(bearer, svc.admin_token):
            return Principal("admin")
        try:
            hit = await svc.org_tokens.validate(bearer)
        except OSError as exc:
            raise DatastoreUnavailable() from exc
        if hit is not None:
            return Principal("org", org_token_id=hit["id"], org_token_prefix=hit["prefix"])
        if await svc.tokens.validate_for(bearer, workspace_id):
            return Principal("workspace", workspace_id=workspace_id)
        raise Unauthorized("invalid workspace auth token")
    if session_valid(svc.admin_token, req.cookie(SESSION_COOKIE)):
        return Principal("session")
    if svc.settings.dev_fail_open:
        return Principal("dev")
    raise Unauthorized("missing workspace auth token")


async def send_json(
    send: Send, status: int, body: Any, headers: dict[str, str] | None = None
) -> None:
    data = dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data, "more_body": False})


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
            for method, pattern, handler in _ROUTES:
                if scope["method"] != method:
                    continue
                match = pattern.fullmatch(scope["path"])
                if match is not None:
                    await self._run(handler, RawRequest(self.app, scope, receive, match), send)
                    return
        await self.inner(scope, receive, send)

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


__all__ = ["ClientGone", "RawRequest", "install", "raw_route", "send_json", "workspace_auth"]
