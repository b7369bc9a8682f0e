"""LogActivity: insert an activity row, then broadcast ACTIVITY_LOGGED (upstream-may §2.3).

The broadcast carries the bodies as given and a *sanitized* error_detail (capped, secrets
redacted); the database keeps the raw value for operators.

Rows are written by group commit: every caller waits until its own row is stored, but
callers that arrive while a write is in flight are stored together by the next one, in one
statement. Under load (the A2A proxy logs every message) that turns a database round trip
per message into one per batch, and nobody is answered before their row exists.
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from molecule.events import EventBus
from molecule.security.redact import sanitize_error_detail
from molecule.store.activity import ABSENT, ActivityEntry, ActivityRows
from molecule.store.pool import Connection

log = logging.getLogger("molecule.activity")

ACTIVITY_LOGGED = "ACTIVITY_LOGGED"


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


class _Batch:
    __slots__ = ("entries", "rows", "written")

    def __init__(self) -> None:
        self.entries: list[ActivityEntry] = []
        self.rows: list[dict[str, Any] | None] = []
        self.written = False


class ActivityLog:
    def __init__(self, rows: ActivityRows, bus: EventBus) -> None:
        self.rows = rows
        self.bus = bus
        self._open = _Batch()  # the batch new entries join
        self._writing = trio.Lock()  # FIFO: batches are written in the order they filled

    async def log(self, entry: ActivityEntry) -> dict[str, Any] | None:
        """Insert and broadcast; returns the row's id and created_at, None if it failed.

        A failed insert is logged, not raised: activity is bookkeeping around an operation
        that already happened, and must not turn that operation into an error.
        """
        batch = self._open
        index = len(batch.entries)
        batch.entries.append(entry)
        async with self._writing:
            # The first member of a batch to get the lock writes all of it; the others
            # find it written. Closing it here lets the next batch fill during the write.
            if not batch.written:
                if self._open is batch:
                    self._open = _Batch()
                with trio.CancelScope(shield=True):  # other callers' rows ride on this write
                    await self._write(batch)
        return batch.rows[index]

    async def _write(self, batch: _Batch) -> None:
        try:
            with trio.fail_after(WRITE_TIMEOUT):
                rows: list[dict[str, Any] | None] = list(await self.rows.insert_many(batch.entries))
        except Exception:
            if len(batch.entries) == 1:
                self._failed(batch.entries[0])
                rows = [None]
            else:  # one bad row must not lose the others: store them one by one
                rows = [await self._insert_alone(entry) for entry in batch.entries]
        batch.rows, batch.written = rows, True
        for entry, row in zip(batch.entries, rows, strict=True):
            if row is not None:
                self.broadcast(entry)

    async def _insert_alone(self, entry: ActivityEntry) -> dict[str, Any] | None:
        try:
            with trio.fail_after(WRITE_TIMEOUT):
                return await self.rows.insert(entry)
        except Exception:
            self._failed(entry)
            return None

    @staticmethod
    def _failed(entry: ActivityEntry) -> None:
        wid, kind = entry.workspace_id, entry.activity_type
        log.exception("workspace %s: recording %s activity failed", wid, kind)

    async def log_in(self, conn: Connection, entry: ActivityEntry) -> dict[str, Any]:
        """Insert inside the caller's transaction; call `broadcast` after it commits."""
        return await self.rows.insert(entry, conn)

    def broadcast(self, entry: ActivityEntry) -> None:
        self.bus.broadcast(ACTIVITY_LOGGED, entry.workspace_id, activity_logged_payload(entry))
