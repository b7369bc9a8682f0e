"""The `approval_requests` table: an agent asks a human before an action (upstream-april §1.10).

A row is `pending` until someone decides it (`approved` / `denied`) or it grows older than
`APPROVAL_TTL_SECONDS`: then the platform denies it with `decided_by = 'auto-expired'`. A row
past that age counts as expired even before the sweep reaches it, so it can no longer be
decided and no list shows it as pending (molecule.operations.approvals).
"""

from __future__ import annotations

from typing import Any

from molecule.store.pool import Store

APPROVAL_TTL_SECONDS = 600
LIST_LIMIT = 50
EXPIRE_BATCH = 500
AUTO_EXPIRED = "auto-expired"

_FRESH = "created_at >= now() - make_interval(secs => $1)"


class ApprovalRows:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def insert(
        self,
        workspace_id: str,
        action: str,
        task_id: str | None,
        reason: str | None,
        context: dict[str, Any],
    ) -> str:
        approval_id: str = await self.store.fetchval(
            "INSERT INTO approval_requests (workspace_id, task_id, action, reason, context)"
            " VALUES ($1, $2, $3, $4, $5::jsonb) RETURNING id",
            workspace_id,
            task_id,
            action,
            reason,
            context,
        )
        return approval_id

    async def recent(self, workspace_id: str, limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
        """The workspace's newest rows, newest first."""
        rows = await self.store.fetch(
            "SELECT id, task_id, action, reason, status, decided_by, decided_at, created_at"
            " FROM approval_requests WHERE workspace_id = $1"
            " ORDER BY created_at DESC, id DESC LIMIT $2",
            workspace_id,
            limit,
        )
        return [dict(r) for r in rows]

    async def decide(
        self, workspace_id: str, approval_id: str, decision: str, decided_by: str
    ) -> bool:
        """Decide a pending, unexpired row of this workspace; False when there is none."""
        row = await self.store.fetchval(
            "UPDATE approval_requests SET status = $4, decided_by = $5, decided_at = now()"
            f" WHERE id = $2 AND workspace_id = $3 AND status = 'pending' AND {_FRESH}"
            " RETURNING id",
            float(APPROVAL_TTL_SECONDS),
            approval_id,
            workspace_id,
            decision,
            decided_by,
        )
        return row is not None

    async def expire_stale(self, limit: int = EXPIRE_BATCH) -> list[dict[str, Any]]:
        """Deny up to `limit` pending rows past their age; the rows denied (id, workspace_id).
        `SKIP LOCKED`: two sweepers (or a sweep and the pending list) never deny one row twice."""
        rows = await self.store.fetch(
            """
            UPDATE approval_requests SET status = 'denied', decided_by = $2, decided_at = now()
            WHERE id IN (
                SELECT id FROM approval_requests
                WHERE status = 'pending' AND created_at < now() - make_interval(secs => $1)
                ORDER BY created_at LIMIT $3
                FOR UPDATE SKIP LOCKED)
            RETURNING id, workspace_id
            """,
            float(APPROVAL_TTL_SECONDS),
            AUTO_EXPIRED,
            limit,
        )
        return [dict(r) for r in rows]

    async def pending(self, limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
        """Pending, unexpired rows of every workspace with its name, newest first."""
        rows = await self.store.fetch(
            "SELECT a.id, a.workspace_id, w.name AS workspace_name, a.action, a.reason,"
            " a.status, a.created_at"
            " FROM approval_requests a JOIN workspaces w ON w.id = a.workspace_id"
            f" WHERE a.status = 'pending' AND a.{_FRESH} AND w.status <> 'removed'"
            " ORDER BY a.created_at DESC, a.id DESC LIMIT $2",
            float(APPROVAL_TTL_SECONDS),
            limit,
        )
        return [dict(r) for r in rows]
