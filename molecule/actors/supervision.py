"""Supervised background work that is not an actor: the platform's services and its tasks.

`ServiceSupervisor` runs the long-lived loops (heartbeat write-behind, the activity writer, the
event bus ticks, the sweeps): each in its own task; a crash is logged with its traceback and
the service started again after a backoff. Never silent, never taking the platform down, and
never a hot restart loop (the backoff doubles up to a minute while a service keeps crashing).

`Tasks` runs one-off work that must outlive the request that asked for it (a delegation's
delivery, a removal's cleanup): in the platform's nursery, bounded in number, each failure
logged. `run()` waits for the result, and the work goes on if the waiter is cancelled (a
client that hangs up); `start()` does not wait.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import trio

from molecule.errors import DatastoreUnavailable, ServiceUnavailable

log = logging.getLogger("molecule.actors.supervision")

T = TypeVar("T")
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 60.0
STABLE_AFTER = 60.0  # a service that ran this long before crashing starts its backoff afresh
MAX_TASKS = 10_000


@dataclass
class ServiceState:
    name: str
    restarts: int = 0
    last_error: str | None = None


@dataclass
class ServiceSupervisor:
    """The platform's background services, each restarted when it crashes."""

    states: dict[str, ServiceState] = field(default_factory=dict)
    _nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    def start(self, name: str, loop: Callable[[], Awaitable[object]]) -> None:
        """Run `loop` (meant to run forever) under supervision."""
        if self._nursery is None:
            raise RuntimeError("the services supervisor is not running")
        state = self.states.setdefault(name, ServiceState(name))
        self._nursery.start_soon(self._supervise, state, loop, name=f"service:{name}")

    def every(self, name: str, interval: float, work: Callable[[], Awaitable[object]]) -> None:
        """Run `work` every `interval` seconds. A failed round is logged and the next one
        comes as usual; an unreachable database is one line, not a traceback."""

        async def periodic() -> None:
            while True:
                await trio.sleep(interval)
                try:
                    await work()
                except DatastoreUnavailable:
                    log.warning("%s: the database is unreachable; will retry", name)
                except Exception:
                    log.exception("%s failed; will retry", name)

        self.start(name, periodic)

    async def _supervise(self, state: ServiceState, loop: Callable[[], Awaitable[object]]) -> None:
        backoff = FIRST_BACKOFF
        while True:
            started = trio.current_time()
            try:
                await loop()
                log.error("service %s returned; starting it again", state.name)
            except Exception as exc:
                state.last_error = repr(exc)
                log.exception("service %s crashed; starting it again in %g s", state.name, backoff)
            state.restarts += 1
            if trio.current_time() - started >= STABLE_AFTER:
                backoff = FIRST_BACKOFF
            await trio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)


class Tasks:
    """One-off work in the platform's nursery (see the module doc)."""

    def __init__(self, nursery: trio.Nursery, limit: int = MAX_TASKS) -> None:
        self._nursery = nursery
        self._limit = limit
        self.running = 0

    def start(self, what: str, work: Callable[[], Awaitable[object]]) -> None:
        """Start `work` without waiting for it; 503 when too much is running already."""
        self._admit(what)
        self._nursery.start_soon(self._guarded, what, work, None, name=what)

    async def run(self, what: str, work: Callable[[], Awaitable[T]], *, timeout: float) -> T:
        """Run `work` (bounded by `timeout`) and return its result; it goes on if this
        caller is cancelled. Its failure, TooSlowError included, is raised here too."""
        self._admit(what)
        done = trio.Event()
        outcome: dict[str, Any] = {}

        async def bounded() -> None:
            with trio.fail_after(timeout):
                outcome["value"] = await work()

        self._nursery.start_soon(self._guarded, what, bounded, (done, outcome), name=what)
        await done.wait()
        if "error" in outcome:
            raise outcome["error"]
        value: T = outcome["value"]
        return value

    def _admit(self, what: str) -> None:
        if self.running >= self._limit:
            log.error("%s refused: %d background tasks running already", what, self.running)
            raise ServiceUnavailable("platform busy — retry shortly", retry_after=5)
        self.running += 1

    async def _guarded(
        self,
        what: str,
        work: Callable[[], Awaitable[object]],
        result: tuple[trio.Event, dict[str, Any]] | None,
    ) -> None:
        try:
            await work()
        except Exception as exc:
            log.exception("%s failed", what)
            if result is not None:
                result[1]["error"] = exc
        finally:
            self.running -= 1
            if result is not None:
                result[0].set()
