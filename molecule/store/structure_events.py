"""The `structure_events` table: the recorded lifecycle events (EventBus.record), and the
operator's read of the newest ones (`GET /events`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from molecule.store.pool import Store

RECENT_LIMIT = 100


class StructureEvents:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def insert(
        self, event_type: str, workspace_id: str | None, payload: dict[str, Any], at: datetime
    ) -> None:
        await self.store.execute(
            "INSERT INTO structure_events (event_type, workspace_id, payload, created_at)"
            " VALUES ($1, $2, $3::jsonb, $4)",
            event_type,
            workspace_id,
            payload,
            at,
        )

    async def recent(
        self, workspace_id: str | None = None, limit: int = RECENT_LIMIT
    ) -> list[dict[str, Any]]:
        """The newest events, newest first: every workspace's, or one workspace's."""
        if workspace_id is None:
            rows = await self.store.fetch(
                "SELECT id, event_type, workspace_id, payload, created_at FROM structure_events"
                " ORDER BY created_at DESC, id DESC LIMIT $1",
                limit,
            )
        else:
            rows = await self.store.fetch(
                "SELECT id, event_type, workspace_id, payload, created_at FROM structure_events"
                " WHERE workspace_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
                workspace_id,
                limit,
            )
        return [dict(r) for r in rows]
