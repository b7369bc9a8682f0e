"""The `workspace_schedules` table: a workspace's cron jobs, their claims and their runs.

Every statement a route issues is scoped by the workspace id as well as the schedule id, so
one workspace can never reach another's schedules (the original's IDOR rule).

Firing is at most once per due time: `claim` moves `next_run_at` from the due time the
scheduler read to the next one in a single conditional UPDATE, before anything is sent. Two
schedulers (a platform that restarted, or two processes on one database) racing for the same
due time get one winner; a run cut short by a crash is lost rather than repeated. The outcome
of a run (`record_run`) and its `cron_run` activity row are written in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import asyncpg

from molecule.errors import Conflict
from molecule.store.activity_rows import ActivityEntry, ActivityRows
from molecule.store.pool import Connection, Store, affected

NAME_CONSTRAINT = "workspace_schedules_name_uniq"
HISTORY_LIMIT = 20

COLUMNS = (
    "id, workspace_id, name, cron_expr, timezone, prompt, enabled, last_run_at, next_run_at,"
    " run_count, last_status, last_error, source, created_at, updated_at"
)
HEALTH_COLUMNS = "id, name, enabled, last_run_at, next_run_at, run_count, last_status, last_error"

# Enabled schedules whose due time has come, of workspaces that are not removed.
_DUE = """
    SELECT s.id, s.workspace_id, s.name, s.cron_expr, s.timezone, s.prompt, s.next_run_at
    FROM workspace_schedules s JOIN workspaces w ON w.id = s.workspace_id
    WHERE s.enabled AND s.next_run_at <= $1 AND w.status <> 'removed'
      AND s.id <> ALL($2::uuid[])
    ORDER BY s.next_run_at
    LIMIT $3
"""

_RECORD = """
    UPDATE workspace_schedules SET
        last_run_at = $2,
        run_count = run_count + 1,
        consecutive_empty_runs = CASE WHEN $5 THEN consecutive_empty_runs + 1
            WHEN $3 = 'ok' THEN 0 ELSE consecutive_empty_runs END,
        last_status = CASE WHEN $5 AND consecutive_empty_runs + 1 >= $6 THEN 'stale'
            ELSE $3 END,
        last_error = CASE WHEN $5 AND consecutive_empty_runs + 1 >= $6
            THEN 'empty response ' || (consecutive_empty_runs + 1)
                 || ' consecutive times — agent may be phantom-producing'
            ELSE $4 END,
        next_run_at = CASE WHEN $7::timestamptz IS NOT NULL AND next_run_at = $7
                           AND next_run_at <= $2 THEN $8 ELSE next_run_at END,
        updated_at = now()
    WHERE id = $1
    RETURNING last_status, last_error
"""


@dataclass(frozen=True)
class NewSchedule:
    workspace_id: str
    name: str
    cron_expr: str
    timezone: str
    prompt: str
    enabled: bool
    next_run_at: datetime


@dataclass(frozen=True)
class DueSchedule:
    """What the scheduler needs to fire one schedule."""

    id: str
    workspace_id: str
    name: str
    cron_expr: str
    timezone: str
    prompt: str
    due_at: datetime | None  # the due time claimed; None for a run someone asked for


@dataclass(frozen=True)
class RunRecord:
    """The outcome of one run, as `record_run` writes it."""

    status: str  # ok | error | skipped
    error: str
    empty: bool  # an ok run whose agent answered nothing
    at: datetime
    claimed_next: datetime | None  # what the claim wrote to next_run_at (None: manual run)
    next_after_run: datetime | None  # the next fire time after `at`


def _due(record: Any) -> DueSchedule:
    return DueSchedule(
        id=record["id"],
        workspace_id=record["workspace_id"],
        name=record["name"],
        cron_expr=record["cron_expr"],
        timezone=record["timezone"],
        prompt=record["prompt"],
        due_at=record["next_run_at"],
    )


class ScheduleRows:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- what the routes do -------------------------------------------------------------------

    async def insert(self, new: NewSchedule, limit: int) -> str | None:
        """Store a runtime schedule; None when the workspace already has `limit` of them.

        Creates for one workspace are serialised (an advisory lock of the transaction), so
        the count cannot be overrun by concurrent requests. A taken name is a 409."""

        async def work(conn: Connection) -> str | None:
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))", new.workspace_id
            )
            count = await conn.fetchval(
                "SELECT count(*) FROM workspace_schedules WHERE workspace_id = $1",
                new.workspace_id,
            )
            if count >= limit:
                return None
            value: str = await conn.fetchval(
                """
                INSERT INTO workspace_schedules (workspace_id, name, cron_expr, timezone, prompt,
                    enabled, next_run_at, source)
                VALUES ($1, $2, $3, $4, $5, $6, $7, 'runtime')
                RETURNING id
                """,
                new.workspace_id,
                new.name,
                new.cron_expr,
                new.timezone,
                new.prompt,
                new.enabled,
                new.next_run_at,
            )
            return value

        try:
            return await self.store.unit(work)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != NAME_CONSTRAINT:
                raise
            raise name_taken(new.name) from None

    async def upsert_template(self, new: NewSchedule) -> bool:
        """A schedule a template brings (org import): inserted with source `template`, or
        refreshed when a template schedule of that name exists. A runtime schedule of the
        same name is left alone (False), as in the original."""
        status = await self.store.execute(
            """
            INSERT INTO workspace_schedules (workspace_id, name, cron_expr, timezone, prompt,
                enabled, next_run_at, source)
            VALUES ($1, $2, $3, $4, $5, $6, $7, 'template')
            ON CONFLICT (workspace_id, name) DO UPDATE SET
                cron_expr = EXCLUDED.cron_expr, timezone = EXCLUDED.timezone,
                prompt = EXCLUDED.prompt, enabled = EXCLUDED.enabled,
                next_run_at = EXCLUDED.next_run_at, updated_at = now()
            WHERE workspace_schedules.source = 'template'
            """,
            new.workspace_id,
            new.name,
            new.cron_expr,
            new.timezone,
            new.prompt,
            new.enabled,
            new.next_run_at,
        )
        return affected(status) > 0

    async def listing(self, workspace_id: str) -> list[dict[str, Any]]:
        rows = await self.store.fetch(
            f"SELECT {COLUMNS} FROM workspace_schedules WHERE workspace_id = $1"
            " ORDER BY created_at, id",
            workspace_id,
        )
        return [dict(r) for r in rows]

    async def health(self, workspace_id: str) -> list[dict[str, Any]]:
        """The execution state only: prompts and expressions stay private to the owner."""
        rows = await self.store.fetch(
            f"SELECT {HEALTH_COLUMNS} FROM workspace_schedules WHERE workspace_id = $1"
            " ORDER BY created_at, id",
            workspace_id,
        )
        return [dict(r) for r in rows]

    async def get(self, workspace_id: str, schedule_id: str) -> dict[str, Any] | None:
        row = await self.store.fetchrow(
            f"SELECT {COLUMNS} FROM workspace_schedules WHERE id = $1 AND workspace_id = $2",
            schedule_id,
            workspace_id,
        )
        return dict(row) if row is not None else None

    async def update(self, workspace_id: str, schedule_id: str, fields: dict[str, Any]) -> bool:
        """Set the given columns (name, cron_expr, timezone, prompt, enabled, next_run_at);
        False when there is no such schedule. A taken name is a 409."""
        keys = ("name", "cron_expr", "timezone", "prompt", "enabled", "next_run_at")
        values = [fields.get(k) for k in keys]
        given = [k in fields for k in keys]
        try:
            status = await self.store.execute(
                """
                UPDATE workspace_schedules SET
                    name = CASE WHEN $3 THEN $9 ELSE name END,
                    cron_expr = CASE WHEN $4 THEN $10 ELSE cron_expr END,
                    timezone = CASE WHEN $5 THEN $11 ELSE timezone END,
                    prompt = CASE WHEN $6 THEN $12 ELSE prompt END,
                    enabled = CASE WHEN $7 THEN $13 ELSE enabled END,
                    next_run_at = CASE WHEN $8 THEN $14 ELSE next_run_at END,
                    updated_at = now()
                WHERE id = $1 AND workspace_id = $2
                """,
                schedule_id,
                workspace_id,
                *given,
                *values,
            )
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != NAME_CONSTRAINT:
                raise
            raise name_taken(str(fields.get("name"))) from None
        return affected(status) > 0

    async def delete(self, workspace_id: str, schedule_id: str) -> bool:
        status = await self.store.execute(
            "DELETE FROM workspace_schedules WHERE id = $1 AND workspace_id = $2",
            schedule_id,
            workspace_id,
        )
        return affected(status) > 0

    async def history(self, workspace_id: str, schedule_id: str) -> list[dict[str, Any]]:
        """The newest `cron_run` rows of one schedule (kept after the schedule is deleted)."""
        rows = await self.store.fetch(
            """
            SELECT created_at AS timestamp, duration_ms, status,
                   COALESCE(error_detail, '') AS error_detail,
                   COALESCE(request_body, '{}'::jsonb) AS request
            FROM activity_logs
            WHERE workspace_id = $1 AND activity_type = 'cron_run'
              AND request_body->>'schedule_id' = $2
            ORDER BY created_at DESC
            LIMIT $3
            """,
            workspace_id,
            schedule_id,
            HISTORY_LIMIT,
        )
        return [dict(r) for r in rows]

    async def all_with_workspaces(self) -> list[dict[str, Any]]:
        """Every schedule of a workspace that is not removed, with its workspace's name."""
        rows = await self.store.fetch(
            """
            SELECT w.id AS workspace_id, w.name AS workspace_name, s.id AS schedule_id,
                   s.name AS schedule_name, s.cron_expr, s.timezone, s.last_run_at,
                   s.next_run_at
            FROM workspace_schedules s JOIN workspaces w ON w.id = s.workspace_id
            WHERE w.status <> 'removed'
            ORDER BY w.name, s.name, s.id
            """
        )
        return [dict(r) for r in rows]

    # -- what the scheduler does --------------------------------------------------------------

    async def due(self, now: datetime, limit: int, exclude: Sequence[str]) -> list[DueSchedule]:
        rows = await self.store.fetch(_DUE, now, list(exclude), limit)
        return [_due(r) for r in rows]

    async def earliest_next_run(self, exclude: Sequence[str]) -> datetime | None:
        """The soonest due time of the schedules `due` would consider."""
        value: datetime | None = await self.store.fetchval(
            """
            SELECT min(s.next_run_at) FROM workspace_schedules s
            JOIN workspaces w ON w.id = s.workspace_id
            WHERE s.enabled AND w.status <> 'removed' AND s.id <> ALL($1::uuid[])
            """,
            list(exclude),
        )
        return value

    async def claim(self, schedule_id: str, due_at: datetime, next_at: datetime | None) -> bool:
        """Take the due time `due_at` for this process: True for exactly one claimant."""
        status = await self.store.execute(
            "UPDATE workspace_schedules SET next_run_at = $3, updated_at = now()"
            " WHERE id = $1 AND enabled AND next_run_at = $2",
            schedule_id,
            due_at,
            next_at,
        )
        return affected(status) > 0

    async def missing_next_run(self) -> list[dict[str, Any]]:
        """Enabled schedules with no next run (a time that could not be computed before)."""
        rows = await self.store.fetch(
            "SELECT id, cron_expr, timezone FROM workspace_schedules"
            " WHERE enabled AND next_run_at IS NULL"
        )
        return [dict(r) for r in rows]

    async def set_next_run(self, schedule_id: str, next_at: datetime) -> None:
        await self.store.execute(
            "UPDATE workspace_schedules SET next_run_at = $2, updated_at = now()"
            " WHERE id = $1 AND next_run_at IS NULL",
            schedule_id,
            next_at,
        )

    async def record_run(
        self, schedule_id: str, run: RunRecord, entry: ActivityEntry, stale_after: int
    ) -> ActivityEntry | None:
        """Write the run's outcome and its `cron_run` row together; the entry as stored (its
        status may have become `stale`), or None when the schedule is gone meanwhile."""
        rows = ActivityRows(self.store)

        async def work(conn: Connection) -> ActivityEntry | None:
            outcome = await conn.fetchrow(
                _RECORD,
                schedule_id,
                run.at,
                run.status,
                run.error,
                run.empty,
                stale_after,
                run.claimed_next,
                run.next_after_run,
            )
            if outcome is None:
                return None
            error = outcome["last_error"] or None
            stored = replace(entry, status=outcome["last_status"], error_detail=error)
            await rows.insert(stored, conn)
            return stored

        return await self.store.unit(work)


def name_taken(name: str) -> Conflict:
    return Conflict(f"a schedule named {name!r} already exists in this workspace")
