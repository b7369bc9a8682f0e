"""A broadcast stored in one transaction: the sender's record and every recipient's message.

A poll-mode recipient gets an `a2a_receive` row (its inbox, what a poll-mode A2A message
leaves); any other recipient gets an `a2a_queue` item its queue drain delivers when its agent
has room. Nothing is acknowledged before all of it is committed
(molecule.operations.broadcast).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from molecule.store.activity_rows import ActivityEntry, ActivityRows
from molecule.store.pool import Connection, Store
from molecule.store.queue import PRIORITY_TASK

QUEUE_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Delivery:
    """One recipient's message: `inbox` (poll mode) is an activity row, else a queue item."""

    workspace_id: str
    inbox: ActivityEntry | None
    envelope: dict[str, Any]


class BroadcastRows:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.rows = ActivityRows(store)

    async def recipients(
        self, workspace_id: str, parent_id: str | None, limit: int
    ) -> list[dict[str, Any]]:
        """The workspace's team, as `GET /registry/:id/peers` sees it: its siblings (every
        other root, for a root), its children and its parent; never removed rows. At most
        `limit` rows (id, name, delivery_mode), oldest first."""
        rows = await self.store.fetch(
            """
            SELECT id, name, delivery_mode FROM workspaces
            WHERE status <> 'removed' AND id <> $1 AND (
                parent_id IS NOT DISTINCT FROM $2::uuid OR parent_id = $1 OR id = $2::uuid)
            ORDER BY created_at, id
            LIMIT $3
            """,
            workspace_id,
            parent_id,
            limit,
        )
        return [dict(r) for r in rows]

    async def store_all(
        self, sender: ActivityEntry, deliveries: Sequence[Delivery], idempotency_key: str
    ) -> None:
        async def work(conn: Connection) -> None:
            await self.rows.insert(sender, conn)
            for delivery in deliveries:
                if delivery.inbox is not None:
                    await self.rows.insert(delivery.inbox, conn)
                    continue
                await conn.execute(
                    """
                    INSERT INTO a2a_queue (workspace_id, caller_id, priority, body, method,
                        idempotency_key, expires_at)
                    VALUES ($1, $2, $3, $4::jsonb, 'message/send', $5,
                        now() + make_interval(secs => $6))
                    ON CONFLICT (workspace_id, idempotency_key)
                        WHERE idempotency_key IS NOT NULL AND status IN ('queued', 'dispatched')
                        DO NOTHING
                    """,
                    delivery.workspace_id,
                    sender.workspace_id,
                    PRIORITY_TASK,
                    delivery.envelope,
                    idempotency_key,
                    float(QUEUE_TTL_SECONDS),
                )

        await self.store.unit(work)
