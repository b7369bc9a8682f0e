"""Minimal raw-ASGI plumbing: a request view and response senders.

The runtime serves a handful of routes, one of which must stream a 100 MiB multipart body to
disk with backpressure (Quart buffers request bodies, stack notes §7), so it is a raw ASGI app
rather than a framework app.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, MutableMapping
from contextlib import aclosing
from typing import Any
from urllib.parse import parse_qs

from molecule.errors import ClientGone, PayloadTooLarge

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = Iterable[tuple[str, str | bytes]]


async def answer_lifespan(receive: Receive, send: Send) -> None:
    """Answer a `lifespan` scope until shutdown: hypercorn's trio worker crashes on a raw app
    that silently returns from it (stack notes §4)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class Request:
    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self.receive = receive
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.headers: dict[str, str] = {}
        for raw_name, raw_value in scope.get("headers", []):
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            self.headers[name] = f"{self.headers[name]}, {value}" if name in self.headers else value
        qs = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        self.query: dict[str, str] = {k: v[0] for k, v in qs.items()}
        self.body_complete = False  # the last body message has been received

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def content_length(self) -> int | None:
        value = self.header("content-length")
        try:
            return int(value) if value is not None else None
        except ValueError:
            return None

    async def stream(self) -> AsyncGenerator[bytes, None]:
        while not self.body_complete:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            if not message.get("more_body", False):
                self.body_complete = True
            chunk = message.get("body", b"")
            if chunk:
                yield chunk

    async def body(self, limit: int) -> bytes:
        buf = bytearray()
        async with aclosing(self.stream()) as chunks:
            async for chunk in chunks:
                buf += chunk
                if len(buf) > limit:
                    raise PayloadTooLarge("request body too large")
        return bytes(buf)


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


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


async def send_json(send: Send, status: int, obj: Any, headers: Headers = ()) -> None:
    await send_bytes(send, status, dumps(obj), "application/json", headers)


async def send_error(send: Send, status: int, message: str, **extra: Any) -> None:
    """The platform-style error body: `{"error": message, ...extra}`."""
    await send_json(send, status, {"error": message, **extra})


async def send_text(send: Send, status: int, text: str, headers: Headers = ()) -> None:
    await send_bytes(send, status, text.encode("utf-8"), "text/plain; charset=utf-8", headers)
