"""Reading the `workspaces` table group: rows, hierarchy, and what the sweeps look for.

Rows come back with their canvas layout (x, y, collapsed) joined in, uuid ids as `str`.
The writes live in `molecule.store.workspaces`, which builds on this.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from molecule.errors import NotFound
from molecule.models import WorkspaceStatus
from molecule.store.pool import Record, Store

MAX_ANCESTRY_DEPTH = 32

_COLUMNS = """
    w.id, w.name, w.role, w.tier, w.status::text AS status, w.agent_card, w.url, w.parent_id,
    w.active_tasks, w.max_concurrent_tasks, w.last_error_rate, w.last_sample_error,
    w.uptime_seconds, w.current_task, w.runtime, w.template, w.workspace_dir,
    w.workspace_access, w.monthly_spend, w.budget_limit, w.delivery_mode,
    w.last_heartbeat_at, w.last_outbound_at, w.awareness_namespace, w.broadcast_enabled,
    w.talk_to_user_enabled, w.removed_at, w.created_at, w.updated_at,
    w.platform_inbound_secret, w.hibernation_idle_minutes,
    COALESCE(l.x, 0) AS x, COALESCE(l.y, 0) AS y, COALESCE(l.collapsed, false) AS collapsed
"""
_FROM = "FROM workspaces w LEFT JOIN canvas_layouts l ON l.workspace_id = w.id"


def as_dict(row: Record | None) -> dict[str, Any] | None:
    return None if row is None else dict(row)


class WorkspaceReads:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def get(self, workspace_id: str) -> dict[str, Any] | None:
        return as_dict(
            await self.store.fetchrow(f"SELECT {_COLUMNS} {_FROM} WHERE w.id = $1", workspace_id)
        )

    async def live(self, workspace_id: str, missing: str = "workspace not found") -> dict[str, Any]:
        """The row of a workspace that exists and is not removed; NotFound(`missing`) else.
        (Routes that answer a removed workspace with 410 check for that first.)"""
        row = await self.get(workspace_id)
        if row is None or row["status"] == WorkspaceStatus.REMOVED:
            raise NotFound(missing)
        return row

    async def list_active(self) -> list[dict[str, Any]]:
        rows = await self.store.fetch(
            f"SELECT {_COLUMNS} {_FROM} WHERE w.status <> 'removed' ORDER BY w.created_at, w.id"
        )
        return [dict(r) for r in rows]

    async def status_of(self, workspace_id: str) -> str | None:
        value: str | None = await self.store.fetchval(
            "SELECT status::text FROM workspaces WHERE id = $1", workspace_id
        )
        return value

    async def ids_with_status(self, statuses: Iterable[WorkspaceStatus]) -> list[str]:
        rows = await self.store.fetch(
            "SELECT id FROM workspaces WHERE status = ANY($1::workspace_status[])",
            [str(s) for s in statuses],
        )
        return [r["id"] for r in rows]

    async def children(self, workspace_id: str) -> list[dict[str, Any]]:
        rows = await self.store.fetch(
            "SELECT id, name FROM workspaces WHERE parent_id = $1 AND status <> 'removed'"
            " ORDER BY created_at",
            workspace_id,
        )
        return [dict(r) for r in rows]

    async def descendants(self, workspace_id: str) -> list[dict[str, Any]]:
        """Every non-removed descendant (id, status), deepest first."""
        rows = await self.store.fetch(
            """
            WITH RECURSIVE sub AS (
                SELECT id, status, 0 AS depth FROM workspaces WHERE parent_id = $1
                    AND status <> 'removed'
                UNION ALL
                SELECT w.id, w.status, s.depth + 1
                FROM workspaces w JOIN sub s ON w.parent_id = s.id
                WHERE w.status <> 'removed' AND s.depth < 64
            )
            SELECT id, status::text AS status FROM sub ORDER BY depth DESC
            """,
            workspace_id,
        )
        return [dict(r) for r in rows]

    async def ancestry(self, ids: Sequence[str]) -> dict[str, list[str | None]]:
        """For each id: [its parent, grandparent, ...] (up to 32 steps); unknown ids absent.

        The first element is the direct parent (None for a root).
        """
        rows = await self.store.fetch(
            """
            WITH RECURSIVE chain AS (
                SELECT id AS start, parent_id, 0 AS depth FROM workspaces WHERE id = ANY($1::uuid[])
                UNION ALL
                SELECT c.start, w.parent_id, c.depth + 1
                FROM chain c JOIN workspaces w ON w.id = c.parent_id
                WHERE c.depth < $2
            )
            SELECT start, parent_id, depth FROM chain ORDER BY start, depth
            """,
            list(ids),
            MAX_ANCESTRY_DEPTH,
        )
        chains: dict[str, list[str | None]] = {}
        for r in rows:
            chain = chains.setdefault(r["start"], [])
            if r["depth"] == 0 or r["parent_id"] is not None:
                chain.append(r["parent_id"])
        return chains

    async def peers(self, workspace_id: str, parent_id: str | None) -> list[dict[str, Any]]:
        """Siblings (or all roots for a root), children and the parent; never removed rows."""
        rows = await self.store.fetch(
            """
            SELECT id, name, role, tier, status::text AS status, agent_card, url, parent_id,
                   active_tasks
            FROM workspaces
            WHERE status <> 'removed' AND id <> $1 AND (
                parent_id IS NOT DISTINCT FROM $2::uuid
                OR parent_id = $1
                OR id = $2::uuid)
            ORDER BY created_at, id
            """,
            workspace_id,
            parent_id,
        )
        return [dict(r) for r in rows]

    async def watched(self, statuses: Iterable[WorkspaceStatus]) -> list[dict[str, Any]]:
        """The fields a WorkspaceActor loads, for every workspace in `statuses` (boot)."""
        rows = await self.store.fetch(
            "SELECT id, name, role, tier, runtime, url, delivery_mode, parent_id,"
            " max_concurrent_tasks, current_task, active_tasks, platform_inbound_secret,"
            " budget_limit, monthly_spend, status::text AS status"
            " FROM workspaces WHERE status = ANY($1::workspace_status[])",
            [str(s) for s in statuses],
        )
        return [dict(r) for r in rows]

    async def provisioning_ages(self) -> list[dict[str, Any]]:
        """(id, runtime, age in seconds) of every workspace in `provisioning`."""
        rows = await self.store.fetch(
            "SELECT id, runtime, extract(epoch FROM now() - updated_at)::float8 AS age"
            " FROM workspaces WHERE status = 'provisioning'"
        )
        return [dict(r) for r in rows]

    async def idle_for_hibernation(self, unmanaged_runtimes: Collection[str]) -> list[str]:
        """Online workspaces with no task and no activity for their hibernation minutes.

        Idleness is measured on activity (the original measured heartbeat age, which a healthy
        agent refreshes every 30 s, so it could never fire)."""
        rows = await self.store.fetch(
            """
            SELECT w.id FROM workspaces w
            WHERE w.hibernation_idle_minutes > 0 AND w.status IN ('online', 'degraded')
              AND w.active_tasks = 0 AND NOT (w.runtime = ANY($1::text[]))
              AND w.updated_at < now() - make_interval(mins => w.hibernation_idle_minutes)
              AND NOT EXISTS (
                  SELECT 1 FROM activity_logs a WHERE a.workspace_id = w.id
                    AND a.created_at > now() - make_interval(mins => w.hibernation_idle_minutes))
            """,
            sorted(unmanaged_runtimes),
        )
        return [r["id"] for r in rows]

    async def using_global_secret(self, key: str) -> list[dict[str, Any]]:
        """(id, runtime) of live, unpaused workspaces that do not override `key` themselves:
        the ones a change of the global secret `key` reaches."""
        rows = await self.store.fetch(
            "SELECT id, runtime FROM workspaces w WHERE status NOT IN ('removed', 'paused')"
            " AND NOT EXISTS (SELECT 1 FROM workspace_secrets s"
            "   WHERE s.workspace_id = w.id AND s.key = $1)",
            key,
        )
        return [dict(r) for r in rows]
