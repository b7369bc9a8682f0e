"""What a workspace carries besides its row and files: schedules, memories and key/value
memory. Org import seeds them from a template; bundles carry them between platforms.

Both go through here, and each kind through its own feature's rules: a schedule's cron
expression and time zone are checked as POST /schedules checks them (molecule/operations/
cron.py) and its next run is planned on the scheduler's clock; a memory is committed through
the memories operation, so it is scrubbed of credential-looking text and GLOBAL ones stay
with root workspaces (molecule/operations/memories.py). Seeded schedules are `template`
schedules (upstream-april §8.4): a runtime schedule of the same name is left alone.

Key/value entries with a TTL are left out of an export: they are meant to expire.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from molecule.errors import BadRequest, DatastoreUnavailable, MoleculeError
from molecule.events.activity_log import ActivityLog
from molecule.jsontext import dumps
from molecule.operations.cron import check_cron, check_timezone, next_run
from molecule.operations.cron_runs import wall_clock
from molecule.operations.memories import Memories
from molecule.operations.scheduler import Scheduler
from molecule.store.kv_memory import KeyValueRows
from molecule.store.memories import MemoryQuery, MemoryRows
from molecule.store.pool import Store
from molecule.store.schedules import NewSchedule, ScheduleRows
from molecule.store.workspaces import Workspaces

log = logging.getLogger("molecule.operations.workspace_extras")

MAX_MEMORIES = 1000  # exported per workspace
MAX_KV_KEYS = 1000  # the key/value routes' bound (molecule/http/kv_memory.py)
MAX_KV_VALUE = 64 * 1024


@dataclass(frozen=True)
class ScheduleSeed:
    name: str
    cron_expr: str
    timezone: str
    prompt: str
    enabled: bool


@dataclass(frozen=True)
class MemorySeedRow:
    content: str
    scope: str  # LOCAL | TEAM | GLOBAL
    namespace: str


@dataclass(frozen=True)
class KeyValueSeed:
    key: str
    value: Any


def check_kv(seed: KeyValueSeed) -> str | None:
    """Why the entry cannot be stored, or None."""
    if not seed.key or len(seed.key) > 256:
        return "a key is 1 to 256 characters"
    if len(dumps(seed.value).encode()) > MAX_KV_VALUE:
        return f"a value is at most {MAX_KV_VALUE} bytes of JSON"
    return None


async def seed_extras(workspace_id: str, *steps: Callable[[], Awaitable[None]]) -> str | None:
    """Run the seeding steps of a created workspace; what went wrong, or None. A database
    outage is raised (the caller's 503); anything else is reported, so one workspace's bad
    seed does not undo the others."""
    try:
        for step in steps:
            await step()
    except DatastoreUnavailable:
        raise
    except MoleculeError as exc:
        return f"created, but its schedules, memories or key/value entries failed: {exc.message}"
    except Exception:
        log.exception("workspace %s: seeding its schedules or memories failed", workspace_id)
        return "created, but its schedules, memories or key/value entries failed — see the log"
    return None


class WorkspaceExtras:
    def __init__(
        self,
        store: Store,
        workspaces: Workspaces,
        activity: ActivityLog,
        scheduler: Scheduler | None,
    ) -> None:
        self.schedules = ScheduleRows(store)
        self.memory_rows = MemoryRows(store)
        self.memories = Memories(store, workspaces, activity)
        self.kv = KeyValueRows(store)
        self.scheduler = scheduler

    def check_schedule(self, seed: ScheduleSeed) -> str | None:
        """Why the schedule cannot be stored (its cron, zone or prompt), or None."""
        try:
            check_timezone(seed.timezone)
            check_cron(seed.cron_expr)
        except BadRequest as exc:
            return exc.message
        if not seed.prompt.replace("\r", "").strip():
            return "prompt must not be empty"
        return None

    async def add_schedules(self, workspace_id: str, seeds: list[ScheduleSeed]) -> None:
        if not seeds:
            return
        now = self.scheduler.now() if self.scheduler is not None else wall_clock()
        for s in seeds:
            first = next_run(s.cron_expr, s.timezone, now)
            prompt = s.prompt.replace("\r", "")
            new = NewSchedule(
                workspace_id, s.name, s.cron_expr, s.timezone, prompt, s.enabled, first
            )
            if not await self.schedules.upsert_template(new):
                log.info("workspace %s: schedule %r kept (a runtime one)", workspace_id, s.name)
        if self.scheduler is not None:
            self.scheduler.nudge()

    async def add_memories(self, workspace_id: str, seeds: list[MemorySeedRow]) -> None:
        for m in seeds:
            await self.memories.commit(workspace_id, m.content, m.scope, m.namespace)

    async def add_kv(self, workspace_id: str, seeds: list[KeyValueSeed]) -> None:
        for e in seeds:
            await self.kv.set(workspace_id, e.key, e.value, None, None, max_keys=MAX_KV_KEYS)

    async def export(self, workspace_id: str) -> dict[str, Any]:
        """`{schedules, memories (oldest first), kv}` of one workspace."""
        schedules = [
            {k: row[k] for k in ("name", "cron_expr", "timezone", "prompt", "enabled")}
            for row in await self.schedules.listing(workspace_id)
        ]
        query = MemoryQuery([workspace_id], None, limit=MAX_MEMORIES)
        memories = [
            {k: row[k] for k in ("content", "scope", "namespace")}
            for row in reversed(await self.memory_rows.search(query))
        ]
        kv = [
            {"key": e["key"], "value": e["value"]}
            for e in await self.kv.live(workspace_id)
            if "expires_at" not in e
        ]
        return {"schedules": schedules, "memories": memories, "kv": kv}
