"""Outbound HTTP to agents: one shared client, bounded in every dimension.

Timeouts follow the original: dial 10 s, response headers `A2A_PROXY_RESPONSE_HEADER_TIMEOUT`
(default 180 s); the body has no fixed read timeout because the dispatcher's idle timer (any
event for the target resets it) and the 30-minute agent ceiling bound it instead.

The transport is a small HTTP/1.1 client on trio, built for the proxy's hot path (measured: a
shared httpx.AsyncClient cut a proxy to ~0.27x of direct throughput, mostly pool contention;
docs/architecture.md §6.4). Its parts, one module each:
- `request_bytes`: the URL taken apart once, the request written as one buffer;
- `connection_pool` (with `dial`): keep-alive connections per origin and pinned address;
- `http11`: the response parser;
- `agent_response`: the body, read whole or streamed, and the connection handed back;
- here: one request/response exchange, the header timeout and the stale-connection retry.

A POST is retried once, on a new connection, only when it was written to a *reused*
connection and the failure came before a single byte of the response arrived (the agent had
closed the idle connection under us). Anything else is raised at once.

Errors come from `molecule.errors` ("talking to agents"), and their class says what the
proxy makes of them (`molecule.a2a.classify`):
- `AgentUnreachable` (nothing answers there): refused, unresolvable, TLS failure, dial
  timeout, and a URL or header that cannot be put on the wire;
- `AgentBusy` (the agent is there but not answering): `AgentConnectionLost` (reset, closed
  or garbage mid-request), `PoolTimeout` (no connection slot in time),
  `ResponseHeaderTimeout`;
- `ResponseTooLarge`, from `AgentResponse.read`.

A pinned address (`post(..., address=)`, the one the SSRF guard vetted) is dialled instead of
resolving the host, so a DNS answer that changed since the check is never followed; the Host
header and the TLS server name stay the URL's hostname. No proxy environment variables are
honoured.
"""

from __future__ import annotations

import ssl
from ipaddress import IPv4Address, IPv6Address

import trio

from molecule.a2a.agent_response import AgentResponse
from molecule.a2a.connection_pool import (
    KEEPALIVE_EXPIRY,
    MAX_CONNECTIONS,
    MAX_IDLE,
    MAX_IDLE_PER_HOST,
    MAX_PER_HOST,
    POOL_TIMEOUT,
    READ_SIZE,
    ConnectionPool,
    PoolKey,
)
from molecule.a2a.dial import CONNECT_TIMEOUT, Dialer
from molecule.a2a.http11 import NEED_DATA, Head
from molecule.a2a.request_bytes import RequestTarget, encode_post
from molecule.errors import AgentConnectionLost, ResponseHeaderTimeout

DEFAULT_HEADER_TIMEOUT = 180.0
_URL_CACHE_SIZE = 1024
_SOCKET_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


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
        self._pool = ConnectionPool(
            Dialer(connect_timeout, ssl_context),
            pool_timeout=pool_timeout,
            keepalive_expiry=keepalive_expiry,
            max_per_host=max_per_host,
            max_connections=max_connections,
            max_idle_per_host=max_idle_per_host,
            max_idle=max_idle,
        )
        self._targets: dict[str, RequestTarget] = {}
        self.stale_retries = 0  # for tests and benches

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
        request = encode_post(target, body, headers)
        key = self._key(target, address)
        with trio.move_on_after(self.header_timeout):
            response = await self._exchange(key, request, fresh=False)
            if response is None:  # the agent had closed the reused connection under us
                self.stale_retries += 1
                response = await self._exchange(key, request, fresh=True)
                if response is None:  # cannot happen: a new connection is never "reused"
                    raise AgentConnectionLost("agent closed the connection")
            return response
        raise ResponseHeaderTimeout(f"no response headers within {self.header_timeout:g}s")

    async def aclose(self) -> None:
        self._pool.close()
        await trio.lowlevel.checkpoint()

    @property
    def connections_opened(self) -> int:
        return self._pool.connections_opened

    def idle_connections(
        self, url: str | None = None, address: IPv4Address | IPv6Address | None = None
    ) -> int:
        key = None if url is None else self._key(self._target(url), address)
        return self._pool.idle_count(key)

    def open_connections(
        self, url: str | None = None, address: IPv4Address | IPv6Address | None = None
    ) -> int:
        key = None if url is None else self._key(self._target(url), address)
        return self._pool.open_count(key)

    # -- one request/response exchange ----------------------------------------------------

    @staticmethod
    def _key(target: RequestTarget, address: IPv4Address | IPv6Address | None) -> PoolKey:
        return (*target.origin, "" if address is None else str(address))

    def _target(self, url: str) -> RequestTarget:
        target = self._targets.get(url)
        if target is None:
            target = RequestTarget(url)
            if len(self._targets) >= _URL_CACHE_SIZE:
                self._targets.clear()
            self._targets[url] = target
        return target

    async def _exchange(self, key: PoolKey, request: bytes, *, fresh: bool) -> AgentResponse | None:
        """Write the request, read the response head. None: the connection was a reused one
        and the agent had closed it (it failed before a single byte of the answer), so the
        request can be sent again on a new connection; the stale one is closed."""
        pool = self._pool
        conn = await pool.acquire(key, fresh=fresh)
        reused = conn.served > 0
        got_bytes = False
        try:
            conn.parser.start_next()
            write_error: BaseException | None = None
            try:
                await conn.stream.send_all(request)
            except _SOCKET_ERRORS as exc:
                write_error = exc  # the agent may still have answered (e.g. 413): try to read
            while True:
                head = conn.parser.head()  # a malformed head raises AgentConnectionLost
                if head is NEED_DATA:
                    try:
                        data = await conn.stream.receive_some(READ_SIZE)
                    except _SOCKET_ERRORS as exc:
                        if reused and not got_bytes:
                            pool.discard(conn)
                            return None
                        if write_error is not None:
                            raise AgentConnectionLost(str(write_error)) from write_error
                        raise AgentConnectionLost(_describe(exc)) from exc
                    if data:
                        got_bytes = True
                    elif reused and not got_bytes:
                        pool.discard(conn)
                        return None
                    elif not got_bytes:
                        if write_error is not None:
                            raise AgentConnectionLost(str(write_error)) from write_error
                        raise AgentConnectionLost("Server disconnected without sending a response.")
                    conn.parser.feed(bytes(data))
                    continue
                assert isinstance(head, Head)
                break
        except BaseException:
            pool.discard(conn)
            raise
        content_type = (head.get(b"content-type") or b"").decode("latin-1")
        conn.broken = write_error is not None  # the request was cut: never reuse it
        return AgentResponse(head.status, content_type, head.headers, pool, conn)
