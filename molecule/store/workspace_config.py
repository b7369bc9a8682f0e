"""The `workspace_config` table: one JSON object of free-form settings per workspace.

`PATCH /workspaces/:id/config` merges a body into it shallowly (`data || body`, as the
original did): top-level keys of the body replace the stored ones, the others stay. The merged
object is bounded as the body is, so repeated patches cannot grow it without limit; a merge that
would pass the bound writes nothing.
"""

from __future__ import annotations

from typing import Any

from molecule.store.pool import Store

MAX_CONFIG_BYTES = 256 * 1024  # the original's body cap, applied to the stored object too


class WorkspaceConfigRows:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def get(self, workspace_id: str) -> dict[str, Any]:
        """The stored object, `{}` when the workspace has none."""
        data = await self.store.fetchval(
            "SELECT data FROM workspace_config WHERE workspace_id = $1", workspace_id
        )
        return data if isinstance(data, dict) else {}

    async def merge(self, workspace_id: str, patch: dict[str, Any]) -> bool:
        """`data || patch`, stored in one statement; False (and nothing written) when the
        merged object would be larger than MAX_CONFIG_BYTES as JSON text."""
        stored = await self.store.fetchval(
            "INSERT INTO workspace_config AS c (workspace_id, data, updated_at)"
            " SELECT $1, $2::jsonb, now() WHERE octet_length($2::jsonb::text) <= $3"
            " ON CONFLICT (workspace_id) DO UPDATE"
            " SET data = c.data || EXCLUDED.data, updated_at = now()"
            " WHERE octet_length((c.data || EXCLUDED.data)::text) <= $3"
            " RETURNING true",
            workspace_id,
            patch,
            MAX_CONFIG_BYTES,
        )
        return stored is True
