"""Removing workspaces: everything that follows marking their rows `removed`.

Cascade delete marks a whole subtree `removed` in one transaction (store), then the cleanup
here: cached credentials and heartbeat state dropped, the actors stopped, every agent stopped
and its files removed, WORKSPACE_REMOVED recorded for each. The cleanup runs detached from the
request that asked for it (as the original did, on a 30 s context of its own): a client that
hangs up must not leave agents running for rows already marked removed. The request still
gets the outcome when it waits for it (stop failures are a 500 the user can retry).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TypeVar

import trio

from molecule.actors.directory import Directory
from molecule.actors.messages import Removed
from molecule.actors.supervision import Tasks
from molecule.errors import MailboxFull
from molecule.events import WORKSPACE_REMOVED, EventBus
from molecule.provision.pipeline import Pipeline
from molecule.store.heartbeats import HeartbeatBuffer
from molecule.store.token_rows import WorkspaceTokens

log = logging.getLogger("molecule.operations.removal")

T = TypeVar("T")
CLEANUP_TIMEOUT = 30.0


@dataclass
class Removal:
    directory: Directory
    tokens: WorkspaceTokens
    heartbeats: HeartbeatBuffer
    pipeline: Pipeline
    bus: EventBus
    tasks: Tasks

    async def cascade(self, workspace_id: str) -> tuple[list[str], list[str]]:
        """Mark the workspace and its subtree removed, then clean up (detached, bounded).

        Returns the removed ids (descendants first) and the stop failures, one line each.
        """
        ids = await self.pipeline.workspaces.cascade_remove(workspace_id)
        try:
            failures = await self.tasks.run(
                f"cleanup after removing workspace {workspace_id}",
                lambda: self._cleanup(workspace_id, ids),
                timeout=CLEANUP_TIMEOUT,
            )
        except trio.TooSlowError:
            failures = [f"cleanup of {len(ids)} workspace(s) timed out after {CLEANUP_TIMEOUT:g}s"]
        return ids, failures

    async def _cleanup(self, root: str, ids: list[str]) -> list[str]:
        for removed_id in ids:
            self.tokens.invalidate(removed_id)
            self.heartbeats.discard(removed_id)
            ref = self.directory.running(removed_id)
            if ref is not None:
                try:
                    ref.tell(Removed())
                except MailboxFull:
                    self.directory.deactivate(removed_id)
        failures: list[str] = []
        async with trio.open_nursery() as nursery:
            for removed_id in ids:
                nursery.start_soon(self._stop_agent, removed_id, failures)
        descendants = [i for i in ids if i != root]
        for removed_id in descendants:
            await self.bus.record(WORKSPACE_REMOVED, removed_id, {})
        if root in ids:
            await self.bus.record(WORKSPACE_REMOVED, root, {"cascade_deleted": len(descendants)})
        return failures

    async def _stop_agent(self, workspace_id: str, failures: list[str]) -> None:
        """Stop its agent and remove its files; a stop that failed keeps the files."""
        provisioner = self.pipeline.provisioner
        if provisioner is None:
            return
        try:
            await provisioner.stop(workspace_id)
        except Exception as exc:
            log.error("workspace %s: stop failed: %r", workspace_id, exc)
            failures.append(f"stop {workspace_id}: {type(exc).__name__}")
            return
        try:
            await provisioner.remove_volume(workspace_id)
        except Exception as exc:
            log.error("workspace %s: removing its files failed: %r", workspace_id, exc)
