"""The `activity_logs` table: what each workspace sent, received, logged and delegated.

Bodies are jsonb. `request_body`/`response_body` distinguish "not given" (column NULL, key
omitted on reads) from a given JSON value, so `ABSENT` is the default rather than None.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from molecule.store.pool import Connection, Store, affected


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = _Absent()

_INSERT = """
    INSERT INTO activity_logs (workspace_id, activity_type, source_id, target_id, method,
        summary, request_body, response_body, tool_trace, duration_ms, status, error_detail,
        idempotency_key)
    VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9::jsonb, $10, $11, $12, $13)
    RETURNING id, created_at
"""

# Many rows in one statement. Bodies travel as JSON text (a Python list would read as an
# array dimension); ids are made here so each row's RETURNING is matched by id, not order.
# clock_timestamp() is per row, and the ordinality keeps rows of one batch strictly
# increasing: since_id cursors compare created_at strictly, so ties would hide rows.
_INSERT_MANY = """
    INSERT INTO activity_logs (id, workspace_id, activity_type, source_id, target_id, method,
        summary, request_body, response_body, tool_trace, duration_ms, status, error_detail,
        idempotency_key, created_at)
    SELECT u.id, u.workspace_id, u.activity_type, u.source_id, u.target_id, u.method,
        u.summary, u.request_body::jsonb, u.response_body::jsonb, u.tool_trace::jsonb,
        u.duration_ms, u.status, u.error_detail, u.idempotency_key,
        clock_timestamp() + u.ord * interval '1 microsecond'
    FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::uuid[], $6::text[],
        $7::text[], $8::text[], $9::text[], $10::text[], $11::int[], $12::text[], $13::text[],
        $14::text[]) WITH ORDINALITY
        AS u(id, workspace_id, activity_type, source_id, target_id, method, summary,
             request_body, response_body, tool_trace, duration_ms, status, error_detail,
             idempotency_key, ord)
    ORDER BY u.ord
    RETURNING id, created_at
"""
_JSON_COLUMNS = (6, 7, 8)  # request_body, response_body, tool_trace in ActivityEntry.args()

# The feed's row shape (docs/compatibility.md §1.1); the three body columns are omitted when
# NULL.
FEED_COLUMNS = (
    "id, workspace_id, activity_type, source_id, target_id, method, summary, duration_ms,"
    " status, error_detail, created_at, request_body, response_body, tool_trace"
)
BODY_KEYS = ("request_body", "response_body", "tool_trace")


@dataclass(frozen=True)
class FeedQuery:
    """The filters of `GET /workspaces/:id/activity`, already validated; all are ANDed.

    `source` is "canvas" (source_id IS NULL) or "agent" (NOT NULL). With `after` (the since_id
    cursor's created_at) rows come oldest first and strictly after it, else newest first.
    """

    activity_type: str | None = None
    peer_id: str | None = None
    before: datetime | None = None
    since_secs: int | None = None
    after: datetime | None = None
    source: str | None = None
    limit: int = 100


def feed_row(record: Any) -> dict[str, Any]:
    row = dict(record)
    for key in BODY_KEYS:
        if row.get(key) is None:
            row.pop(key, None)
    return row


@dataclass(frozen=True)
class ActivityEntry:
    workspace_id: str
    activity_type: str
    source_id: str | None = None
    target_id: str | None = None
    method: str | None = None
    summary: str | None = None
    request_body: Any = ABSENT
    response_body: Any = ABSENT
    tool_trace: Any = None
    duration_ms: int | None = None
    status: str = "ok"
    error_detail: str | None = None
    idempotency_key: str | None = None

    def args(self) -> tuple[Any, ...]:
        def body(value: Any) -> Any:
            return None if value is ABSENT else value

        return (
            self.workspace_id,
            self.activity_type,
            self.source_id,
            self.target_id,
            self.method,
            self.summary,
            body(self.request_body),
            body(self.response_body),
            self.tool_trace,
            self.duration_ms,
            self.status,
            self.error_detail,
            self.idempotency_key,
        )


class ActivityRows:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def insert(self, entry: ActivityEntry, conn: Connection | None = None) -> dict[str, Any]:
        if conn is not None:
            row = await conn.fetchrow(_INSERT, *entry.args())
        else:
            row = await self.store.fetchrow(_INSERT, *entry.args())
        assert row is not None
        return dict(row)

    async def insert_many(self, entries: Sequence[ActivityEntry]) -> list[dict[str, Any]]:
        """One statement for the whole batch; the rows' {id, created_at}, in entry order."""
        ids = [str(uuid.uuid4()) for _ in entries]
        columns: list[list[Any]] = [ids] + [[] for _ in range(13)]
        for entry in entries:
            for index, value in enumerate(entry.args()):
                if index in _JSON_COLUMNS and value is not None:
                    value = json.dumps(value)
                columns[index + 1].append(value)
        rows = await self.store.fetch(_INSERT_MANY, *columns)
        stamps = {row["id"]: row["created_at"] for row in rows}
        return [{"id": row_id, "created_at": stamps[row_id]} for row_id in ids]

    async def cursor_time(self, workspace_id: str, row_id: str) -> datetime | None:
        """created_at of the since_id cursor row, only if it belongs to this workspace."""
        stamp: datetime | None = await self.store.fetchval(
            "SELECT created_at FROM activity_logs WHERE id = $1 AND workspace_id = $2",
            row_id,
            workspace_id,
        )
        return stamp

    async def feed(self, workspace_id: str, q: FeedQuery) -> list[dict[str, Any]]:
        where = ["workspace_id = $1"]
        params: list[Any] = [workspace_id]

        def add(clause: str, value: Any) -> None:
            params.append(value)
            where.append(clause.replace("$?", f"${len(params)}"))

        if q.activity_type is not None:
            add("activity_type = $?", q.activity_type)
        if q.peer_id is not None:
            add("(source_id = $? OR target_id = $?)", q.peer_id)
        if q.before is not None:
            add("created_at < $?", q.before)
        if q.since_secs is not None:
            add("created_at >= now() - make_interval(secs => $?)", float(q.since_secs))
        if q.after is not None:
            add("created_at > $?", q.after)
        if q.source == "canvas":
            where.append("source_id IS NULL")
        elif q.source == "agent":
            where.append("source_id IS NOT NULL")
        order = "ASC" if q.after is not None else "DESC"
        params.append(q.limit)
        rows = await self.store.fetch(
            f"SELECT {FEED_COLUMNS} FROM activity_logs WHERE {' AND '.join(where)}"
            f" ORDER BY created_at {order}, id {order} LIMIT ${len(params)}",
            *params,
        )
        return [feed_row(r) for r in rows]

    async def delete_older_than(self, seconds: float) -> int:
        """Retention: drop rows older than `seconds`; the number deleted."""
        status = await self.store.execute(
            "DELETE FROM activity_logs WHERE created_at < now() - make_interval(secs => $1)",
            float(seconds),
        )
        return affected(status)
