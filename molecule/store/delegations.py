"""Delegation rows: the `delegate` / `delegate_result` entries of `activity_logs`.

A delegation is tracked as activity of the *source* workspace, as in the original: one
`delegate` row per delegation (its `request_body.delegation_id` is the key, its status moves
pending -> dispatched -> queued | completed | failed) plus `delegate_result` rows carrying the
outcome (`response_body.delegation_id`). The original's optional ledger table is not used
(docs/compatibility.md §1.2).

Idempotency rides on the table's unique index `(workspace_id, idempotency_key)`: a second
insert with the same key raises `DuplicateIdempotencyKey`, and the caller re-reads the winner.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from molecule.errors import DuplicateIdempotencyKey
from molecule.store.activity_rows import ActivityEntry, ActivityRows
from molecule.store.pool import Store, affected

IDEMPOTENCY_INDEX = "idx_activity_idempotency"
LIST_LIMIT = 50


class DelegationRows:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.rows = ActivityRows(store)

    async def insert_keyed(self, entry: ActivityEntry) -> dict[str, Any]:
        """Insert a row that may carry an idempotency key; a taken key is a typed error."""
        try:
            return await self.rows.insert(entry)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != IDEMPOTENCY_INDEX:
                raise
            raise DuplicateIdempotencyKey(entry.idempotency_key) from None

    async def by_idempotency_key(self, workspace_id: str, key: str) -> dict[str, Any] | None:
        """The `delegate` row of `workspace_id` holding `key`, if any."""
        row = await self.store.fetchrow(
            """
            SELECT id, request_body->>'delegation_id' AS delegation_id, status, target_id
            FROM activity_logs
            WHERE workspace_id = $1 AND idempotency_key = $2 AND method = 'delegate'
            """,
            workspace_id,
            key,
        )
        return dict(row) if row is not None else None

    async def delete_failed(self, row_id: str) -> bool:
        """Drop a failed `delegate` row so its idempotency key can be used again."""
        status = await self.store.execute(
            "DELETE FROM activity_logs WHERE id = $1 AND method = 'delegate' AND status = 'failed'",
            row_id,
        )
        return affected(status) > 0

    async def set_status(
        self,
        workspace_id: str,
        delegation_id: str,
        status: str,
        error_detail: str | None = None,
    ) -> int:
        """Move the `delegate` row of this delegation; returns the number of rows changed.

        `error_detail` is written only when given, so a later success never erases it and a
        status change without an error keeps whatever the row had.
        """
        result = await self.store.execute(
            """
            UPDATE activity_logs SET status = $3, error_detail = COALESCE($4, error_detail)
            WHERE workspace_id = $1 AND method = 'delegate'
              AND request_body->>'delegation_id' = $2
            """,
            workspace_id,
            delegation_id,
            status,
            error_detail,
        )
        return affected(result)

    async def complete_result(
        self, workspace_id: str, target_id: str, delegation_id: str, text: str, summary: str
    ) -> bool:
        """Complete the `delegate_result` row of a delegation whose message waited in the
        target's queue: the drained reply's text becomes its response. False when there is
        no such row (the delegation was not queued, or the caller is gone)."""
        result = await self.store.execute(
            """
            UPDATE activity_logs SET status = 'completed', summary = $5,
                response_body = jsonb_build_object('text', $4::text, 'delegation_id', $3::text)
            WHERE workspace_id = $1 AND method = 'delegate_result' AND target_id = $2
              AND response_body->>'delegation_id' = $3
            """,
            workspace_id,
            target_id,
            delegation_id,
            text,
            summary,
        )
        return affected(result) > 0

    async def outcome(
        self, workspace_id: str, target_id: str, delegation_id: str
    ) -> dict[str, Any] | None:
        """One delegation of `workspace_id` to `target_id` (the MCP `check_task_status`): the
        `delegate` row's status and error, and the text of its newest completed result."""
        row = await self.store.fetchrow(
            """
            SELECT d.status, d.error_detail,
                   (SELECT r.response_body->>'text' FROM activity_logs r
                    WHERE r.workspace_id = d.workspace_id AND r.method = 'delegate_result'
                      AND r.status = 'completed'
                      AND r.response_body->>'delegation_id' = $3
                    ORDER BY r.created_at DESC LIMIT 1) AS result
            FROM activity_logs d
            WHERE d.workspace_id = $1 AND d.method = 'delegate' AND d.target_id = $2
              AND d.request_body->>'delegation_id' = $3
            ORDER BY d.created_at DESC
            LIMIT 1
            """,
            workspace_id,
            target_id,
            delegation_id,
        )
        return dict(row) if row is not None else None

    async def recent(self, workspace_id: str, limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
        """The newest `delegate` / `delegate_result` rows of a workspace, newest first."""
        rows = await self.store.fetch(
            """
            SELECT id, method, source_id, target_id, summary, status, error_detail,
                   request_body, response_body, created_at
            FROM activity_logs
            WHERE workspace_id = $1 AND method IN ('delegate', 'delegate_result')
            ORDER BY created_at DESC, id DESC
            LIMIT $2
            """,
            workspace_id,
            limit,
        )
        return [dict(r) for r in rows]
