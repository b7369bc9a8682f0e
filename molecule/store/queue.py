"""The durable A2A queue (`a2a_queue`): durable before acknowledged.

A busy target's message is INSERTed (and committed) before the caller hears 202, so a
platform crash after the answer loses nothing. Idempotency: a second enqueue with the same
messageId while the first is still queued/dispatched returns the first row.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from molecule.store.pool import Connection, Store

PRIORITY_CRITICAL, PRIORITY_TASK, PRIORITY_INFO = 100, 50, 10
MAX_ATTEMPTS = 5
MAX_TTL_SECONDS = 10 * 365 * 24 * 3600  # far enough; keeps now()+ttl representable


class QueueRows:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def enqueue(
        self,
        workspace_id: str,
        caller_id: str | None,
        body: Any,
        method: str | None,
        idempotency_key: str | None,
        ttl_seconds: int | None,
        priority: int = PRIORITY_TASK,
    ) -> tuple[str, int]:
        """Insert (or find the live duplicate); return (queue_id, queued depth)."""
        expires_at = None
        if ttl_seconds is not None:
            expires_at = datetime.now(UTC) + timedelta(seconds=min(ttl_seconds, MAX_TTL_SECONDS))

        async def work(conn: Connection) -> tuple[str, int]:
            queue_id = await conn.fetchval(
                """
                INSERT INTO a2a_queue (workspace_id, caller_id, priority, body, method,
                    idempotency_key, expires_at)
                VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)
                ON CONFLICT (workspace_id, idempotency_key)
                    WHERE idempotency_key IS NOT NULL AND status IN ('queued', 'dispatched')
                    DO NOTHING
                RETURNING id
                """,
                workspace_id,
                caller_id,
                priority,
                body,
                method or None,
                idempotency_key or None,
                expires_at,
            )
            if queue_id is None:
                queue_id = await conn.fetchval(
                    "SELECT id FROM a2a_queue WHERE workspace_id = $1 AND idempotency_key = $2"
                    " AND status IN ('queued', 'dispatched')",
                    workspace_id,
                    idempotency_key,
                )
            depth = await conn.fetchval(
                "SELECT count(*) FROM a2a_queue WHERE workspace_id = $1 AND status = 'queued'",
                workspace_id,
            )
            return str(queue_id), int(depth)

        return await self.store.unit(work)

    async def claim(self, workspace_id: str, limit: int) -> list[dict[str, Any]]:
        """Take up to `limit` ready items (priority, then age) and mark them dispatched."""
        if limit <= 0:
            return []
        rows = await self.store.fetch(
            """
            UPDATE a2a_queue SET status = 'dispatched', dispatched_at = now(),
                attempts = attempts + 1
            WHERE id IN (
                SELECT id FROM a2a_queue
                WHERE workspace_id = $1 AND status = 'queued'
                  AND (expires_at IS NULL OR expires_at > now())
                ORDER BY priority DESC, enqueued_at ASC
                FOR UPDATE SKIP LOCKED
                LIMIT $2)
            RETURNING id, caller_id, body, method, attempts, priority, enqueued_at
            """,
            workspace_id,
            limit,
        )
        return sorted((dict(r) for r in rows), key=lambda r: (-r["priority"], r["enqueued_at"]))

    async def complete(self, queue_id: str) -> None:
        await self.store.execute(
            "UPDATE a2a_queue SET status = 'completed', completed_at = now() WHERE id = $1",
            queue_id,
        )

    async def release(self, queue_id: str, error: str) -> str:
        """Back to `queued` (attempts already counted), or `failed` once attempts run out."""
        status: str = await self.store.fetchval(
            """
            UPDATE a2a_queue SET
                status = CASE WHEN attempts >= $3 THEN 'failed' ELSE 'queued' END,
                last_error = $2, dispatched_at = NULL
            WHERE id = $1
            RETURNING status
            """,
            queue_id,
            error or "unknown drain dispatch error",
            MAX_ATTEMPTS,
        )
        return status

    async def unclaim(self, queue_ids: list[str]) -> None:
        """Claimed but never sent: back to `queued` with the claim's attempt taken back."""
        if queue_ids:
            await self.store.execute(
                "UPDATE a2a_queue SET status = 'queued', dispatched_at = NULL,"
                " attempts = GREATEST(attempts - 1, 0)"
                " WHERE id = ANY($1::uuid[]) AND status = 'dispatched'",
                queue_ids,
            )

    async def requeue_stuck_dispatched(self) -> int:
        """Items left `dispatched` by a platform crash go back to `queued` at boot."""
        status = await self.store.execute(
            "UPDATE a2a_queue SET status = 'queued', dispatched_at = NULL"
            " WHERE status = 'dispatched'"
        )
        return int(status.rsplit(" ", 1)[-1])

    async def workspaces_with_ready_items(self, limit: int = 500) -> list[str]:
        rows = await self.store.fetch(
            "SELECT DISTINCT workspace_id FROM a2a_queue WHERE status = 'queued'"
            " AND (expires_at IS NULL OR expires_at > now()) LIMIT $1",
            limit,
        )
        return [r["workspace_id"] for r in rows]

    async def get(self, queue_id: str) -> dict[str, Any] | None:
        row = await self.store.fetchrow(
            """
            SELECT q.id, q.workspace_id, q.caller_id, q.status, q.priority, q.attempts,
                   q.last_error, q.enqueued_at, q.dispatched_at, q.completed_at, q.expires_at,
                   al.response_body AS stitched
            FROM a2a_queue q
            LEFT JOIN activity_logs al ON q.status = 'completed'
                AND al.method = 'delegate_result' AND al.target_id = q.workspace_id
                AND al.workspace_id = q.caller_id
                AND al.response_body->>'delegation_id'
                    = q.body->'params'->'message'->'metadata'->>'delegation_id'
            WHERE q.id = $1
            LIMIT 1
            """,
            queue_id,
        )
        return None if row is None else dict(row)

    async def drop_stale(self, max_age_minutes: int, workspace_id: str | None) -> int:
        status = await self.store.execute(
            """
            UPDATE a2a_queue SET status = 'dropped',
                last_error = COALESCE(last_error, '') || E'\\n[DropStaleQueueItems] auto-dropped: '
                    || 'older than ' || $1::text || ' minutes'
            WHERE status = 'queued' AND enqueued_at < now() - make_interval(mins => $1)
              AND ($2::uuid IS NULL OR workspace_id = $2::uuid)
            """,
            max_age_minutes,
            workspace_id,
        )
        return int(status.rsplit(" ", 1)[-1])
