"""LogActivity, as in the original: insert an activity row, then broadcast ACTIVITY_LOGGED.

The broadcast carries the bodies as given and a *sanitized* error_detail (capped, secrets
redacted); the database keeps the raw value for operators.

Rows are written by group commit: entries that arrive while a write is in flight are stored
together by the next one, in one statement. Under load (the A2A proxy logs every message)
that turns a database round trip per message into one per batch.

Three ways in:
- `store()` waits until its row is stored and raises when it could not be (503 when the
  database is unreachable): for rows that are what a request acknowledges (a poll-mode
  message, an agent's activity report), since acknowledged means stored;
- `log()` waits the same way but only logs a failure: bookkeeping around an operation that
  already happened;
- `stage()` broadcasts at once and leaves the row to the writer task (`run`), which gathers
  for a few milliseconds and stores what came in one statement. The original wrote its
  `a2a_receive` rows asynchronously too. Only receipts of work that already happened are
  staged, never what a caller is told was stored. Readers of the feed call `flush()` first,
  so nothing staged before a read is missing from it; the platform flushes on shutdown. A
  crash can lose the last few milliseconds of staged receipts.
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from molecule.errors import DatastoreUnavailable, MoleculeError
from molecule.events import ACTIVITY_LOGGED, EventBus
from molecule.security.redact import sanitize_error_detail
from molecule.store.activity_rows import ABSENT, ActivityEntry, ActivityRows
from molecule.store.pool import Connection

log = logging.getLogger("molecule.events.activity_log")


def activity_logged_payload(entry: ActivityEntry) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "activity_type": entry.activity_type,
        "status": entry.status,
        "method": entry.method,
        "summary": entry.summary,
        "source_id": entry.source_id,
        "target_id": entry.target_id,
        "duration_ms": entry.duration_ms,
    }
    if entry.tool_trace:
        payload["tool_trace"] = entry.tool_trace
    if entry.request_body is not ABSENT:
        payload["request_body"] = entry.request_body
    if entry.response_body is not ABSENT:
        payload["response_body"] = entry.response_body
    if entry.error_detail:
        payload["error_detail"] = sanitize_error_detail(entry.error_detail)
    return payload


WRITE_TIMEOUT = 30.0
STAGE_GATHER = 0.02  # the writer's wait for more staged rows before each write


class _Batch:
    __slots__ = ("entries", "announced", "rows", "errors", "written")

    def __init__(self) -> None:
        self.entries: list[ActivityEntry] = []
        self.announced: set[int] = set()  # indexes of staged entries, broadcast already
        self.rows: list[dict[str, Any] | None] = []
        self.errors: list[Exception | None] = []  # why a row is None
        self.written = False


class ActivityLog:
    def __init__(self, rows: ActivityRows, bus: EventBus) -> None:
        self.rows = rows
        self.bus = bus
        self._open = _Batch()  # the batch new entries join
        self._writing = trio.Lock()  # FIFO: batches are written in the order they filled
        self._staged = trio.Event()  # wakes the writer task

    async def log(self, entry: ActivityEntry) -> dict[str, Any] | None:
        """Insert and broadcast; returns the row's id and created_at, None if it failed.

        A failed insert is logged, not raised: activity is bookkeeping around an operation
        that already happened, and must not turn that operation into an error.
        """
        batch, index = await self._join(entry)
        return batch.rows[index]

    async def store(self, entry: ActivityEntry) -> dict[str, Any]:
        """Insert and broadcast; raise if the row is not stored (DatastoreUnavailable, a
        503, when the database is unreachable). The write still rides a group commit."""
        batch, index = await self._join(entry)
        row = batch.rows[index]
        if row is None:
            error = batch.errors[index]
            if isinstance(error, MoleculeError):
                raise error
            raise MoleculeError("internal error")
        return row

    async def _join(self, entry: ActivityEntry) -> tuple[_Batch, int]:
        batch = self._open
        index = len(batch.entries)
        batch.entries.append(entry)
        await self._write_through(batch)
        return batch, index

    def stage(self, entry: ActivityEntry) -> None:
        """Broadcast now, store moments later (see the module doc)."""
        batch = self._open
        batch.announced.add(len(batch.entries))
        batch.entries.append(entry)
        self.broadcast(entry)
        self._staged.set()

    async def flush(self) -> None:
        """Return once every row logged or staged before the call is stored."""
        await self._write_through(self._open)

    async def run(self) -> None:
        """The writer task for staged rows (one per platform)."""
        while True:
            await self._staged.wait()
            await trio.sleep(STAGE_GATHER)
            self._staged = trio.Event()
            await self._write_through(self._open)

    async def _write_through(self, batch: _Batch) -> None:
        """Write `batch` unless someone already did; earlier batches are written first.

        Whoever gets the lock first for a batch writes all of it; the others find it
        written. Closing the batch here lets the next one fill during the write.
        """
        async with self._writing:
            if batch.written or not batch.entries:
                return
            if self._open is batch:
                self._open = _Batch()
            with trio.CancelScope(shield=True):  # other callers' rows ride on this write
                await self._write(batch)

    async def _write(self, batch: _Batch) -> None:
        count = len(batch.entries)
        rows: list[dict[str, Any] | None]
        errors: list[Exception | None] = [None] * count
        try:
            with trio.fail_after(WRITE_TIMEOUT):
                rows = list(await self.rows.insert_many(batch.entries))
        except Exception as exc:
            if count == 1 or isinstance(exc, DatastoreUnavailable | trio.TooSlowError):
                # Nothing to gain row by row when the database is out of reach.
                for entry in batch.entries:
                    self._failed(entry, exc)
                rows, errors = [None] * count, [_as_error(exc)] * count
            else:  # one bad row must not lose the others: store them one by one
                rows = []
                for index, entry in enumerate(batch.entries):
                    row, errors[index] = await self._insert_alone(entry)
                    rows.append(row)
        batch.rows, batch.errors, batch.written = rows, errors, True
        for index, (entry, row) in enumerate(zip(batch.entries, rows, strict=True)):
            if row is not None and index not in batch.announced:
                self.broadcast(entry)

    async def _insert_alone(
        self, entry: ActivityEntry
    ) -> tuple[dict[str, Any] | None, Exception | None]:
        try:
            with trio.fail_after(WRITE_TIMEOUT):
                return await self.rows.insert(entry), None
        except Exception as exc:
            self._failed(entry, exc)
            return None, _as_error(exc)

    @staticmethod
    def _failed(entry: ActivityEntry, exc: Exception) -> None:
        wid, kind = entry.workspace_id, entry.activity_type
        if isinstance(exc, DatastoreUnavailable):  # the outage is logged where it is seen
            log.warning("workspace %s: %s activity not recorded: database unreachable", wid, kind)
        else:
            log.error("workspace %s: recording %s activity failed", wid, kind, exc_info=exc)

    async def log_in(self, conn: Connection, entry: ActivityEntry) -> dict[str, Any]:
        """Insert inside the caller's transaction; call `broadcast` after it commits."""
        return await self.rows.insert(entry, conn)

    def broadcast(self, entry: ActivityEntry) -> None:
        if self.bus.listening(entry.workspace_id):
            payload = activity_logged_payload(entry)
        else:
            payload = {}  # nobody would read it: the bus only counts it and resets idle timers
        self.bus.broadcast(ACTIVITY_LOGGED, entry.workspace_id, payload)


def _as_error(exc: Exception) -> Exception:
    """What a caller of `store()` is told: the outage as is, a timeout as an outage."""
    return DatastoreUnavailable() if isinstance(exc, trio.TooSlowError) else exc
