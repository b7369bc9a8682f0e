"""The cron scheduler in virtual time (molecule.operations.scheduler): a real platform and
database, scripted HTTP agents on loopback, and a clock that jumps from one of the
scheduler's deadlines to the next, so hours pass in a fraction of a second."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trio
import trio.testing

from molecule.actors.messages import Pause, Register, Removed
from molecule.models import WorkspaceStatus
from molecule.store.schedules import ScheduleRows
from tests.a2a.agents import ScriptedAgent
from tests.operations.scheduler_harness import Cron, cron_platform, serve_agent

START = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)  # a Monday


@pytest.fixture
async def agents() -> AsyncIterator[trio.Nursery]:
    async with trio.open_nursery() as nursery:
        yield nursery
        nursery.cancel_scope.cancel()


@pytest.fixture
async def cron(
    aio_loop: object,
    dsn: str,
    tmp_path: Path,
    mock_clock: trio.testing.MockClock,
    agents: trio.Nursery,
) -> AsyncIterator[Cron]:
    async with cron_platform(dsn, tmp_path, mock_clock, START) as c:
        yield c


def prompts(agent: ScriptedAgent) -> list[str]:
    return [r.json()["params"]["message"]["parts"][0]["text"] for r in agent.received]


async def test_every_minute_fires_once_a_minute_with_a_cron_run_row_each(
    cron: Cron, mock_clock: trio.testing.MockClock, agents: trio.Nursery
) -> None:
    agent = ScriptedAgent()
    wid = await cron.workspace(await serve_agent(agents, agent))
    sid = await cron.schedule(wid, "* * * * *", name="tick")
    await cron.advance(5 * 60 + 30)

    assert len(agent.received) == 5
    message = agent.received[0].json()
    assert message["method"] == "message/send"
    assert message["params"]["message"]["role"] == "user"
    assert message["params"]["message"]["messageId"].startswith(f"cron-{sid[:8]}-")
    assert prompts(agent) == ["do tick"] * 5
    ids = {r.json()["params"]["message"]["messageId"] for r in agent.received}
    assert len(ids) == 5

    runs = await cron.runs(wid)
    assert len(runs) == 5
    assert {(r["status"], r["method"], r["summary"], r["source_id"]) for r in runs} == {
        ("ok", "cron", "Cron: tick", None)
    }
    assert runs[0]["request_body"] == {
        "schedule_id": sid,
        "schedule_name": "tick",
        "cron_expr": "* * * * *",
        "prompt": "do tick",
    }
    assert all(r["duration_ms"] is not None and r["duration_ms"] >= 0 for r in runs)
    row = await cron.row(sid)
    assert row["run_count"] == 5 and row["last_status"] == "ok" and row["last_error"] == ""
    assert row["last_run_at"] == START + timedelta(minutes=5)
    assert row["next_run_at"] == START + timedelta(minutes=6)
    executed = await cron.events(wid, "CRON_EXECUTED")
    assert executed == [{"schedule_id": sid, "schedule_name": "tick", "status": "ok"}] * 5
    # The message itself went through the proxy pipeline: a receipt on the target, from
    # no workspace (a platform caller).
    await cron.svc.activity.flush()
    receipts = await cron.svc.store.fetch(
        "SELECT source_id, method FROM activity_logs WHERE workspace_id = $1"
        " AND activity_type = 'a2a_receive'",
        wid,
    )
    assert [(r["source_id"], r["method"]) for r in receipts] == [(None, "message/send")] * 5


async def test_a_due_time_is_claimed_once_however_many_schedulers_race(
    cron: Cron, mock_clock: trio.testing.MockClock
) -> None:
    wid = await cron.workspace(None)
    sid = await cron.schedule(wid, "*/5 * * * *")
    rows = ScheduleRows(cron.svc.store)
    due = (await cron.row(sid))["next_run_at"]
    after = due + timedelta(minutes=5)
    wins: list[bool] = []

    async def claim() -> None:
        wins.append(await rows.claim(sid, due, after))

    async with trio.open_nursery() as nursery:
        for _ in range(8):
            nursery.start_soon(claim)
    assert sorted(wins) == [False] * 7 + [True]
    assert (await cron.row(sid))["next_run_at"] == after


async def test_a_restart_mid_run_never_fires_that_due_time_again(
    dsn: str,
    tmp_path: Path,
    mock_clock: trio.testing.MockClock,
    aio_loop: object,
    agents: trio.Nursery,
) -> None:
    agent = ScriptedAgent(delay=None)  # takes the 09:01 message and never answers
    url = await serve_agent(agents, agent)
    async with cron_platform(dsn, tmp_path, mock_clock, START) as first:
        wid = await first.workspace(url)
        sid = await first.schedule(wid, "* * * * *")
        await first.advance(50)
        mock_clock.jump(10)  # 09:01: due
        with trio.fail_after(10):  # real seconds: the clock stands still meanwhile
            while not agent.received:
                await trio.testing.wait_all_tasks_blocked(0.01)
        assert (await first.row(sid))["next_run_at"] == START + timedelta(minutes=2)
        stopped_at = first.now()
    # The platform is gone mid-run (its agent still holds the message); a new one starts
    # over the same database a little later.
    agent.delay = 0.0
    mock_clock.jump(15)
    async with cron_platform(
        dsn, tmp_path, mock_clock, stopped_at + timedelta(seconds=15)
    ) as second:
        await second.advance_to(START + timedelta(minutes=3, seconds=30))
        times = [r.json()["params"]["message"]["messageId"] for r in agent.received]
        assert len(times) == 3 and len(set(times)) == 3  # 09:01 (first), 09:02, 09:03
        runs = await second.runs(wid)
        assert [r["status"] for r in runs] == ["ok", "ok"]  # the cut-short run left none
        row = await second.row(sid)
        assert row["run_count"] == 2 and row["next_run_at"] == START + timedelta(minutes=4)


async def test_a_busy_workspace_is_waited_for_then_skipped_as_the_original(
    cron: Cron, mock_clock: trio.testing.MockClock, agents: trio.Nursery
) -> None:
    agent = ScriptedAgent()
    wid = await cron.workspace(await serve_agent(agents, agent), max_tasks=2)
    await cron.heartbeat(wid, active_tasks=2)  # no spare capacity
    sid = await cron.schedule(wid, "0 * * * *", name="hourly")
    await cron.advance_to(START + timedelta(hours=1, seconds=110))
    assert agent.received == [] and await cron.runs(wid) == []  # still waiting (2 min)
    await cron.advance_to(START + timedelta(hours=1, minutes=2, seconds=30))
    assert agent.received == []
    reason = "skipped: workspace busy (active_tasks=2)"
    [run] = await cron.runs(wid)
    assert (run["status"], run["error_detail"], run["summary"]) == (
        "skipped",
        reason,
        "Cron skipped: hourly",
    )
    assert run["request_body"] == {
        "schedule_id": sid,
        "schedule_name": "hourly",
        "cron_expr": "0 * * * *",
        "skipped": True,
        "active_tasks": 2,
    }
    row = await cron.row(sid)
    assert (row["last_status"], row["last_error"], row["run_count"]) == ("skipped", reason, 1)
    assert row["next_run_at"] == START + timedelta(hours=2)
    assert await cron.events(wid, "CRON_SKIPPED") == [
        {"schedule_id": sid, "schedule_name": "hourly", "reason": reason}
    ]

    # Next hour it frees up 30 s into the wait: the run goes out then.
    await cron.advance_to(START + timedelta(hours=2, seconds=35))
    assert agent.received == []
    await cron.heartbeat(wid, active_tasks=1)
    await cron.advance(30)
    assert prompts(agent) == ["do hourly"]
    assert [r["status"] for r in await cron.runs(wid)] == ["skipped", "ok"]


async def test_a_runtime_with_its_own_scheduler_is_left_to_it(
    cron: Cron, mock_clock: trio.testing.MockClock, agents: trio.Nursery
) -> None:
    agent = ScriptedAgent()
    wid = await cron.workspace(await serve_agent(agents, agent))
    await cron.heartbeat(wid, runtime_metadata={"capabilities": {"scheduler": True}})
    sid = await cron.schedule(wid, "*/2 * * * *")
    await cron.advance(5 * 60)
    assert agent.received == [] and await cron.runs(wid) == []
    row = await cron.row(sid)
    # Observable all the same: the next run moves on; nothing was run or counted.
    assert row["next_run_at"] == START + timedelta(minutes=6) and row["run_count"] == 0
    assert await cron.events(wid, "CRON_EXECUTED") == []


async def test_a_paused_workspace_records_the_error_and_a_removed_one_nothing(
    cron: Cron, mock_clock: trio.testing.MockClock, agents: trio.Nursery
) -> None:
    agent = ScriptedAgent()
    paused = await cron.workspace(await serve_agent(agents, agent))
    removed = await cron.workspace(await serve_agent(agents, agent))
    paused_job = await cron.schedule(paused, "*/10 * * * *")
    removed_job = await cron.schedule(removed, "*/10 * * * *")
    assert await cron.ask(paused, Pause()) is True
    await cron.svc.workspaces.cascade_remove(removed)
    ref = cron.svc.directory.running(removed)
    assert ref is not None
    ref.tell(Removed())  # what the removal's cleanup tells the actor
    await cron.advance(10 * 60 + 30)

    assert agent.received == []
    [run] = await cron.runs(paused)
    assert run["status"] == "error"
    assert run["error_detail"] == "HTTP 503: workspace has no URL"
    assert (await cron.row(paused_job))["last_status"] == "error"
    assert await cron.runs(removed) == []
    untouched = await cron.row(removed_job)
    assert untouched["run_count"] == 0 and untouched["next_run_at"] == START + timedelta(minutes=10)


async def test_a_restarting_workspace_gets_the_run_once_it_is_up(
    cron: Cron, mock_clock: trio.testing.MockClock, agents: trio.Nursery
) -> None:
    agent = ScriptedAgent()
    url = await serve_agent(agents, agent)
    wid = await cron.workspace(None, status=WorkspaceStatus.PROVISIONING)
    sid = await cron.schedule(wid, "0 10 * * *")
    await cron.advance_to(START + timedelta(hours=1, seconds=25))  # 503 restarting, twice
    assert agent.received == [] and await cron.runs(wid) == []
    await cron.ask(wid, Register(url, {"name": "agent"}, None))
    await cron.advance(10)
    assert prompts(agent) == ["do job"]
    [run] = await cron.runs(wid)
    assert run["status"] == "ok" and run["duration_ms"] == 30_000
    assert (await cron.row(sid))["last_status"] == "ok"


async def test_a_workspace_that_never_wakes_is_an_error_after_two_minutes(
    cron: Cron, mock_clock: trio.testing.MockClock
) -> None:
    """Hibernated, but nothing here can start it (an external agent): every try is told
    `waking`; after 12 more tries 10 s apart the run is an error."""
    wid = await cron.workspace(None, status=WorkspaceStatus.HIBERNATED)
    sid = await cron.schedule(wid, "0 10 * * *")
    await cron.advance_to(START + timedelta(hours=1, minutes=1, seconds=55))
    assert await cron.runs(wid) == []
    await cron.advance(10)
    [run] = await cron.runs(wid)
    waking = "HTTP 503: workspace is waking from hibernation — retry in ~15 seconds"
    assert (run["status"], run["error_detail"], run["duration_ms"]) == ("error", waking, 120_000)
    assert (await cron.row(sid))["last_error"] == waking


async def test_three_empty_answers_in_a_row_make_a_schedule_stale(
    cron: Cron, mock_clock: trio.testing.MockClock, agents: trio.Nursery
) -> None:
    agent = ScriptedAgent(reply_text="")
    wid = await cron.workspace(await serve_agent(agents, agent))
    sid = await cron.schedule(wid, "* * * * *")
    await cron.advance(2 * 60 + 30)
    assert (await cron.row(sid))["last_status"] == "ok"
    await cron.advance(60)
    row = await cron.row(sid)
    assert row["last_status"] == "stale"
    assert (
        row["last_error"] == "empty response 3 consecutive times — agent may be phantom-producing"
    )
    assert [r["status"] for r in await cron.runs(wid)] == ["ok", "ok", "stale"]
    agent.reply_text = "done"
    await cron.advance(60)
    row = await cron.row(sid)
    assert (row["last_status"], row["last_error"], row["consecutive_empty_runs"]) == ("ok", "", 0)


async def test_an_agent_error_is_the_run_outcome(
    cron: Cron, mock_clock: trio.testing.MockClock, agents: trio.Nursery
) -> None:
    agent = ScriptedAgent(status=500, body=json.dumps({"error": "agent exploded"}).encode())
    wid = await cron.workspace(await serve_agent(agents, agent))
    sid = await cron.schedule(wid, "* * * * *")
    await cron.advance(90)
    [run] = await cron.runs(wid)
    assert (run["status"], run["error_detail"]) == ("error", "HTTP 500: agent exploded")
    row = await cron.row(sid)
    assert (row["last_status"], row["last_error"]) == ("error", "HTTP 500: agent exploded")
    assert await cron.events(wid, "CRON_EXECUTED") == [
        {"schedule_id": sid, "schedule_name": "job", "status": "error"}
    ]


@pytest.mark.parametrize(
    ("start", "expr", "fired_at", "next_at"),
    [
        # Spring-forward, 29 March: 02:30 does not exist; the run is at 03:00 CEST.
        (
            datetime(2026, 3, 29, 0, 0, tzinfo=UTC),
            "30 2 * * *",
            [datetime(2026, 3, 29, 1, 0, tzinfo=UTC)],
            datetime(2026, 3, 30, 0, 30, tzinfo=UTC),
        ),
        # Fall-back, 25 October: 02:30 happens twice; it runs at the first only.
        (
            datetime(2026, 10, 25, 0, 0, tzinfo=UTC),
            "30 2 * * *",
            [datetime(2026, 10, 25, 0, 30, tzinfo=UTC)],
            datetime(2026, 10, 26, 1, 30, tzinfo=UTC),
        ),
    ],
)
async def test_daylight_saving_days_in_berlin(
    dsn: str,
    tmp_path: Path,
    mock_clock: trio.testing.MockClock,
    aio_loop: object,
    agents: trio.Nursery,
    start: datetime,
    expr: str,
    fired_at: list[datetime],
    next_at: datetime,
) -> None:
    agent = ScriptedAgent()
    async with cron_platform(dsn, tmp_path, mock_clock, start) as cron:
        wid = await cron.workspace(await serve_agent(agents, agent))
        sid = await cron.schedule(wid, expr, timezone="Europe/Berlin")
        seen: list[datetime] = []
        for _ in range(4 * 6):  # two hours, in steps of 5 minutes
            before = len(agent.received)
            await cron.advance(5 * 60)
            if len(agent.received) > before:
                seen.append((await cron.row(sid))["last_run_at"])
        assert seen == fired_at
        assert len(agent.received) == len(fired_at)
        assert (await cron.row(sid))["next_run_at"] == next_at
