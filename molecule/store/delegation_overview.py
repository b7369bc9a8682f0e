"""Delegations across every workspace, for the operator (`GET /admin/delegations[/stats]`).

Read from the same activity rows as a workspace's own list (molecule.store.delegations): one
`delegate` row per delegation on its caller, its status moving pending -> dispatched ->
queued | completed | failed, and `delegate_result` rows with the outcome. The original read a
separate ledger table instead (upstream-may §5.4); this answers in that ledger's row shape.

A delegation still in flight (pending, dispatched, queued) past `STUCK_AFTER_SECONDS` (the
ledger's 6 h deadline) counts as `stuck`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from molecule.store.pool import Store

IN_FLIGHT = ("pending", "dispatched", "queued")
STUCK_AFTER_SECONDS = 6 * 3600
PREVIEW_CHARS = 4096

_OVERDUE = "d.created_at < now() - make_interval(secs => $2)"


class DelegationOverview:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def listing(
        self, statuses: Collection[str], overdue: bool | None, limit: int
    ) -> list[dict[str, Any]]:
        """`delegate` rows in `statuses`, newest first, with their newest result. `overdue`:
        only rows past the stuck deadline (True), only rows before it (False), or both."""
        age = {True: f"AND {_OVERDUE}", False: f"AND NOT {_OVERDUE}", None: ""}[overdue]
        rows = await self.store.fetch(
            f"""
            SELECT d.request_body->>'delegation_id' AS delegation_id,
                   d.workspace_id AS caller_id, d.target_id AS callee_id,
                   left(COALESCE(d.request_body->>'task', ''), {PREVIEW_CHARS}) AS task_preview,
                   d.status, d.error_detail,
                   d.created_at + make_interval(secs => $2) AS deadline,
                   d.created_at, COALESCE(r.created_at, d.created_at) AS updated_at,
                   left(r.response_body->>'text', {PREVIEW_CHARS}) AS result_preview
            FROM activity_logs d
            LEFT JOIN LATERAL (
                SELECT res.response_body, res.created_at FROM activity_logs res
                WHERE res.workspace_id = d.workspace_id AND res.method = 'delegate_result'
                  AND res.response_body->>'delegation_id' = d.request_body->>'delegation_id'
                ORDER BY res.created_at DESC LIMIT 1) r ON true
            WHERE d.method = 'delegate' AND d.status = ANY($1::text[]) {age}
            ORDER BY d.created_at DESC, d.id DESC
            LIMIT $3
            """,
            list(statuses),
            float(STUCK_AFTER_SECONDS),
            limit,
        )
        return [dict(r) for r in rows]

    async def counts(self) -> list[dict[str, Any]]:
        """(status, overdue, n) over every `delegate` row; overdue only for in-flight rows."""
        rows = await self.store.fetch(
            f"""
            SELECT d.status, (d.status = ANY($1::text[]) AND {_OVERDUE}) AS overdue,
                   count(*) AS n
            FROM activity_logs d WHERE d.method = 'delegate'
            GROUP BY 1, 2
            """,
            list(IN_FLIGHT),
            float(STUCK_AFTER_SECONDS),
        )
        return [dict(r) for r in rows]
