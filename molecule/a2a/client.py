"""Outbound HTTP to agents: one shared client, bounded in every dimension.

Timeouts follow the original: dial 10 s, response headers `A2A_PROXY_RESPONSE_HEADER_TIMEOUT`
(default 180 s); the body has no fixed read timeout because the dispatcher's idle timer (any
event for the target resets it) and the 30-minute agent ceiling bound it instead.

The transport is a small HTTP/1.1 client on trio with its own response parser
(`molecule.a2a.http11`), built for the proxy's hot path (the stack notes §8: a shared
httpx.AsyncClient cut a proxy to ~0.27x of direct throughput, mostly pool contention). Per
agent origin (scheme, host, port, pinned address) it keeps a stack of idle keep-alive
connections; a request pops the most recently used one, checks with one non-blocking poll
that the agent has not closed it meanwhile, writes the whole request with one `send_all` and
parses the answer.
Connections that errored, were cut mid-body, were told `Connection: close` or sat idle past
`KEEPALIVE_EXPIRY` are closed, never reused.

Bounds: `max_per_host` open connections per origin (requests beyond it wait up to
`POOL_TIMEOUT`, then fail as busy), `max_connections` open connections overall (an idle
connection to another origin is closed to make room), `max_idle_per_host` / `max_idle`
idle ones kept.

A POST is retried once, on a new connection, only when it was written to a *reused*
connection and the failure came before a single byte of the response arrived (the agent had
closed the idle connection under us). Anything else is raised at once.

Errors are httpx's own exception classes so `molecule.a2a.classify.is_busy` and the
dispatcher's handlers keep working: refused/unresolvable/TLS failure -> `httpx.ConnectError`,
dial timeout -> `httpx.ConnectTimeout` (both "unreachable"); reset or broken connection ->
`httpx.ReadError` / `httpx.WriteError`, a disconnect or garbage from the agent ->
`httpx.RemoteProtocolError`, no free connection in time -> `httpx.PoolTimeout` (all "busy").

A pinned address (`post(..., address=)`, the one the SSRF guard vetted) is dialled instead of
resolving the host, so a DNS answer that changed since the check is never followed; the Host
header and the TLS server name stay the URL's hostname. It is part of the pool key: a
connection opened to one address is never handed to a request pinned to another.

No proxy environment variables are honoured and no `Accept-Encoding` is sent: the body is
passed through byte for byte, so it must not come back compressed.
"""

from __future__ import annotations

import re
import select
import ssl
from collections.abc import AsyncIterator
from ipaddress import IPv4Address, IPv6Address
from urllib.parse import urlsplit

import httpx
import trio

from molecule.a2a.http11 import END, NEED_DATA, Head, ProtocolError, ResponseParser

CONNECT_TIMEOUT = 10.0
DEFAULT_HEADER_TIMEOUT = 180.0
MAX_RESPONSE_BYTES = 10 * 1024 * 1024
POOL_TIMEOUT = 30.0  # waiting for a connection slot to an agent that already has max_per_host
KEEPALIVE_EXPIRY = 5.0  # idle connections older than this are closed, not reused
MAX_PER_HOST = 128
MAX_CONNECTIONS = 1024
MAX_IDLE_PER_HOST = 32
MAX_IDLE = 256
USER_AGENT = b"molecule-platform"
READ_SIZE = 65536
_URL_CACHE_SIZE = 1024

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(rb"[\x00\r\n]")

Origin = tuple[str, str, int]  # scheme, host, port
PoolKey = tuple[str, str, int, str]  # the origin and the pinned address ("": resolve the host)


class ResponseHeaderTimeout(Exception):
    """The agent accepted the request but sent no response headers in time (busy)."""


class ResponseTooLarge(Exception):
    pass


class _Stale(Exception):
    """A reused connection failed before any response byte: the agent had dropped it."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _socket_of(stream: trio.abc.Stream) -> trio.socket.SocketType:
    while not isinstance(stream, trio.SocketStream):
        stream = stream.transport_stream  # type: ignore[attr-defined]
    return stream.socket


class _Conn:
    """One keep-alive connection to one origin."""

    __slots__ = ("pool", "stream", "sock", "parser", "served", "broken", "idle_since", "dead")

    def __init__(self, pool: _HostPool, stream: trio.abc.Stream) -> None:
        self.pool = pool
        self.stream = stream
        self.sock = _socket_of(stream)
        self.parser = ResponseParser()
        self.served = 0  # responses completed on this connection
        self.broken = False  # never reuse (the request could not be written whole)
        self.idle_since = 0.0
        self.dead = False  # closed, and its slot freed

    def close(self) -> None:
        """Synchronous, so it is safe in cancellation and cleanup paths."""
        self.sock.close()

    def looks_alive(self) -> bool:
        """An idle connection must have nothing to read: readable means EOF, RST or junk."""
        fd = self.sock.fileno()
        if fd < 0:
            return False
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLPRI)
        try:
            return not poller.poll(0)
        except OSError:
            return False


class _HostPool:
    __slots__ = ("origin", "idle", "total", "lot")

    def __init__(self, origin: PoolKey) -> None:
        self.origin = origin
        self.idle: list[_Conn] = []  # a stack: the most recently used one is reused first
        self.total = 0  # open connections to this origin, in use or idle
        self.lot = trio.lowlevel.ParkingLot()  # requests waiting for a slot here


class _Target:
    __slots__ = ("origin", "target", "host_header")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}")
        host = parts.hostname
        if not host:
            raise httpx.UnsupportedProtocol(f"URL has no host: {url!r}")
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError as exc:
            raise httpx.UnsupportedProtocol(f"invalid port in URL: {exc}") from None
        if not host.isascii():
            try:
                host = host.encode("idna").decode("ascii")
            except UnicodeError as exc:
                raise httpx.InvalidURL(f"invalid host in URL: {exc}") from None
        default = 443 if scheme == "https" else 80
        shown = f"[{host}]" if ":" in host else host
        self.origin: Origin = (scheme, host, port)
        self.host_header = (shown if port == default else f"{shown}:{port}").encode("ascii")
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        self.target = target.encode("ascii", "strict") if target.isascii() else _quote(target)


def _quote(target: str) -> bytes:
    from urllib.parse import quote

    return quote(target, safe="/?&=%:@!$'()*+,;~-._").encode("ascii")


class AgentResponse:
    """A response whose headers arrived; the body is read with `read()` or `iter_raw()`.

    Reading the body to its end hands the connection back to the pool at once; `aclose()`
    closes it instead when the body was not read to the end. Always call `aclose()`.
    """

    __slots__ = ("status", "content_type", "headers", "_client", "_conn", "_done", "__weakref__")

    def __init__(
        self,
        status: int,
        content_type: str,
        headers: list[tuple[bytes, bytes]],
        client: AgentClient,
        conn: _Conn,
    ) -> None:
        self.status = status
        self.content_type = content_type
        self.headers = headers
        self._client = client
        self._conn: _Conn | None = conn
        self._done = False

    async def _next_chunk(self) -> bytes | None:
        """The next piece of body as it arrives, None at its end."""
        conn = self._conn
        if conn is None:
            if self._done:
                return None
            raise httpx.ReadError("response already closed")
        try:
            while True:
                piece = conn.parser.next_body()
                if piece is END:
                    self._done = True
                    self._conn = None
                    self._client._release(conn)
                    return None
                if piece is NEED_DATA:
                    conn.parser.feed(bytes(await conn.stream.receive_some(READ_SIZE)))
                    continue
                assert isinstance(piece, bytes)
                if piece:
                    return piece
        except ProtocolError as exc:
            self._fail()
            raise httpx.RemoteProtocolError(str(exc)) from exc
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            self._fail()
            raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
        except BaseException:
            self._fail()
            raise

    def _fail(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._client._discard(conn)

    async def read(self, limit: int = MAX_RESPONSE_BYTES) -> bytes:
        for name, value in self.headers:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                raise ResponseTooLarge(f"agent response exceeds {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        while (chunk := await self._next_chunk()) is not None:
            size += len(chunk)
            if size > limit:
                raise ResponseTooLarge(f"agent response exceeds {limit} bytes")
            chunks.append(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def iter_raw(self) -> AsyncIterator[bytes]:
        """Body chunks as they arrive (an SSE event is passed on as soon as it is read)."""
        return _BodyIterator(self)

    async def aclose(self) -> None:
        self._fail()

    def __del__(self) -> None:  # a response dropped without aclose(): free its slot
        if self._conn is not None:
            try:
                self._fail()
            except Exception:  # pragma: no cover - interpreter shutdown
                pass


class _BodyIterator:
    """A plain async iterator (not an async generator: nothing to finalize if abandoned)."""

    __slots__ = ("_response",)

    def __init__(self, response: AgentResponse) -> None:
        self._response = response

    def __aiter__(self) -> _BodyIterator:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self._response._next_chunk()
        if chunk is None:
            raise StopAsyncIteration
        return chunk


class AgentClient:
    def __init__(
        self,
        header_timeout: float = DEFAULT_HEADER_TIMEOUT,
        *,
        connect_timeout: float = CONNECT_TIMEOUT,
        pool_timeout: float = POOL_TIMEOUT,
        keepalive_expiry: float = KEEPALIVE_EXPIRY,
        max_per_host: int = MAX_PER_HOST,
        max_connections: int = MAX_CONNECTIONS,
        max_idle_per_host: int = MAX_IDLE_PER_HOST,
        max_idle: int = MAX_IDLE,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.header_timeout = header_timeout
        self.connect_timeout = connect_timeout
        self.pool_timeout = pool_timeout
        self.keepalive_expiry = keepalive_expiry
        self.max_per_host = max(1, max_per_host)
        self.max_connections = max(self.max_per_host, max_connections)
        self.max_idle_per_host = max_idle_per_host
        self.max_idle = max_idle
        self._ssl_context = ssl_context
        self._pools: dict[PoolKey, _HostPool] = {}
        self._idle: dict[_Conn, None] = {}  # every idle connection, oldest release first
        self._total = 0
        self._lot = trio.lowlevel.ParkingLot()  # requests waiting for room under max_connections
        self._targets: dict[str, _Target] = {}
        self._closed = False
        # Observability for tests and benches.
        self.connections_opened = 0
        self.stale_retries = 0

    # -- public -------------------------------------------------------------------------

    async def post(
        self,
        url: str,
        body: bytes,
        headers: dict[str, str],
        *,
        address: IPv4Address | IPv6Address | None = None,
    ) -> AgentResponse:
        """Send the request and return once the response headers arrived (body unread).

        `address`: connect to this IP (at the URL's port) instead of resolving the host.
        """
        target = self._target(url)
        request = self._serialize(target, body, headers)
        key = self._key(target, address)
        with trio.move_on_after(self.header_timeout):
            try:
                return await self._exchange(key, request, fresh=False)
            except _Stale:
                self.stale_retries += 1
                try:
                    return await self._exchange(key, request, fresh=True)
                except _Stale as again:  # a new connection is never "reused": cannot happen
                    raise again.error from None
        raise ResponseHeaderTimeout(f"no response headers within {self.header_timeout:g}s")

    async def aclose(self) -> None:
        self._closed = True
        for conn in list(self._idle):
            self._discard(conn)
        self._lot.unpark_all()
        for pool in list(self._pools.values()):
            pool.lot.unpark_all()
        await trio.lowlevel.checkpoint()

    def idle_connections(
        self, url: str | None = None, address: IPv4Address | IPv6Address | None = None
    ) -> int:
        if url is None:
            return len(self._idle)
        pool = self._pools.get(self._key(self._target(url), address))
        return len(pool.idle) if pool else 0

    def open_connections(
        self, url: str | None = None, address: IPv4Address | IPv6Address | None = None
    ) -> int:
        if url is None:
            return self._total
        pool = self._pools.get(self._key(self._target(url), address))
        return pool.total if pool else 0

    # -- one request/response exchange ----------------------------------------------------

    @staticmethod
    def _key(target: _Target, address: IPv4Address | IPv6Address | None) -> PoolKey:
        return (*target.origin, "" if address is None else str(address))

    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            target = _Target(url)
            if len(self._targets) >= _URL_CACHE_SIZE:
                self._targets.clear()
            self._targets[url] = target
        return target

    @staticmethod
    def _serialize(target: _Target, body: bytes, headers: dict[str, str]) -> bytes:
        lines = [
            b"POST ",
            target.target,
            b" HTTP/1.1\r\nHost: ",
            target.host_header,
            b"\r\nUser-Agent: ",
            USER_AGENT,
            b"\r\nAccept: */*\r\n",
        ]
        extra = {k.lower(): (k, v) for k, v in headers.items()}
        extra.setdefault("content-type", ("Content-Type", "application/json"))
        for lowered, (name, value) in extra.items():
            if lowered in ("host", "content-length", "transfer-encoding", "connection"):
                continue  # framing is ours to decide
            try:
                raw_name, raw_value = name.encode("latin-1"), str(value).strip().encode("latin-1")
            except UnicodeEncodeError:
                raise httpx.LocalProtocolError(f"invalid request header {name!r}") from None
            if not _TOKEN.fullmatch(raw_name) or _BAD_VALUE.search(raw_value):
                raise httpx.LocalProtocolError(f"invalid request header {name!r}")
            lines += (raw_name, b": ", raw_value, b"\r\n")
        lines += (b"Content-Length: ", str(len(body)).encode(), b"\r\n\r\n", body)
        return b"".join(lines)

    async def _exchange(self, origin: PoolKey, request: bytes, *, fresh: bool) -> AgentResponse:
        conn = await self._acquire(origin, fresh=fresh)
        reused = conn.served > 0
        got_bytes = False
        try:
            conn.parser.start_next()
            write_error: Exception | None = None
            try:
                await conn.stream.send_all(request)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                write_error = exc  # the agent may still have answered (e.g. 413): try to read
            while True:
                head = conn.parser.head()
                if head is NEED_DATA:
                    try:
                        data = await conn.stream.receive_some(READ_SIZE)
                    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                        if reused and not got_bytes:
                            raise _Stale(httpx.ReadError(str(exc))) from exc
                        if write_error is not None:
                            raise httpx.WriteError(str(write_error)) from write_error
                        raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
                    if data:
                        got_bytes = True
                    elif reused and not got_bytes:
                        raise _Stale(httpx.RemoteProtocolError("agent closed the connection"))
                    elif not got_bytes:
                        if write_error is not None:
                            raise httpx.WriteError(str(write_error)) from write_error
                        raise httpx.RemoteProtocolError(
                            "Server disconnected without sending a response."
                        )
                    conn.parser.feed(bytes(data))
                    continue
                assert isinstance(head, Head)
                break
        except ProtocolError as exc:
            self._discard(conn)
            raise httpx.RemoteProtocolError(str(exc)) from exc
        except BaseException:
            self._discard(conn)
            raise
        content_type = (head.get(b"content-type") or b"").decode("latin-1")
        conn.broken = write_error is not None  # the request was cut: never reuse it
        return AgentResponse(head.status, content_type, head.headers, self, conn)

    # -- the pool -------------------------------------------------------------------------

    async def _acquire(self, origin: PoolKey, *, fresh: bool) -> _Conn:
        deadline = trio.current_time() + self.pool_timeout
        while True:
            if self._closed:
                raise RuntimeError("the agent client has been closed")
            now = trio.current_time()
            self._expire(now)
            pool = self._pools.get(origin)
            if pool is None:
                pool = self._pools[origin] = _HostPool(origin)
            if not fresh:
                while pool.idle:
                    conn = pool.idle.pop()
                    del self._idle[conn]
                    if conn.looks_alive():
                        return conn
                    self._forget(conn)
                pool = self._pools.setdefault(origin, pool)  # _forget may have dropped it
            if pool.total < self.max_per_host:
                if self._total >= self.max_connections and self._idle:
                    self._discard(next(iter(self._idle)))  # make room: oldest idle anywhere
                if self._total < self.max_connections:
                    return await self._open(origin, pool)
                lot = self._lot
            else:
                lot = pool.lot
            with trio.move_on_at(deadline) as waited:
                await lot.park()
            if waited.cancelled_caught:
                raise httpx.PoolTimeout(
                    f"no free connection to {origin[1]}:{origin[2]} within {self.pool_timeout:g}s"
                )

    async def _open(self, origin: PoolKey, pool: _HostPool) -> _Conn:
        pool.total += 1
        self._total += 1
        scheme, host, port, pinned = origin
        try:
            with trio.move_on_after(self.connect_timeout) as dial:
                try:
                    # A numeric address is never handed to the resolver (trio short-cuts it).
                    tcp = await trio.open_tcp_stream(pinned or host, port)
                    stream: trio.abc.Stream = tcp
                    if scheme == "https":
                        try:  # what open_ssl_over_tcp_stream does, with the URL's name for TLS
                            ssl_stream = trio.SSLStream(
                                tcp, self._ssl(), server_hostname=host, https_compatible=True
                            )
                            await ssl_stream.do_handshake()
                        except BaseException:
                            tcp.socket.close()
                            raise
                        stream = ssl_stream
                except (OSError, trio.BrokenResourceError) as exc:
                    raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
            if dial.cancelled_caught:
                raise httpx.ConnectTimeout(f"connect to {host}:{port} timed out")
        except BaseException:
            pool.total -= 1
            self._total -= 1
            self._wake(pool)
            raise
        self.connections_opened += 1
        return _Conn(pool, stream)

    def _ssl(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            try:
                import certifi

                ctx = ssl.create_default_context(cafile=certifi.where())
            except ImportError:  # pragma: no cover - certifi comes with httpx
                ctx = ssl.create_default_context()
            ctx.set_alpn_protocols(["http/1.1"])
            self._ssl_context = ctx
        return self._ssl_context

    def _release(self, conn: _Conn) -> None:
        """The response ended: keep the connection if both sides may go on."""
        if self._closed or conn.broken or not conn.parser.reusable:
            self._discard(conn)
            return
        pool = conn.pool
        conn.served += 1
        conn.idle_since = trio.current_time()
        pool.idle.append(conn)
        self._idle[conn] = None
        if len(pool.idle) > self.max_idle_per_host:
            self._discard(pool.idle[0])
        while len(self._idle) > self.max_idle:
            self._discard(next(iter(self._idle)))
        self._wake(pool)

    def _discard(self, conn: _Conn) -> None:
        """Close a connection, idle or in use, and free its slot."""
        if conn in self._idle:
            del self._idle[conn]
            conn.pool.idle.remove(conn)
        self._forget(conn)

    def _forget(self, conn: _Conn) -> None:
        """Close a connection that is in no idle list, and free its slot (once)."""
        if conn.dead:
            return
        conn.dead = True
        conn.close()
        pool = conn.pool
        pool.total -= 1
        self._total -= 1
        self._wake(pool)
        if pool.total == 0 and not pool.lot and self._pools.get(pool.origin) is pool:
            del self._pools[pool.origin]

    def _wake(self, pool: _HostPool) -> None:
        pool.lot.unpark()
        self._lot.unpark()

    def _expire(self, now: float) -> None:
        limit = now - self.keepalive_expiry
        while self._idle:
            oldest = next(iter(self._idle))
            if oldest.idle_since > limit:
                return
            self._discard(oldest)
