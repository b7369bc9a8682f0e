"""The EventBus without a database: subscriber inboxes, batch feeds and their ticker, and idle
timers. Batch ticks and idle timers run on Trio's autojump clock, so virtual time passes at
once; every wait is bounded with `trio.fail_after` so a missing wake-up fails, not hangs."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, nullcontext
from typing import Any

import outcome
import pytest
import trio
import trio.testing

from molecule.events import TASK_UPDATED, BatchFeed, Event, EventBus, Inbox
from molecule.events.bus import BATCH_PHASES, BATCH_TICK

WAIT = 5.0
EPSILON = 1e-9  # float slack when comparing sums of virtual times
WS = "ws-watched"
OTHER = "ws-other"


@pytest.fixture
def bus() -> EventBus:
    return EventBus(None)  # type: ignore[arg-type]  # only record() touches the store


def event(n: int, workspace_id: str | None = WS) -> Event:
    return Event(TASK_UPDATED, workspace_id, {"n": n})


def array_text(*items: int) -> str:
    """A batch feed message: one JSON array text."""
    return json.dumps(items)


async def end_once_parked(
    receive: Callable[[], Awaitable[Any]], wake: Callable[[], None]
) -> outcome.Outcome[Any]:
    """Start `receive`, check it is parked, call `wake`, and capture how `receive` ended."""
    ended: list[outcome.Outcome[Any]] = []

    async def receiver() -> None:
        ended.append(await outcome.acapture(receive))

    with trio.fail_after(WAIT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(receiver)
            await trio.testing.wait_all_tasks_blocked()
            assert not ended, "receive() returned before it was woken"
            wake()
    return ended[0]


# --- Inbox and Subscription ----------------------------------------------------------------


async def test_inbox_delivers_in_offer_order() -> None:
    inbox = Inbox(8)
    events = [event(n) for n in range(3)]
    for e in events:
        inbox.offer(e)
    with trio.fail_after(WAIT):
        assert [await inbox.receive() for _ in events] == events
    assert len(inbox) == 0


def test_inbox_drain_takes_at_most_limit_oldest_first() -> None:
    inbox = Inbox(8)
    events = [event(n) for n in range(5)]
    for e in events:
        inbox.offer(e)
    assert inbox.drain(2) == events[:2]
    assert len(inbox) == 3
    assert inbox.drain(10) == events[2:]
    assert inbox.drain(10) == []


def test_full_inbox_drops_new_events_and_counts_them() -> None:
    inbox = Inbox(2)
    events = [event(n) for n in range(5)]
    for e in events:
        inbox.offer(e)
    assert inbox.dropped == 3
    assert inbox.drain(10) == events[:2]
    inbox.offer(events[4])  # room again
    assert inbox.drain(10) == [events[4]]
    assert inbox.dropped == 3


def test_inbox_receive_nowait_would_block_then_ends_once_closed_and_empty() -> None:
    inbox = Inbox(4)
    with pytest.raises(trio.WouldBlock):
        inbox.receive_nowait()
    first = event(1)
    inbox.offer(first)
    inbox.close()
    inbox.offer(event(2))  # ignored: the inbox is closed
    assert inbox.receive_nowait() is first
    with pytest.raises(trio.EndOfChannel):
        inbox.receive_nowait()


async def test_parked_inbox_receive_is_woken_by_offer() -> None:
    inbox = Inbox(4)
    e = event(1)
    ended = await end_once_parked(inbox.receive, lambda: inbox.offer(e))
    assert ended.unwrap() is e


async def test_parked_batch_feed_receive_is_woken_by_offer() -> None:
    feed = BatchFeed(4)
    text = array_text(1, 2)
    ended = await end_once_parked(feed.receive, lambda: feed.offer(text, 2))
    assert ended.unwrap() == text


@pytest.mark.parametrize("kind", [Inbox, BatchFeed])
async def test_parked_receive_is_woken_by_close(kind: type[Inbox] | type[BatchFeed]) -> None:
    channel = kind(4)
    ended = await end_once_parked(channel.receive, channel.close)
    with pytest.raises(trio.EndOfChannel):
        ended.unwrap()
    with trio.fail_after(WAIT), pytest.raises(trio.EndOfChannel):
        await channel.receive()  # and every later receive too


async def test_subscriptions_filter_by_workspace_and_end_when_closed(bus: EventBus) -> None:
    with bus.subscribe() as everything, bus.subscribe(WS) as watched:
        events = [event(1, WS), event(2, OTHER), event(3, None)]
        for e in events:
            bus.publish(e)
        assert watched.receive.drain(10) == [events[0]]
        everything.close()
        with trio.fail_after(WAIT):
            assert [e async for e in everything] == events
    assert bus.subscriber_count == 0
    assert bus.published == 3


# --- BatchFeed ------------------------------------------------------------------------------


async def test_batch_feed_returns_a_single_text_as_is() -> None:
    feed = BatchFeed(4)
    text = array_text(1, 2, 3)
    feed.offer(text, 3)
    with trio.fail_after(WAIT):
        assert await feed.receive() == text


async def test_batch_feed_merges_queued_texts_into_one_array_in_order() -> None:
    feed = BatchFeed(4)
    parts = [[1, 2], [3], [4, 5, 6]]
    for part in parts:
        feed.offer(array_text(*part), len(part))
    with trio.fail_after(WAIT):
        merged = await feed.receive()
    assert json.loads(merged) == [1, 2, 3, 4, 5, 6]
    assert feed.dropped == 0


async def test_batch_feed_over_its_limit_drops_the_oldest_text_and_counts_its_events() -> None:
    feed = BatchFeed(2)
    feed.offer(array_text(1, 2), 2)
    feed.offer(array_text(3), 1)
    feed.offer(array_text(4, 5, 6), 3)
    assert feed.dropped == 2
    with trio.fail_after(WAIT):
        assert json.loads(await feed.receive()) == [3, 4, 5, 6]


# --- run_batches ----------------------------------------------------------------------------


@asynccontextmanager
async def batches_running(bus: EventBus) -> AsyncIterator[None]:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(bus.run_batches)
        yield
        nursery.cancel_scope.cancel()


async def receives_nothing(feed: BatchFeed, ticks: int = 5) -> bool:
    """True if nothing reaches the feed for `ticks` batch ticks."""
    with trio.move_on_after(ticks * BATCH_TICK) as scope:
        await feed.receive()
    return scope.cancelled_caught


async def test_run_batches_gives_every_feed_one_shared_text_per_tick(
    bus: EventBus, autojump_clock: trio.testing.MockClock
) -> None:
    count = 5
    step = BATCH_TICK / BATCH_PHASES
    with bus.batch_feed() as first, bus.batch_feed() as second:
        async with batches_running(bus):
            start = trio.current_time()
            for n in range(count):
                bus.broadcast(TASK_UPDATED, WS, {"n": n})
            with trio.fail_after(WAIT):
                text = await first.receive()
                first_at = trio.current_time() - start
                assert await second.receive() is text  # serialised once for both
                second_at = trio.current_time() - start
    # The feeds are in different phases of the tick: woken one step apart, each within a tick.
    assert first_at == pytest.approx(step)
    assert second_at == pytest.approx(2 * step)
    messages = json.loads(text)
    assert [m["payload"] for m in messages] == [{"n": n} for n in range(count)]
    assert all(m["event"] == TASK_UPDATED and m["workspace_id"] == WS for m in messages)
    assert all(m.keys() == {"event", "workspace_id", "timestamp", "payload"} for m in messages)


async def test_run_batches_offers_nothing_on_a_quiet_tick(
    bus: EventBus, autojump_clock: trio.testing.MockClock
) -> None:
    with bus.batch_feed() as feed:
        async with batches_running(bus):
            bus.broadcast(TASK_UPDATED, WS, {"n": 1})
            with trio.fail_after(WAIT):
                await feed.receive()
            assert await receives_nothing(feed)
    assert feed.dropped == 0


async def test_events_published_without_a_feed_are_not_kept(
    bus: EventBus, autojump_clock: trio.testing.MockClock
) -> None:
    with bus.subscribe():  # someone listens, so the events are built and published
        bus.broadcast(TASK_UPDATED, WS, {"n": 1})
        bus.publish(event(2))
    assert bus._tick == []
    with bus.batch_feed() as feed:
        async with batches_running(bus):
            assert await receives_nothing(feed)


async def test_run_batches_wakes_each_feed_once_per_tick_with_everything_since(
    bus: EventBus, autojump_clock: trio.testing.MockClock
) -> None:
    """Events of every step reach a feed at its phase, one message per tick, in order."""
    step = BATCH_TICK / BATCH_PHASES
    with contextlib.ExitStack() as stack:
        feeds = [stack.enter_context(bus.batch_feed()) for _ in range(BATCH_PHASES)]
        last = feeds[-1]  # the phase woken last in each tick
        received: list[tuple[float, list[Any]]] = []

        async def collect() -> None:
            while sum(len(m) for _, m in received) < 2 * BATCH_PHASES:
                text = await last.receive()
                received.append((trio.current_time() - start, json.loads(text)))

        async with batches_running(bus), trio.open_nursery() as nursery:
            start = trio.current_time()
            nursery.start_soon(collect)
            await trio.sleep(step / 2)  # publish between steps
            for n in range(2 * BATCH_PHASES):
                bus.broadcast(TASK_UPDATED, WS, {"n": n})
                await trio.sleep(step)  # one event per step
            with trio.fail_after(WAIT):
                while len(received) < 2:
                    await trio.sleep(step)
    times = [t for t, _ in received]
    assert times == pytest.approx([BATCH_TICK, 2 * BATCH_TICK])
    assert [[m["payload"]["n"] for m in batch] for _, batch in received] == [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
    ]


async def test_feeds_of_one_phase_share_one_merged_text(
    bus: EventBus, autojump_clock: trio.testing.MockClock
) -> None:
    step = BATCH_TICK / BATCH_PHASES
    with contextlib.ExitStack() as stack:
        feeds = [stack.enter_context(bus.batch_feed()) for _ in range(BATCH_PHASES + 1)]
        first, same_phase = feeds[-1], feeds[0]  # the fifth joins the first phase
        async with batches_running(bus):
            await trio.sleep(step * 1.5)  # just after the first phase's turn
            for n in range(3):  # over three steps: three texts merged at its next turn
                bus.broadcast(TASK_UPDATED, WS, {"n": n})
                await trio.sleep(step)
            with trio.fail_after(WAIT):
                merged = await first.receive()
                assert await same_phase.receive() is merged
    assert [m["payload"]["n"] for m in json.loads(merged)] == [0, 1, 2]


def test_listening_and_subscriber_count_include_batch_feeds(bus: EventBus) -> None:
    assert not bus.listening(WS)
    assert not bus.listening(None)
    with bus.batch_feed(), bus.batch_feed():
        assert bus.listening(WS)
        assert bus.listening(None)
        assert bus.subscriber_count == 2
        with bus.subscribe(WS):
            assert bus.subscriber_count == 3
    assert bus.subscriber_count == 0
    assert not bus.listening(WS)


# --- Idle timers ----------------------------------------------------------------------------


def slack(seconds: float) -> float:
    """How late an idle timer may fire (EventBus pushes deadlines back in steps)."""
    return min(1.0, seconds / 10)


async def idle_expiry(bus: EventBus, workspace_id: str, seconds: float) -> float:
    """Wait inside an idle timer until it expires; returns the (virtual) time it did."""
    with trio.fail_after(seconds * 100):
        with bus.idle_timer(workspace_id, seconds) as scope:
            await trio.sleep_forever()
    assert scope.cancelled_caught
    return trio.current_time()


async def broadcast_every(
    bus: EventBus, workspace_id: str, period: float, count: int, sent: list[float]
) -> None:
    """`count` events for the workspace, one per `period`; appends each one's time to `sent`."""
    for n in range(count):
        await trio.sleep(period)
        bus.broadcast(TASK_UPDATED, workspace_id, {"n": n})
        sent.append(trio.current_time())


@pytest.mark.parametrize("seconds", [2.0, 30.0])
async def test_idle_timer_expires_after_seconds_without_events(
    bus: EventBus, autojump_clock: trio.testing.MockClock, seconds: float
) -> None:
    start = trio.current_time()
    assert await idle_expiry(bus, WS, seconds) - start == pytest.approx(seconds)
    assert bus._idle == {}


@pytest.mark.parametrize("watched", [False, True], ids=["unwatched", "watched"])
@pytest.mark.parametrize("seconds", [2.0, 30.0])
async def test_idle_timer_is_pushed_back_by_the_workspaces_events(
    bus: EventBus, autojump_clock: trio.testing.MockClock, seconds: float, watched: bool
) -> None:
    count = 20  # ten timer lengths of events
    sent: list[float] = []
    with bus.subscribe(WS) if watched else nullcontext():  # publish() vs the unheard fast path
        async with trio.open_nursery() as nursery:
            nursery.start_soon(broadcast_every, bus, WS, seconds / 2, count, sent)
            expired = await idle_expiry(bus, WS, seconds)
    assert len(sent) == count, "the timer expired while events were still coming"
    quiet = expired - sent[-1]
    assert seconds - EPSILON <= quiet <= seconds + slack(seconds) + EPSILON
    assert bus._idle == {}


async def test_idle_timer_ignores_other_workspaces_events(
    bus: EventBus, autojump_clock: trio.testing.MockClock
) -> None:
    seconds = 10.0
    sent: list[float] = []
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(broadcast_every, bus, OTHER, seconds / 2, 20, sent)
        expired = await idle_expiry(bus, WS, seconds)
        nursery.cancel_scope.cancel()
    assert expired - start == pytest.approx(seconds)
    assert sent, "no events for the other workspace were sent"


async def test_idle_timers_are_removed_from_the_bus_when_their_block_exits(
    bus: EventBus, autojump_clock: trio.testing.MockClock
) -> None:
    with bus.idle_timer(WS, 5.0) as outer:
        with bus.idle_timer(WS, 5.0):
            assert len(bus._idle[WS]) == 2
        assert len(bus._idle[WS]) == 1
    assert not outer.cancelled_caught
    assert bus._idle == {}

    with pytest.raises(KeyError), bus.idle_timer(WS, 5.0):
        raise KeyError(WS)
    assert bus._idle == {}

    await idle_expiry(bus, WS, 5.0)
    assert bus._idle == {}
