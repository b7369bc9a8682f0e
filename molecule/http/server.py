"""The HTTP server: hypercorn's trio worker, with a leaner per-connection transport.

Hypercorn's trio `TCPServer` pays, for every request on a keep-alive connection:
- a new keep-alive timer task (`nursery.start`, several scheduler passes) when the response
  ends, and a cancellation of it when the next request arrives, each behind a lock;
- a lock acquisition (a scheduler pass) before every socket write, and a shielded cancel scope
  and another scheduler pass around it;
- a write for h11's end of a Content-Length body, which is empty: a lock and a checkpoint for
  no bytes.

Measured on this project's 2-core VM: the echo app of bench/a2a_proxy.py served about 1.3x
the requests/s at 32 connections with the timer, lock and empty-write changes below, and
bench/floor.py's WebSocket messages cost 35-50 us of server CPU instead of 85-95 with the
direct write too. `LeanTCPServer` keeps hypercorn's protocol handling and behaviour (the
keep-alive timeout closes an idle connection; a graceful shutdown closes idle connections at
once and busy ones when their response is done; WebSockets are never timed out) and changes
only how it is paid for: one timer task per connection whose deadline moves, a lock taken
without a scheduler pass when it is free, a write the socket takes at once done at once, and
no empty writes.

It adds a header read timeout (slowloris): from the first byte of a request on an idle
connection, its head has `header_read_timeout` seconds (Go's ReadHeaderTimeout, which the
original platform set) to arrive, or the connection is closed. Stock hypercorn holds such a
connection until the keep-alive timeout, however slowly the head trickles in. The same timer
task keeps both clocks, and a request's first byte costs it a clock reading, no deadline move.

It also carries one correction to hypercorn's HTTP/1.1 protocol (`AnnouncedCloseH11Protocol`):
a response sent before its request's body is in is marked `Connection: close`, the close the
server then makes anyway.

Hypercorn internals this module relies on (all checked by tests/http/test_server.py; review
them when hypercorn's pin moves):
- module attributes it replaces by name: `hypercorn.trio.run.TCPServer`,
  `hypercorn.protocol.H11Protocol` (`install()` refuses to run if either changed);
- `TCPServer`: `idle_task` (replaced by KeepAliveTimer), `_read_data` (overridden with a copy
  of its loop), `_initiate_server_close`, `context.terminated`, `send_lock`, `stream`,
  `protocol` and `protocol.protocol`, `config`; `hypercorn.trio.tcp_server.MAX_RECV`;
- the task group hypercorn hands the timer: its `_nursery`;
- `H11Protocol.connection.their_state` (h11's view of the request body).
The figures behind the transport are in bench/README.md ("The lean transport").

`serve()` installs both in hypercorn's trio worker, which looks the class up by name when it
starts listening; it then serves every hypercorn trio server of the process (only ours run
in a molecule process). pyproject pins hypercorn's minor version for this reason, and
tests/http/test_server.py checks the behaviour through real sockets. (The agent runtime, a
separate program, keeps stock hypercorn.)
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Awaitable, Callable
from typing import Any

import h11
import hypercorn.protocol as hypercorn_protocol
import hypercorn.trio.run as hypercorn_run
import trio
from hypercorn.config import Config
from hypercorn.events import Closed, Event, RawData
from hypercorn.protocol.events import Event as StreamEvent
from hypercorn.protocol.events import Response
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.trio import serve as hypercorn_serve
from hypercorn.trio.tcp_server import MAX_RECV, TCPServer
from hypercorn.typing import Framework

HEADER_READ_TIMEOUT = 10.0
"""Seconds a request's head may take from its first byte: far more than a real client over a
slow link needs for a few kilobytes, short enough that a client trickling heads holds little."""


class ServerConfig(Config):
    """Hypercorn's settings and the one LeanTCPServer adds (a plain Config gets its default)."""

    header_read_timeout: float | None = HEADER_READ_TIMEOUT  # None or 0: no limit


def header_read_timeout(config: Config) -> float:
    """The header read timeout `config` sets, in seconds (inf: none)."""
    value: float | None = getattr(config, "header_read_timeout", HEADER_READ_TIMEOUT)
    return value or math.inf


class KeepAliveTimer:
    """Hypercorn's keep-alive timer (`TrioSingleTask` running `TCPServer._idle_timeout`) as
    one task per connection, with the header read timeout added.

    Idle (new, or between requests): closed `keep_alive_timeout` after it went idle, unless
    a request begins; from the request's first byte (`data_received`), closed
    `header_read_timeout` after it unless the head is complete by then. Busy (from a complete
    head to the end of its response; a WebSocket for good): no deadline. The timer also
    closes the connection when the server terminates while it is idle (at once) or busy
    (once it is idle again).

    The scope's deadline is set when the connection goes idle, to the earliest either clock
    can run out (the shorter timeout ahead); when it passes, the timer works out which clock
    applies and closes the connection or sleeps on. So a request's first byte only reads the
    clock, and a keep-alive connection reused within the shorter timeout never wakes it."""

    def __init__(self, server: LeanTCPServer, keep_alive: float, header_read: float) -> None:
        self._server = server
        self._keep_alive = keep_alive
        self._header_read = header_read
        self._first_check = min(keep_alive, header_read)
        self._scope: trio.CancelScope | None = None
        self._busy = False
        self._closed = False
        self._idle_since = 0.0
        self._head_since: float | None = None  # first byte of a request while idle
        self._idle_again = trio.lowlevel.ParkingLot()

    # The interface of hypercorn's SingleTask, as TCPServer calls it.

    async def restart(self, task_group: Any, action: Callable[[], Awaitable[None]]) -> None:
        """The connection went idle (`action` is always TCPServer._idle_timeout)."""
        self._busy = False
        self._head_since = None
        self._idle_since = now = trio.current_time()
        deadline = now + self._first_check
        if self._scope is None:
            self._scope = trio.CancelScope(deadline=deadline)
            task_group._nursery.start_soon(self._run)
        else:
            self._scope.deadline = deadline
            self._idle_again.unpark_all()

    async def stop(self) -> None:
        """A request's head is in: no timeout until its response is done."""
        self._busy = True
        if self._scope is not None:
            self._scope.deadline = math.inf

    def data_received(self) -> None:
        """Bytes arrived. On an idle connection they begin a request, whose head is now
        timed; HTTP/2 (h2c, which nothing here speaks) has no head, so it is left to the
        keep-alive timeout as in hypercorn."""
        if self._busy or self._head_since is not None:
            return
        if isinstance(self._server.protocol.protocol, H11Protocol):
            self._head_since = now = trio.current_time()
            # After the first check passed on an idle connection, the scope sleeps towards
            # the keep-alive expiry: the head's own, earlier, expiry must wake it.
            scope = self._scope
            if scope is not None and scope.deadline > now + self._header_read:
                scope.deadline = now + self._header_read

    def connection_closed(self) -> None:
        """Whoever closed it, the timer has nothing left to do (hypercorn's timer task is
        not running while a request is in flight; ours is, and must not outlive it)."""
        self._closed = True
        if self._scope is not None:
            self._scope.cancel()

    def _expiry(self) -> float:
        """When the clock that applies now runs out."""
        if self._busy:
            return math.inf
        if self._head_since is not None:
            return self._head_since + self._header_read
        return self._idle_since + self._keep_alive

    async def _run(self) -> None:
        terminated = self._server.context.terminated
        while True:
            assert self._scope is not None
            with self._scope:
                await terminated.wait()
                while self._busy:  # a graceful shutdown lets the response finish
                    await self._idle_again.park()
            if self._closed:
                return
            # Terminated and idle, or the deadline passed. A passed deadline may not be the
            # end: the head clock, or a request that arrived as it passed, may run further;
            # a spent scope cannot be re-entered, so a new one carries the new deadline.
            expiry = self._expiry()
            if (terminated.is_set() and not self._busy) or expiry <= trio.current_time():
                break
            self._scope = trio.CancelScope(deadline=expiry)
        with trio.CancelScope(shield=True):
            await self._server._initiate_server_close()


class LeanTCPServer(TCPServer):
    """Hypercorn's TCPServer with the per-request costs above removed (see the module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        config = self.config
        timer = KeepAliveTimer(self, config.keep_alive_timeout, header_read_timeout(config))
        self.keep_alive = timer
        self.idle_task = timer  # type: ignore[assignment]

    async def run(self) -> None:
        """Hypercorn's connection, with its reference cycles cut once it is over: the protocol
        wrapper holds the bound `protocol_send` and the timer holds the server, so every closed
        connection left ~30 objects for the cyclic collector, which the platform runs rarely
        (molecule.platform.tune_gc_for_serving): a heartbeat's new connection every 30 s per
        agent added up to megabytes before a collection. Everything that used them ran in the
        connection's task group, which has exited here."""
        try:
            await super().run()
        finally:
            self.__dict__.pop("protocol", None)
            self.keep_alive = self.idle_task = None  # type: ignore[assignment]

    async def _read_data(self) -> None:
        """Hypercorn's read loop, telling the timer when bytes arrive. Reading ends when the
        connection is closed, by either side."""
        timer = self.keep_alive
        try:
            while True:
                try:
                    with trio.fail_after(self.config.read_timeout or math.inf):
                        data = await self.stream.receive_some(MAX_RECV)
                except (trio.ClosedResourceError, trio.BrokenResourceError, trio.TooSlowError):
                    break
                if not data:
                    await self.protocol.handle(RawData(b""))
                    break
                timer.data_received()
                await self.protocol.handle(RawData(bytes(data)))
            await self.protocol.handle(Closed())
        finally:
            timer.connection_closed()

    async def protocol_send(self, event: Event) -> None:
        if type(event) is not RawData:
            await super().protocol_send(event)
            return
        if not event.data:
            return  # h11's end of a Content-Length body: nothing to write
        # As hypercorn: writes are serialised and never interrupted halfway (a cancelled
        # sender still raises Cancelled before writing), but a free lock costs no pass.
        await trio.lowlevel.checkpoint_if_cancelled()
        lock = self.send_lock
        try:
            lock.acquire_nowait()
        except trio.WouldBlock:
            await lock.acquire()
        try:
            data = event.data
            written = self._write_now(data)
            if written < len(data):
                with trio.CancelScope(shield=True):
                    await self.stream.send_all(memoryview(data)[written:])
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            await self.protocol.handle(Closed())
        finally:
            lock.release()

    def _write_now(self, data: bytes) -> int:
        """Write what the socket takes at once, as asyncio's transports do: the bytes
        written. A write the kernel takes whole (nearly every one) then costs no shielded
        scope and no scheduler pass; anything left, and every error (a closed or broken
        connection included), goes through trio's send_all, which reports it as usual."""
        stream: Any = self.stream  # typed as TLS; plain in our deployments
        if type(stream) is not trio.SocketStream or stream.socket.did_shutdown_SHUT_WR:
            return 0
        fd = stream.socket.fileno()
        if fd == -1:  # closed (and the number maybe reused): never write to it
            return 0
        try:
            return os.write(fd, data)
        except OSError:
            return 0


class AnnouncedCloseH11Protocol(H11Protocol):
    """Hypercorn's HTTP/1.1 protocol, saying when a response ends its connection.

    A handler may answer before its request's body has arrived (a 401 from an auth check, a
    404). Hypercorn then closes the connection after the response, since it cannot tell
    where the next request would start, but without saying so: a client that pools
    connections (httpx) may send its next request on the one being closed and get no
    response at all ("Server disconnected without sending a response"). Such a response now
    carries `Connection: close` (RFC 9112 9.6), which also makes h11 close after it even if
    the body arrives meanwhile: what is announced is what happens.
    """

    async def stream_send(self, event: StreamEvent) -> None:
        if (
            type(event) is Response
            and event.status_code >= 200
            and self.connection.their_state is h11.SEND_BODY
        ):
            headers = [*event.headers, (b"connection", b"close")]
            event = dataclasses.replace(event, headers=headers)
        await super().stream_send(event)


def install() -> None:
    """Make hypercorn's trio worker build LeanTCPServer connections speaking
    AnnouncedCloseH11Protocol (idempotent)."""
    _replace(hypercorn_run, "TCPServer", TCPServer, LeanTCPServer)
    _replace(hypercorn_protocol, "H11Protocol", H11Protocol, AnnouncedCloseH11Protocol)


def _replace(module: Any, name: str, stock: type, ours: type) -> None:
    """Set `module.name` (a class the module builds by that name) from stock to ours."""
    current = getattr(module, name, None)
    if current is ours:
        return
    if current is not stock:
        raise RuntimeError(
            f"{module.__name__} no longer builds {name}: "
            "molecule.http.server needs updating for this hypercorn version"
        )
    setattr(module, name, ours)


async def serve(
    app: Framework,
    config: Config,
    *,
    shutdown_trigger: Callable[..., Awaitable[None]] | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """`hypercorn.trio.serve` on LeanTCPServer connections."""
    install()
    await hypercorn_serve(app, config, shutdown_trigger=shutdown_trigger, task_status=task_status)
