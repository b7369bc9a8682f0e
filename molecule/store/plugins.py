"""The plugin tables: `workspace_plugins` (what each workspace has installed) and
`org_plugin_allowlist` (which plugins an org allows; none listed: all).

Every statement about a workspace's plugins is scoped by the workspace id, so one workspace
never reaches another's rows. An org is a root workspace: the org of any workspace is the
root of its tree (the original took the parent, which is the root only one level down).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from molecule.store.pool import Connection, Store, affected

MAX_ORG_DEPTH = 64
_INSTALLED = """
    SELECT plugin_name, source_raw, tracked_ref, installed_sha, manifest_sha256,
           content_sha256, manifest, installed_at, updated_at
    FROM workspace_plugins WHERE workspace_id = $1
"""


@dataclass(frozen=True)
class Installed:
    """One install, as recorded once its files were written."""

    workspace_id: str
    name: str
    source: str
    installed_sha: str | None
    manifest_sha256: str | None
    content_sha256: str
    manifest: dict[str, Any]


class PluginRows:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def installed(self, workspace_id: str) -> list[dict[str, Any]]:
        rows = await self.store.fetch(_INSTALLED + " ORDER BY plugin_name", workspace_id)
        return [dict(r) for r in rows]

    async def get(self, workspace_id: str, name: str) -> dict[str, Any] | None:
        row = await self.store.fetchrow(_INSTALLED + " AND plugin_name = $2", workspace_id, name)
        return None if row is None else dict(row)

    async def record(self, plugin: Installed) -> None:
        """Insert the install, or replace the previous install of that name."""
        await self.store.execute(
            """
            INSERT INTO workspace_plugins (workspace_id, plugin_name, source_raw, installed_sha,
                manifest_sha256, content_sha256, manifest)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (workspace_id, plugin_name) DO UPDATE SET
                source_raw = EXCLUDED.source_raw, installed_sha = EXCLUDED.installed_sha,
                manifest_sha256 = EXCLUDED.manifest_sha256,
                content_sha256 = EXCLUDED.content_sha256, manifest = EXCLUDED.manifest,
                updated_at = now()
            """,
            plugin.workspace_id,
            plugin.name,
            plugin.source,
            plugin.installed_sha,
            plugin.manifest_sha256,
            plugin.content_sha256,
            plugin.manifest,
        )

    async def forget(self, workspace_id: str, name: str) -> bool:
        status = await self.store.execute(
            "DELETE FROM workspace_plugins WHERE workspace_id = $1 AND plugin_name = $2",
            workspace_id,
            name,
        )
        return affected(status) == 1

    # -- orgs and their allowlists -------------------------------------------------------------

    async def org_of(self, workspace_id: str) -> str | None:
        """The root of the workspace's tree (itself for a root); None for an unknown id."""
        value: str | None = await self.store.fetchval(
            """
            WITH RECURSIVE up AS (
                SELECT id, parent_id, 0 AS depth FROM workspaces WHERE id = $1
                UNION ALL
                SELECT w.id, w.parent_id, up.depth + 1
                FROM up JOIN workspaces w ON w.id = up.parent_id
                WHERE up.depth < $2
            )
            SELECT id FROM up ORDER BY depth DESC LIMIT 1
            """,
            workspace_id,
            MAX_ORG_DEPTH,
        )
        return value

    async def blocked(self, org_id: str, name: str) -> bool:
        """Does the org's allowlist exist and leave `name` out?"""
        row = await self.store.fetchrow(
            "SELECT count(*) AS listed, coalesce(bool_or(plugin_name = $2), false) AS allowed"
            " FROM org_plugin_allowlist WHERE org_id = $1",
            org_id,
            name,
        )
        assert row is not None
        return bool(row["listed"]) and not row["allowed"]

    async def allowlist(self, org_id: str) -> list[dict[str, Any]]:
        rows = await self.store.fetch(
            "SELECT plugin_name, enabled_by, enabled_at FROM org_plugin_allowlist"
            " WHERE org_id = $1 ORDER BY plugin_name",
            org_id,
        )
        return [dict(r) for r in rows]

    async def replace_allowlist(self, org_id: str, names: Sequence[str], enabled_by: str) -> None:
        """The org's whole allowlist, replaced in one transaction (empty: allow all)."""

        async def work(conn: Connection) -> None:
            await conn.execute("DELETE FROM org_plugin_allowlist WHERE org_id = $1", org_id)
            await conn.executemany(
                "INSERT INTO org_plugin_allowlist (org_id, plugin_name, enabled_by)"
                " VALUES ($1, $2, $3) ON CONFLICT (org_id, plugin_name) DO NOTHING",
                [(org_id, name, enabled_by) for name in names],
            )

        await self.store.unit(work)
