"""A platform whose scheduler runs in virtual time, and scripted HTTP agents for it.

Trio's MockClock stands still (rate 0) and `advance` moves it from one deadline of the
scheduler to the next, each time after the scheduler has finished what it was doing (its
database work is real I/O, so the clock must never move while that is in flight). The
scheduler's "now" is the virtual clock read as a UTC time from `start`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import trio
import trio.testing
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from molecule.actors.messages import Heartbeat, Register
from molecule.models import HeartbeatPayload, WorkspaceStatus
from molecule.operations.cron import next_run
from molecule.operations.scheduler import Scheduler
from molecule.platform import running_platform
from molecule.services import Services
from molecule.store.schedules import NewSchedule, ScheduleRows
from molecule.store.workspaces import NewWorkspace
from tests.a2a.agents import ScriptedAgent
from tests.conftest import make_settings

CARD = {"name": "agent"}


async def serve_agent(nursery: trio.Nursery, agent: ScriptedAgent) -> str:
    """Serve `agent` on loopback; returns its URL (an address literal: no DNS)."""
    config = HypercornConfig()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.graceful_timeout = 0.1
    config.keep_alive_timeout = 10**9  # virtual minutes pass between requests
    binds = await nursery.start(
        lambda task_status: serve(agent, config, task_status=task_status)  # type: ignore[arg-type]
    )
    return "http://127.0.0.1:" + binds[0].rsplit(":", 1)[1]


@dataclass
class Cron:
    svc: Services
    clock: trio.testing.MockClock
    start: datetime
    origin: float = field(default_factory=trio.current_time)

    @property
    def scheduler(self) -> Scheduler:
        assert self.svc.scheduler is not None
        return self.svc.scheduler

    def now(self) -> datetime:
        return self.start + timedelta(seconds=trio.current_time() - self.origin)

    async def advance(self, seconds: float) -> None:
        """Let `seconds` of virtual time pass, the scheduler settling at every step."""
        end = trio.current_time() + seconds
        scheduler = self.scheduler
        while True:
            await trio.testing.wait_all_tasks_blocked()
            await scheduler.settled()
            # Background writers must not be mid-write when time jumps past their timeouts.
            await self.svc.activity.flush()
            # Parked means: idle, and still idle with nothing changed once everything that
            # could run has run (a task woken meanwhile must not see the clock jump).
            seen = scheduler.changes
            await trio.testing.wait_all_tasks_blocked()
            if not scheduler.idle or scheduler.changes != seen:
                continue
            now = trio.current_time()
            if now >= end:
                return
            deadline = self.scheduler.next_deadline()
            target = end if deadline is None else min(deadline, end)
            # At least a microsecond: a jump to a deadline can land a rounding error short.
            self.clock.jump(max(target - now, 1e-6))

    async def advance_to(self, when: datetime) -> None:
        await self.advance((when - self.now()).total_seconds())

    # -- fixtures of a test ------------------------------------------------------------------

    async def workspace(
        self, url: str | None, *, max_tasks: int = 1, status: WorkspaceStatus | None = None
    ) -> str:
        """An external workspace; with a URL it is registered (online, push mode)."""
        created = await self.svc.workspaces.insert(
            NewWorkspace(
                name=f"ws-{uuid.uuid4().hex[:6]}",
                role=None,
                tier=2,
                runtime="external",
                status=status or WorkspaceStatus.AWAITING_AGENT,
                max_concurrent_tasks=max_tasks,
            )
        )
        wid = str(created["id"])
        if url is not None:
            await self.ask(wid, Register(url, CARD, None))
        return wid

    async def ask(self, wid: str, msg: Any) -> Any:
        ref = await self.svc.directory.get(wid)
        assert ref is not None
        return await ref.ask(msg, 10)

    async def heartbeat(self, wid: str, **fields: Any) -> None:
        await self.ask(wid, Heartbeat(HeartbeatPayload(workspace_id=wid, **fields)))

    async def schedule(
        self, wid: str, cron_expr: str, *, timezone: str = "UTC", name: str = "job"
    ) -> str:
        new = NewSchedule(
            wid,
            name,
            cron_expr,
            timezone,
            f"do {name}",
            True,
            next_run(cron_expr, timezone, self.now()),
        )
        sid = await ScheduleRows(self.svc.store).insert(new, 100)
        assert sid is not None
        return sid

    async def row(self, sid: str) -> dict[str, Any]:
        found = await self.svc.store.fetchrow(
            "SELECT * FROM workspace_schedules WHERE id = $1", sid
        )
        assert found is not None
        return dict(found)

    async def runs(self, wid: str) -> list[dict[str, Any]]:
        rows = await self.svc.store.fetch(
            "SELECT * FROM activity_logs WHERE workspace_id = $1 AND activity_type = 'cron_run'"
            " ORDER BY created_at",
            wid,
        )
        return [dict(r) for r in rows]

    async def events(self, wid: str, kind: str) -> list[dict[str, Any]]:
        rows = await self.svc.store.fetch(
            "SELECT payload FROM structure_events WHERE workspace_id = $1 AND event_type = $2"
            " ORDER BY created_at",
            wid,
            kind,
        )
        return [r["payload"] for r in rows]


@asynccontextmanager
async def cron_platform(
    dsn: str, tmp_path: Path, clock: trio.testing.MockClock, start: datetime
) -> AsyncIterator[Cron]:
    """A platform (development mode: loopback agents) whose scheduler lives at `start`."""
    # pytest-trio runs a test on the clock among the test function's own arguments.
    assert trio.lowlevel.current_clock() is clock, "the test must take `mock_clock` itself"
    settings = make_settings(tmp_path, dsn, dev_mode=True, liveness_ttl=10.0**9)
    async with running_platform(settings, dsn) as svc:
        cron = Cron(svc, clock, start.astimezone(UTC))
        assert svc.scheduler is not None
        svc.scheduler.now = cron.now  # before its first round (30 s after boot)
        svc.scheduler.tick = 3600.0  # rounds at due times only: fewer steps, same fires
        yield cron
