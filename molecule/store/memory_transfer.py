"""Bulk reads and writes of `agent_memories` for the admin backup routes
(`GET /admin/memories/export`, `POST /admin/memories/import`): every live workspace's memories
with the workspace's name, and a batch insert that skips what is already there.

Memories travel by workspace *name*, as in the original: ids change when workspaces are built
again, names stay. The insert is one statement, so an import is all or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from molecule.store.pool import Connection, Store


@dataclass(frozen=True)
class NewMemory:
    """A memory to restore into a workspace; `created_at` None means now."""

    workspace_id: str
    content: str
    scope: str
    namespace: str
    created_at: datetime | None = None


_INSERT_NEW = """
    WITH input AS (
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
            WITH ORDINALITY AS t(workspace_id, content, scope, namespace, created_at, ord)
    ), first_of_each AS (
        SELECT DISTINCT ON (workspace_id, content, scope) *
        FROM input ORDER BY workspace_id, content, scope, ord
    )
    INSERT INTO agent_memories (workspace_id, content, scope, namespace, created_at)
    SELECT workspace_id, content, scope, namespace, COALESCE(created_at, now())
    FROM first_of_each f
    WHERE NOT EXISTS (
        SELECT 1 FROM agent_memories m
        WHERE m.workspace_id = f.workspace_id AND m.content = f.content AND m.scope = f.scope
    )
    ORDER BY ord
    RETURNING id
"""


class MemoryTransferRows:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def export(self) -> list[dict[str, Any]]:
        """`{id, content, scope, namespace, created_at, workspace_name}` of every memory of a
        workspace that is not removed, oldest first."""
        rows = await self.store.fetch(
            "SELECT m.id, m.content, m.scope, m.namespace, m.created_at,"
            " w.name AS workspace_name"
            " FROM agent_memories m JOIN workspaces w ON w.id = m.workspace_id"
            " WHERE w.status != 'removed' ORDER BY m.created_at, m.id"
        )
        return [dict(r) for r in rows]

    async def live_named(self, names: list[str]) -> dict[str, list[dict[str, Any]]]:
        """For each name, the workspaces (not removed) that carry it: `{id, parent_id}`."""
        rows = await self.store.fetch(
            "SELECT id, name, parent_id FROM workspaces"
            " WHERE name = ANY($1::text[]) AND status != 'removed' ORDER BY created_at, id",
            names,
        )
        found: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            found.setdefault(r["name"], []).append({"id": r["id"], "parent_id": r["parent_id"]})
        return found

    async def insert_new(self, memories: list[NewMemory]) -> int:
        """Insert the memories a workspace does not hold yet (same content and scope), the
        first of any duplicates in the batch; how many were inserted. One transaction."""
        if not memories:
            return 0

        async def work(conn: Connection) -> int:
            rows = await conn.fetch(
                _INSERT_NEW,
                [m.workspace_id for m in memories],
                [m.content for m in memories],
                [m.scope for m in memories],
                [m.namespace for m in memories],
                [m.created_at for m in memories],
            )
            return len(rows)

        return await self.store.unit(work)
