"""The workspace lifecycle, owned by its WorkspaceActor: start, restart, auto-restart.

Coalescing (docs/compatibility.md#d11, no debounce): a restart requested while a cycle runs sets
`restart_pending`; however many arrive, exactly one more cycle follows. Cycles run as a task in
the actor's own nursery, so two workspaces never wait on each other and the actor keeps
answering heartbeats meanwhile; a crash inside a cycle crashes the actor, whose supervisor
restarts it with clean flags. Auto-restarts (the agent process died, or liveness expired) are
bounded by a sliding window: past it the workspace is `failed` with a reason, never a restart
loop.
"""

from __future__ import annotations

import logging
from collections import deque
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import trio

from molecule.actors.dispatch import A2ARequest
from molecule.errors import Conflict, NotFound, ProvisionFailed
from molecule.events import (
    WORKSPACE_HIBERNATED,
    WORKSPACE_OFFLINE,
    WORKSPACE_ONLINE,
    WORKSPACE_PAUSED,
    WORKSPACE_PROVISION_FAILED,
    WORKSPACE_PROVISIONING,
)
from molecule.models import WorkspaceStatus
from molecule.observability.logs import log_extra

if TYPE_CHECKING:
    from molecule.actors.workspace import WorkspaceActor

log = logging.getLogger("molecule.actors.lifecycle")

AUTO_RESTART_LIMIT = 5
AUTO_RESTART_WINDOW = 300.0
RESTART_CONTEXT_WAIT = 30.0
RESTART_CONTEXT_POLL = 0.5
CRASH_LOOP_REASON = (
    "agent keeps stopping: {n} automatic restarts within {window:g} s — fix the cause (see the "
    "workspace's agent log) and restart it"
)
NOT_RESTARTABLE = (WorkspaceStatus.REMOVED, WorkspaceStatus.PAUSED, WorkspaceStatus.HIBERNATING)
PROVISION_TIMEOUT_MESSAGE = (
    "provisioning timed out — container started but never called /registry/register. "
    "Check container logs and network connectivity to the platform."
)
# The cause (a metrics label) of each reason a restart is requested with, by prefix.
RESTART_CAUSES = (
    ("created", "create"),
    ("manual restart", "manual"),
    ("resume", "resume"),
    ("expand", "expand"),
    ("wake on A2A", "wake"),
    ("secret ", "secret_changed"),
    ("global secret ", "secret_changed"),
    ("agent process exited", "agent_exited"),
    ("agent found not running", "agent_down"),
    ("no heartbeat for", "heartbeat_timeout"),
    ("platform restarted", "platform_restart"),
    ("coalesced restart request", "coalesced"),
)


def restart_cause(reason: str) -> str:
    """The bounded cause label of a free-text restart reason ("other" when unknown)."""
    return next((cause for prefix, cause in RESTART_CAUSES if reason.startswith(prefix)), "other")


class Lifecycle:
    """The restart state and cycle of one WorkspaceActor (composed into it)."""

    def __init__(self, actor: WorkspaceActor) -> None:
        self.actor = actor
        self.restart_running = False
        self.restart_pending = False
        self.restart_cycles = 0
        self.restart_reason = ""  # why the latest cycle ran (diagnostics)
        self.cycle_started: float | None = None  # until online: the provision time metric
        self.auto_restarts: deque[float] = deque()

    def managed(self) -> bool:
        """Is the platform responsible for running this workspace's agent (not an external
        or mock one)? It may still lack the backend to do so: see `startable`."""
        return not self.actor.external and self.actor.runtime != "mock"

    def startable(self) -> bool:
        """Does this platform run this workspace's agent, so it may start, stop and restart
        it? Never an external or mock workspace, nor one whose runtime needs a backend that
        is not here (an agent that registered itself): those are never driven to `failed`."""
        return self.actor.deps.pipeline.can_start(self.actor.runtime)

    async def request_restart(
        self, reason: str, *, wake: bool = False, explicit: bool = False
    ) -> bool:
        """Start a cycle, or coalesce into the running one. False when not restartable.

        Restarts the platform decides on (secrets, crashes, silence, wakes) are for agents it
        can start only. An explicit start (create, resume, expand) of a workspace it is
        responsible for is attempted even without a backend for its runtime, and fails with
        the reason, so the user learns why it does not run.

        A new cycle's first step happens before this returns (as the original's restart
        handler does it before answering): the row is `provisioning` with no URL and
        WORKSPACE_PROVISIONING is recorded, so a read or an A2A call right after the
        request sees a restarting workspace, not the old agent's `online`.
        """
        actor = self.actor
        if not (self.startable() or (explicit and self.managed())):
            return False
        if actor.status in NOT_RESTARTABLE or (
            actor.status == WorkspaceStatus.HIBERNATED and not wake
        ):
            return False
        if self.restart_running:
            self.restart_pending = True
            return True
        if not await self._enter_provisioning():
            return False
        self.restart_running = True
        actor.nursery.start_soon(self._restart_loop, reason)
        return True

    async def request_auto_restart(self, reason: str) -> None:
        """A restart the platform decided on by itself (the agent died, or went silent),
        bounded by the crash-loop window: past it the workspace is `failed` with a reason."""
        if not self.startable() or self.actor.status in (
            *NOT_RESTARTABLE,
            WorkspaceStatus.HIBERNATED,
            WorkspaceStatus.FAILED,
        ):
            return
        now = trio.current_time()
        while self.auto_restarts and self.auto_restarts[0] <= now - AUTO_RESTART_WINDOW:
            self.auto_restarts.popleft()
        if len(self.auto_restarts) >= AUTO_RESTART_LIMIT:
            await self._give_up_restarting()
            return
        self.auto_restarts.append(now)
        wid = self.actor.workspace_id
        log.info("workspace %s: auto-restart (%s)", wid, reason, extra=log_extra(wid, "restart"))
        await self.request_restart(reason)

    async def _enter_provisioning(self) -> bool:
        """`provisioning`, URL cleared, WORKSPACE_PROVISIONING: the start of every cycle."""
        actor = self.actor
        expected = [
            s for s in WorkspaceStatus if s not in (WorkspaceStatus.REMOVED, WorkspaceStatus.PAUSED)
        ]
        if not await actor.deps.workspaces.transition(
            actor.workspace_id, WorkspaceStatus.PROVISIONING, expected, clear_url=True
        ):
            await actor.reload()
            return False
        actor.status, actor.url = WorkspaceStatus.PROVISIONING, None
        actor.liveness_deadline = float("inf")
        await actor.deps.bus.record(
            WORKSPACE_PROVISIONING,
            actor.workspace_id,
            {"name": actor.name, "tier": actor.tier, "runtime": actor.runtime},
        )
        return True

    async def provision_timed_out(self, timeout: float) -> None:
        if self.actor.status != WorkspaceStatus.PROVISIONING or self.restart_running:
            return  # a cycle in flight will settle the status itself
        if await self.actor.deps.workspaces.transition(
            self.actor.workspace_id,
            WorkspaceStatus.FAILED,
            (WorkspaceStatus.PROVISIONING,),
            sample_error=PROVISION_TIMEOUT_MESSAGE,
        ):
            self.actor.status = WorkspaceStatus.FAILED
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
        if provisioner is not None and self.startable():
            await provisioner.stop(self.actor.workspace_id)

    async def pause(self) -> bool:
        actor = self.actor
        if actor.status in (WorkspaceStatus.REMOVED, WorkspaceStatus.PAUSED):
            return False
        self.restart_pending = False
        await self._stop_agent()
        expected = [
            s for s in WorkspaceStatus if s not in (WorkspaceStatus.REMOVED, WorkspaceStatus.PAUSED)
        ]
        if not await actor.deps.workspaces.transition(
            actor.workspace_id, WorkspaceStatus.PAUSED, expected, clear_url=True
        ):
            await actor.reload()
            return False
        actor.status, actor.url = WorkspaceStatus.PAUSED, None
        actor.liveness_deadline = float("inf")
        await actor.deps.bus.record(WORKSPACE_PAUSED, actor.workspace_id, {"name": actor.name})
        return True

    async def resume(self) -> bool:
        actor = self.actor
        if actor.status != WorkspaceStatus.PAUSED:
            return False
        if not self.managed():  # nothing to start: back to waiting for the agent
            if actor.runtime == "mock":
                target = WorkspaceStatus.ONLINE  # the platform itself answers for it
            else:  # its next heartbeat brings it online
                target = (
                    WorkspaceStatus.AWAITING_AGENT if actor.external else WorkspaceStatus.OFFLINE
                )
            if await actor.deps.workspaces.transition(
                actor.workspace_id, target, (WorkspaceStatus.PAUSED,)
            ):
                actor.status = target  # seen live, as no WORKSPACE_PROVISIONING follows
                event = WORKSPACE_ONLINE if target == WorkspaceStatus.ONLINE else WORKSPACE_OFFLINE
                await actor.deps.bus.record(event, actor.workspace_id, {"status": str(target)})
            return True
        if not await actor.deps.workspaces.transition(
            actor.workspace_id, WorkspaceStatus.PROVISIONING, (WorkspaceStatus.PAUSED,)
        ):
            await actor.reload()
            return False
        actor.status = WorkspaceStatus.PROVISIONING
        await self.request_restart("resume", explicit=True)
        return True

    async def hibernate(self, force: bool) -> None:
        actor = self.actor
        if actor.status not in (WorkspaceStatus.ONLINE, WorkspaceStatus.DEGRADED):
            raise NotFound(
                "workspace not found or not in a hibernatable state (must be online or degraded)"
            )
        if actor.active_tasks > 0 and not force:
            raise Conflict(
                "workspace has active tasks; use ?force=true to terminate them",
                extra={"active_tasks": actor.active_tasks},
            )
        wid = actor.workspace_id
        if not await actor.deps.workspaces.transition(
            wid, WorkspaceStatus.HIBERNATING, (WorkspaceStatus.ONLINE, WorkspaceStatus.DEGRADED)
        ):
            await actor.reload()
            return
        actor.status = WorkspaceStatus.HIBERNATING
        await self._stop_agent()
        await actor.deps.workspaces.transition(
            wid, WorkspaceStatus.HIBERNATED, (WorkspaceStatus.HIBERNATING,), clear_url=True
        )
        actor.status, actor.url = WorkspaceStatus.HIBERNATED, None
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
        self.actor.status = WorkspaceStatus.FAILED

    async def _restart_loop(self, reason: str) -> None:
        """Cycles until no restart is pending; the first cycle's `provisioning` step was
        taken by request_restart."""
        try:
            first = True
            while True:
                self.restart_pending = False
                self.restart_cycles += 1
                if not first and not await self._enter_provisioning():
                    return
                first = False
                await self._restart_cycle(reason)
                if not self.restart_pending:
                    return
                reason = "coalesced restart request"
        finally:
            self.restart_running = False

    async def _restart_cycle(self, reason: str) -> None:
        started_at = datetime.now(UTC)
        self.restart_reason = reason
        actor = self.actor
        pipeline = actor.deps.pipeline
        self.cycle_started = trio.current_time()
        actor.deps.metrics.restart(restart_cause(reason))
        fields = log_extra(actor.workspace_id, "restart")
        log.info(
            "workspace %s: restart cycle %d (%s)",
            actor.workspace_id,
            self.restart_cycles,
            reason,
            extra=fields,
        )
        if pipeline.provisioner is not None:
            await pipeline.provisioner.stop(actor.workspace_id)
        try:
            actor.url = await pipeline.start(actor.workspace_id)
        except ProvisionFailed as failure:
            log.warning(
                "workspace %s: start failed: %s", actor.workspace_id, failure.message, extra=fields
            )
            actor.status = WorkspaceStatus.FAILED
            self.cycle_started = None
            actor.deps.metrics.provision_failures.inc()
            return
        await actor.reload()
        actor.nursery.start_soon(self._send_restart_context, started_at)

    def came_online(self) -> None:
        """The agent is online: the time since its cycle started is a provision duration."""
        if self.cycle_started is not None:
            elapsed = trio.current_time() - self.cycle_started
            self.cycle_started = None
            self.actor.deps.metrics.provision_duration.observe(elapsed)

    async def _send_restart_context(self, started_at: datetime) -> None:
        """Tell the fresh agent what happened, as the original does, once it is online
        (docs/architecture.md §4.4, step 5)."""
        with trio.move_on_after(RESTART_CONTEXT_WAIT):
            while self.actor.status != WorkspaceStatus.ONLINE or not self.actor.url:  # noqa: ASYNC110
                await trio.sleep(RESTART_CONTEXT_POLL)
        if self.actor.status != WorkspaceStatus.ONLINE or not self.actor.url:
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
            await self.actor.deps.dispatcher.forward(self.actor.delivery.target(), request)
        except Exception as exc:  # best effort: the agent works without it
            wid = self.actor.workspace_id
            log.info(
                "workspace %s: restart context not delivered: %s",
                wid,
                exc,
                extra=log_extra(wid, "restart"),
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
