"""The `workspaces` table group: inserts, status transitions, layouts and removal.

Every status write is conditional (`... AND status = ANY(expected)`), so a racing delete can
never be undone by a late heartbeat. The WorkspaceActor is the only caller of `transition`;
cascade delete is the one path that writes `removed` for a whole subtree in one transaction.
Reads are inherited from `molecule.store.workspace_reads`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from molecule.errors import NameTaken
from molecule.models import WorkspaceStatus
from molecule.store.pool import Connection, Record, affected
from molecule.store.workspace_reads import WorkspaceReads

MAX_NAME_ATTEMPTS = 21
NAME_CONSTRAINT = "workspaces_parent_name_uniq"  # names are unique among siblings


@dataclass(frozen=True)
class NewWorkspace:
    name: str
    role: str | None
    tier: int
    runtime: str
    status: WorkspaceStatus
    parent_id: str | None = None
    url: str | None = None
    template: str | None = None
    workspace_dir: str | None = None
    workspace_access: str = "none"
    budget_limit: int | None = None
    max_concurrent_tasks: int = 1
    delivery_mode: str = "push"
    x: float = 0.0
    y: float = 0.0


@dataclass(frozen=True)
class HeartbeatColumns:
    """What a heartbeat writes, buffered by the actor and flushed in batches."""

    at: datetime
    error_rate: float
    sample_error: str
    active_tasks: int
    uptime_seconds: int
    current_task: str
    monthly_spend: int  # 0 = no update


class Workspaces(WorkspaceReads):
    async def insert(self, new: NewWorkspace) -> dict[str, Any]:
        """Insert with a name-collision retry: `<name>`, `<name> (2)` ... `<name> (21)`."""

        async def work(conn: Connection) -> dict[str, Any]:
            for attempt in range(1, MAX_NAME_ATTEMPTS + 1):
                name = new.name if attempt == 1 else f"{new.name} ({attempt})"
                try:
                    async with conn.transaction():
                        row = await conn.fetchrow(
                            """
                            INSERT INTO workspaces (name, role, tier, runtime, status, parent_id,
                                url, template, workspace_dir, workspace_access, budget_limit,
                                max_concurrent_tasks, delivery_mode, awareness_namespace)
                            VALUES ($1, $2, $3, $4, $5::workspace_status, $6, $7, $8, $9, $10,
                                $11, $12, $13, NULL)
                            RETURNING id
                            """,
                            name,
                            new.role,
                            new.tier,
                            new.runtime,
                            str(new.status),
                            new.parent_id,
                            new.url,
                            new.template,
                            new.workspace_dir,
                            new.workspace_access,
                            new.budget_limit,
                            new.max_concurrent_tasks,
                            new.delivery_mode,
                        )
                        assert row is not None
                        wid = row["id"]
                        await conn.execute(
                            "UPDATE workspaces SET awareness_namespace = $2 WHERE id = $1",
                            wid,
                            f"workspace:{wid}",
                        )
                        await conn.execute(
                            "INSERT INTO canvas_layouts (workspace_id, x, y) VALUES ($1, $2, $3)",
                            wid,
                            new.x,
                            new.y,
                        )
                        return {"id": wid, "name": name}
                except asyncpg.UniqueViolationError as exc:
                    if exc.constraint_name != NAME_CONSTRAINT:
                        raise
            raise NameTaken()

        return await self.store.unit(work, tx=False)

    async def insert_registered(self, workspace_id: str) -> None:
        """A register for an unknown id creates the row (name = id), as the original does
        (development mode only). Its agent runs outside the platform, so its runtime is
        `external`: the platform never tries to start, restart or fail it."""
        await self.store.execute(
            "INSERT INTO workspaces (id, name, status, runtime)"
            " VALUES ($1::uuid, $2, 'provisioning', 'external')"
            " ON CONFLICT (id) DO NOTHING",
            workspace_id,
            workspace_id,
        )

    async def transition(
        self,
        workspace_id: str,
        to: WorkspaceStatus,
        expected: Iterable[WorkspaceStatus],
        *,
        clear_url: bool = False,
        sample_error: str | None = None,
    ) -> bool:
        """Conditional status change; False when the row was not in an expected status."""
        status = await self.store.execute(
            """
            UPDATE workspaces SET status = $2::workspace_status, updated_at = now(),
                url = CASE WHEN $4 THEN NULL ELSE url END,
                last_sample_error = COALESCE($5, last_sample_error)
            WHERE id = $1 AND status = ANY($3::workspace_status[])
            """,
            workspace_id,
            str(to),
            [str(s) for s in expected],
            clear_url,
            sample_error,
        )
        return affected(status) == 1

    async def register(
        self, workspace_id: str, url: str | None, agent_card: Any, delivery_mode: str
    ) -> Record | None:
        """The register upsert's update half: online, card, url, mode; never a removed row.

        An existing provisioner URL (`http://127.0.0.1...`) is kept, as in the original: the
        platform knows better than an agent behind port mapping.
        """
        return await self.store.fetchrow(
            """
            UPDATE workspaces SET
                url = CASE WHEN url LIKE 'http://127.0.0.1%' THEN url ELSE NULLIF($2, '') END,
                agent_card = $3::jsonb, status = 'online', last_heartbeat_at = now(),
                delivery_mode = $4, updated_at = now()
            WHERE id = $1 AND status <> 'removed'
            RETURNING url, status::text AS status
            """,
            workspace_id,
            url or "",
            agent_card,
            delivery_mode,
        )

    async def update_card(self, workspace_id: str, agent_card: Any) -> bool:
        status = await self.store.execute(
            "UPDATE workspaces SET agent_card = $2::jsonb, updated_at = now()"
            " WHERE id = $1 AND status <> 'removed'",
            workspace_id,
            agent_card,
        )
        return affected(status) == 1

    async def heal_inbound_secret(
        self, workspace_id: str, candidate: str
    ) -> tuple[str, bool] | None:
        """Return (secret, minted_now); mints `candidate` only when the column is empty."""
        row = await self.store.fetchrow(
            """
            WITH cur AS (SELECT platform_inbound_secret AS s FROM workspaces WHERE id = $1),
            upd AS (
                UPDATE workspaces SET platform_inbound_secret = $2
                WHERE id = $1 AND COALESCE(platform_inbound_secret, '') = ''
                RETURNING platform_inbound_secret
            )
            SELECT COALESCE((SELECT platform_inbound_secret FROM upd), (SELECT s FROM cur)) AS s,
                   EXISTS (SELECT 1 FROM upd) AS minted
            """,
            workspace_id,
            candidate,
        )
        if row is None or row["s"] is None:
            return None
        return row["s"], row["minted"]

    async def write_heartbeats(self, batch: dict[str, HeartbeatColumns]) -> None:
        """One statement for a whole batch of buffered heartbeats (never touches removed)."""
        if not batch:
            return
        ids = list(batch)
        cols = [batch[i] for i in ids]
        await self.store.execute(
            """
            UPDATE workspaces AS w SET
                last_heartbeat_at = b.at, last_error_rate = b.error_rate,
                last_sample_error = b.sample_error, active_tasks = b.active_tasks,
                uptime_seconds = b.uptime, current_task = b.current_task,
                monthly_spend = CASE WHEN b.spend > 0 THEN b.spend ELSE w.monthly_spend END,
                updated_at = now()
            FROM unnest($1::uuid[], $2::timestamptz[], $3::float8[], $4::text[], $5::int[],
                        $6::int[], $7::text[], $8::bigint[])
                 AS b(id, at, error_rate, sample_error, active_tasks, uptime, current_task, spend)
            WHERE w.id = b.id AND w.status <> 'removed'
            """,
            ids,
            [c.at for c in cols],
            [c.error_rate for c in cols],
            [c.sample_error for c in cols],
            [c.active_tasks for c in cols],
            [c.uptime_seconds for c in cols],
            [c.current_task for c in cols],
            [c.monthly_spend for c in cols],
        )

    async def patch(self, workspace_id: str, fields: dict[str, Any]) -> bool:
        """Update plain columns and the canvas layout; returns False for a missing/removed row."""
        layout = {k: fields.pop(k) for k in ("x", "y", "collapsed") if k in fields}

        async def work(conn: Connection) -> bool:
            exists = await conn.fetchval(
                "SELECT 1 FROM workspaces WHERE id = $1 AND status <> 'removed' FOR UPDATE",
                workspace_id,
            )
            if not exists:
                return False
            if fields:
                sets = ", ".join(f"{k} = ${i + 2}" for i, k in enumerate(fields))
                await conn.execute(
                    f"UPDATE workspaces SET {sets}, updated_at = now() WHERE id = $1",
                    workspace_id,
                    *fields.values(),
                )
            if layout:
                await conn.execute(
                    """
                    INSERT INTO canvas_layouts (workspace_id, x, y, collapsed)
                    VALUES ($1, COALESCE($2::float8, 0), COALESCE($3::float8, 0),
                            COALESCE($4::boolean, false))
                    ON CONFLICT (workspace_id) DO UPDATE SET
                        x = COALESCE($2::float8, canvas_layouts.x),
                        y = COALESCE($3::float8, canvas_layouts.y),
                        collapsed = COALESCE($4::boolean, canvas_layouts.collapsed)
                    """,
                    workspace_id,
                    layout.get("x"),
                    layout.get("y"),
                    layout.get("collapsed"),
                )
            return True

        try:
            return await self.store.unit(work)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == NAME_CONSTRAINT:
                raise NameTaken() from None
            raise

    async def cascade_remove(self, workspace_id: str) -> list[str]:
        """Mark the workspace and every non-removed descendant `removed` in one transaction,
        revoke their tokens and drop their layouts. Returns the ids, descendants first."""

        async def work(conn: Connection) -> list[str]:
            rows = await conn.fetch(
                """
                WITH RECURSIVE sub AS (
                    SELECT id, 0 AS depth FROM workspaces WHERE id = $1
                    UNION ALL
                    SELECT w.id, s.depth + 1 FROM workspaces w JOIN sub s ON w.parent_id = s.id
                    WHERE w.status <> 'removed' AND s.depth < 64
                )
                SELECT id, depth FROM sub ORDER BY depth DESC
                """,
                workspace_id,
            )
            ids = [r["id"] for r in rows]
            await conn.execute(
                "UPDATE workspaces SET status = 'removed', removed_at = now(), updated_at = now(),"
                " url = NULL WHERE id = ANY($1::uuid[]) AND status <> 'removed'",
                ids,
            )
            await conn.execute(
                "UPDATE workspace_auth_tokens SET revoked_at = now()"
                " WHERE workspace_id = ANY($1::uuid[]) AND revoked_at IS NULL",
                ids,
            )
            await conn.execute(
                "DELETE FROM canvas_layouts WHERE workspace_id = ANY($1::uuid[])", ids
            )
            return ids

        return await self.store.unit(work)

    async def set_inbound_secret(self, workspace_id: str, secret: str) -> None:
        await self.store.execute(
            "UPDATE workspaces SET platform_inbound_secret = $2 WHERE id = $1", workspace_id, secret
        )

    async def set_url(self, workspace_id: str, url: str | None) -> None:
        await self.store.execute(
            "UPDATE workspaces SET url = $2, updated_at = now()"
            " WHERE id = $1 AND status <> 'removed'",
            workspace_id,
            url,
        )

    async def set_budget_limit(self, workspace_id: str, limit: int | None) -> bool:
        """Set (or clear, None) the monthly spend ceiling; False for an unknown or removed
        workspace, whose row is left as it is."""
        status = await self.store.execute(
            "UPDATE workspaces SET budget_limit = $2, updated_at = now()"
            " WHERE id = $1 AND status <> 'removed'",
            workspace_id,
            limit,
        )
        return affected(status) == 1

    async def touch_outbound(self, workspace_id: str) -> None:
        await self.store.execute(
            "UPDATE workspaces SET last_outbound_at = now() WHERE id = $1", workspace_id
        )

    async def purge(self, ids: list[str]) -> None:
        """Hard delete: child tables cascade; references from surviving rows are nulled."""

        async def work(conn: Connection) -> None:
            await conn.execute(
                "UPDATE workspaces SET forwarded_to = NULL WHERE forwarded_to = ANY($1::uuid[])",
                ids,
            )
            await conn.execute(
                "UPDATE workspaces SET parent_id = NULL"
                " WHERE parent_id = ANY($1::uuid[]) AND NOT (id = ANY($1::uuid[]))",
                ids,
            )
            for wid in ids:  # descendants first, so parent FKs never dangle
                await conn.execute("DELETE FROM workspaces WHERE id = $1", wid)

        await self.store.unit(work)
