"""The cron scheduler: every due schedule becomes an A2A message from `system:cron`.

A supervised service (docs/architecture.md §3.6). Each round it reads the due schedules from
the store, claims each due time there (`ScheduleRows.claim`: at most one fire per due time,
across restarts and processes), and fires each claimed schedule in a task of its own, at most
`CONCURRENCY` at once, through the same A2A pipeline as every other sender (`send_a2a`). What
it knows of a workspace's load and capabilities it asks the workspace's actor (`Snapshot`).

One fire, as the original's scheduler did it (upstream-april §4, "Scheduler details"):
- a workspace whose runtime declares the `scheduler` capability runs its own schedules: the
  due time is claimed (so `next_run_at` moves on) and nothing else happens;
- a workspace at capacity (`active_tasks >= max_concurrent_tasks`) is asked again every
  10 s for up to 2 minutes; still busy, the run is `skipped` (a `cron_run` row, CRON_SKIPPED);
- otherwise `message/send` goes out. A workspace that is waking from hibernation or
  (re)starting is retried every 10 s for up to 2 minutes (docs/compatibility.md#d47);
- the outcome (`ok`, `error`, or `stale` after 3 empty answers in a row) is stored with a
  `cron_run` activity row carrying the duration, then CRON_EXECUTED is recorded.

Rounds follow the next due time (at most `TICK` apart, and at once when a route changes a
schedule). Time comes from two places: trio's clock for every wait, so tests run minutes of
virtual time in milliseconds, and `now` (an injectable source, UTC) for every cron decision.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import trio

from molecule.actors.directory import Directory
from molecule.actors.messages import Snapshot
from molecule.errors import (
    BadRequest,
    DatastoreUnavailable,
    Gone,
    MoleculeError,
    ServiceUnavailable,
)
from molecule.events import CRON_EXECUTED, CRON_SKIPPED, EventBus
from molecule.events.activity_log import ActivityLog
from molecule.operations.a2a_send import send_a2a
from molecule.operations.cron import next_run
from molecule.operations.cron_runs import (
    CRON_CALLER,
    Outcome,
    cron_envelope,
    error_text,
    is_empty_reply,
    load_of,
    run_entry,
    wall_clock,
)
from molecule.operations.delegation_wire import buffered_reply
from molecule.store.activity_rows import ActivityEntry
from molecule.store.schedules import DueSchedule, RunRecord, ScheduleRows
from molecule.store.workspaces import Workspaces

log = logging.getLogger("molecule.operations.scheduler")

TICK = 30.0  # the longest wait between rounds (the original polled every 30 s)
FIRST_ROUND_AFTER = TICK  # after boot, as the original's first tick: agents come back first
MIN_WAIT = 0.5
BATCH = 50  # due schedules claimed per round
CONCURRENCY = 10  # fires in flight at once
CAPACITY_POLLS, CAPACITY_POLL = 12, 10.0  # a busy workspace: 12 x 10 s, then skipped
WAKE_POLLS, WAKE_POLL = 12, 10.0  # a waking or restarting one: 12 x 10 s, then an error
STALE_AFTER = 3  # empty answers in a row that make a schedule `stale`
SNAPSHOT_TIMEOUT = 15.0

Clock = Callable[[], datetime]


class Scheduler:
    def __init__(
        self,
        rows: ScheduleRows,
        directory: Directory,
        workspaces: Workspaces,
        activity: ActivityLog,
        bus: EventBus,
        *,
        now: Clock = wall_clock,
    ) -> None:
        self.rows = rows
        self.directory = directory
        self.workspaces = workspaces
        self.activity = activity
        self.bus = bus
        self.now = now
        self.tick = TICK  # the longest wait between rounds (changes made elsewhere are seen)
        self.rounds = 0
        self._limiter = trio.CapacityLimiter(CONCURRENCY)
        self._in_flight: dict[str, int] = {}  # schedule id -> fires running
        self._nursery: trio.Nursery | None = None
        self._nudged = trio.Event()
        self._repaired = False
        # What the service is doing: its tasks that are awake, and the deadlines of those
        # waiting on the clock (tests in virtual time step the clock from one to the next).
        self._awake = 0
        self.changes = 0  # counts every wake and every wait
        self._deadlines: dict[object, float] = {}
        self._changed = trio.Event()

    # -- the service ----------------------------------------------------------------------

    async def run(self) -> None:
        """The service loop (supervised: a crash is logged and the loop started again)."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self._wake(+1)
            try:
                await self._sleep(FIRST_ROUND_AFTER)
                while True:
                    await self._round_logged()
                    await self._sleep(await self._seconds_to_next(), nudgeable=True)
            finally:
                self._nursery = None
                self._wake(-1)

    def nudge(self) -> None:
        """A schedule changed: run a round now rather than at the next planned one."""
        self._nudged.set()

    def fire_now(self, schedule: DueSchedule) -> None:
        """Fire a schedule outside its times (`POST .../run`), the same way as a due one."""
        if self._nursery is None:
            raise ServiceUnavailable("scheduler not running — retry shortly", retry_after=5)
        self._start(schedule, None)

    async def _round_logged(self) -> None:
        try:
            await self.round()
        except DatastoreUnavailable:
            log.warning("scheduler: the database is unreachable; will retry")
        except Exception:
            log.exception("scheduler round failed; will retry")
        self.rounds += 1
        self._changed_now()

    async def round(self) -> int:
        """Claim and start every due schedule (up to BATCH); returns how many started."""
        now = self.now()
        if not self._repaired:
            await self._repair(now)
            self._repaired = True
        started = 0
        for schedule in await self.rows.due(now, BATCH, list(self._in_flight)):
            next_at = self._next_or_none(schedule, now)
            assert schedule.due_at is not None
            if await self.rows.claim(schedule.id, schedule.due_at, next_at):
                self._start(schedule, next_at)
                started += 1
        return started

    async def _repair(self, now: datetime) -> None:
        """Enabled schedules without a next run get one (the original's startup repair)."""
        for row in await self.rows.missing_next_run():
            try:
                await self.rows.set_next_run(
                    row["id"], next_run(row["cron_expr"], row["timezone"], now)
                )
            except BadRequest:
                log.warning("schedule %s: its cron expression or zone is invalid", row["id"])

    def _next_or_none(self, schedule: DueSchedule, now: datetime) -> datetime | None:
        try:
            return next_run(schedule.cron_expr, schedule.timezone, now)
        except BadRequest:  # stored before a library change made it invalid: fire no more
            log.warning("schedule %s: invalid cron expression or zone", schedule.id)
            return None

    async def _seconds_to_next(self) -> float:
        try:
            earliest = await self.rows.earliest_next_run(list(self._in_flight))
        except Exception:
            log.warning("scheduler: next due time unknown; checking again in %g s", self.tick)
            return self.tick
        if earliest is None:
            return self.tick
        return min(self.tick, max(MIN_WAIT, (earliest - self.now()).total_seconds()))

    # -- one fire ---------------------------------------------------------------------------

    def _start(self, schedule: DueSchedule, claimed_next: datetime | None) -> None:
        assert self._nursery is not None
        self._in_flight[schedule.id] = self._in_flight.get(schedule.id, 0) + 1
        self._wake(+1)
        self._nursery.start_soon(self._fire_logged, schedule, claimed_next)

    async def _fire_logged(self, schedule: DueSchedule, claimed_next: datetime | None) -> None:
        try:
            async with self._limiter:
                await self.fire(schedule, claimed_next)
        except DatastoreUnavailable:
            log.warning(
                "workspace %s: schedule %s: run not recorded: database unreachable",
                schedule.workspace_id,
                schedule.id,
            )
        except Exception:
            log.exception("workspace %s: schedule %s failed", schedule.workspace_id, schedule.id)
        finally:
            left = self._in_flight.pop(schedule.id, 1) - 1
            if left > 0:
                self._in_flight[schedule.id] = left
            self._wake(-1)
            self.nudge()  # a long run may have passed its next due time: plan again

    async def fire(self, schedule: DueSchedule, claimed_next: datetime | None) -> None:
        wid = schedule.workspace_id
        present, snapshot = await self._snapshot(wid)
        if not present:
            log.info("workspace %s: gone; schedule %s not fired", wid, schedule.id)
            return
        caps = (snapshot or {}).get("capabilities") or {}
        if schedule.due_at is not None and caps.get("scheduler"):
            log.info(
                "workspace %s: runs its own scheduler; schedule %s left to it", wid, schedule.id
            )
            return
        busy = await self._wait_for_capacity(wid, snapshot)
        if busy is not None:
            reason = f"skipped: workspace busy (active_tasks={busy})"
            log.info("workspace %s: schedule %s %s", wid, schedule.id, reason)
            run = self._run_record("skipped", reason, False, claimed_next, schedule)
            if await self._store(schedule, run, run_entry(schedule, skipped_busy=busy)):
                payload = {"schedule_id": schedule.id, "schedule_name": schedule.name}
                await self.bus.record(CRON_SKIPPED, wid, {**payload, "reason": reason})
            return
        outcome = await self._send(schedule)
        run = self._run_record(outcome.status, outcome.error, outcome.empty, claimed_next, schedule)
        entry = run_entry(schedule, duration_ms=outcome.duration_ms)
        stored = await self._store(schedule, run, entry)
        if stored is not None:
            payload = {"schedule_id": schedule.id, "schedule_name": schedule.name}
            await self.bus.record(CRON_EXECUTED, wid, {**payload, "status": stored.status})

    async def _snapshot(self, workspace_id: str) -> tuple[bool, dict[str, Any] | None]:
        """(the workspace exists and is not removed, its actor's live view or None)."""
        try:
            ref = await self.directory.get(workspace_id)
            if ref is None:
                return False, None
            snapshot: dict[str, Any] = await ref.ask(Snapshot(), SNAPSHOT_TIMEOUT)
            return True, snapshot
        except Gone:
            return False, None
        except MoleculeError as exc:  # busy actor, outage: its load is unknown
            log.info("workspace %s: load unknown (%s); firing anyway", workspace_id, exc.message)
            return True, None

    async def _wait_for_capacity(
        self, workspace_id: str, snapshot: dict[str, Any] | None
    ) -> int | None:
        """None once the workspace has room; its active tasks if it still has none after
        CAPACITY_POLLS polls."""
        for poll in range(CAPACITY_POLLS + 1):
            active, most = load_of(snapshot)
            if active < most:
                return None
            if poll == CAPACITY_POLLS:
                return active
            await self._sleep(CAPACITY_POLL)
            snapshot = (await self._snapshot(workspace_id))[1]
        return None  # unreachable

    async def _send(self, schedule: DueSchedule) -> Outcome:
        envelope = cron_envelope(schedule)
        started = trio.current_time()
        for attempt in range(WAKE_POLLS + 1):
            try:
                result = await send_a2a(
                    self.directory,
                    self.workspaces,
                    schedule.workspace_id,
                    envelope,
                    "message/send",
                    CRON_CALLER,
                )
                body = await buffered_reply(result)
            except ServiceUnavailable as exc:
                coming = exc.extra.get("waking") or exc.extra.get("restarting")
                if coming and attempt < WAKE_POLLS:
                    await self._sleep(WAKE_POLL)
                    continue
                return Outcome("error", error_text(exc), False, _ms(started))
            except MoleculeError as exc:
                return Outcome("error", error_text(exc), False, _ms(started))
            return Outcome("ok", "", is_empty_reply(body), _ms(started))
        raise AssertionError("unreachable")

    def _run_record(
        self,
        status: str,
        error: str,
        empty: bool,
        claimed_next: datetime | None,
        schedule: DueSchedule,
    ) -> RunRecord:
        at = self.now()
        return RunRecord(
            status=status,
            error=error,
            empty=empty and status == "ok",
            at=at,
            claimed_next=claimed_next,
            next_after_run=self._next_or_none(schedule, at),
        )

    async def _store(
        self, schedule: DueSchedule, run: RunRecord, entry: ActivityEntry
    ) -> ActivityEntry | None:
        with trio.CancelScope(shield=True), trio.move_on_after(30):  # the run happened
            stored = await self.rows.record_run(schedule.id, run, entry, STALE_AFTER)
            if stored is None:
                log.info(
                    "workspace %s: schedule %s was deleted during its run",
                    schedule.workspace_id,
                    schedule.id,
                )
                return None
            self.activity.broadcast(stored)
            return stored
        log.warning(
            "workspace %s: schedule %s: recording its run timed out",
            schedule.workspace_id,
            schedule.id,
        )
        return None

    # -- waiting, observably ----------------------------------------------------------------

    async def _sleep(self, seconds: float, *, nudgeable: bool = False) -> None:
        if nudgeable and self._nudged.is_set():  # asked for a round meanwhile
            self._nudged = trio.Event()
            await trio.lowlevel.checkpoint()
            return
        key = object()
        self._deadlines[key] = trio.current_time() + seconds
        self._wake(-1)
        try:
            with trio.move_on_after(seconds):
                if nudgeable:
                    await self._nudged.wait()
                else:
                    await trio.sleep_forever()
        finally:
            del self._deadlines[key]
            self._wake(+1)
        if nudgeable and self._nudged.is_set():
            self._nudged = trio.Event()

    def _wake(self, delta: int) -> None:
        self._awake += delta
        self.changes += 1
        self._changed_now()

    def _changed_now(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def settled(self) -> None:
        """Return once every task of the scheduler waits on the clock (or a nudge)."""
        while self._awake > 0:
            await self._changed.wait()

    @property
    def idle(self) -> bool:
        return self._awake == 0

    def next_deadline(self) -> float | None:
        """The earliest trio deadline any of the scheduler's tasks waits for."""
        return min(self._deadlines.values(), default=None)


def _ms(started: float) -> int:
    return int((trio.current_time() - started) * 1000)
