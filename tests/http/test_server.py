"""molecule.http.server: hypercorn's behaviour kept on the lean transport, over real sockets.

A raw ASGI app is served by `molecule.http.server.serve` in the test's loop; the client is a
bare trio socket, so every byte on the wire (Content-Length and chunked endings, the server's
close) is seen as it is. Timeouts are short real ones: the keep-alive and header timers are
what is tested, and a virtual clock would jump while the client waits on the network.
"""

from __future__ import annotations

import base64
import gc
import os
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import hypercorn.protocol as hypercorn_protocol
import hypercorn.trio.run as hypercorn_run
import trio

from molecule.asgi import answer_lifespan
from molecule.config import Settings
from molecule.http.server import (
    HEADER_READ_TIMEOUT,
    AnnouncedCloseH11Protocol,
    LeanTCPServer,
    ServerConfig,
    header_read_timeout,
    install,
    serve,
)
from molecule.platform import hypercorn_config

Message = dict[str, Any]

SLOW = 1.0
BIG = 16 * 1024 * 1024
ENDLESS_ENDED: list[bool] = []


async def app(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    if scope["type"] == "lifespan":
        return await answer_lifespan(receive, send)
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return
            await send({"type": "websocket.send", "text": "echo: " + message["text"]})
    path = scope["path"]
    if path == "/slow":
        await trio.sleep(SLOW)
    if path == "/big":  # more than the socket buffers hold: writes end partial
        body = bytes(range(256)) * (BIG // 256)
        headers = [(b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    if path == "/endless":  # chunks until the client is gone (http.disconnect)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        async with trio.open_nursery() as nursery:

            async def chunks() -> None:
                while True:
                    chunk = {"type": "http.response.body", "body": b"x" * 65536, "more_body": True}
                    await send(chunk)
                    await trio.lowlevel.checkpoint()

            nursery.start_soon(chunks)
            while (await receive())["type"] != "http.disconnect":
                pass
            ENDLESS_ENDED.append(True)
            nursery.cancel_scope.cancel()
        return
    headers = [(b"content-type", b"text/plain")]
    if path == "/read":  # answers once the request body is in
        received = b""
        while (message := await receive())["type"] == "http.request":
            received += message.get("body", b"")
            if not message.get("more_body", False):
                break
        path += f" {len(received)}"
    if path == "/chunked":  # no length: hypercorn frames the body in chunks
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ab", "more_body": True})
        await send({"type": "http.response.body", "body": b"cd"})
        return
    body = b"hello " + path.encode()
    headers.append((b"content-length", b"%d" % len(body)))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@asynccontextmanager
async def server(
    keep_alive: float, header_read: float = HEADER_READ_TIMEOUT
) -> AsyncIterator[tuple[int, trio.Event]]:
    """The app on an ephemeral port; set the event for a graceful shutdown."""
    config = ServerConfig()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.keep_alive_timeout = keep_alive
    config.header_read_timeout = header_read
    config.graceful_timeout = 5
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(serve, app, config, shutdown_trigger=stop.wait))
        yield int(binds[0].rsplit(":", 1)[1]), stop
        stop.set()


class Conn:
    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buf = b""

    async def request(self, path: str) -> None:
        await self.stream.send_all(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())

    async def post_head(self, path: str, length: int) -> None:
        """A POST's head only: its body is for the test to send (or not)."""
        head = f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {length}\r\n\r\n"
        await self.stream.send_all(head.encode())

    async def read_until(self, marker: bytes) -> bytes:
        while marker not in self.buf:
            data = await self.stream.receive_some()
            assert data, f"closed before {marker!r}; got {self.buf!r}"
            self.buf += data
        head, _, self.buf = self.buf.partition(marker)
        return head + marker

    async def response(self) -> tuple[bytes, bytes]:
        """(head, body) of one response, by Content-Length or chunked framing."""
        head = await self.read_until(b"\r\n\r\n")
        lower = head.lower()
        if b"transfer-encoding: chunked" in lower:
            return head, await self.read_until(b"0\r\n\r\n")
        length = int(lower.split(b"content-length: ")[1].split(b"\r\n")[0])
        while len(self.buf) < length:
            self.buf += await self.stream.receive_some()
        body, self.buf = self.buf[:length], self.buf[length:]
        return head, body

    async def closed_by_server(self) -> bool:
        return self.buf == b"" and await self.stream.receive_some() == b""


async def connect(port: int) -> Conn:
    return Conn(await trio.open_tcp_stream("127.0.0.1", port))


async def test_serve_installs_the_lean_transport_once() -> None:
    async with server(keep_alive=5):
        assert hypercorn_run.TCPServer is LeanTCPServer  # type: ignore[attr-defined]
    install()  # idempotent
    assert hypercorn_run.TCPServer is LeanTCPServer  # type: ignore[attr-defined]
    assert hypercorn_protocol.H11Protocol is AnnouncedCloseH11Protocol


async def test_length_and_chunked_responses_on_one_kept_alive_connection() -> None:
    async with server(keep_alive=5) as (port, _):
        conn = await connect(port)
        for path in ("/a", "/chunked", "/b", "/chunked", "/c"):
            await conn.request(path)
            head, body = await conn.response()
            assert head.startswith(b"HTTP/1.1 200")
            if path == "/chunked":
                assert body == b"2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n"
            else:
                assert b"content-length: %d" % len(body) in head.lower()
                assert body == b"hello " + path.encode()
        assert conn.buf == b""  # no stray bytes between responses


async def test_keep_alive_timeout_closes_idle_connections_only() -> None:
    async with server(keep_alive=0.3) as (port, _):
        never_asked = await connect(port)
        conn = await connect(port)
        await conn.request("/slow")  # busy for longer than the keep-alive timeout
        started = trio.current_time()
        head, body = await conn.response()
        assert head.startswith(b"HTTP/1.1 200") and body == b"hello /slow"
        assert trio.current_time() - started >= SLOW
        with trio.fail_after(3):
            assert await never_asked.closed_by_server()
        idle_from = trio.current_time()
        with trio.fail_after(3):
            assert await conn.closed_by_server()
        assert trio.current_time() - idle_from >= 0.25


async def test_graceful_shutdown_closes_idle_at_once_and_lets_a_response_finish() -> None:
    """And nothing of the closed connections lingers until the graceful timeout (5 s)."""
    with trio.fail_after(3):
        await _graceful_shutdown()


async def _graceful_shutdown() -> None:
    async with server(keep_alive=60) as (port, stop):
        idle = await connect(port)
        await idle.request("/a")
        await idle.response()
        busy = await connect(port)
        await busy.request("/slow")
        await trio.sleep(0.2)  # the slow request is in the app
        stop.set()
        with trio.fail_after(0.5):
            assert await idle.closed_by_server()
        with trio.fail_after(3):
            head, body = await busy.response()
            assert head.startswith(b"HTTP/1.1 200") and body == b"hello /slow"
            assert await busy.closed_by_server()


async def test_a_websocket_outlives_the_keep_alive_and_header_timeouts() -> None:
    async with server(keep_alive=0.3, header_read=0.2) as (port, _):
        conn = await connect(port)
        key = base64.b64encode(os.urandom(16)).decode()
        await conn.stream.send_all(
            (
                "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        assert (await conn.read_until(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
        await trio.sleep(1.0)
        text = b"still here"
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(text))
        await conn.stream.send_all(struct.pack("!BB", 0x81, 0x80 | len(text)) + mask + masked)
        with trio.fail_after(3):
            frame = await conn.read_until(b"echo: still here")
        assert frame == struct.pack("!BB", 0x81, len(b"echo: still here")) + b"echo: still here"
        await conn.stream.aclose()


async def test_a_body_larger_than_the_socket_buffers_arrives_whole_to_a_slow_reader() -> None:
    async with server(keep_alive=5) as (port, _):
        conn = await connect(port)
        await conn.request("/big")
        await trio.sleep(0.5)  # the server's first write fills the buffers and ends partial
        with trio.fail_after(10):
            _, body = await conn.response()
        assert body == bytes(range(256)) * (BIG // 256)
        await conn.request("/after")  # and the connection is still in order
        assert (await conn.response())[1] == b"hello /after"


async def test_a_client_gone_mid_response_ends_it_and_the_server_goes_on() -> None:
    ENDLESS_ENDED.clear()
    async with server(keep_alive=5) as (port, _):
        conn = await connect(port)
        await conn.request("/endless")
        await conn.read_until(b"xxxx")
        await conn.stream.aclose()
        with trio.fail_after(5):
            while not ENDLESS_ENDED:
                await trio.sleep(0.05)
        other = await connect(port)
        await other.request("/still")
        with trio.fail_after(5):
            assert (await other.response())[1] == b"hello /still"


async def test_an_answer_before_the_request_body_is_in_announces_the_close() -> None:
    """A handler may answer before the body has arrived (a 401 from an auth check). The server
    then closes the connection after the response, as it cannot tell where the next request
    starts; it must say so (`Connection: close`), or a client pooling connections sends its
    next request on one the server is closing and gets no response (httpx:
    "Server disconnected without sending a response")."""
    async with server(keep_alive=5) as (port, _):
        conn = await connect(port)
        await conn.post_head("/early", 10)
        with trio.fail_after(3):
            head, body = await conn.response()
        assert head.startswith(b"HTTP/1.1 200") and body == b"hello /early"
        assert b"connection: close" in head.lower()
        await conn.stream.send_all(b"0123456789")  # the body, late: it changes nothing
        with trio.fail_after(3):
            assert await conn.closed_by_server()


async def test_an_answer_after_the_request_body_keeps_the_connection() -> None:
    async with server(keep_alive=5) as (port, _):
        conn = await connect(port)
        for _ in range(2):
            await conn.post_head("/read", 10)
            await trio.sleep(0.1)  # the handler waits for the body
            await conn.stream.send_all(b"0123456789")
            with trio.fail_after(3):
                head, body = await conn.response()
            assert body == b"hello /read 10"
            assert b"connection: close" not in head.lower()


async def test_partial_request_heads_are_closed_after_the_header_timeout() -> None:
    """Slowloris: clients that begin requests and never finish their heads hold no socket
    past the header timeout, however long the keep-alive timeout, and trickling more of the
    head buys no time. The server goes on serving meanwhile."""
    async with server(keep_alive=30, header_read=0.3) as (port, _):
        loris = [await connect(port) for _ in range(100)]
        first_byte = trio.current_time()
        for conn in loris:
            await conn.stream.send_all(b"GET /a HTTP/1.1\r\nHost: t\r\n")
        await trio.sleep(0.15)
        for conn in loris:
            try:  # trickling more of the head buys no time
                await conn.stream.send_all(b"X-More: 1\r\n")
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass  # a loaded machine: closed already (the timeout passed meanwhile)
        other = await connect(port)
        await other.request("/served")
        with trio.fail_after(10):
            assert (await other.response())[1] == b"hello /served"
            for conn in loris:
                assert await conn.closed_by_server()
        assert trio.current_time() - first_byte >= 0.25


async def test_a_head_begun_late_on_an_idle_connection_still_has_the_header_timeout() -> None:
    """A client that waits past the header timeout before its first byte, then trickles a
    head, is closed by the header clock, not left to the longer keep-alive timeout."""
    async with server(keep_alive=30, header_read=0.3) as (port, _):
        late = await connect(port)
        await trio.sleep(0.6)  # the timer's first check has passed: idle, within keep-alive
        begun = trio.current_time()
        await late.stream.send_all(b"GET /a HTTP/1.1\r\nHost: t\r\n")
        with trio.fail_after(5):
            assert await late.closed_by_server()
        assert trio.current_time() - begun >= 0.25


async def test_a_connection_sending_nothing_is_closed_after_the_idle_timeout() -> None:
    """The header clock starts at a request's first byte, so a silent connection (new, or
    after a response) is idle: the keep-alive timeout closes it, the shorter header
    timeout does not."""
    async with server(keep_alive=0.5, header_read=0.1) as (port, _):
        silent = await connect(port)
        reused = await connect(port)
        await reused.request("/a")
        await reused.response()
        opened = trio.current_time()
        with trio.fail_after(3):
            assert await silent.closed_by_server()
            assert await reused.closed_by_server()
        assert trio.current_time() - opened >= 0.45


async def test_a_slow_complete_head_then_a_slow_body_is_served() -> None:
    """A head arriving within the header timeout is served however long it took against the
    keep-alive timeout (the connection stopped being idle at its first byte), and its body
    is not timed here at all: the app times bodies."""
    async with server(keep_alive=0.3, header_read=1.0) as (port, _):
        conn = await connect(port)
        head = b"POST /read HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n"
        for start in range(0, len(head), 10):  # 6 pieces over 0.48 s
            await conn.stream.send_all(head[start : start + 10])
            await trio.sleep(0.08)
        for byte in b"0123456789":  # 1 s: longer than both timeouts
            await conn.stream.send_all(bytes([byte]))
            await trio.sleep(0.1)
        with trio.fail_after(3):
            response, body = await conn.response()
        assert response.startswith(b"HTTP/1.1 200") and body == b"hello /read 10"


async def test_a_kept_alive_connection_is_reused_after_pauses_longer_than_the_header_timeout() -> (
    None
):
    async with server(keep_alive=0.6, header_read=0.15) as (port, _):
        conn = await connect(port)
        for path in ("/a", "/b", "/c"):
            await trio.sleep(0.3)  # idle: past the header timeout, within the keep-alive one
            await conn.stream.send_all(f"GET {path} HTTP/1.1\r\n".encode())
            await trio.sleep(0.05)  # and a head in two pieces, well within the header timeout
            await conn.stream.send_all(b"Host: t\r\n\r\n")
            with trio.fail_after(3):
                assert (await conn.response())[1] == b"hello " + path.encode()


def test_the_platform_closes_silent_and_slow_clients_within_seconds(tmp_path: Path) -> None:
    """The platform's own timeouts: a silent client is gone within half a minute, a slow head
    within 10 s of its first byte, while the pooled clients of the platform (the agent
    runtime's and the connect bridge's httpx, which expires idle connections after 5 s)
    give theirs up before the server closes them, so never race that close."""
    cfg = hypercorn_config(Settings(home=tmp_path, database_url=None))
    assert header_read_timeout(cfg) == HEADER_READ_TIMEOUT == 10
    pool_expiry = httpx.Limits().keepalive_expiry
    assert pool_expiry is not None and pool_expiry < cfg.keep_alive_timeout <= 30


async def test_closed_connections_leave_no_garbage_cycles() -> None:
    """A closed connection is freed by reference counting alone: the platform runs the cyclic
    collector rarely, so each one's cycles used to pile up (megabytes between collections)."""
    async with server(keep_alive=5) as (port, _):
        gc.collect()
        gc.disable()
        try:
            for _ in range(20):
                conn = await connect(port)
                await conn.request("/a")
                await conn.response()
                await conn.stream.aclose()
            await trio.sleep(0.2)  # the server notices each close
            gc.set_debug(gc.DEBUG_SAVEALL)
            gc.collect()
            leaked = [o for o in gc.garbage if isinstance(o, LeanTCPServer)]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
    assert leaked == []
