"""ServiceSupervisor and Tasks in virtual time: a crashing service is logged and started
again with a growing backoff; a task outlives the caller that stopped waiting for it."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

from molecule.actors.supervision import MAX_BACKOFF, ServiceSupervisor, Tasks
from molecule.errors import DatastoreUnavailable, ServiceUnavailable


async def test_a_crashing_service_is_logged_and_restarted(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    runs: list[float] = []

    async def flaky() -> None:
        runs.append(trio.current_time())
        raise RuntimeError("boom")

    services = ServiceSupervisor()
    async with trio.open_nursery() as nursery:
        await nursery.start(services.run)
        with caplog.at_level(logging.ERROR):
            services.start("flaky", flaky)
            await trio.sleep(200)
        nursery.cancel_scope.cancel()
    gaps = [b - a for a, b in zip(runs, runs[1:], strict=False)]
    assert gaps[:4] == [1.0, 2.0, 4.0, 8.0]  # backoff doubles ...
    assert max(gaps) == MAX_BACKOFF  # ... up to a minute
    assert services.states["flaky"].restarts in (len(runs) - 1, len(runs))
    assert "boom" in services.states["flaky"].last_error
    assert "service flaky crashed" in caplog.text


async def test_a_periodic_round_that_fails_does_not_stop_the_next(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rounds = 0

    async def work() -> None:
        nonlocal rounds
        rounds += 1
        if rounds == 2:
            raise DatastoreUnavailable()
        if rounds == 3:
            raise ValueError("a bad round")

    services = ServiceSupervisor()
    async with trio.open_nursery() as nursery:
        await nursery.start(services.run)
        services.every("sweep", 10, work)
        await trio.sleep(55)
        nursery.cancel_scope.cancel()
    assert rounds == 5
    assert services.states["sweep"].restarts == 0  # failed rounds are not crashes


async def test_a_task_goes_on_when_its_caller_stops_waiting(
    autojump_clock: trio.testing.MockClock,
) -> None:
    finished = trio.Event()

    async def slow() -> str:
        await trio.sleep(20)
        finished.set()
        return "done"

    async with trio.open_nursery() as nursery:
        tasks = Tasks(nursery)
        with trio.move_on_after(1):  # the client hangs up
            await tasks.run("cleanup", slow, timeout=30)
        assert not finished.is_set() and tasks.running == 1
        await finished.wait()
        assert await tasks.run("again", slow, timeout=30) == "done"
        with pytest.raises(trio.TooSlowError):
            await tasks.run("too slow", slow, timeout=5)
        assert tasks.running == 0


async def test_tasks_are_bounded(autojump_clock: trio.testing.MockClock) -> None:
    async def ten_seconds() -> None:
        await trio.sleep(10)

    async with trio.open_nursery() as nursery:
        tasks = Tasks(nursery, limit=2)
        tasks.start("a", ten_seconds)
        tasks.start("b", ten_seconds)
        with pytest.raises(ServiceUnavailable):
            tasks.start("c", ten_seconds)
        await trio.sleep(11)
        tasks.start("d", ten_seconds)  # room again
        failing_done = trio.Event()

        async def failing() -> None:
            try:
                raise RuntimeError("task failure")
            finally:
                failing_done.set()

        tasks.start("failing", failing)  # logged, never crashes the nursery
        await failing_done.wait()
        await trio.sleep(11)
        assert tasks.running == 0
