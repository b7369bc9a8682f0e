"""Reads of a workspace's conversation in `activity_logs`: the chat a panel shows and the
text search over everything the workspace did (`GET /workspaces/:id/chat-history`,
`GET /workspaces/:id/session-search`).

The chat is the workspace's `a2a_receive` rows with no source (what the canvas sent it, and
what its agent sent the user through notify); the canvas read the same rows through the
activity feed (`type=a2a_receive&source=canvas`). The search matches the original's: summary,
activity type, method, status and both bodies, case-insensitively; the query is matched as
literal text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from molecule.store.pool import Store

_SEARCH_COLUMNS = """
    'activity' AS kind, id, workspace_id, activity_type AS label,
    COALESCE(summary, '') AS content, COALESCE(method, '') AS method,
    COALESCE(status, '') AS status, request_body, response_body, created_at
"""
_MATCHES = """
    (COALESCE(summary, '') ILIKE $2 ESCAPE '\\' OR activity_type ILIKE $2 ESCAPE '\\'
     OR COALESCE(method, '') ILIKE $2 ESCAPE '\\' OR COALESCE(status, '') ILIKE $2 ESCAPE '\\'
     OR COALESCE(request_body::text, '') ILIKE $2 ESCAPE '\\'
     OR COALESCE(response_body::text, '') ILIKE $2 ESCAPE '\\')
"""


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
        """The workspace's activity rows matching `query` (all of them when empty), newest
        first, in the original's session-search shape (bodies omitted when NULL)."""
        if query:
            rows = await self.store.fetch(
                f"SELECT {_SEARCH_COLUMNS} FROM activity_logs WHERE workspace_id = $1"
                f" AND {_MATCHES} ORDER BY created_at DESC, id DESC LIMIT $3",
                workspace_id,
                like_pattern(query),
                limit,
            )
        else:
            rows = await self.store.fetch(
                f"SELECT {_SEARCH_COLUMNS} FROM activity_logs WHERE workspace_id = $1"
                " ORDER BY created_at DESC, id DESC LIMIT $2",
                workspace_id,
                limit,
            )
        out = []
        for record in rows:
            item = dict(record)
            for key in ("request_body", "response_body"):
                if item[key] is None:
                    del item[key]
            out.append(item)
        return out
