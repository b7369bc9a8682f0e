"""Directory: workspace id -> ActorRef, activating actors on demand.

At boot every workspace that needs watching (online, degraded, provisioning, offline,
awaiting_agent) is activated from one query, the rows handed to the actors so 10,000
workspaces do not mean 10,000 reads. Any other workspace is activated by the first message
for it. Removed workspaces never get an actor.
"""

from __future__ import annotations

import logging
from typing import Any

from molecule.actors.runtime import ActorRef, ChildSpec, RestartType
from molecule.actors.supervisor import Supervisor
from molecule.actors.workspace import WorkspaceActor, WorkspaceDeps, workspace_gone
from molecule.errors import ActorStopped
from molecule.events import WORKSPACE_PROVISION_FAILED
from molecule.models import WorkspaceStatus

log = logging.getLogger("molecule.actors.directory")

WATCHED = (
    WorkspaceStatus.ONLINE,
    WorkspaceStatus.DEGRADED,
    WorkspaceStatus.PROVISIONING,
    WorkspaceStatus.OFFLINE,
    WorkspaceStatus.AWAITING_AGENT,
)
GAVE_UP_REASON = "workspace supervisor gave up after repeated internal errors — restart it"


class Directory:
    def __init__(
        self, supervisor: Supervisor, deps: WorkspaceDeps, mailbox_size: int = 256
    ) -> None:
        self.supervisor = supervisor
        self.deps = deps
        self.mailbox_size = mailbox_size

    def _spec(self, workspace_id: str, row: dict[str, Any] | None, at_boot: bool) -> ChildSpec:
        first_row = [row]

        def factory() -> WorkspaceActor:
            # Only the first incarnation gets the preloaded row; restarts reload from Postgres.
            preloaded, first_row[0] = first_row[0], None
            return WorkspaceActor(workspace_id, self.deps, preloaded, resume_agent=at_boot)

        return ChildSpec(
            name=workspace_id,
            factory=factory,
            restart=RestartType.TRANSIENT,
            mailbox_size=self.mailbox_size,
            on_give_up=self._gave_up,
        )

    async def _gave_up(self, workspace_id: str, exc: BaseException | None) -> None:
        """Restart intensity exceeded: the workspace is marked failed with a reason."""
        log.error("workspace %s: supervisor gave up (%r)", workspace_id, exc)
        changed = await self.deps.workspaces.transition(
            workspace_id,
            WorkspaceStatus.FAILED,
            [
                s
                for s in WorkspaceStatus
                if s not in (WorkspaceStatus.REMOVED, WorkspaceStatus.FAILED)
            ],
            sample_error=GAVE_UP_REASON,
        )
        if changed:
            await self.deps.bus.record(
                WORKSPACE_PROVISION_FAILED,
                workspace_id,
                {"error": GAVE_UP_REASON, "source": "supervisor"},
            )

    def running(self, workspace_id: str) -> ActorRef | None:
        ref = self.supervisor.get(workspace_id)
        return ref if ref is not None and ref.alive else None

    def _start(
        self, workspace_id: str, row: dict[str, Any] | None, at_boot: bool = False
    ) -> ActorRef:
        existing = self.supervisor.get(workspace_id)
        if existing is not None:
            if not existing.alive:  # stopping or being given up: not addressable right now
                raise ActorStopped(workspace_id)
            return existing
        return self.supervisor.start_child(self._spec(workspace_id, row, at_boot))

    async def activate_watched(self) -> int:
        rows = await self.deps.workspaces.watched(WATCHED)
        for row in rows:
            self._start(row["id"], row, at_boot=True)
        log.info("activated %d workspace actors", len(rows))
        return len(rows)

    async def get(self, workspace_id: str) -> ActorRef | None:
        """The workspace's actor, activated if needed; None when no such row exists.

        A removed workspace raises its 410 `workspace removed` (docs/compatibility.md#d29).
        """
        ref = self.running(workspace_id)
        if ref is not None:
            return ref
        row = await self.deps.workspaces.get(workspace_id)
        if row is None:
            return None
        if row["status"] == WorkspaceStatus.REMOVED:
            raise workspace_gone(row)
        return self._start(workspace_id, row)

    def deactivate(self, workspace_id: str) -> None:
        if self.supervisor.get(workspace_id) is not None:
            self.supervisor.stop_child(workspace_id)

    def __len__(self) -> int:
        return len(self.supervisor)
