"""What a subscriber of the event bus reads from: an Inbox of events (one WebSocket or SSE
client, an agent), or a BatchFeed of per-tick JSON array texts (a batch-mode canvas).

Both are bounded: an event (or a tick) that does not fit is dropped for that subscriber and
counted, so a slow reader never blocks the publisher or anyone else.
"""

from __future__ import annotations

from collections import deque

import trio

from molecule.events.catalogue import Event

BATCH_FEED_LIMIT = 64  # ticks a slow connection may fall behind


class Inbox:
    """A subscriber's bounded queue of events.

    Lighter than a memory channel on the publisher's side (an append and a wake-up check),
    because every event is offered to every canvas connection, and the reader can take
    everything waiting in one call (`drain`). An event that does not fit is dropped for this
    subscriber and counted.
    """

    __slots__ = ("_queue", "_limit", "_lot", "_closed", "dropped")

    def __init__(self, limit: int) -> None:
        self._queue: deque[Event] = deque()
        self._limit = limit
        self._lot = trio.lowlevel.ParkingLot()
        self._closed = False
        self.dropped = 0

    def offer(self, event: Event) -> None:
        if self._closed:
            return
        if len(self._queue) >= self._limit:
            self.dropped += 1
            return
        self._queue.append(event)
        if self._lot:
            self._lot.unpark()

    def close(self) -> None:
        self._closed = True
        self._lot.unpark_all()

    async def receive(self) -> Event:
        """The next event; EndOfChannel once closed and empty."""
        while not self._queue:
            if self._closed:
                raise trio.EndOfChannel
            await self._lot.park()
        return self._queue.popleft()

    def receive_nowait(self) -> Event:
        if self._queue:
            return self._queue.popleft()
        raise trio.EndOfChannel if self._closed else trio.WouldBlock

    def __len__(self) -> int:
        return len(self._queue)

    def drain(self, limit: int) -> list[Event]:
        """Up to `limit` waiting events, oldest first, without blocking."""
        queue = self._queue
        if len(queue) <= limit:
            taken = list(queue)
            queue.clear()
            return taken
        return [queue.popleft() for _ in range(limit)]


class Subscription:
    def __init__(self, workspace_id: str | None, buffer: int) -> None:
        self.workspace_id = workspace_id
        self.receive = Inbox(buffer)

    @property
    def dropped(self) -> int:
        return self.receive.dropped

    def offer(self, event: Event) -> None:
        self.receive.offer(event)

    def close(self) -> None:
        self.receive.close()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        try:
            return await self.receive.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None


class BatchFeed:
    """A canvas connection in batch mode: its events arrive as one JSON array text per tick.

    The bus builds each tick's text once per phase and hands the same text to every feed of
    the phase, so the per-connection cost is one queue append and one WebSocket message per
    tick, whatever the event rate. A connection that falls `limit` ticks behind loses the
    oldest (counted).
    """

    __slots__ = ("_queue", "_limit", "_lot", "_closed", "dropped")

    def __init__(self, limit: int) -> None:
        self._queue: deque[tuple[str, int]] = deque()
        self._limit = limit
        self._lot = trio.lowlevel.ParkingLot()
        self._closed = False
        self.dropped = 0  # events

    def offer(self, text: str, count: int) -> None:
        if len(self._queue) >= self._limit:
            self.dropped += self._queue.popleft()[1]
        self._queue.append((text, count))
        if self._lot:
            self._lot.unpark()

    def close(self) -> None:
        self._closed = True
        self._lot.unpark_all()

    async def receive(self) -> str:
        """Everything waiting, as one JSON array text; EndOfChannel once closed."""
        while not self._queue:
            if self._closed:
                raise trio.EndOfChannel
            await self._lot.park()
        return merged_texts(self._queue)


def merged_texts(texts: deque[tuple[str, int]] | list[tuple[str, int]]) -> str:
    """JSON array texts (taken out of `texts`) as one array text, in order."""
    if len(texts) == 1:
        return texts.pop()[0]
    inner = [text[1:-1] for text, _ in texts]  # strip each array's brackets
    texts.clear()
    return "[" + ",".join(inner) + "]"
