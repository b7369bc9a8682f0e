"""The asyncpg pool, driven from Trio through trio-asyncio.

Two rules of asyncpg under trio-asyncio shape this module (docs/architecture.md §1.1, Store):
- never `async with aio_as_trio(pool.acquire())`: a cancelled Trio task leaks the connection.
  Single statements use the pool's own shortcuts (acquire/release happen inside asyncpg);
  multi-statement units run as *one* asyncio coroutine through `Store.unit`.
- pools are created with both idle lifetimes at 0, or trio-asyncio's timer heap grows with
  every query (it never purges cancelled timers).

Codecs: uuid columns come back as `str` and jsonb/json as Python values, so the rest of the
code never sees `uuid.UUID` or raw JSON text.

Outages: a failure to reach PostgreSQL at all (refused, socket gone, server shutting down or
restarting, out of connections, a connection that died mid-query) is raised as the typed
`DatastoreUnavailable` (HTTP 503 with Retry-After), so no caller has to tell driver and socket
errors apart and no route answers an outage with a 500. Query errors stay what they are. The
pool replaces a dead connection on its next acquire, so service resumes by itself when the
server is back (a restarted embedded cluster, or a `DATABASE_URL` server).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg
from asyncpg import Connection, Record
from asyncpg import exceptions as pg
from trio_asyncio import aio_as_trio

from molecule.errors import DatastoreUnavailable

T = TypeVar("T")
log = logging.getLogger("molecule.store.pool")
__all__ = ["Connection", "Record", "Store", "affected", "is_outage"]

_OUTAGE = (
    OSError,  # refused, no socket file, reset, connect timeout
    pg.PostgresConnectionError,  # class 08, including a connection lost mid-query
    pg.CannotConnectNowError,  # starting up or shutting down
    pg.AdminShutdownError,
    pg.CrashShutdownError,
    pg.TooManyConnectionsError,
)


def is_outage(exc: BaseException) -> bool:
    """Is this a failure to reach the database, as opposed to an error of the query?"""
    if isinstance(exc, (DatastoreUnavailable, *_OUTAGE)):
        return True
    if isinstance(exc, pg.InternalClientError):
        # Seen on the first query over a pooled connection whose server has just shut down
        # (its termination notice arrived while the connection sat idle): "cannot switch to
        # state ...; another operation is in progress". Connections are never shared here,
        # so this state error means a dead connection; the pool replaces it.
        log.warning("database connection in a broken state (%s): treated as an outage", exc)
        return True
    # asyncpg says "connection is closed" / "pool is closing" with its bare InterfaceError;
    # its subclasses (DataError ...) are errors of the query.
    return type(exc) is pg.InterfaceError and "clos" in str(exc)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("uuid", encoder=str, decoder=str, schema="pg_catalog")
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog", format="text"
        )


async def _no_reset(conn: asyncpg.Connection) -> None:
    """Skip asyncpg's per-release reset (RESET ALL, UNLISTEN ...): a second round trip on
    every pooled query, and we keep no session state (advisory locks are released inside
    the unit that takes them; LISTEN is not used on pooled connections)."""


class Store:
    """Thin Trio-facing wrapper over an asyncpg pool; table modules build on it."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        # For the metrics: failures to reach the database (each a DatastoreUnavailable) and
        # statements PostgreSQL refused.
        self.outages = 0
        self.query_errors = 0

    def pool_figures(self) -> tuple[int, int, int]:
        """(open connections, idle ones, the pool's maximum)."""
        pool = self.pool
        return pool.get_size(), pool.get_idle_size(), pool.get_max_size()

    @classmethod
    async def open(cls, dsn: str, *, min_size: int = 2, max_size: int = 10) -> Store:
        pool = await aio_as_trio(asyncpg.create_pool)(
            dsn,
            min_size=min_size,
            max_size=max_size,
            max_inactive_connection_lifetime=0,
            max_cached_statement_lifetime=0,
            init=_init_connection,
            reset=_no_reset,
        )
        return cls(pool)

    async def close(self) -> None:
        await aio_as_trio(self.pool.close)()

    async def fetch(self, sql: str, *args: Any) -> list[Record]:
        try:
            return list(await aio_as_trio(self.pool.fetch)(sql, *args))
        except Exception as exc:
            self._raise_outage(exc)
            raise

    async def fetchrow(self, sql: str, *args: Any) -> Record | None:
        try:
            row: Record | None = await aio_as_trio(self.pool.fetchrow)(sql, *args)
        except Exception as exc:
            self._raise_outage(exc)
            raise
        return row

    async def fetchval(self, sql: str, *args: Any) -> Any:
        try:
            return await aio_as_trio(self.pool.fetchval)(sql, *args)
        except Exception as exc:
            self._raise_outage(exc)
            raise

    async def execute(self, sql: str, *args: Any) -> str:
        try:
            status: str = await aio_as_trio(self.pool.execute)(sql, *args)
        except Exception as exc:
            self._raise_outage(exc)
            raise
        return status

    async def executemany(self, sql: str, args: Sequence[Sequence[Any]]) -> None:
        try:
            await aio_as_trio(self.pool.executemany)(sql, args)
        except Exception as exc:
            self._raise_outage(exc)
            raise

    async def unit(self, work: Callable[[Connection], Awaitable[T]], *, tx: bool = True) -> T:
        """Run `work(conn)` as one asyncio coroutine: acquire, (transaction), release.

        `work` is plain asyncio code using the connection directly. Because acquire and
        release happen inside the same asyncio coroutine, a Trio cancellation cannot leak
        the connection.
        """

        async def run() -> T:
            async with self.pool.acquire() as conn:
                if not tx:
                    return await work(conn)
                async with conn.transaction():
                    return await work(conn)

        try:
            result: T = await aio_as_trio(run)()
        except Exception as exc:
            self._raise_outage(exc)
            raise
        return result

    def _raise_outage(self, exc: Exception) -> None:
        """An outage becomes DatastoreUnavailable; either kind of failure is counted."""
        if is_outage(exc):
            self.outages += 1
            raise DatastoreUnavailable() from exc
        if isinstance(exc, pg.PostgresError):
            self.query_errors += 1


def affected(status: str) -> int:
    """Rows affected from an asyncpg command status such as 'UPDATE 3'."""
    try:
        return int(status.rsplit(" ", 1)[-1])
    except ValueError:
        return 0
