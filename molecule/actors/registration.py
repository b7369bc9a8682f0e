"""What a WorkspaceActor does with its agent's register, heartbeat and card updates.

Register marks the workspace online at the agent's URL and (development bootstrap only) mints
its first token; every heartbeat stages its columns in the write-behind buffer, re-arms the
liveness deadline (docs/compatibility.md#d9), applies the heartbeat status transitions,
records the runtime's declared capabilities and idle-timeout override, and lets the queue
drain when the agent reports spare capacity.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from molecule.actors.messages import Register
from molecule.errors import BadRequest, Conflict, NotFound
from molecule.events import (
    AGENT_CARD_UPDATED,
    TASK_UPDATED,
    WORKSPACE_DEGRADED,
    WORKSPACE_HEARTBEAT,
    WORKSPACE_ONLINE,
)
from molecule.models import CAPABILITY_KEYS, DeliveryMode, HeartbeatPayload, WorkspaceStatus
from molecule.store.workspaces import HeartbeatColumns

if TYPE_CHECKING:
    from molecule.actors.workspace import WorkspaceActor

log = logging.getLogger("molecule.actors.registration")

MAX_SAMPLE_ERROR = 4096
MAX_CURRENT_TASK = 4096
# A workspace the platform has put to sleep: its agent was stopped on purpose, and only a
# restart, resume or wake starts a new one (docs/compatibility.md#d53).
STOPPED_ON_PURPOSE = (
    WorkspaceStatus.PAUSED,
    WorkspaceStatus.HIBERNATING,
    WorkspaceStatus.HIBERNATED,
)
DEGRADE_ERROR_RATE = 0.5
RECOVER_ERROR_RATE = 0.1


def reconcile_card(card: Any, name: str | None, role: str | None, workspace_id: str) -> Any:
    """Fill identity gaps in an agent card from the row (never overwrite what it says)."""
    if not isinstance(card, dict):
        return card
    card = dict(card)
    usable_name = name if name and name != workspace_id else None
    if usable_name and (not card.get("name") or card.get("name") == workspace_id):
        card["name"] = usable_name
    if not card.get("description") and usable_name:
        card["description"] = usable_name
    if not card.get("role") and role:
        card["role"] = role
    return card


def _truncate(value: str | None, limit: int) -> str:
    value = value or ""
    return value if len(value) <= limit else value[:limit]


class Registration:
    """The register/heartbeat side of one WorkspaceActor (composed into it)."""

    def __init__(self, actor: WorkspaceActor) -> None:
        self.actor = actor

    async def register(self, msg: Register) -> dict[str, Any]:
        if self.actor.status in STOPPED_ON_PURPOSE and self.actor.lifecycle.startable():
            # A register that was in flight when the platform stopped this agent (or one
            # from an agent it stopped in an earlier cycle) must not bring the workspace
            # back online behind the user's pause or hibernate.
            raise Conflict(
                f"workspace is {self.actor.status}: its agent was stopped by the platform"
            )
        mode = msg.delivery_mode or self.actor.delivery_mode or DeliveryMode.PUSH
        # The URL itself was vetted at the edge (validate_agent_url), before anything was
        # written; whether one is needed depends on the mode this actor knows.
        if mode == DeliveryMode.PUSH and not msg.url:
            raise BadRequest("url is required for push-mode workspaces")
        card = reconcile_card(
            msg.agent_card, self.actor.name, self.actor.role, self.actor.workspace_id
        )
        url = msg.url if mode == DeliveryMode.PUSH else (msg.url or None)
        row = await self.actor.deps.workspaces.register(self.actor.workspace_id, url, card, mode)
        if row is None:
            await self.actor.reload()  # raises StopActor when removed
            raise NotFound("workspace not found")
        self.actor.status = WorkspaceStatus.ONLINE
        self.actor.url = row["url"]
        self.actor.delivery_mode = mode
        self.actor.arm_liveness()
        self.actor.lifecycle.came_online()
        token = await self.actor.deps.tokens.mint_if_none(self.actor.workspace_id)
        secret = await self.actor.inbound_secret_or_heal()
        await self._online({"url": self.actor.url or "", "agent_card": card, "delivery_mode": mode})
        body: dict[str, Any] = {"status": "registered", "delivery_mode": mode}
        if token:
            body["auth_token"] = token
        if secret:
            body["platform_inbound_secret"] = secret
        return body

    async def heartbeat(self, p: HeartbeatPayload) -> dict[str, Any]:
        self.actor.deps.metrics.heartbeats.inc()
        sample_error = _truncate(p.sample_error, MAX_SAMPLE_ERROR)
        current_task = _truncate(p.current_task, MAX_CURRENT_TASK)
        spend = min(max(p.monthly_spend, 0), 10**12)
        self.actor.deps.heartbeats.stage(
            self.actor.workspace_id,
            HeartbeatColumns(
                at=datetime.now(UTC),
                error_rate=float(p.error_rate),
                sample_error=sample_error,
                active_tasks=p.active_tasks,
                uptime_seconds=int(p.uptime_seconds),
                current_task=current_task,
                monthly_spend=spend,
            ),
        )
        self.actor.arm_liveness()
        await self._evaluate_status(p, sample_error)
        bus = self.actor.deps.bus
        if current_task != self.actor.current_task:
            bus.broadcast(
                TASK_UPDATED,
                self.actor.workspace_id,
                {"current_task": current_task, "active_tasks": p.active_tasks},
            )
        self.actor.current_task = current_task
        self.actor.active_tasks = p.active_tasks
        if spend:
            self.actor.monthly_spend = spend
        beat: dict[str, Any] = {
            "active_tasks": p.active_tasks,
            "uptime_seconds": int(p.uptime_seconds),
        }
        if sample_error != self.actor.sample_error:
            # A new last error shows on an open canvas without a reload, even when the
            # error rate stays under the degrade threshold (docs/compatibility.md#d54).
            beat["sample_error"] = sample_error
            self.actor.sample_error = sample_error
        bus.broadcast(WORKSPACE_HEARTBEAT, self.actor.workspace_id, beat)
        self._store_runtime_metadata(p)
        self.actor.delivery.maybe_drain()
        body: dict[str, Any] = {"status": "ok"}
        secret = await self.actor.inbound_secret_or_heal()
        if secret:
            body["platform_inbound_secret"] = secret
        return body

    async def _evaluate_status(self, p: HeartbeatPayload, sample_error: str) -> None:
        """The original's heartbeat transitions (docs/architecture.md §3.3), from one status
        snapshot.

        `status_mgmt` is read before this beat's metadata is stored, as in the original: the
        previous heartbeat's declaration governs this one.
        """
        native_status = self.actor.capabilities.get("status_mgmt", False)
        snapshot = self.actor.status
        record = self.actor.deps.bus.record
        wid = self.actor.workspace_id
        if snapshot == WorkspaceStatus.ONLINE:
            if p.runtime_state == "wedged":
                if await self.actor.transition(WorkspaceStatus.DEGRADED, (WorkspaceStatus.ONLINE,)):
                    await record(
                        WORKSPACE_DEGRADED,
                        wid,
                        {"runtime_state": "wedged", "sample_error": sample_error},
                    )
            elif not native_status and p.error_rate >= DEGRADE_ERROR_RATE:
                if await self.actor.transition(WorkspaceStatus.DEGRADED, (WorkspaceStatus.ONLINE,)):
                    await record(
                        WORKSPACE_DEGRADED,
                        wid,
                        {"error_rate": p.error_rate, "sample_error": sample_error},
                    )
        elif snapshot == WorkspaceStatus.DEGRADED:
            if not native_status and p.error_rate < RECOVER_ERROR_RATE and not p.runtime_state:
                if await self.actor.transition(WorkspaceStatus.ONLINE, (WorkspaceStatus.DEGRADED,)):
                    await self._online({})
        elif snapshot == WorkspaceStatus.OFFLINE:
            if await self.actor.transition(WorkspaceStatus.ONLINE, (WorkspaceStatus.OFFLINE,)):
                await self._online({})
        elif snapshot in (WorkspaceStatus.PROVISIONING, WorkspaceStatus.AWAITING_AGENT):
            if await self.actor.transition(WorkspaceStatus.ONLINE, (snapshot,)):
                self.actor.lifecycle.came_online()
                await self._online({"recovered_from": str(snapshot)})

    async def _online(self, payload: dict[str, Any]) -> None:
        """Record WORKSPACE_ONLINE. A canvas clears the last error it shows on it, so the
        next beat that carries an error sends it again (docs/compatibility.md#d54)."""
        self.actor.sample_error = ""
        await self.actor.deps.bus.record(WORKSPACE_ONLINE, self.actor.workspace_id, payload)

    def _store_runtime_metadata(self, p: HeartbeatPayload) -> None:
        meta = p.runtime_metadata
        if meta is None:
            self.actor.capabilities = {}
            self.actor.idle_timeout_override = None
            return
        caps = meta.capabilities or {}
        self.actor.capabilities = {k: bool(caps.get(k)) for k in CAPABILITY_KEYS if k in caps}
        idle = meta.idle_timeout_seconds
        self.actor.idle_timeout_override = float(idle) if idle is not None and idle > 0 else None

    async def update_card(self, card: Any) -> None:
        if not await self.actor.deps.workspaces.update_card(self.actor.workspace_id, card):
            await self.actor.reload()
            raise NotFound("workspace not found")
        await self.actor.deps.bus.record(
            AGENT_CARD_UPDATED, self.actor.workspace_id, {"agent_card": card}
        )
