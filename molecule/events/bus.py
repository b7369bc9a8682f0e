"""The EventBus: in-process pub/sub for the canvas, agents, SSE clients, and idle timers.

Two paths, as in the original:
- `record()` stores a `structure_events` row first and broadcasts only if it landed
  (lifecycle events: ONLINE, OFFLINE, REMOVED ...);
- `broadcast()` is fan-out only, for high-volume or ephemeral events (HEARTBEAT,
  TASK_UPDATED, ACTIVITY_LOGGED ...).

Fan-out never blocks the publisher (molecule.events.feeds). Batch-mode canvas connections
(`batch_feed`) get one message per tick, built from array texts serialised once for all of
them. Idle timers (`idle_timer`) are cancel scopes whose deadline every event for their
workspace pushes back.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import trio

from molecule.errors import DatastoreUnavailable
from molecule.events.catalogue import Event
from molecule.events.feeds import BATCH_FEED_LIMIT, BatchFeed, Subscription, merged_texts
from molecule.store.pool import Store
from molecule.store.structure_events import StructureEvents

log = logging.getLogger("molecule.events")

IDLE_RESET_SLACK = 1.0
# Batch-mode canvas connections get one message per tick at most: a WebSocket message costs
# the server 35-90 us of framing and socket bookkeeping per connection (bench/floor.py), so a
# hundred canvases at hundreds of events per second are only affordable as a few dozen
# messages each.
BATCH_TICK = 0.02
# The feeds are spread over the tick: every BATCH_TICK / BATCH_PHASES the bus serialises the
# events since the last step and serves one phase's feeds everything since their last turn. A
# hundred connections sending at the same instant made every HTTP request that arrived then
# wait for the whole burst (measured: p99 of the publish path 14 ms instead of 2).
BATCH_PHASES = 4
FEED_WAKE_GROUP = 8  # batch feeds woken per scheduler pass


class _IdleTimer:
    __slots__ = ("scope", "seconds", "slack")

    def __init__(self, scope: trio.CancelScope, seconds: float) -> None:
        self.scope = scope
        self.seconds = seconds
        # Deadlines are pushed back at most once per `slack` (the timer may fire up to that
        # much late, never early): a busy workspace's events would otherwise re-sort the
        # deadline of every call in flight to it, on every event.
        self.slack = min(IDLE_RESET_SLACK, seconds / 10)


class EventBus:
    def __init__(self, store: Store) -> None:
        self.rows = StructureEvents(store)
        self._all: set[Subscription] = set()
        self._by_workspace: dict[str, set[Subscription]] = {}
        self._idle: dict[str, set[_IdleTimer]] = {}
        # Per workspace: until when no timer of it needs pushing back (events before that
        # time cost one comparison, not a walk over every call in flight).
        self._idle_settled: dict[str, float] = {}
        self.published = 0
        self._phases: list[set[BatchFeed]] = [set() for _ in range(BATCH_PHASES)]
        # Per phase: the array texts of the steps since the phase's feeds were last served.
        self._phase_texts: list[list[tuple[str, int]]] = [[] for _ in range(BATCH_PHASES)]
        self._feeds = 0
        self._tick: list[Event] = []  # this step's events, for the batch feeds
        self._dropped_gone = 0  # events dropped for subscribers that have left since

    @contextmanager
    def idle_timer(self, workspace_id: str, seconds: float) -> Iterator[trio.CancelScope]:
        """A cancel scope that expires after `seconds` without any event for the workspace.

        Each event pushes the deadline back; nothing runs while the workspace is quiet (a
        watcher task and a subscription per A2A call were a visible share of the proxy).
        """
        scope = trio.CancelScope(deadline=trio.current_time() + seconds)
        timer = _IdleTimer(scope, seconds)
        timers = self._idle.setdefault(workspace_id, set())
        timers.add(timer)
        self._idle_settled.pop(workspace_id, None)  # the new timer needs pushing at once
        try:
            with scope:
                yield scope
        finally:
            timers.discard(timer)
            if not timers and self._idle.get(workspace_id) is timers:
                del self._idle[workspace_id]
                self._idle_settled.pop(workspace_id, None)

    def _reset_idle(self, workspace_id: str | None) -> None:
        timers = self._idle.get(workspace_id) if workspace_id is not None else None
        if not timers:
            return
        assert workspace_id is not None
        now = trio.current_time()
        if now < self._idle_settled.get(workspace_id, -math.inf):
            return
        settled = math.inf
        for timer in timers:
            if timer.scope.deadline - now < timer.seconds:
                timer.scope.deadline = now + timer.seconds + timer.slack
            settled = min(settled, timer.scope.deadline - timer.seconds)
        self._idle_settled[workspace_id] = settled

    def listening(self, workspace_id: str | None) -> bool:
        """Would an event for this workspace reach anyone? Lets publishers skip building
        payloads nobody reads."""
        return (
            bool(self._all)
            or self._feeds > 0
            or (workspace_id is not None and workspace_id in self._by_workspace)
        )

    @contextmanager
    def batch_feed(self) -> Iterator[BatchFeed]:
        """Every event, delivered per tick by `run_batches` (see BatchFeed); the feed joins
        the least crowded phase."""
        feed = BatchFeed(BATCH_FEED_LIMIT)
        phase = min(self._phases, key=len)
        phase.add(feed)
        self._feeds += 1
        try:
            yield feed
        finally:
            feed.close()
            phase.discard(feed)
            self._feeds -= 1
            self._dropped_gone += feed.dropped

    async def run_batches(self) -> None:
        """Every step (a phase of the tick): serialise the step's events once, and hand the
        feeds of this step's phase one text of everything since their last turn."""
        step = 0
        period = BATCH_TICK / BATCH_PHASES
        step_at = trio.current_time()
        while True:
            # Steps keep to the clock (a sleep per step would add the timer's lateness, up to
            # 1 ms, four times per tick) unless the work overran a whole step: then a loaded
            # server stretches the period, so each connection gets fewer, larger messages
            # exactly when messages cost the most.
            step_at += period
            if step_at < trio.current_time():
                step_at = trio.current_time() + period
            await trio.sleep_until(step_at)
            if self._tick:
                events, self._tick = self._tick, []
                text = "[" + ",".join(event.wire_json for event in events) + "]"
                for phase, members in enumerate(self._phases):
                    if members:
                        self._phase_texts[phase].append((text, len(events)))
            texts, feeds = self._phase_texts[step], list(self._phases[step])
            step = (step + 1) % BATCH_PHASES
            if not texts:
                continue
            count = sum(n for _, n in texts)
            merged = merged_texts(texts)
            for index, feed in enumerate(feeds, 1):
                feed.offer(merged, count)
                if index % FEED_WAKE_GROUP == 0:
                    # Trio runs every runnable task once per scheduler pass, and an HTTP
                    # request needs several passes: many connections woken at once would
                    # stretch each pass, so each request, by the whole burst.
                    await trio.lowlevel.checkpoint()

    @contextmanager
    def subscribe(
        self, workspace_id: str | None = None, buffer: int = 256
    ) -> Iterator[Subscription]:
        """Every event (workspace_id None) or only one workspace's events."""
        sub = Subscription(workspace_id, buffer)
        if workspace_id is None:
            self._all.add(sub)
        else:
            self._by_workspace.setdefault(workspace_id, set()).add(sub)
        try:
            yield sub
        finally:
            sub.close()
            self._dropped_gone += sub.dropped
            if workspace_id is None:
                self._all.discard(sub)
            else:
                subs = self._by_workspace.get(workspace_id)
                if subs is not None:
                    subs.discard(sub)
                    if not subs:
                        del self._by_workspace[workspace_id]

    @property
    def subscriber_count(self) -> int:
        return len(self._all) + self._feeds + sum(len(s) for s in self._by_workspace.values())

    @property
    def dropped(self) -> int:
        """Events dropped for subscribers that fell behind, since boot (the metrics read it;
        a walk over the subscribers, so not for hot paths)."""
        live = sum(sub.dropped for sub in self._all)
        live += sum(sub.dropped for subs in self._by_workspace.values() for sub in subs)
        live += sum(feed.dropped for phase in self._phases for feed in phase)
        return self._dropped_gone + live

    def broadcast(self, type_: str, workspace_id: str | None, payload: dict[str, Any]) -> None:
        """Fan out without recording. With nobody listening (the common case for heartbeats
        of workspaces no canvas is watching) no event object is even built."""
        if not self.listening(workspace_id):
            self.published += 1
            self._reset_idle(workspace_id)
            return
        self.publish(Event(type_, workspace_id, payload))

    def publish(self, event: Event) -> None:
        self.published += 1
        self._reset_idle(event.workspace_id)
        if self._feeds:
            self._tick.append(event)
        for sub in self._all:
            sub.offer(event)
        if event.workspace_id is not None:
            for sub in self._by_workspace.get(event.workspace_id, ()):
                sub.offer(event)

    async def record(
        self, type_: str, workspace_id: str | None, payload: dict[str, Any]
    ) -> Event | None:
        """Persist to structure_events, then broadcast; nothing is broadcast if the insert
        fails (the failure is logged, never raised into the state change that caused it)."""
        event = Event(type_, workspace_id, payload)
        try:
            await self.rows.insert(type_, workspace_id, payload, event.timestamp)
        except DatastoreUnavailable:
            log.warning(
                "%s for workspace %s not recorded: database unreachable", type_, workspace_id
            )
            return None
        except Exception:
            log.exception("recording %s for workspace %s failed", type_, workspace_id)
            return None
        self.publish(event)
        return event
