"""Reading a workspace tree as a whole: what org import and bundles need beyond single rows.

`child_named` finds the live workspace an import would duplicate (names are unique among a
parent's live children, `workspaces_parent_name_uniq`); `subtree` reads a workspace and its
live descendants in one query, bounded in depth and count, parents before children.
"""

from __future__ import annotations

from typing import Any

from molecule.store.pool import Store

MAX_SUBTREE_DEPTH = 32

_COLUMNS = """
    w.id, w.name, w.role, w.tier, w.runtime, w.template, w.parent_id, w.url,
    w.delivery_mode, w.max_concurrent_tasks, w.workspace_dir, w.workspace_access,
    w.budget_limit, w.agent_card, w.status::text AS status
"""


class Subtrees:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def child_named(self, parent_id: str | None, name: str) -> dict[str, Any] | None:
        """The live workspace called `name` under `parent_id` (a root when None)."""
        row = await self.store.fetchrow(
            "SELECT id, name, tier, runtime, status::text AS status FROM workspaces"
            " WHERE parent_id IS NOT DISTINCT FROM $1::uuid AND name = $2"
            " AND status <> 'removed' LIMIT 1",
            parent_id,
            name,
        )
        return None if row is None else dict(row)

    async def subtree(self, root_id: str, limit: int) -> list[dict[str, Any]]:
        """The live root and its live descendants (at most `limit` + 1 rows, so a caller can
        tell "too many"), parents before children, siblings oldest first. Empty when the
        root is unknown or removed."""
        rows = await self.store.fetch(
            f"""
            WITH RECURSIVE tree AS (
                SELECT w.id, 0 AS depth, ARRAY[w.created_at] AS path
                FROM workspaces w WHERE w.id = $1 AND w.status <> 'removed'
                UNION ALL
                SELECT w.id, t.depth + 1, t.path || w.created_at
                FROM workspaces w JOIN tree t ON w.parent_id = t.id
                WHERE w.status <> 'removed' AND t.depth < $3
            )
            SELECT {_COLUMNS}, t.depth
            FROM tree t JOIN workspaces w ON w.id = t.id
            ORDER BY t.depth, t.path, w.id
            LIMIT $2
            """,
            root_id,
            limit + 1,
            MAX_SUBTREE_DEPTH,
        )
        return [dict(r) for r in rows]
