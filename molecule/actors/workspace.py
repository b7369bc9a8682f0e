"""The WorkspaceActor: one per live workspace, the only writer of its status.

It caches the row's routing fields, owns the liveness deadline (armed by register *and*
heartbeat, docs/compatibility.md#d9), the runtime capabilities and idle-timeout override
reported by heartbeats, and the restart flags. Every status change it makes is a conditional
UPDATE; when one finds the row in another status (someone else moved it), the actor reloads
instead of guessing. Its behaviour is composed of three parts, each in its own module: the
lifecycle (start, restart, pause, hibernate), the registration (register, heartbeat) and the
delivery (A2A messages and the durable queue).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import trio

from molecule.actors.delivery import Delivery
from molecule.actors.dispatch import Dispatcher
from molecule.actors.lifecycle import Lifecycle
from molecule.actors.messages import (
    AgentDown,
    Dispatch,
    DrainQueue,
    Heartbeat,
    Hibernate,
    Pause,
    ProcessExited,
    ProvisionTimedOut,
    Register,
    Reload,
    Removed,
    Restart,
    Resume,
    Snapshot,
    UpdateCard,
)
from molecule.actors.registration import Registration
from molecule.actors.runtime import Actor
from molecule.config import Settings
from molecule.errors import (
    Gone,
    StopActor,
)
from molecule.events import (
    WORKSPACE_OFFLINE,
    EventBus,
)
from molecule.events.activity_log import ActivityLog
from molecule.jsontext import rfc3339
from molecule.models import (
    EXTERNAL_RUNTIMES,
    DeliveryMode,
    WorkspaceStatus,
)
from molecule.observability import logs
from molecule.observability.metrics import Metrics
from molecule.provision.pipeline import Pipeline
from molecule.security.ssrf import URLPolicy
from molecule.security.token_material import new_inbound_secret
from molecule.store.heartbeats import HeartbeatBuffer
from molecule.store.queue import QueueRows
from molecule.store.token_rows import WorkspaceTokens
from molecule.store.workspaces import Workspaces

log = logging.getLogger("molecule.actors.workspace")

RESTART_RETRY_AFTER = 15  # seconds a caller is told to wait for a (re)starting agent
RECOVER_ERROR_RATE = 0.1


@dataclass(frozen=True)
class WorkspaceDeps:
    """What every WorkspaceActor needs from the platform."""

    settings: Settings
    workspaces: Workspaces
    tokens: WorkspaceTokens
    bus: EventBus
    heartbeats: HeartbeatBuffer
    url_policy: URLPolicy
    activity: ActivityLog
    queue: QueueRows
    dispatcher: Dispatcher
    pipeline: Pipeline
    metrics: Metrics = field(default_factory=Metrics)


def removed_body(row: dict[str, Any]) -> dict[str, Any]:
    removed_at = row.get("removed_at")
    return {
        "id": row["id"],
        "hint": "Regenerate workspace + token from the canvas → Tokens tab",
        "removed_at": rfc3339(removed_at) if removed_at else None,
    }


def workspace_gone(row: dict[str, Any]) -> Gone:
    return Gone("workspace removed", extra=removed_body(row))


class WorkspaceActor(Actor):
    def __init__(
        self,
        workspace_id: str,
        deps: WorkspaceDeps,
        row: dict[str, Any] | None = None,
        resume_agent: bool = False,
    ) -> None:
        self.workspace_id = workspace_id
        self.deps = deps
        self._preloaded = row
        self._resume_agent = resume_agent  # boot: the platform restarted, its agents did not
        self.status: WorkspaceStatus = WorkspaceStatus.PROVISIONING
        self.liveness_deadline = math.inf
        self.capabilities: dict[str, bool] = {}
        self.idle_timeout_override: float | None = None
        self.current_task = ""
        self.sample_error = ""
        self.active_tasks = 0
        self.inbound_secret: str | None = None
        self.lifecycle = Lifecycle(self)
        self.registration = Registration(self)
        self.delivery = Delivery(self)

    # -- lifecycle ----------------------------------------------------------------------

    async def started(self) -> None:
        # This task's log records (and its tasks') name the workspace, never the request
        # that happened to activate the actor.
        logs.open_context(workspace_id=self.workspace_id)
        row, self._preloaded = self._preloaded, None
        if row is None:
            row = await self.deps.workspaces.get(self.workspace_id)
        if row is None or row["status"] == WorkspaceStatus.REMOVED:
            raise StopActor()
        self._load(row)
        if self.status in (WorkspaceStatus.ONLINE, WorkspaceStatus.DEGRADED):
            # After an activation (boot, restart of this actor) give the agent a full TTL
            # to show up: the platform itself may have been down, not the agent.
            self.arm_liveness()
        if self._resume_agent:
            self._resume_agent = False
            await self._resume_local_process()

    async def _resume_local_process(self) -> None:
        """After a platform restart a local agent process is gone: start it again."""
        provisioner = self.deps.pipeline.provisioner
        if provisioner is None or not self.lifecycle.startable():
            return
        if self.status not in (
            WorkspaceStatus.ONLINE,
            WorkspaceStatus.DEGRADED,
            WorkspaceStatus.PROVISIONING,
            WorkspaceStatus.OFFLINE,
        ):
            return
        if not await provisioner.is_running(self.workspace_id):
            await self.lifecycle.request_restart("platform restarted")

    def _load(self, row: dict[str, Any]) -> None:
        self.status = WorkspaceStatus(row["status"])
        self.name: str = row["name"]
        self.role: str | None = row.get("role")
        self.tier: int | None = row.get("tier")
        self.runtime: str = row.get("runtime") or "langgraph"
        self.url: str | None = row.get("url")
        self.delivery_mode: str = row.get("delivery_mode") or DeliveryMode.PUSH
        self.parent_id: str | None = row.get("parent_id")
        self.max_concurrent_tasks: int = row.get("max_concurrent_tasks") or 1
        self.current_task = row.get("current_task") or ""
        self.sample_error = row.get("last_sample_error") or ""
        self.active_tasks = row.get("active_tasks") or 0
        self.inbound_secret = row.get("platform_inbound_secret") or None
        self.budget_limit: int | None = row.get("budget_limit")
        self.monthly_spend: int = row.get("monthly_spend") or 0

    @property
    def external(self) -> bool:
        return self.runtime in EXTERNAL_RUNTIMES

    def deadline(self) -> float:
        return self.liveness_deadline

    def arm_liveness(self) -> None:
        if self.runtime == "mock":  # no agent process: nothing to watch
            return
        self.liveness_deadline = trio.current_time() + self.deps.settings.liveness_ttl

    async def timeout(self) -> None:
        """No register or heartbeat within the TTL: offline, or awaiting_agent if external."""
        self.liveness_deadline = math.inf
        if self.status not in (WorkspaceStatus.ONLINE, WorkspaceStatus.DEGRADED):
            return
        target = WorkspaceStatus.AWAITING_AGENT if self.external else WorkspaceStatus.OFFLINE
        if await self.transition(target, (WorkspaceStatus.ONLINE, WorkspaceStatus.DEGRADED)):
            log.info(
                "workspace %s missed its heartbeat deadline: now %s",
                self.workspace_id,
                target,
                extra=logs.log_extra(self.workspace_id, "liveness"),
            )
            payload: dict[str, Any] = {"status": str(target)} if self.external else {}
            await self.deps.bus.record(WORKSPACE_OFFLINE, self.workspace_id, payload)
            # An agent the platform runs, alive but silent, is restarted (within the
            # crash-loop bound); one that runs elsewhere is waited for.
            ttl = self.deps.settings.liveness_ttl
            await self.lifecycle.request_auto_restart(f"no heartbeat for {ttl:g} s")

    async def transition(self, to: WorkspaceStatus, expected: tuple[WorkspaceStatus, ...]) -> bool:
        changed = await self.deps.workspaces.transition(self.workspace_id, to, expected)
        if changed:
            self.status = to
        else:
            await self.reload()
        return changed

    async def reload(self) -> None:
        row = await self.deps.workspaces.get(self.workspace_id)
        if row is None or row["status"] == WorkspaceStatus.REMOVED:
            self.status = WorkspaceStatus.REMOVED
            raise StopActor()
        self._load(row)

    # -- messages -----------------------------------------------------------------------

    async def handle(self, msg: object) -> None:
        match msg:
            case Heartbeat():
                msg.reply.set(await self.registration.heartbeat(msg.payload))
            case Register():
                msg.reply.set(await self.registration.register(msg))
            case UpdateCard():
                await self.registration.update_card(msg.agent_card)
                msg.reply.set(None)
            case Snapshot():
                msg.reply.set(self.snapshot())
            case Dispatch():
                await self.delivery.dispatch(msg)
            case DrainQueue():
                self.delivery.maybe_drain()
            case Restart():
                msg.reply.set(
                    await self.lifecycle.request_restart(
                        msg.reason, explicit=msg.explicit, wake=msg.wake
                    )
                )
            case Pause():
                msg.reply.set(await self.lifecycle.pause())
            case Resume():
                msg.reply.set(await self.lifecycle.resume())
            case Hibernate():
                await self.lifecycle.hibernate(msg.force)
                msg.reply.set(True)
            case ProvisionTimedOut():
                await self.lifecycle.provision_timed_out(msg.timeout)
            case ProcessExited():
                # The provisioner reports only exits of the current agent that nobody asked
                # for; one during a cycle (a crash at start) earns one more cycle.
                self.url = None
                await self.lifecycle.request_auto_restart(f"agent process exited (code {msg.code})")
            case AgentDown():
                # A dispatch found the agent not running. During a cycle that is the cycle's
                # own stop: never a reason for another one.
                if not self.lifecycle.restart_running:
                    self.url = None
                    await self.lifecycle.request_auto_restart("agent found not running")
            case Reload():
                await self.reload()
            case Removed():
                self.status = WorkspaceStatus.REMOVED
                self.deps.heartbeats.discard(self.workspace_id)
                raise StopActor()
            case _:
                wid = self.workspace_id
                log.warning("workspace %s: unknown message %r", wid, msg, extra=logs.log_extra(wid))

    def snapshot(self) -> dict[str, Any]:
        remaining = self.liveness_deadline - trio.current_time()
        return {
            "workspace_id": self.workspace_id,
            "status": str(self.status),
            "url": self.url,
            "delivery_mode": self.delivery_mode,
            "liveness_remaining": None if math.isinf(remaining) else remaining,
            "capabilities": dict(self.capabilities),
            "idle_timeout_override": self.idle_timeout_override,
            "active_tasks": self.active_tasks,
            "max_concurrent_tasks": self.max_concurrent_tasks,
            "current_task": self.current_task,
            "restart_running": self.lifecycle.restart_running,
            "restart_pending": self.lifecycle.restart_pending,
            "restart_cycles": self.lifecycle.restart_cycles,
            "restart_reason": self.lifecycle.restart_reason,
        }

    async def inbound_secret_or_heal(self) -> str | None:
        """The column value, minted now if it is empty (lazy heal); None on a DB error."""
        if self.inbound_secret:
            return self.inbound_secret
        try:
            healed = await self.deps.workspaces.heal_inbound_secret(
                self.workspace_id, new_inbound_secret()
            )
        except Exception:
            log.exception(
                "workspace %s: minting the inbound secret failed",
                self.workspace_id,
                extra=logs.log_extra(self.workspace_id, "register"),
            )
            return None
        if healed is not None:
            self.inbound_secret = healed[0]
        return self.inbound_secret

    def handle_now(self, msg: object) -> bool:
        return isinstance(msg, Dispatch) and self.delivery.push_now(msg)
