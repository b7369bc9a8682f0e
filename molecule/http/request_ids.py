"""A request id on every HTTP response (`X-Request-ID`), and in every log record written
while handling that request (molecule.observability.logs).

An incoming `X-Request-ID` is kept when it is well formed (a UUID, hex, base64: at most 128
characters, no spaces or control characters), so a proxy's id follows the request through;
anything else is replaced by a new one, so a client cannot write what it likes into the logs
or into a response header. The middleware wraps the whole ASGI app, the raw routes
(molecule.http.raw_routes) and Quart alike, and opens the request's log context before
either runs; the routes then add their operation and the workspace in their path
(`bind_route` for Quart, the raw routes' own dispatch for theirs).
"""

from __future__ import annotations

from typing import Any

from quart import Quart, request, websocket

from molecule.asgi import Message, Receive, Scope, Send
from molecule.models import is_uuid
from molecule.observability import logs

HEADER = b"x-request-id"
_ANSWERS = frozenset({"http.response.start", "websocket.accept", "websocket.http.response.start"})


def request_id_of(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's id when it is well formed, else a new one."""
    for name, value in headers:
        if name == HEADER:  # the first one wins, as everywhere (molecule.asgi)
            try:
                text = value.decode("ascii")
            except UnicodeDecodeError:
                break
            if logs.valid_request_id(text):
                return text
            break
    return logs.new_request_id()


class RequestIds:
    """ASGI middleware: the request's id in its log context and on its answer."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.inner(scope, receive, send)
            return
        request_id = request_id_of(scope["headers"])
        header = (HEADER, request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] in _ANSWERS:
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        token = logs.open_context(request_id)
        try:
            await self.inner(scope, receive, send_with_id)
        finally:
            logs.close_context(token)


def bind_route(operation: str | None, view_args: dict[str, Any] | None) -> None:
    """The route's operation, and the workspace its path names, in the request's log
    context (a path id that is not a UUID names nothing)."""
    workspace_id = (view_args or {}).get("workspace_id")
    logs.bind(operation=operation, workspace_id=workspace_id if is_uuid(workspace_id) else None)


def install(app: Quart) -> None:
    """Wrap the whole app (raw routes included): install after molecule.http.raw_routes."""

    @app.before_request
    async def bind_request() -> None:
        bind_route(request.endpoint, request.view_args)

    @app.before_websocket
    async def bind_websocket() -> None:
        bind_route(websocket.endpoint, websocket.view_args)

    app.asgi_app = RequestIds(app.asgi_app)  # type: ignore[method-assign, assignment]
