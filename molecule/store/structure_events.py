"""The `structure_events` table: the recorded lifecycle events (EventBus.record)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from molecule.store.pool import Store


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
