"""ActivityLog against a real database: group commit for `log()`, staging and the writer task,
the row-by-row fallback when a batch insert fails, and when ACTIVITY_LOGGED goes out.

Every wait is bounded with `trio.fail_after`, so a write that never happens fails the test."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from itertools import pairwise
from typing import Any

import pytest
import trio

from molecule.events import ACTIVITY_LOGGED, Event, EventBus
from molecule.events.activity_log import STAGE_GATHER, ActivityLog
from molecule.store.activity_rows import ActivityEntry, ActivityRows
from molecule.store.pool import Connection, Store

WAIT = 10.0
Row = dict[str, Any]


class CountingRows(ActivityRows):
    """ActivityRows that counts the statements it is asked to run."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.batches: list[int] = []  # entries per insert_many call, in call order
        self.singles = 0  # insert calls

    async def insert_many(self, entries: Sequence[ActivityEntry]) -> list[Row]:
        self.batches.append(len(entries))
        return await super().insert_many(entries)

    async def insert(self, entry: ActivityEntry, conn: Connection | None = None) -> Row:
        self.singles += 1
        return await super().insert(entry, conn)


class Logged:
    """Concurrent `log()` calls, in the order they joined a batch, with what each returned."""

    def __init__(self, activity: ActivityLog) -> None:
        self.activity = activity
        self.order: list[ActivityEntry] = []
        self.rows: dict[ActivityEntry, Row | None] = {}

    def start(self, nursery: trio.Nursery, entries: Iterable[ActivityEntry]) -> None:
        for entry in entries:
            nursery.start_soon(self._log, entry)

    async def _log(self, entry: ActivityEntry) -> None:
        self.order.append(entry)  # log() joins the open batch before its first checkpoint
        self.rows[entry] = await self.activity.log(entry)


@pytest.fixture
async def workspace(store: Store) -> str:
    workspace_id: str = await store.fetchval(
        "INSERT INTO workspaces (name) VALUES ($1) RETURNING id", "activity-test"
    )
    return workspace_id


@pytest.fixture
def rows(store: Store) -> CountingRows:
    return CountingRows(store)


@pytest.fixture
def activity(store: Store, rows: CountingRows) -> ActivityLog:
    return ActivityLog(rows, EventBus(store))


def make_entries(workspace_id: str, count: int, prefix: str = "entry") -> list[ActivityEntry]:
    return [ActivityEntry(workspace_id, "agent_log", summary=f"{prefix} {n}") for n in range(count)]


async def stored_summaries(store: Store) -> list[str]:
    """Every stored row's summary, oldest first."""
    records = await store.fetch("SELECT summary FROM activity_logs ORDER BY created_at, id")
    return [record["summary"] for record in records]


def logged_summaries(events: Iterable[Event]) -> list[str]:
    return [e.payload["summary"] for e in events if e.type == ACTIVITY_LOGGED]


async def test_concurrent_logs_share_insert_statements_in_join_order(
    store: Store, workspace: str, rows: CountingRows, activity: ActivityLog
) -> None:
    first_wave = make_entries(workspace, 10, "first")
    second_wave = make_entries(workspace, 10, "second")
    logged = Logged(activity)
    with activity.bus.subscribe(workspace) as sub:
        with trio.fail_after(WAIT):
            async with trio.open_nursery() as nursery:
                logged.start(nursery, first_wave)
                while not rows.batches:  # the first wave's write is in flight ...
                    await trio.sleep(0.001)
                logged.start(nursery, second_wave)  # ... so the second wave gathers behind it
        events = sub.receive.drain(100)

    results = [logged.rows[entry] for entry in logged.order]
    assert all(row is not None for row in results)
    ids = [row["id"] for row in results if row is not None]
    assert len(set(ids)) == len(ids) == 20
    assert rows.batches == [10, 10]
    assert rows.singles == 0
    stamps = [row["created_at"] for row in results if row is not None]
    assert all(earlier < later for earlier, later in pairwise(stamps))
    assert await stored_summaries(store) == [entry.summary for entry in logged.order]
    assert sorted(logged_summaries(events)) == sorted(e.summary or "" for e in logged.order)


async def test_staged_entry_is_broadcast_at_once_and_stored_by_flush(
    store: Store, workspace: str, rows: CountingRows, activity: ActivityLog
) -> None:
    (entry,) = make_entries(workspace, 1, "staged")
    with activity.bus.subscribe(workspace) as sub:
        activity.stage(entry)
        announced = sub.receive.receive_nowait()  # no checkpoint since stage()
        assert announced.type == ACTIVITY_LOGGED
        assert announced.payload["summary"] == entry.summary
        assert await stored_summaries(store) == []  # nothing writes without run() or flush()

        with trio.fail_after(WAIT):
            await activity.flush()
        assert await stored_summaries(store) == [entry.summary]
        assert rows.batches == [1]
        with pytest.raises(trio.WouldBlock):
            sub.receive.receive_nowait()  # announced once, not again after the insert


async def test_writer_task_stores_staged_entries_within_the_gather_window(
    store: Store, workspace: str, rows: CountingRows, activity: ActivityLog
) -> None:
    staged = make_entries(workspace, 3, "staged")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(activity.run)
        start = trio.current_time()
        for entry in staged:
            activity.stage(entry)
        with trio.fail_after(STAGE_GATHER + 1.0):
            while len(await stored_summaries(store)) < len(staged):
                await trio.sleep(0.005)
        elapsed = trio.current_time() - start
        nursery.cancel_scope.cancel()
    assert elapsed >= STAGE_GATHER  # the writer gathers before it writes
    assert rows.batches == [len(staged)]
    assert await stored_summaries(store) == [entry.summary for entry in staged]


async def test_failed_batch_falls_back_to_row_by_row_inserts(
    store: Store, workspace: str, rows: CountingRows, activity: ActivityLog
) -> None:
    missing = str(uuid.uuid4())  # no such workspace: a foreign-key violation
    good = make_entries(workspace, 3, "good")
    (bad,) = make_entries(missing, 1, "bad")
    logged = Logged(activity)
    with activity.bus.subscribe() as sub:
        with trio.fail_after(WAIT):
            async with trio.open_nursery() as nursery:
                logged.start(nursery, [good[0], bad, *good[1:]])
        events = sub.receive.drain(100)

    assert logged.rows[bad] is None
    assert all(logged.rows[entry] is not None for entry in good)
    assert rows.batches == [4]
    assert rows.singles == 4
    stored = await stored_summaries(store)
    assert sorted(stored) == sorted(entry.summary or "" for entry in good)
    assert sorted(logged_summaries(events)) == sorted(stored)
    assert all(e.workspace_id == workspace for e in events)


async def test_lone_failed_log_returns_none_without_broadcast(
    store: Store, rows: CountingRows, activity: ActivityLog
) -> None:
    (bad,) = make_entries(str(uuid.uuid4()), 1, "bad")
    with activity.bus.subscribe() as sub:
        with trio.fail_after(WAIT):
            assert await activity.log(bad) is None
        assert sub.receive.drain(10) == []
    assert rows.batches == [1]
    assert rows.singles == 0  # a batch of one has nothing to retry row by row
    assert await stored_summaries(store) == []


async def test_flush_with_nothing_pending_returns_promptly(
    workspace: str, rows: CountingRows, activity: ActivityLog
) -> None:
    with trio.fail_after(1.0):
        await activity.flush()
    assert rows.batches == []

    activity.stage(make_entries(workspace, 1)[0])
    with trio.fail_after(WAIT):
        await activity.flush()
    with trio.fail_after(1.0):
        await activity.flush()  # everything is written: no second statement
    assert rows.batches == [1]
    assert rows.singles == 0
