"""Human in the loop: an agent asks before an action, a human approves or denies it.

As in the original (upstream-april §1.10, §3): a request is stored `pending` and recorded as
APPROVAL_REQUESTED on the workspace and APPROVAL_ESCALATED on its parent; a decision records
APPROVAL_APPROVED or APPROVAL_DENIED. A request nobody decides is denied after 10 minutes
(`decided_by: "auto-expired"`, with its APPROVAL_DENIED). The original did that only when
someone listed the pending approvals; here a periodic sweep does it too (`expire_stale`,
registered by molecule.platform), so an unattended request still ends, and a request past its
10 minutes can no longer be approved in the moments before the sweep reaches it
(docs/compatibility.md#d40).
"""

from __future__ import annotations

import logging
from typing import Any

from molecule.errors import NotFound
from molecule.events import (
    APPROVAL_APPROVED,
    APPROVAL_DENIED,
    APPROVAL_ESCALATED,
    APPROVAL_REQUESTED,
    EventBus,
)
from molecule.store.approvals import AUTO_EXPIRED, EXPIRE_BATCH, ApprovalRows
from molecule.store.workspaces import Workspaces

log = logging.getLogger("molecule.operations.approvals")

EXPIRY_SWEEP_INTERVAL = 30.0
"""Seconds between expiry sweeps: a request ends at most this long after its 10 minutes."""
MAX_EXPIRE_ROUNDS = 20
"""Batches one sweep denies at most (the rest wait for the next sweep)."""
APPROVAL_NOT_FOUND = "approval not found or already decided"


class Approvals:
    def __init__(self, rows: ApprovalRows, workspaces: Workspaces, bus: EventBus) -> None:
        self.rows = rows
        self.workspaces = workspaces
        self.bus = bus

    async def request(
        self,
        workspace_id: str,
        action: str,
        task_id: str,
        reason: str,
        context: dict[str, Any],
    ) -> str:
        """Store a pending request, then announce it to the workspace and to its parent."""
        row = await self.workspaces.live(workspace_id)
        approval_id = await self.rows.insert(workspace_id, action, task_id, reason, context)
        await self.bus.record(
            APPROVAL_REQUESTED,
            workspace_id,
            {"approval_id": approval_id, "action": action, "reason": reason, "task_id": task_id},
        )
        parent_id = row.get("parent_id")
        if parent_id is not None:
            await self.bus.record(
                APPROVAL_ESCALATED,
                parent_id,
                {
                    "approval_id": approval_id,
                    "from_workspace_id": workspace_id,
                    "action": action,
                    "reason": reason,
                },
            )
        return approval_id

    async def listing(self, workspace_id: str) -> list[dict[str, Any]]:
        """The workspace's last 50 requests, newest first (expired ones shown as denied)."""
        await self.workspaces.live(workspace_id)
        await self.expire_stale()
        return await self.rows.recent(workspace_id)

    async def decide(
        self, workspace_id: str, approval_id: str, decision: str, decided_by: str
    ) -> None:
        """Approve or deny a pending request; 404 when it is not pending (any more)."""
        await self.workspaces.live(workspace_id)
        if not await self.rows.decide(workspace_id, approval_id, decision, decided_by):
            raise NotFound(APPROVAL_NOT_FOUND)
        event = APPROVAL_APPROVED if decision == "approved" else APPROVAL_DENIED
        await self.bus.record(
            event,
            workspace_id,
            {"approval_id": approval_id, "decision": decision, "decided_by": decided_by},
        )

    async def pending(self) -> list[dict[str, Any]]:
        """Expire what is due, then the pending requests of every workspace (at most 50)."""
        await self.expire_stale()
        return await self.rows.pending()

    async def expire_stale(self) -> int:
        """Deny every pending request older than 10 minutes, each with its APPROVAL_DENIED;
        the number denied. The periodic sweep and the pending list both call this."""
        denied = 0
        for _ in range(MAX_EXPIRE_ROUNDS):
            rows = await self.rows.expire_stale()
            for row in rows:
                await self.bus.record(
                    APPROVAL_DENIED,
                    row["workspace_id"],
                    {"approval_id": row["id"], "decision": "denied", "decided_by": AUTO_EXPIRED},
                )
            denied += len(rows)
            if len(rows) < EXPIRE_BATCH:
                break
        if denied:
            log.info("denied %d approval request(s) nobody decided within 10 minutes", denied)
        return denied
