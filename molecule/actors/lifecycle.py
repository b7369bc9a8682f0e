"""The workspace lifecycle, owned by its WorkspaceActor: start, restart, auto-restart.

Coalescing (D11, no debounce): a restart requested while a cycle runs sets `restart_pending`;
however many arrive, exactly one more cycle follows. Cycles run as a task in the actor's own
nursery, so two workspaces never wait on each other and the actor keeps answering
heartbeats meanwhile; a crash inside a cycle crashes the actor, whose supervisor restarts it
with clean flags. Auto-restarts (the agent process died, or liveness expired) are bounded by
a sliding window: past it the workspace is `failed` with a reason, never a restart loop.
"""

from __future__ import annotations

import logging
from collections import deque
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import trio

from molecule.actors.dispatch import A2ARequest
from molecule.errors import Conflict, NotFound
from molecule.events import (
    WORKSPACE_HIBERNATED,
    WORKSPACE_PAUSED,
    WORKSPACE_PROVISION_FAILED,
    WORKSPACE_PROVISIONING,
)
from molecule.models import WorkspaceStatus
from molecule.provision.pipeline import ProvisionFailed

if TYPE_CHECKING:
    from molecule.actors.workspace import WorkspaceActor

log = logging.getLogger("molecule.actors.lifecycle")

S = WorkspaceStatus
AUTO_RESTART_LIMIT = 5
AUTO_RESTART_WINDOW = 300.0
RESTART_CONTEXT_WAIT = 30.0
RESTART_CONTEXT_POLL = 0.5
CRASH_LOOP_REASON = (
    "agent keeps stopping: {n} automatic restarts within {window:g} s — fix the cause (see the "
    "workspace's agent log) and restart it"
)
NOT_RESTARTABLE = (S.REMOVED, S.PAUSED, S.HIBERNATING)
PROVISION_TIMEOUT_MESSAGE = (
    "provisioning timed out — container started but never called /registry/register. "
    "Check container logs and network connectivity to the platform."
)


class Lifecycle:
    """The restart state and cycle of one WorkspaceActor (composed into it)."""

    def __init__(self, actor: WorkspaceActor) -> None:
        self.actor = actor
        self.restart_running = False
        self.restart_pending = False
        self.restart_cycles = 0
        self.auto_restarts: deque[float] = deque()

    def managed(self) -> bool:
        """Does the platform run this workspace's agent (not external, not mock)?"""
        return not self.actor.external and self.actor.runtime != "mock"

    def request_restart(self, reason: str, *, wake: bool = False) -> bool:
        """Start a cycle, or coalesce into the running one. False when not restartable."""
        if not self.managed():
            return False
        if self.actor.status in NOT_RESTARTABLE or (self.actor.status == S.HIBERNATED and not wake):
            return False
        if self.restart_running:
            self.restart_pending = True
            return True
        self.restart_running = True
        self.actor.nursery.start_soon(self._restart_loop, reason)
        return True

    def request_auto_restart(self, reason: str) -> None:
        """A restart the platform decided on by itself, bounded by the crash-loop window.

        Only for agents this platform can start: a workspace whose runtime needs a backend
        that is not here (e.g. a Docker image) is left offline, not driven into `failed`."""
        if not self.managed() or self.actor.status in (*NOT_RESTARTABLE, S.HIBERNATED, S.FAILED):
            return
        if not self.actor.deps.pipeline.can_start(self.actor.runtime):
            return
        now = trio.current_time()
        while self.auto_restarts and self.auto_restarts[0] <= now - AUTO_RESTART_WINDOW:
            self.auto_restarts.popleft()
        if len(self.auto_restarts) >= AUTO_RESTART_LIMIT:
            self.actor.nursery.start_soon(self._give_up_restarting)
            return
        self.auto_restarts.append(now)
        log.info("workspace %s: auto-restart (%s)", self.actor.workspace_id, reason)
        self.request_restart(reason)

    async def provision_timed_out(self, timeout: float) -> None:
        if self.actor.status != S.PROVISIONING or self.restart_running:
            return  # a cycle in flight will settle the status itself
        if await self.actor.deps.workspaces.transition(
            self.actor.workspace_id,
            S.FAILED,
            (S.PROVISIONING,),
            sample_error=PROVISION_TIMEOUT_MESSAGE,
        ):
            self.actor.status = S.FAILED
            await self.actor.deps.bus.record(
                WORKSPACE_PROVISION_FAILED,
                self.actor.workspace_id,
                {
                    "error": PROVISION_TIMEOUT_MESSAGE,
                    "timeout_secs": int(timeout),
                    "runtime": self.actor.runtime,
                    "source": "provision_timeout_sweep",
                },
            )

    async def _stop_agent(self) -> None:
        provisioner = self.actor.deps.pipeline.provisioner
        if provisioner is not None and self.managed():
            await provisioner.stop(self.actor.workspace_id)

    async def pause(self) -> bool:
        actor = self.actor
        if actor.status in (S.REMOVED, S.PAUSED):
            return False
        self.restart_pending = False
        await self._stop_agent()
        expected = [s for s in S if s not in (S.REMOVED, S.PAUSED)]
        if not await actor.deps.workspaces.transition(
            actor.workspace_id, S.PAUSED, expected, clear_url=True
        ):
            await actor._reload()
            return False
        actor.status, actor.url = S.PAUSED, None
        actor.liveness_deadline = float("inf")
        await actor.deps.bus.record(WORKSPACE_PAUSED, actor.workspace_id, {"name": actor.name})
        return True

    async def resume(self) -> bool:
        actor = self.actor
        if actor.status != S.PAUSED:
            return False
        if not self.managed():  # nothing to start: back to waiting for the agent
            target = S.AWAITING_AGENT if actor.external else S.ONLINE
            if await actor.deps.workspaces.transition(actor.workspace_id, target, (S.PAUSED,)):
                actor.status = target
            return True
        if not await actor.deps.workspaces.transition(
            actor.workspace_id, S.PROVISIONING, (S.PAUSED,)
        ):
            await actor._reload()
            return False
        actor.status = S.PROVISIONING
        self.request_restart("resume")
        return True

    async def hibernate(self, force: bool) -> None:
        actor = self.actor
        if actor.status not in (S.ONLINE, S.DEGRADED):
            raise NotFound(
                "workspace not found or not in a hibernatable state (must be online or degraded)"
            )
        if actor.active_tasks > 0 and not force:
            raise Conflict(
                "workspace has active tasks; use ?force=true to terminate them",
                extra={"active_tasks": actor.active_tasks},
            )
        wid = actor.workspace_id
        if not await actor.deps.workspaces.transition(wid, S.HIBERNATING, (S.ONLINE, S.DEGRADED)):
            await actor._reload()
            return
        actor.status = S.HIBERNATING
        await self._stop_agent()
        await actor.deps.workspaces.transition(wid, S.HIBERNATED, (S.HIBERNATING,), clear_url=True)
        actor.status, actor.url = S.HIBERNATED, None
        actor.liveness_deadline = float("inf")
        row = await actor.deps.workspaces.get(wid) or {}
        await actor.deps.bus.record(
            WORKSPACE_HIBERNATED, wid, {"name": actor.name, "tier": row.get("tier")}
        )

    async def _give_up_restarting(self) -> None:
        message = CRASH_LOOP_REASON.format(n=AUTO_RESTART_LIMIT, window=AUTO_RESTART_WINDOW)
        await self.actor.deps.pipeline.mark_failed(
            self.actor.workspace_id, message, {"source": "supervisor"}
        )
        self.actor.status = S.FAILED

    async def _restart_loop(self, reason: str) -> None:
        try:
            while True:
                self.restart_pending = False
                self.restart_cycles += 1
                await self._restart_cycle(reason)
                if not self.restart_pending:
                    return
                reason = "coalesced restart request"
        finally:
            self.restart_running = False

    async def _restart_cycle(self, reason: str) -> None:
        started_at = datetime.now(UTC)
        pipeline = self.actor.deps.pipeline
        if pipeline.provisioner is not None:
            await pipeline.provisioner.stop(self.actor.workspace_id)
        expected = [s for s in S if s not in (S.REMOVED, S.PAUSED)]
        if not await self.actor.deps.workspaces.transition(
            self.actor.workspace_id, S.PROVISIONING, expected, clear_url=True
        ):
            await self.actor._reload()
            return
        self.actor.status, self.actor.url = S.PROVISIONING, None
        self.actor.liveness_deadline = float("inf")
        row = await self.actor.deps.workspaces.get(self.actor.workspace_id) or {}
        await self.actor.deps.bus.record(
            WORKSPACE_PROVISIONING,
            self.actor.workspace_id,
            {"name": self.actor.name, "tier": row.get("tier"), "runtime": self.actor.runtime},
        )
        log.info(
            "workspace %s: restart cycle %d (%s)",
            self.actor.workspace_id,
            self.restart_cycles,
            reason,
        )
        try:
            self.actor.url = await pipeline.start(self.actor.workspace_id)
        except ProvisionFailed as failure:
            log.warning("workspace %s: start failed: %s", self.actor.workspace_id, failure.message)
            self.actor.status = S.FAILED
            return
        await self.actor._reload()
        self.actor.nursery.start_soon(self._send_restart_context, started_at)

    async def _send_restart_context(self, started_at: datetime) -> None:
        """Tell the fresh agent what happened (upstream-may §6.3), once it is online."""
        with trio.move_on_after(RESTART_CONTEXT_WAIT):
            while self.actor.status != S.ONLINE or not self.actor.url:  # noqa: ASYNC110
                await trio.sleep(RESTART_CONTEXT_POLL)
        if self.actor.status != S.ONLINE or not self.actor.url:
            return
        row = await self.actor.deps.workspaces.get(self.actor.workspace_id) or {}
        env_keys = sorted(
            (await self.actor.deps.pipeline.secrets.load(self.actor.workspace_id)).values
        )
        previous = row.get("last_heartbeat_at")
        stamp = "%Y-%m-%dT%H:%M:%SZ"
        ended = "(no prior session on record)"
        if previous is not None and previous < started_at:
            ago = _ago(started_at - previous)
            ended = f"{previous.astimezone(UTC).strftime(stamp)} ({ago} ago)"
        lines = [
            "=== WORKSPACE RESTART CONTEXT ===",
            f"Restart at: {started_at.strftime(stamp)}",
            f"Previous session ended: {ended}",
            f"Env vars now available: {', '.join(env_keys) if env_keys else '(none)'}",
            "=== END RESTART CONTEXT ===",
        ]
        envelope: dict[str, Any] = {
            "jsonrpc": "2.0",
            "id": f"restart-{self.actor.workspace_id[:8]}",
            "method": "message/send",
            "params": {
                "message": {
                    "role": "user",
                    "messageId": f"restart-context-{int(started_at.timestamp())}",
                    "parts": [{"kind": "text", "text": "\n".join(lines)}],
                    "metadata": {
                        "source": "platform",
                        "kind": "restart_context",
                        "layer": 1,
                        "restart_context": True,
                    },
                }
            },
        }
        request = A2ARequest(envelope, "message/send", "system:restart-context", log_activity=False)
        try:
            await self.actor.deps.dispatcher.forward(self.actor._target(), request)
        except Exception as exc:  # best effort: the agent works without it
            log.info(
                "workspace %s: restart context not delivered: %s", self.actor.workspace_id, exc
            )


def _ago(delta: Any) -> str:
    seconds = int(delta.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
