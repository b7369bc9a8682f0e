"""The `agent_memories` table: facts agents commit and recall (the original's HMA memories).

Search is PostgreSQL full-text search over the generated `content_tsv` column (GIN index):
`plainto_tsquery('english', q)` ranked by `ts_rank`, newest first on ties. A one-character
query tokenises to nothing, so it is a case-insensitive substring match instead (its `%` and
`_` taken literally). No embedding column: search is full-text only (docs/compatibility.md#d39).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from molecule.store.pool import Connection, Store, affected

FTS_MIN_QUERY = 2
"""The shortest query searched with full-text search; shorter ones use a substring match."""

_COLUMNS = "id, workspace_id, content, scope, namespace, created_at"


@dataclass(frozen=True)
class MemoryQuery:
    """One search, already validated; every filter given is ANDed.

    `workspace_ids` None means every workspace (GLOBAL reads), `scope` None every scope.
    """

    workspace_ids: list[str] | None
    scope: str | None
    namespace: str | None = None
    text: str = ""
    limit: int = 50


class MemoryRows:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def insert_in(
        self, conn: Connection, workspace_id: str, content: str, scope: str, namespace: str
    ) -> str:
        """Insert inside the caller's transaction; the new row's id."""
        memory_id: str = await conn.fetchval(
            "INSERT INTO agent_memories (workspace_id, content, scope, namespace)"
            " VALUES ($1, $2, $3, $4) RETURNING id",
            workspace_id,
            content,
            scope,
            namespace,
        )
        return memory_id

    async def delete(self, workspace_id: str, memory_id: str) -> bool:
        """Delete one of the workspace's own rows; False when it has no such row."""
        status = await self.store.execute(
            "DELETE FROM agent_memories WHERE id = $1 AND workspace_id = $2",
            memory_id,
            workspace_id,
        )
        return affected(status) == 1

    async def team_members(self, anchor: str) -> list[str]:
        """The anchor and its children, removed workspaces left out: a child's team is its
        parent plus its siblings (anchor = its parent), a root's team is itself plus its
        children (anchor = itself), as in the original."""
        rows = await self.store.fetch(
            "SELECT id FROM workspaces WHERE status <> 'removed' AND (id = $1 OR parent_id = $1)",
            anchor,
        )
        return [r["id"] for r in rows]

    async def search(self, q: MemoryQuery) -> list[dict[str, Any]]:
        where: list[str] = []
        params: list[Any] = []

        def add(clause: str, value: Any) -> str:
            params.append(value)
            placeholder = f"${len(params)}"
            where.append(clause.replace("$?", placeholder))
            return placeholder

        if q.workspace_ids is not None:
            add("workspace_id = ANY($?::uuid[])", q.workspace_ids)
        if q.scope is not None:
            add("scope = $?", q.scope)
        if q.namespace is not None:
            add("namespace = $?", q.namespace)
        order = "created_at DESC, id DESC"
        if len(q.text) >= FTS_MIN_QUERY:
            ts = add("content_tsv @@ plainto_tsquery('english', $?)", q.text)
            order = f"ts_rank(content_tsv, plainto_tsquery('english', {ts})) DESC, {order}"
        elif q.text:
            add("content ILIKE $? ESCAPE '\\'", "%" + _like_literal(q.text) + "%")
        params.append(q.limit)
        sql = f"SELECT {_COLUMNS} FROM agent_memories"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {order} LIMIT ${len(params)}"
        return [dict(r) for r in await self.store.fetch(sql, *params)]


def _like_literal(text: str) -> str:
    """`text` for a LIKE pattern, its wildcards and the escape character taken literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
