"""LogActivity: insert an activity row, then broadcast ACTIVITY_LOGGED (upstream-may §2.3).

The broadcast carries the bodies as given and a *sanitized* error_detail (capped, secrets
redacted); the database keeps the raw value for operators.
"""

from __future__ import annotations

import logging
from typing import Any

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


class ActivityLog:
    def __init__(self, rows: ActivityRows, bus: EventBus) -> None:
        self.rows = rows
        self.bus = bus

    async def log(self, entry: ActivityEntry) -> dict[str, Any] | None:
        """Insert and broadcast; returns the row's id and created_at, None if it failed.

        A failed insert is logged, not raised: activity is bookkeeping around an operation
        that already happened, and must not turn that operation into an error.
        """
        try:
            row = await self.rows.insert(entry)
        except Exception:
            wid, kind = entry.workspace_id, entry.activity_type
            log.exception("workspace %s: recording %s activity failed", wid, kind)
            return None
        self.broadcast(entry)
        return row

    async def log_in(self, conn: Connection, entry: ActivityEntry) -> dict[str, Any]:
        """Insert inside the caller's transaction; call `broadcast` after it commits."""
        return await self.rows.insert(entry, conn)

    def broadcast(self, entry: ActivityEntry) -> None:
        self.bus.broadcast(ACTIVITY_LOGGED, entry.workspace_id, activity_logged_payload(entry))
