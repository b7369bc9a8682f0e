"""Reads of a workspace's conversation in `activity_logs`: the chat a panel shows and the
text search over everything the workspace did (`GET /workspaces/:id/chat-history`,
`GET /workspaces/:id/session-search`).

The chat is the workspace's `a2a_receive` rows with no source (what the canvas sent it, and
what its agent sent the user through notify); the canvas read the same rows through the
activity feed (`type=a2a_receive&source=canvas`). The search is the original's: the
workspace's activity rows (summary, activity type, method, status, both bodies) and its own
memories (content and scope, `agent_memories`), case-insensitively, newest first; the query is
matched as literal text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from molecule.store.pool import Store

_ACTIVITY_ITEMS = """
    SELECT 'activity' AS kind, id, workspace_id, activity_type AS label,
           COALESCE(summary, '') AS content, COALESCE(method, '') AS method,
           COALESCE(status, '') AS status, request_body, response_body, created_at
    FROM activity_logs WHERE workspace_id = $1
"""
_ACTIVITY_MATCHES = """
    AND (COALESCE(summary, '') ILIKE $3 ESCAPE '\\' OR activity_type ILIKE $3 ESCAPE '\\'
         OR COALESCE(method, '') ILIKE $3 ESCAPE '\\' OR COALESCE(status, '') ILIKE $3 ESCAPE '\\'
         OR COALESCE(request_body::text, '') ILIKE $3 ESCAPE '\\'
         OR COALESCE(response_body::text, '') ILIKE $3 ESCAPE '\\')
"""
_MEMORY_ITEMS = """
    SELECT 'memory' AS kind, id, workspace_id, scope AS label, content, '' AS method,
           '' AS status, NULL::jsonb AS request_body, NULL::jsonb AS response_body, created_at
    FROM agent_memories WHERE workspace_id = $1
"""
_MEMORY_MATCHES = " AND (content ILIKE $3 ESCAPE '\\' OR scope ILIKE $3 ESCAPE '\\')"
_NEWEST = " ORDER BY created_at DESC, id DESC LIMIT $2"


def _session_search(matching: bool) -> str:
    """Both sources, each cut to the limit by its (workspace, time) index before they meet."""
    activity = _ACTIVITY_ITEMS + (_ACTIVITY_MATCHES if matching else "")
    memories = _MEMORY_ITEMS + (_MEMORY_MATCHES if matching else "")
    return f"({activity}{_NEWEST}) UNION ALL ({memories}{_NEWEST}){_NEWEST}"


def like_pattern(text: str) -> str:
    """`%text%` with LIKE's wildcards in `text` escaped: the query is literal text."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class Conversation:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def chat_rows(
        self, workspace_id: str, limit: int, before: datetime | None = None
    ) -> list[dict[str, Any]]:
        """The chat's rows, newest first (strictly older than `before` when given)."""
        rows = await self.store.fetch(
            "SELECT id, method, status, request_body, response_body, created_at"
            " FROM activity_logs WHERE workspace_id = $1 AND activity_type = 'a2a_receive'"
            " AND source_id IS NULL AND ($3::timestamptz IS NULL OR created_at < $3)"
            " ORDER BY created_at DESC, id DESC LIMIT $2",
            workspace_id,
            limit,
            before,
        )
        return [dict(r) for r in rows]

    async def search(self, workspace_id: str, query: str, limit: int) -> list[dict[str, Any]]:
        """The workspace's activity rows and memories matching `query` (all of them when
        empty), newest first, in the original's session-search shape: `kind` "activity" or
        "memory", a memory's `label` its scope; bodies omitted when NULL."""
        if query:
            rows = await self.store.fetch(
                _session_search(True), workspace_id, limit, like_pattern(query)
            )
        else:
            rows = await self.store.fetch(_session_search(False), workspace_id, limit)
        out = []
        for record in rows:
            item = dict(record)
            for key in ("request_body", "response_body"):
                if item[key] is None:
                    del item[key]
            out.append(item)
        return out
