"""The agent HTTP client (molecule.a2a.client) against real loopback servers.

Two kinds of server run in the test's own trio loop:

* a raw ASGI app on `hypercorn.trio.serve` (a real HTTP/1.1 server: keep-alive, chunked
  bodies when no Content-Length is given, streaming). It records the client port of every
  request, so the number of distinct ports is the number of TCP connections it saw;
* a bare `trio.serve_tcp` handler that writes exact bytes, for what a polite server never
  does: close mid-body, close a kept-alive connection under the client, never answer.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from molecule.a2a.classify import is_busy
from molecule.a2a.client import AgentClient
from molecule.asgi import answer_lifespan
from molecule.errors import (
    AgentConnectionLost,
    AgentUnreachable,
    PoolTimeout,
    ResponseHeaderTimeout,
    ResponseTooLarge,
)

BODY = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {}}).encode()

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Handler = Callable[[Scope, bytes, Send], Awaitable[None]]


# -- servers ----------------------------------------------------------------------------


@dataclass
class AsgiAgent:
    """Answers every request with `handler(scope, body, send)`; records what it saw."""

    handler: Handler
    client_ports: list[int] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return await answer_lifespan(receive, send)
        assert scope["type"] == "http"
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        self.client_ports.append(scope["client"][1])
        self.bodies.append(b"".join(chunks))
        self.headers.append({k.decode(): v.decode() for k, v in scope["headers"]})
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await self.handler(scope, self.bodies[-1], send)
        finally:
            self.in_flight -= 1

    @property
    def connections(self) -> int:
        return len(set(self.client_ports))


async def json_answer(scope: Scope, body: bytes, send: Send) -> None:
    payload = json.dumps({"echo": json.loads(body)}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


@asynccontextmanager
async def asgi_agent(
    handler: Handler = json_answer, tls: tuple[Path, Path] | None = None
) -> AsyncIterator[tuple[AsgiAgent, str]]:
    agent = AsgiAgent(handler)
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = 0.5
    if tls is not None:
        config.certfile, config.keyfile = str(tls[0]), str(tls[1])
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(serve, agent, config))  # type: ignore[arg-type]
        yield agent, binds[0] + "/a2a"
        nursery.cancel_scope.cancel()


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


RawHandler = Callable[[trio.SocketStream, int], Awaitable[None]]


@dataclass
class RawServer:
    """A TCP server that hands each accepted connection (and its index) to `handler`."""

    handler: RawHandler
    accepted: int = 0
    requests: int = 0


@asynccontextmanager
async def raw_server(handler: RawHandler) -> AsyncIterator[tuple[RawServer, str]]:
    server = RawServer(handler)

    async def on_connection(stream: trio.SocketStream) -> None:
        index = server.accepted
        server.accepted += 1
        try:
            await server.handler(stream, index)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await trio.aclose_forcefully(stream)

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, on_connection, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        yield server, f"http://127.0.0.1:{port}/a2a"
        nursery.cancel_scope.cancel()


async def read_request(stream: trio.SocketStream, buf: bytearray) -> bool:
    """Consume one request (head + Content-Length body) from `buf`/`stream`; False on EOF."""
    while b"\r\n\r\n" not in buf:
        data = await stream.receive_some(65536)
        if not data:
            return False
        buf += data
    end = buf.index(b"\r\n\r\n") + 4
    length = 0
    for line in bytes(buf[:end]).split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    while len(buf) < end + length:
        data = await stream.receive_some(65536)
        if not data:
            return False
        buf += data
    del buf[: end + length]
    return True


def ok_response(body: bytes = b'{"ok":true}', extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        + extra
        + b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )


def reset(stream: trio.SocketStream) -> None:
    """Close with an RST instead of a FIN."""
    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


# -- keep-alive, bodies, streaming ------------------------------------------------------


async def test_keepalive_reuses_one_connection() -> None:
    client = AgentClient(header_timeout=5)
    async with asgi_agent() as (agent, url):
        for i in range(20):
            response = await client.post(url, b'{"n":%d}' % i, {})
            assert response.status == 200
            assert response.content_type == "application/json"
            assert json.loads(await response.read()) == {"echo": {"n": i}}
            await response.aclose()
        assert agent.connections == 1
        assert client.connections_opened == 1
        assert client.idle_connections(url) == 1
        await client.aclose()
    assert client.open_connections() == 0


async def test_concurrent_requests_then_reuse() -> None:
    client = AgentClient(header_timeout=5)
    release = trio.Event()

    async def held(scope: Scope, body: bytes, send: Send) -> None:
        await release.wait()
        await json_answer(scope, body, send)

    async with asgi_agent(held) as (agent, url):

        async def one(i: int) -> None:
            response = await client.post(url, b'{"n":%d}' % i, {})
            assert json.loads(await response.read()) == {"echo": {"n": i}}
            await response.aclose()

        async with trio.open_nursery() as nursery:
            for i in range(4):
                nursery.start_soon(one, i)
            with trio.fail_after(5):
                while agent.in_flight < 4:
                    await trio.sleep(0.01)
            release.set()
        assert agent.connections == 4
        assert client.idle_connections(url) == 4
        for i in range(10):
            await one(i)
        assert agent.connections == 4  # the later ones reused the pool
    await client.aclose()


async def test_https_keepalive(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    trusting = ssl.create_default_context(cafile=str(cert))
    client = AgentClient(header_timeout=5, ssl_context=trusting)
    async with asgi_agent(tls=(cert, key)) as (agent, url):
        assert url.startswith("https://")
        for i in range(5):
            response = await client.post(url, b'{"n":%d}' % i, {})
            assert json.loads(await response.read()) == {"echo": {"n": i}}
            await response.aclose()
        assert agent.connections == 1  # TLS 1.3 session tickets do not defeat the reuse
        await client.aclose()
        # The default context trusts public CAs only: a self-signed agent is unreachable.
        strict = AgentClient(header_timeout=5)
        with pytest.raises(AgentUnreachable) as caught:
            await strict.post(url, BODY, {})
        assert not is_busy(caught.value)
        await strict.aclose()


async def test_request_headers_and_body() -> None:
    client = AgentClient(header_timeout=5)
    async with asgi_agent() as (agent, url):
        response = await client.post(url, BODY, {"A2A-Version": "0.3", "X-Extra": "yes"})
        await response.read()
        await response.aclose()
    await client.aclose()
    seen = agent.headers[0]
    assert agent.bodies == [BODY]
    assert seen["content-type"] == "application/json"
    assert seen["content-length"] == str(len(BODY))
    assert seen["a2a-version"] == "0.3" and seen["x-extra"] == "yes"
    assert seen["host"] == url.split("/")[2]
    assert "accept-encoding" not in seen  # the body is passed through: never compressed


async def test_content_length_body_in_several_reads() -> None:
    big = b"x" * 300_000

    async def large(scope: Scope, body: bytes, send: Send) -> None:
        headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(big))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for i in range(0, len(big), 50_000):
            await send(
                {"type": "http.response.body", "body": big[i : i + 50_000], "more_body": True}
            )
        await send({"type": "http.response.body", "body": b""})

    client = AgentClient(header_timeout=5)
    async with asgi_agent(large) as (agent, url):
        for _ in range(2):
            response = await client.post(url, BODY, {})
            assert (b"content-length", b"300000") in response.headers
            assert await response.read() == big
            await response.aclose()
        assert agent.connections == 1
    await client.aclose()


async def test_chunked_body() -> None:
    pieces = [b'{"part":', b"1", b',"more":"' + b"y" * 70_000 + b'"}']

    async def chunked(scope: Scope, body: bytes, send: Send) -> None:
        headers = [(b"content-type", b"application/json")]  # no length: hypercorn chunks it
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        for piece in pieces:
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    client = AgentClient(header_timeout=5)
    async with asgi_agent(chunked) as (agent, url):
        for _ in range(3):
            response = await client.post(url, BODY, {})
            assert response.status == 201
            assert (b"transfer-encoding", b"chunked") in response.headers
            assert await response.read() == b"".join(pieces)
            await response.aclose()
        assert agent.connections == 1  # a chunked body ends cleanly: the connection is kept
    await client.aclose()


async def test_sse_is_streamed_event_by_event() -> None:
    """The second event is only sent after the test has received the first one."""
    first_seen = trio.Event()

    async def sse(scope: Scope, body: bytes, send: Send) -> None:
        headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"data: one\n\n", "more_body": True})
        await first_seen.wait()
        await send({"type": "http.response.body", "body": b"data: two\n\n", "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    client = AgentClient(header_timeout=5)
    async with asgi_agent(sse) as (agent, url):
        with trio.fail_after(5):
            response = await client.post(url, BODY, {})
            assert response.content_type == "text/event-stream"
            received = []
            async for chunk in response.iter_raw():
                received.append(chunk)
                if chunk == b"data: one\n\n":
                    first_seen.set()
            await response.aclose()
        assert received == [b"data: one\n\n", b"data: two\n\n"]
        assert client.idle_connections(url) == 1  # read to its end: back in the pool
    await client.aclose()


async def test_abandoned_stream_closes_the_connection() -> None:
    async def endless(scope: Scope, body: bytes, send: Send) -> None:
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        while True:
            await send({"type": "http.response.body", "body": b"data: x\n\n", "more_body": True})
            await trio.sleep(0.01)

    client = AgentClient(header_timeout=5)
    async with asgi_agent(endless) as (agent, url):
        with trio.fail_after(5):
            response = await client.post(url, BODY, {})
            async for _ in response.iter_raw():
                break
            await response.aclose()
        assert client.open_connections() == 0
        assert client.idle_connections() == 0
    await client.aclose()


async def test_connection_close_header_is_honoured() -> None:
    async def handler(stream: trio.SocketStream, index: int) -> None:
        buf = bytearray()
        while await read_request(stream, buf):
            await stream.send_all(ok_response(extra=b"Connection: close\r\n"))
            return

    client = AgentClient(header_timeout=5)
    async with raw_server(handler) as (server, url):
        for _ in range(3):
            response = await client.post(url, BODY, {})
            assert await response.read() == b'{"ok":true}'
            await response.aclose()
        assert server.accepted == 3
        assert client.idle_connections() == 0
    await client.aclose()


# -- failures and how they classify ------------------------------------------------------


async def test_header_timeout_is_busy_and_drops_the_connection() -> None:
    async def silent(stream: trio.SocketStream, index: int) -> None:
        await read_request(stream, bytearray())
        await trio.sleep_forever()

    client = AgentClient(header_timeout=0.3)
    async with raw_server(silent) as (server, url):
        with pytest.raises(ResponseHeaderTimeout) as caught:
            await client.post(url, BODY, {})
        assert is_busy(caught.value)
        assert client.open_connections() == 0
    await client.aclose()


async def test_body_has_no_read_timeout() -> None:
    """Only the headers are timed; a slow body is bounded by the caller (dispatcher)."""

    async def slow_body(stream: trio.SocketStream, index: int) -> None:
        await read_request(stream, bytearray())
        await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab")
        await trio.sleep(0.5)
        await stream.send_all(b"cd")

    client = AgentClient(header_timeout=0.2)
    async with raw_server(slow_body) as (server, url):
        response = await client.post(url, BODY, {})
        assert await response.read() == b"abcd"
        await response.aclose()
    await client.aclose()


async def test_connection_refused_is_unreachable_not_busy() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    client = AgentClient(header_timeout=5)
    with pytest.raises(AgentUnreachable) as caught:
        await client.post(f"http://127.0.0.1:{port}/", BODY, {})
    assert not is_busy(caught.value)
    assert client.open_connections() == 0
    await client.aclose()


async def test_unresolvable_host_is_unreachable() -> None:
    client = AgentClient(header_timeout=5)
    with pytest.raises(AgentUnreachable) as caught:
        await client.post("http://no-such-host.invalid:9/", BODY, {})
    assert not is_busy(caught.value)
    await client.aclose()


async def test_connect_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    async def never(*args: object, **kwargs: object) -> trio.SocketStream:
        await trio.sleep_forever()
        raise AssertionError

    monkeypatch.setattr(trio, "open_tcp_stream", never)
    client = AgentClient(header_timeout=5, connect_timeout=0.2)
    with pytest.raises(AgentUnreachable) as caught:
        await client.post("http://127.0.0.1:9/", BODY, {})
    assert not is_busy(caught.value)
    assert client.open_connections() == 0
    await client.aclose()


async def test_server_closing_mid_body_is_busy() -> None:
    async def truncated(stream: trio.SocketStream, index: int) -> None:
        await read_request(stream, bytearray())
        await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")

    client = AgentClient(header_timeout=5)
    async with raw_server(truncated) as (server, url):
        response = await client.post(url, BODY, {})
        assert response.status == 200
        with pytest.raises(AgentConnectionLost) as caught:
            await response.read()
        assert is_busy(caught.value)
        await response.aclose()
        assert client.open_connections() == 0
    await client.aclose()


async def test_server_resetting_mid_body_is_busy() -> None:
    async def rst(stream: trio.SocketStream, index: int) -> None:
        await read_request(stream, bytearray())
        await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
        await trio.sleep(0.1)
        reset(stream)

    client = AgentClient(header_timeout=5)
    async with raw_server(rst) as (server, url):
        response = await client.post(url, BODY, {})
        with pytest.raises(AgentConnectionLost) as caught:
            await response.read()
        assert is_busy(caught.value)
        await response.aclose()
    await client.aclose()


async def test_server_closing_before_answering_a_fresh_connection_is_busy() -> None:
    async def hang_up(stream: trio.SocketStream, index: int) -> None:
        await read_request(stream, bytearray())

    client = AgentClient(header_timeout=5)
    async with raw_server(hang_up) as (server, url):
        with pytest.raises(AgentConnectionLost) as caught:
            await client.post(url, BODY, {})
        assert is_busy(caught.value)
        assert server.accepted == 1  # a new connection is never retried
        assert client.stale_retries == 0
    await client.aclose()


async def test_garbage_instead_of_a_response_is_busy() -> None:
    async def garbage(stream: trio.SocketStream, index: int) -> None:
        await read_request(stream, bytearray())
        await stream.send_all(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")

    client = AgentClient(header_timeout=5)
    async with raw_server(garbage) as (server, url):
        with pytest.raises(AgentConnectionLost) as caught:
            await client.post(url, BODY, {})
        assert is_busy(caught.value)
    await client.aclose()


async def test_response_too_large() -> None:
    payload = b"z" * 5000

    async def sized(scope: Scope, body: bytes, send: Send) -> None:
        await json_answer_raw(send, payload, chunked=b"chunked" in body)

    client = AgentClient(header_timeout=5)
    async with asgi_agent(sized) as (agent, url):
        for mode in (b"length", b"chunked"):
            response = await client.post(url, mode, {})
            with pytest.raises(ResponseTooLarge):
                await response.read(limit=1000)
            await response.aclose()
            assert client.open_connections() == 0  # an unread body: the connection is dropped
        response = await client.post(url, b"length", {})
        assert await response.read(limit=5000) == payload  # exactly at the limit is fine
        await response.aclose()
    await client.aclose()


async def json_answer_raw(send: Send, payload: bytes, *, chunked: bool) -> None:
    headers = [(b"content-type", b"application/json")]
    if not chunked:
        headers.append((b"content-length", b"%d" % len(payload)))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    for i in range(0, len(payload), 700):
        await send({"type": "http.response.body", "body": payload[i : i + 700], "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def test_invalid_header_is_refused_locally() -> None:
    client = AgentClient(header_timeout=5)
    with pytest.raises(AgentUnreachable) as caught:
        await client.post("http://127.0.0.1:9/", BODY, {"X-Evil": "a\r\nInjected: 1"})
    assert not is_busy(caught.value)  # never sent: answered 502 like an agent out of reach
    with pytest.raises(AgentUnreachable):
        await client.post("ftp://127.0.0.1:9/", BODY, {})
    assert client.open_connections() == 0
    await client.aclose()


async def test_cancelled_request_frees_its_connection() -> None:
    async def silent(stream: trio.SocketStream, index: int) -> None:
        await read_request(stream, bytearray())
        await trio.sleep_forever()

    client = AgentClient(header_timeout=30)
    async with raw_server(silent) as (server, url):
        with trio.move_on_after(0.2):
            await client.post(url, BODY, {})
        assert client.open_connections() == 0
    await client.aclose()


# -- pool bounds ------------------------------------------------------------------------


async def test_pool_bound_per_agent() -> None:
    release = trio.Event()

    async def held(scope: Scope, body: bytes, send: Send) -> None:
        await release.wait()
        await json_answer(scope, body, send)

    client = AgentClient(header_timeout=5, max_per_host=2)
    async with asgi_agent(held) as (agent, url):
        done = []

        async def one(i: int) -> None:
            response = await client.post(url, b'{"n":%d}' % i, {})
            assert json.loads(await response.read()) == {"echo": {"n": i}}
            await response.aclose()
            done.append(i)

        async with trio.open_nursery() as nursery:
            for i in range(6):
                nursery.start_soon(one, i)
            with trio.fail_after(5):
                while agent.in_flight < 2:
                    await trio.sleep(0.01)
            await trio.sleep(0.1)
            assert agent.in_flight == 2  # the other four wait for a connection
            assert client.open_connections(url) == 2
            release.set()
        assert sorted(done) == list(range(6))
        assert agent.max_in_flight == 2
        assert agent.connections == 2
    await client.aclose()


async def test_pool_timeout_is_busy() -> None:
    async def silent(stream: trio.SocketStream, index: int) -> None:
        await read_request(stream, bytearray())
        await trio.sleep_forever()

    client = AgentClient(header_timeout=5, max_per_host=1, pool_timeout=0.2)
    async with raw_server(silent) as (server, url):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(client.post, url, BODY, {}))
            await trio.sleep(0.05)
            with pytest.raises(PoolTimeout) as caught:
                await client.post(url, BODY, {})
            assert is_busy(caught.value)
            nursery.cancel_scope.cancel()
        assert server.accepted == 1
    await client.aclose()


async def test_global_bound_evicts_idle_connections_of_other_agents() -> None:
    client = AgentClient(header_timeout=5, max_per_host=1, max_connections=1)
    async with asgi_agent() as (agent_a, url_a), asgi_agent() as (agent_b, url_b):
        for url in (url_a, url_a, url_b, url_b, url_a):
            response = await client.post(url, b"{}", {})
            await response.read()
            await response.aclose()
            assert client.open_connections() == 1
        assert agent_a.connections == 2  # its idle connection made room for agent b's
        assert agent_b.connections == 1
    await client.aclose()


@pytest.mark.parametrize("limits", [{"max_idle_per_host": 2}, {"max_idle": 2}])
async def test_idle_connections_are_capped(limits: dict[str, int]) -> None:
    release = trio.Event()

    async def held(scope: Scope, body: bytes, send: Send) -> None:
        await release.wait()
        await json_answer(scope, body, send)

    client = AgentClient(header_timeout=5, **limits)  # type: ignore[arg-type]
    async with asgi_agent(held) as (agent, url):

        async def one() -> None:
            response = await client.post(url, b"{}", {})
            await response.read()
            await response.aclose()

        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                for _ in range(5):
                    nursery.start_soon(one)
                while agent.in_flight < 5:
                    await trio.sleep(0.01)
                assert client.open_connections() == 5
                release.set()
        assert client.idle_connections() == 2
        assert client.open_connections() == 2
    await client.aclose()


async def test_idle_connections_expire() -> None:
    client = AgentClient(header_timeout=5, keepalive_expiry=0.1)
    async with asgi_agent() as (agent, url):
        for _ in range(2):
            response = await client.post(url, b"{}", {})
            await response.read()
            await response.aclose()
            await trio.sleep(0.2)
        assert agent.connections == 2
    await client.aclose()


# -- stale keep-alive connections -------------------------------------------------------


async def test_stale_connection_is_retried_once_on_a_new_connection() -> None:
    """The agent drops a kept-alive connection just as the next request goes out on it."""

    async def drops_second(stream: trio.SocketStream, index: int) -> None:
        buf = bytearray()
        served = 0
        while await read_request(stream, buf):
            server.requests += 1
            if index == 0 and served == 1:
                return  # the keep-alive race: closed with the request unanswered
            await stream.send_all(ok_response(b'{"conn":%d}' % index))
            served += 1

    client = AgentClient(header_timeout=5)
    async with raw_server(drops_second) as (server, url):
        for expected in (b'{"conn":0}', b'{"conn":1}', b'{"conn":1}'):
            response = await client.post(url, BODY, {})
            assert await response.read() == expected
            await response.aclose()
        assert client.stale_retries == 1
        assert server.accepted == 2
        assert server.requests == 4  # the dropped one was sent again, once
    await client.aclose()


async def test_no_retry_once_response_bytes_arrived() -> None:
    async def half_answer(stream: trio.SocketStream, index: int) -> None:
        buf = bytearray()
        served = 0
        while await read_request(stream, buf):
            server.requests += 1
            if served == 1:
                await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-")
                return
            await stream.send_all(ok_response())
            served += 1

    client = AgentClient(header_timeout=5)
    async with raw_server(half_answer) as (server, url):
        response = await client.post(url, BODY, {})
        await response.read()
        await response.aclose()
        with pytest.raises(AgentConnectionLost) as caught:
            await client.post(url, BODY, {})
        assert is_busy(caught.value)
        assert client.stale_retries == 0
        assert server.requests == 2 and server.accepted == 1
    await client.aclose()


async def test_each_stale_reuse_is_retried_on_a_new_connection() -> None:
    """Every reused connection is reset: each request is retried once, on a new one."""

    async def one_per_connection(stream: trio.SocketStream, index: int) -> None:
        buf = bytearray()
        served = 0
        while await read_request(stream, buf):
            server.requests += 1
            if served == 1:
                reset(stream)
                return
            await stream.send_all(ok_response(b'{"conn":%d}' % index))
            served += 1

    client = AgentClient(header_timeout=5)
    async with raw_server(one_per_connection) as (server, url):
        for i in range(3):
            response = await client.post(url, BODY, {})
            assert await response.read() == b'{"conn":%d}' % i
            await response.aclose()
        assert client.stale_retries == 2
        assert server.accepted == 3
    await client.aclose()


async def test_idle_connection_closed_by_the_agent_is_not_used() -> None:
    """A connection the agent closed while idle is seen before sending: no retry needed."""
    closed = trio.Event()

    async def close_after_one(stream: trio.SocketStream, index: int) -> None:
        buf = bytearray()
        if await read_request(stream, buf):
            server.requests += 1
            await stream.send_all(ok_response())
        await stream.aclose()
        closed.set()

    client = AgentClient(header_timeout=5)
    async with raw_server(close_after_one) as (server, url):
        for _ in range(2):
            response = await client.post(url, BODY, {})
            assert await response.read() == b'{"ok":true}'
            await response.aclose()
            await closed.wait()
            await trio.sleep(0.05)  # let the FIN arrive
        assert client.stale_retries == 0
        assert server.accepted == 2 and server.requests == 2
    await client.aclose()
