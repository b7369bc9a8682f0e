"""The `activity_logs` table: what each workspace sent, received, logged and delegated.

Bodies are jsonb. `request_body`/`response_body` distinguish "not given" (column NULL, key
omitted on reads) from a given JSON value, so `ABSENT` is the default rather than None.
"""

from __future__ import annotations

from dataclasses import dataclass
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
