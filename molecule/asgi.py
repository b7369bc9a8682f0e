"""Raw ASGI, the one toolkit: a request view and response senders, for the platform's raw
routes (molecule.http.raw_routes) and the agent program's whole app (molecule.runtime.app).

Both serve request bodies that must stream with backpressure (a 100 MiB upload to disk or to
PostgreSQL; Quart drains `receive()` eagerly into memory), or hot paths where a framework's
per-request machinery costs as much as the work. Rules, one set for both:
- a repeated header keeps its first value (as Go's `Header.Get`, which the original used):
  no header either side relies on is list-valued, and joining `Authorization` or
  `Content-Length` values would make garbage of them;
- `Content-Length` counts only as plain digits;
- a body is read as the consumer asks for it; a client that hangs up is `ClientGone`, and the
  body counts as done from then on;
- a small body is read whole with a size limit (413, checked against the declared length
  first) and a time limit (408).

Shared by the platform and the agent program: it imports only molecule.errors and
molecule.jsontext.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import trio

from molecule.errors import ClientGone, PayloadTooLarge, RequestTimeout
from molecule.jsontext import dumpb

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = Iterable[tuple[str, str | bytes]]

BODY_TIMEOUT = 60.0  # like the Quart app's BODY_TIMEOUT


async def answer_lifespan(receive: Receive, send: Send) -> None:
    """Answer a `lifespan` scope until shutdown: hypercorn's trio worker crashes on a raw app
    that silently returns from it."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class Request:
    """One HTTP request seen as raw ASGI: method, path, query, headers and a pull-based body."""

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self.receive = receive
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.headers: dict[str, str] = {}
        for raw_name, raw_value in scope.get("headers", []):
            name = raw_name.decode("latin-1").lower()
            if name not in self.headers:  # the first value wins
                self.headers[name] = raw_value.decode("latin-1")
        qs = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        self.query: dict[str, str] = {k: v[0] for k, v in qs.items()}
        self.body_done = False  # the last body message has been received (or the client left)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def content_length(self) -> int | None:
        raw = self.header("content-length")
        if raw is None or not raw.strip().isdigit():
            return None
        return int(raw.strip())

    async def stream(self) -> AsyncGenerator[bytes, None]:
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
            raise RequestTimeout("request body timeout")
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


def _encode_headers(headers: Headers) -> list[tuple[bytes, bytes]]:
    out = []
    for name, value in headers:
        raw = value if isinstance(value, bytes) else value.encode("utf-8")
        out.append((name.lower().encode("latin-1"), raw))
    return out


async def start_response(send: Send, status: int, headers: Headers) -> None:
    await send(
        {"type": "http.response.start", "status": status, "headers": _encode_headers(headers)}
    )


async def send_bytes(
    send: Send, status: int, body: bytes, content_type: str, headers: Headers = ()
) -> None:
    all_headers = [("content-type", content_type), ("content-length", str(len(body))), *headers]
    await start_response(send, status, all_headers)
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def send_json(send: Send, status: int, obj: Any, headers: Headers = ()) -> None:
    await send_bytes(send, status, dumpb(obj), "application/json", headers)


async def send_error(send: Send, status: int, message: str, **extra: Any) -> None:
    """The platform's error body: `{"error": message, ...extra}`."""
    await send_json(send, status, {"error": message, **extra})


async def send_text(send: Send, status: int, text: str, headers: Headers = ()) -> None:
    await send_bytes(send, status, text.encode("utf-8"), "text/plain; charset=utf-8", headers)
