"""The figures read at scrape time from the running parts: actor mailboxes and crashes,
event-bus subscribers and drops (closed subscribers' drops still counted), through the
collector the registry exposes."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from molecule.actors.runtime import Actor, ChildSpec, RestartType
from molecule.actors.supervisor import Supervisor
from molecule.events import TASK_UPDATED, Event, EventBus
from molecule.observability.live import LiveFigures
from molecule.observability.metrics import Metrics


class Stuck(Actor):
    """Takes one message, then waits for `release`; crashes on "crash"."""

    def __init__(self, release: trio.Event) -> None:
        self.release = release

    async def handle(self, msg: object) -> None:
        if msg == "crash":
            raise RuntimeError("boom")
        await self.release.wait()


class FakePool:
    outages = 3
    query_errors = 1

    def pool_figures(self) -> tuple[int, int, int]:
        return 4, 1, 10


def _scrape(metrics: Metrics) -> dict[str, float]:
    text = metrics.render(None, generate_latest).decode()
    return {
        s.name + "".join(f"{{{k}={v}}}" for k, v in sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_mailboxes_crashes_and_bus_drops_are_read_when_scraped() -> None:
    bus = EventBus(None)  # type: ignore[arg-type]  # no record(): no store needed
    supervisor = Supervisor("test")
    metrics = Metrics()
    metrics.watch(LiveFigures(bus, supervisor, FakePool()))
    release = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run)
        busy = supervisor.start_child(ChildSpec("busy", lambda: Stuck(release)))
        supervisor.start_child(ChildSpec("idle", lambda: Stuck(release)))
        for n in range(4):  # one in hand, three waiting
            busy.tell(n)
        await trio.testing.wait_all_tasks_blocked()
        with bus.subscribe("ws", buffer=2) as slow, bus.subscribe(None, buffer=100):
            for n in range(5):
                bus.publish(Event(TASK_UPDATED, "ws", {"n": n}))
            assert slow.dropped == 3
            values = _scrape(metrics)
            assert values["molecule_event_subscribers"] == 2
        values_after = _scrape(metrics)

        assert values["molecule_actors"] == 2
        assert values["molecule_actor_mailbox_messages"] == 3
        assert values["molecule_actor_mailbox_max_messages"] == 3
        assert values["molecule_event_drops_total"] == 3
        assert values["molecule_events_published_total"] == 5
        assert values["molecule_db_pool_connections{state=in_use}"] == 3
        assert values["molecule_db_pool_connections{state=idle}"] == 1
        assert values["molecule_db_pool_max_connections"] == 10
        assert values["molecule_db_errors_total{kind=unavailable}"] == 3
        assert values["molecule_db_errors_total{kind=query}"] == 1
        # A subscriber that left keeps its drops counted; a counter never goes back.
        assert values_after["molecule_event_subscribers"] == 0
        assert values_after["molecule_event_drops_total"] == 3

        crasher = supervisor.start_child(
            ChildSpec("crasher", lambda: Stuck(release), restart=RestartType.TRANSIENT)
        )
        crasher.tell("crash")
        release.set()
        await trio.testing.wait_all_tasks_blocked()
        crashed: dict[str, Any] = _scrape(metrics)
        assert crashed["molecule_actor_crashes_total"] == 1
        assert crashed["molecule_actor_mailbox_messages"] == 0
        nursery.cancel_scope.cancel()
