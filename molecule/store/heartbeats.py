"""Write-behind buffer for heartbeat columns.

A heartbeat changes a handful of columns that only readers of the workspace row care about;
the WorkspaceActor already holds the live values. Writing each beat as its own UPDATE would
make Postgres the ceiling of heartbeat throughput, so the actor stages the latest columns per
workspace here and one statement writes a whole batch every `interval` seconds (and before
any read that must see them). Status transitions are never buffered: they are written at once.
"""

from __future__ import annotations

import logging

import trio

from molecule.store.pool import is_outage
from molecule.store.workspaces import HeartbeatColumns, Workspaces

log = logging.getLogger("molecule.store.heartbeats")


class HeartbeatBuffer:
    def __init__(self, workspaces: Workspaces, interval: float = 1.0) -> None:
        self.workspaces = workspaces
        self.interval = interval
        self._pending: dict[str, HeartbeatColumns] = {}
        self._lock = trio.Lock()

    def stage(self, workspace_id: str, columns: HeartbeatColumns) -> None:
        self._pending[workspace_id] = columns  # the latest beat wins

    def discard(self, workspace_id: str) -> None:
        self._pending.pop(workspace_id, None)

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flush(self) -> None:
        async with self._lock:
            batch, self._pending = self._pending, {}
            if not batch:
                return
            try:
                await self.workspaces.write_heartbeats(batch)
            except Exception as exc:
                if not is_outage(exc) and len(batch) > 1:
                    await self._one_by_one(batch)
                    return
                self._put_back(batch)
                raise
            except BaseException:
                self._put_back(batch)
                raise

    def _put_back(self, batch: dict[str, HeartbeatColumns]) -> None:
        """What is not superseded goes back, so a transient failure loses nothing."""
        for wid, cols in batch.items():
            self._pending.setdefault(wid, cols)

    async def _one_by_one(self, batch: dict[str, HeartbeatColumns]) -> None:
        """A row the database refuses must not block the others (a poisoned batch would
        otherwise be retried, and refused, forever): it is dropped and logged."""
        for wid, cols in batch.items():
            try:
                await self.workspaces.write_heartbeats({wid: cols})
            except Exception as exc:
                if is_outage(exc):
                    self._put_back({wid: cols})
                else:
                    log.error("workspace %s: heartbeat columns refused, dropped: %r", wid, exc)

    async def run(self) -> None:
        while True:
            await trio.sleep(self.interval)
            try:
                await self.flush()
            except Exception as exc:
                if is_outage(exc):
                    log.warning("%d buffered heartbeats wait for the database", self.pending)
                else:
                    log.exception(
                        "flushing %d buffered heartbeats failed; will retry", self.pending
                    )
