"""Keep-alive connections to agents, pooled per origin and bounded in every dimension.

Per origin and pinned address (`PoolKey`) the pool keeps a stack of idle connections: a
request pops the most recently used one (the likeliest to still be open), checks with one
non-blocking poll that the agent has not closed it meanwhile, and otherwise opens a new one.
A connection opened to one pinned address is never handed to a request pinned to another.

Bounds: `max_per_host` open connections per origin (requests beyond it wait up to
`pool_timeout`, then fail with `PoolTimeout`, which the proxy treats as busy),
`max_connections` open overall (the oldest idle connection to any origin is closed to make
room), `max_idle_per_host` / `max_idle` idle ones kept. Idle connections older than
`keepalive_expiry` are closed, never reused: agents close theirs after a few seconds, and a
request sent on a connection the agent is closing is lost.

A connection is handed back with `release` (its response ended cleanly) or `discard` (it
errored, was cut mid-body, or the request was abandoned). Both are synchronous so that
cancellation and cleanup paths can call them.
"""

from __future__ import annotations

import select

import trio

from molecule.a2a.dial import Dialer
from molecule.a2a.http11 import ResponseParser
from molecule.errors import PoolTimeout

POOL_TIMEOUT = 30.0  # waiting for a connection slot to an agent that already has max_per_host
KEEPALIVE_EXPIRY = 5.0
MAX_PER_HOST = 128
MAX_CONNECTIONS = 1024
MAX_IDLE_PER_HOST = 32
MAX_IDLE = 256
READ_SIZE = 65536  # bytes asked of the socket per receive

PoolKey = tuple[str, str, int, str]  # scheme, host, port, pinned address ("": resolve the host)


def _socket_of(stream: trio.abc.Stream) -> trio.socket.SocketType:
    while not isinstance(stream, trio.SocketStream):
        stream = stream.transport_stream  # type: ignore[attr-defined]
    return stream.socket


class Connection:
    """One keep-alive connection to one origin, with the parser of its responses."""

    __slots__ = ("pool", "stream", "sock", "parser", "served", "broken", "idle_since", "dead")

    def __init__(self, pool: HostPool, stream: trio.abc.Stream) -> None:
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


class HostPool:
    """The connections of one `PoolKey`."""

    __slots__ = ("key", "idle", "total", "lot")

    def __init__(self, key: PoolKey) -> None:
        self.key = key
        self.idle: list[Connection] = []  # a stack: the most recently used one is reused first
        self.total = 0  # open connections to this origin, in use or idle
        self.lot = trio.lowlevel.ParkingLot()  # requests waiting for a slot here


class ConnectionPool:
    def __init__(
        self,
        dialer: Dialer,
        *,
        pool_timeout: float = POOL_TIMEOUT,
        keepalive_expiry: float = KEEPALIVE_EXPIRY,
        max_per_host: int = MAX_PER_HOST,
        max_connections: int = MAX_CONNECTIONS,
        max_idle_per_host: int = MAX_IDLE_PER_HOST,
        max_idle: int = MAX_IDLE,
    ) -> None:
        self.dialer = dialer
        self.pool_timeout = pool_timeout
        self.keepalive_expiry = keepalive_expiry
        self.max_per_host = max(1, max_per_host)
        self.max_connections = max(self.max_per_host, max_connections)
        self.max_idle_per_host = max_idle_per_host
        self.max_idle = max_idle
        self._hosts: dict[PoolKey, HostPool] = {}
        self._idle: dict[Connection, None] = {}  # every idle connection, oldest release first
        self._total = 0
        self._lot = trio.lowlevel.ParkingLot()  # requests waiting for room under max_connections
        self._closed = False
        self.connections_opened = 0  # for tests and benches

    # -- taking and giving back ---------------------------------------------------------

    async def acquire(self, key: PoolKey, *, fresh: bool) -> Connection:
        """An idle connection that still looks open (unless `fresh`), else a new one."""
        deadline = trio.current_time() + self.pool_timeout
        while True:
            if self._closed:
                raise RuntimeError("the agent client has been closed")
            self._expire(trio.current_time())
            host = self._hosts.get(key)
            if host is None:
                host = self._hosts[key] = HostPool(key)
            if not fresh:
                while host.idle:
                    conn = host.idle.pop()
                    del self._idle[conn]
                    if conn.looks_alive():
                        return conn
                    self._forget(conn)
                host = self._hosts.setdefault(key, host)  # _forget may have dropped it
            if host.total < self.max_per_host:
                if self._total >= self.max_connections and self._idle:
                    self.discard(next(iter(self._idle)))  # make room: oldest idle anywhere
                if self._total < self.max_connections:
                    return await self._open(key, host)
                lot = self._lot
            else:
                lot = host.lot
            with trio.move_on_at(deadline) as waited:
                await lot.park()
            if waited.cancelled_caught:
                raise PoolTimeout(
                    f"no free connection to {key[1]}:{key[2]} within {self.pool_timeout:g}s"
                )

    async def _open(self, key: PoolKey, host: HostPool) -> Connection:
        host.total += 1  # the slot is taken while dialling, so concurrent opens count
        self._total += 1
        try:
            stream = await self.dialer.open(*key)
        except BaseException:
            host.total -= 1
            self._total -= 1
            self._wake(host)
            raise
        self.connections_opened += 1
        return Connection(host, stream)

    def release(self, conn: Connection) -> None:
        """The response ended: keep the connection if both sides may go on."""
        if self._closed or conn.broken or not conn.parser.reusable:
            self.discard(conn)
            return
        host = conn.pool
        conn.served += 1
        conn.idle_since = trio.current_time()
        host.idle.append(conn)
        self._idle[conn] = None
        if len(host.idle) > self.max_idle_per_host:
            self.discard(host.idle[0])
        while len(self._idle) > self.max_idle:
            self.discard(next(iter(self._idle)))
        self._wake(host)

    def discard(self, conn: Connection) -> None:
        """Close a connection, idle or in use, and free its slot."""
        if conn in self._idle:
            del self._idle[conn]
            conn.pool.idle.remove(conn)
        self._forget(conn)

    def close(self) -> None:
        """Close every idle connection; requests waiting for a slot fail at once."""
        self._closed = True
        for conn in list(self._idle):
            self.discard(conn)
        self._lot.unpark_all()
        for host in list(self._hosts.values()):
            host.lot.unpark_all()

    # -- counts (tests, benches) ----------------------------------------------------------

    def idle_count(self, key: PoolKey | None = None) -> int:
        if key is None:
            return len(self._idle)
        host = self._hosts.get(key)
        return len(host.idle) if host else 0

    def open_count(self, key: PoolKey | None = None) -> int:
        if key is None:
            return self._total
        host = self._hosts.get(key)
        return host.total if host else 0

    # -- bookkeeping ----------------------------------------------------------------------

    def _forget(self, conn: Connection) -> None:
        """Close a connection that is in no idle list, and free its slot (once)."""
        if conn.dead:
            return
        conn.dead = True
        conn.close()
        host = conn.pool
        host.total -= 1
        self._total -= 1
        self._wake(host)
        if host.total == 0 and not host.lot and self._hosts.get(host.key) is host:
            del self._hosts[host.key]

    def _wake(self, host: HostPool) -> None:
        host.lot.unpark()
        self._lot.unpark()

    def _expire(self, now: float) -> None:
        limit = now - self.keepalive_expiry
        while self._idle:
            oldest = next(iter(self._idle))
            if oldest.idle_since > limit:
                return
            self.discard(oldest)
