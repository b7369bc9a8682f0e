"""The `activity_logs` table: what each workspace sent, received, logged and delegated.

Bodies are jsonb. `request_body`/`response_body` distinguish "not given" (column NULL, key
omitted on reads) from a given JSON value, so `ABSENT` is the default rather than None.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from molecule.store.pool import Connection, Store


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

# The feed's row shape (upstream-may §2.1); the three body columns are omitted when NULL.
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
