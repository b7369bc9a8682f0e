"""The WorkspaceActor: one per live workspace, the only writer of its status.

It caches the row's routing fields, owns the liveness deadline (armed by register *and*
heartbeat, D9), the runtime capabilities and idle-timeout override reported by heartbeats,
and the restart flags. Every status change it makes is a conditional UPDATE; when one finds
the row in another status (someone else moved it), the actor reloads instead of guessing.
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import trio

from molecule.actors.dispatch import A2ARequest, Dispatcher, StillBusy, Target, json_result
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
from molecule.actors.runtime import Actor
from molecule.config import Settings
from molecule.errors import (
    ActorStopped,
    BadRequest,
    Gone,
    MoleculeError,
    NotFound,
    PaymentRequired,
    ServiceUnavailable,
    StopActor,
    UnsafeURL,
)
from molecule.events import (
    AGENT_CARD_UPDATED,
    TASK_UPDATED,
    WORKSPACE_DEGRADED,
    WORKSPACE_HEARTBEAT,
    WORKSPACE_OFFLINE,
    WORKSPACE_ONLINE,
    EventBus,
)
from molecule.models import (
    CAPABILITY_KEYS,
    EXTERNAL_RUNTIMES,
    DeliveryMode,
    HeartbeatPayload,
    WorkspaceStatus,
)
from molecule.operations.activity_log import ActivityLog
from molecule.provision.pipeline import Pipeline
from molecule.security.ssrf import IPAddress, URLPolicy, check_outbound_url
from molecule.security.token_material import new_inbound_secret
from molecule.store.heartbeats import HeartbeatBuffer
from molecule.store.queue import QueueRows
from molecule.store.token_rows import WorkspaceTokens
from molecule.store.workspaces import HeartbeatColumns, Workspaces

log = logging.getLogger("molecule.actors.workspace")

S = WorkspaceStatus
MAX_SAMPLE_ERROR = 4096
MAX_CURRENT_TASK = 4096
DEGRADE_ERROR_RATE = 0.5
URL_CHECK_TTL = 5.0
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


def removed_body(row: dict[str, Any]) -> dict[str, Any]:
    removed_at = row.get("removed_at")
    return {
        "id": row["id"],
        "hint": "Regenerate workspace + token from the canvas → Tokens tab",
        "removed_at": removed_at.isoformat() if removed_at else None,
    }


def workspace_gone(row: dict[str, Any]) -> Gone:
    return Gone("workspace removed", extra=removed_body(row))


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
        self.status: WorkspaceStatus = S.PROVISIONING
        self.liveness_deadline = math.inf
        self.capabilities: dict[str, bool] = {}
        self.idle_timeout_override: float | None = None
        self.current_task = ""
        self.active_tasks = 0
        self.inbound_secret: str | None = None
        self.lifecycle = Lifecycle(self)
        self.draining = False
        self._checked_url: tuple[str, IPAddress, float] | None = None  # url, vetted IP, expiry

    # -- lifecycle ----------------------------------------------------------------------

    async def started(self) -> None:
        row, self._preloaded = self._preloaded, None
        if row is None:
            row = await self.deps.workspaces.get(self.workspace_id)
        if row is None or row["status"] == S.REMOVED:
            raise StopActor()
        self._load(row)
        if self.status in (S.ONLINE, S.DEGRADED):
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
        if self.status not in (S.ONLINE, S.DEGRADED, S.PROVISIONING, S.OFFLINE):
            return
        if not await provisioner.is_running(self.workspace_id):
            await self.lifecycle.request_restart("platform restarted")

    def _load(self, row: dict[str, Any]) -> None:
        self.status = S(row["status"])
        self.name: str = row["name"]
        self.role: str | None = row.get("role")
        self.tier: int | None = row.get("tier")
        self.runtime: str = row.get("runtime") or "langgraph"
        self.url: str | None = row.get("url")
        self.delivery_mode: str = row.get("delivery_mode") or DeliveryMode.PUSH
        self.parent_id: str | None = row.get("parent_id")
        self.max_concurrent_tasks: int = row.get("max_concurrent_tasks") or 1
        self.current_task = row.get("current_task") or ""
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
        if self.status not in (S.ONLINE, S.DEGRADED):
            return
        target = S.AWAITING_AGENT if self.external else S.OFFLINE
        if await self._transition(target, (S.ONLINE, S.DEGRADED)):
            log.info(
                "workspace %s missed its heartbeat deadline: now %s", self.workspace_id, target
            )
            payload: dict[str, Any] = {"status": str(target)} if self.external else {}
            await self.deps.bus.record(WORKSPACE_OFFLINE, self.workspace_id, payload)
            # An agent the platform runs, alive but silent, is restarted (within the
            # crash-loop bound); one that runs elsewhere is waited for.
            ttl = self.deps.settings.liveness_ttl
            await self.lifecycle.request_auto_restart(f"no heartbeat for {ttl:g} s")

    async def _transition(self, to: WorkspaceStatus, expected: tuple[WorkspaceStatus, ...]) -> bool:
        changed = await self.deps.workspaces.transition(self.workspace_id, to, expected)
        if changed:
            self.status = to
        else:
            await self._reload()
        return changed

    async def _reload(self) -> None:
        row = await self.deps.workspaces.get(self.workspace_id)
        if row is None or row["status"] == S.REMOVED:
            self.status = S.REMOVED
            raise StopActor()
        self._load(row)

    # -- messages -----------------------------------------------------------------------

    async def handle(self, msg: object) -> None:
        match msg:
            case Heartbeat():
                msg.reply.set(await self._heartbeat(msg.payload))
            case Register():
                msg.reply.set(await self._register(msg))
            case UpdateCard():
                await self._update_card(msg.agent_card)
                msg.reply.set(None)
            case Snapshot():
                msg.reply.set(self.snapshot())
            case Dispatch():
                await self._dispatch(msg)
            case DrainQueue():
                self._maybe_drain()
            case Restart():
                msg.reply.set(
                    await self.lifecycle.request_restart(msg.reason, explicit=msg.explicit)
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
                await self._reload()
            case Removed():
                self.status = S.REMOVED
                self.deps.heartbeats.discard(self.workspace_id)
                raise StopActor()
            case _:
                log.warning("workspace %s: unknown message %r", self.workspace_id, msg)

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
            "current_task": self.current_task,
            "restart_running": self.lifecycle.restart_running,
            "restart_pending": self.lifecycle.restart_pending,
            "restart_cycles": self.lifecycle.restart_cycles,
            "restart_reason": self.lifecycle.restart_reason,
        }

    async def _inbound_secret(self) -> str | None:
        """The column value, minted now if it is empty (lazy heal); None on a DB error."""
        if self.inbound_secret:
            return self.inbound_secret
        try:
            healed = await self.deps.workspaces.heal_inbound_secret(
                self.workspace_id, new_inbound_secret()
            )
        except Exception:
            log.exception("workspace %s: minting the inbound secret failed", self.workspace_id)
            return None
        if healed is not None:
            self.inbound_secret = healed[0]
        return self.inbound_secret

    async def _register(self, msg: Register) -> dict[str, Any]:
        mode = msg.delivery_mode or self.delivery_mode or DeliveryMode.PUSH
        # The URL itself was vetted at the edge (validate_agent_url), before anything was
        # written; whether one is needed depends on the mode this actor knows.
        if mode == DeliveryMode.PUSH and not msg.url:
            raise BadRequest("url is required for push-mode workspaces")
        card = reconcile_card(msg.agent_card, self.name, self.role, self.workspace_id)
        url = msg.url if mode == DeliveryMode.PUSH else (msg.url or None)
        row = await self.deps.workspaces.register(self.workspace_id, url, card, mode)
        if row is None:
            await self._reload()  # raises StopActor when removed
            raise NotFound("workspace not found")
        self.status = S.ONLINE
        self.url = row["url"]
        self.delivery_mode = mode
        self.arm_liveness()
        token = await self.deps.tokens.mint_if_none(self.workspace_id)
        secret = await self._inbound_secret()
        await self.deps.bus.record(
            WORKSPACE_ONLINE,
            self.workspace_id,
            {"url": self.url or "", "agent_card": card, "delivery_mode": mode},
        )
        body: dict[str, Any] = {"status": "registered", "delivery_mode": mode}
        if token:
            body["auth_token"] = token
        if secret:
            body["platform_inbound_secret"] = secret
        return body

    async def _heartbeat(self, p: HeartbeatPayload) -> dict[str, Any]:
        sample_error = _truncate(p.sample_error, MAX_SAMPLE_ERROR)
        current_task = _truncate(p.current_task, MAX_CURRENT_TASK)
        spend = min(max(p.monthly_spend, 0), 10**12)
        self.deps.heartbeats.stage(
            self.workspace_id,
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
        self.arm_liveness()
        await self._evaluate_status(p, sample_error)
        bus = self.deps.bus
        if current_task != self.current_task:
            bus.broadcast(
                TASK_UPDATED,
                self.workspace_id,
                {"current_task": current_task, "active_tasks": p.active_tasks},
            )
        self.current_task = current_task
        self.active_tasks = p.active_tasks
        if spend:
            self.monthly_spend = spend
        bus.broadcast(
            WORKSPACE_HEARTBEAT,
            self.workspace_id,
            {"active_tasks": p.active_tasks, "uptime_seconds": int(p.uptime_seconds)},
        )
        self._store_runtime_metadata(p)
        self._maybe_drain()
        body: dict[str, Any] = {"status": "ok"}
        secret = await self._inbound_secret()
        if secret:
            body["platform_inbound_secret"] = secret
        return body

    async def _evaluate_status(self, p: HeartbeatPayload, sample_error: str) -> None:
        """The heartbeat transitions of upstream-may §1.2, from one status snapshot.

        `status_mgmt` is read before this beat's metadata is stored, as in the original: the
        previous heartbeat's declaration governs this one.
        """
        native_status = self.capabilities.get("status_mgmt", False)
        snapshot = self.status
        record = self.deps.bus.record
        wid = self.workspace_id
        if snapshot == S.ONLINE:
            if p.runtime_state == "wedged":
                if await self._transition(S.DEGRADED, (S.ONLINE,)):
                    await record(
                        WORKSPACE_DEGRADED,
                        wid,
                        {"runtime_state": "wedged", "sample_error": sample_error},
                    )
            elif not native_status and p.error_rate >= DEGRADE_ERROR_RATE:
                if await self._transition(S.DEGRADED, (S.ONLINE,)):
                    await record(
                        WORKSPACE_DEGRADED,
                        wid,
                        {"error_rate": p.error_rate, "sample_error": sample_error},
                    )
        elif snapshot == S.DEGRADED:
            if not native_status and p.error_rate < RECOVER_ERROR_RATE and not p.runtime_state:
                if await self._transition(S.ONLINE, (S.DEGRADED,)):
                    await record(WORKSPACE_ONLINE, wid, {})
        elif snapshot == S.OFFLINE:
            if await self._transition(S.ONLINE, (S.OFFLINE,)):
                await record(WORKSPACE_ONLINE, wid, {})
        elif snapshot in (S.PROVISIONING, S.AWAITING_AGENT):
            if await self._transition(S.ONLINE, (snapshot,)):
                await record(WORKSPACE_ONLINE, wid, {"recovered_from": str(snapshot)})

    def _store_runtime_metadata(self, p: HeartbeatPayload) -> None:
        meta = p.runtime_metadata
        if meta is None:
            self.capabilities = {}
            self.idle_timeout_override = None
            return
        caps = meta.capabilities or {}
        self.capabilities = {k: bool(caps.get(k)) for k in CAPABILITY_KEYS if k in caps}
        idle = meta.idle_timeout_seconds
        self.idle_timeout_override = float(idle) if idle is not None and idle > 0 else None

    async def _update_card(self, card: Any) -> None:
        if not await self.deps.workspaces.update_card(self.workspace_id, card):
            await self._reload()
            raise NotFound("workspace not found")
        await self.deps.bus.record(AGENT_CARD_UPDATED, self.workspace_id, {"agent_card": card})

    # -- A2A delivery --------------------------------------------------------------------

    def handle_now(self, msg: object) -> bool:
        return isinstance(msg, Dispatch) and self._push_now(msg)

    def _push_now(self, msg: Dispatch) -> bool:
        """The common case, decided without awaiting: a push to an agent with a URL."""
        if self.budget_limit is not None and self.monthly_spend >= self.budget_limit:
            raise PaymentRequired("workspace budget limit exceeded")
        if self.delivery_mode == DeliveryMode.POLL or self.runtime == "mock" or not self.url:
            return False
        self.nursery.start_soon(self._forward, self._target(), msg)
        return True

    async def _dispatch(self, msg: Dispatch) -> None:
        if self._push_now(msg):
            return
        req = msg.request
        if self.delivery_mode == DeliveryMode.POLL:
            msg.reply.set(await self._record_for_poll(req))
            return
        if self.runtime == "mock":
            self.nursery.start_soon(self._mock_reply, msg)
            return
        # No URL (a push with one went out in _push_now).
        if self.status == S.HIBERNATED:
            await self.lifecycle.request_restart("wake on A2A", wake=True)  # D1: really wake it
            raise ServiceUnavailable(
                "workspace is waking from hibernation — retry in ~15 seconds",
                retry_after=15,
                extra={"waking": True, "retry_after": 15},
            )
        if self.status == S.PROVISIONING:
            # Starting or restarting: retry once it is up (never another restart cycle).
            raise ServiceUnavailable(
                "workspace has no URL",
                retry_after=RESTART_RETRY_AFTER,
                extra={
                    "status": str(self.status),
                    "restarting": True,
                    "retry_after": RESTART_RETRY_AFTER,
                },
            )
        raise ServiceUnavailable("workspace has no URL", extra={"status": str(self.status)})

    def _target(self) -> Target:
        assert self.url is not None
        idle = self.idle_timeout_override or self.deps.settings.a2a_idle_timeout
        return Target(
            workspace_id=self.workspace_id,
            name=self.name,
            url=self.url,
            runtime=self.runtime,
            session_capable=self.capabilities.get("session", False),
            idle_timeout=idle,
            # Only the local provisioner writes 127.0.0.1 URLs (agents may not register one).
            trusted=self.lifecycle.startable() and self.url.startswith("http://127.0.0.1:"),
        )

    async def _forward(self, target: Target, msg: Dispatch) -> None:
        """One push dispatch, in this actor's nursery: the actor keeps serving meanwhile."""
        try:
            if not target.trusted:
                address = self._url_recently_checked(target.url)
                if address is None:
                    try:
                        address = await check_outbound_url(target.url, self.deps.url_policy)
                    except UnsafeURL:
                        raise MoleculeError(
                            "workspace URL is not publicly routable", status=502
                        ) from None
                    expiry = trio.current_time() + URL_CHECK_TTL
                    self._checked_url = (target.url, address, expiry)
                # Dial the vetted address: resolving the name again could land elsewhere.
                target = replace(target, address=address)
            msg.reply.set(await self.deps.dispatcher.forward(target, msg.request))
        except MoleculeError as exc:
            msg.reply.fail(exc)
        except Exception:  # one bad dispatch must not take the workspace down
            log.exception("workspace %s: dispatch failed", self.workspace_id)
            msg.reply.fail(MoleculeError("internal error"))
        finally:  # a no-op once answered; cancelled with this incarnation, the sender
            # must not wait forever
            msg.reply.fail(ActorStopped(self.workspace_id))

    def _url_recently_checked(self, url: str) -> IPAddress | None:
        """The address this URL was vetted to, if that was less than URL_CHECK_TTL ago: a DNS
        lookup per message was a visible share of the proxy's cost. A changed URL is checked
        anew; dispatches meanwhile keep dialling the vetted address."""
        checked = self._checked_url
        if checked is None or checked[0] != url or checked[2] <= trio.current_time():
            return None
        return checked[1]

    async def _record_for_poll(self, req: A2ARequest) -> Any:
        """Poll mode: the message waits in the activity feed; nothing is dispatched. It is
        acknowledged only once its row is stored (a 503 when the database is down)."""
        if req.log_activity:
            await self.deps.activity.store(
                req.receipt(self.workspace_id, f"{req.method} → {self.name} (queued for poll)")
            )
        return json_result(200, {"status": "queued", "delivery_mode": "poll", "method": req.method})

    async def _mock_reply(self, msg: Dispatch) -> None:
        """runtime "mock": a canned JSON-RPC reply after 80 ms, logged as a success."""
        try:
            await trio.sleep(0.08)
        except trio.Cancelled:  # with this incarnation: the sender must not wait forever
            msg.reply.fail(ActorStopped(self.workspace_id))
            raise
        req = msg.request
        reply = {
            "jsonrpc": "2.0",
            "id": req.envelope.get("id"),
            "result": {
                "kind": "message",
                "role": "agent",
                "messageId": str(uuid.uuid4()),
                "parts": [{"kind": "text", "text": f"mock reply from {self.name}"}],
            },
        }
        if req.log_activity:
            self.deps.activity.stage(
                req.receipt(
                    self.workspace_id,
                    f"{req.method} → {self.name}",
                    response_body=reply,
                    duration_ms=80,
                )
            )
        msg.reply.set(json_result(200, reply))

    # -- the durable queue (D2) ------------------------------------------------------------

    def _maybe_drain(self) -> None:
        spare = self.max_concurrent_tasks - self.active_tasks
        if self.draining or spare <= 0 or not self.url:
            return
        if self.delivery_mode != DeliveryMode.PUSH or self.status not in (S.ONLINE, S.DEGRADED):
            return
        self.draining = True
        self.nursery.start_soon(self._drain, self._target(), spare)

    async def _drain(self, target: Target, spare: int) -> None:
        """Dispatch up to the spare capacity; busy-again items go back to `queued` (D2)."""
        queue = self.deps.queue
        try:
            claimed = await queue.claim(self.workspace_id, spare)
            for index, item in enumerate(claimed):
                req = A2ARequest(
                    envelope=item["body"],
                    method=item["method"] or "",
                    caller_id=item["caller_id"],
                    log_activity=True,
                    queue_id=item["id"],
                )
                try:
                    result = await self.deps.dispatcher.forward(target, req)
                except StillBusy as exc:
                    # No point pushing more at a busy agent; what was claimed but not yet
                    # sent goes back untouched.
                    await queue.release(item["id"], f"target busy: {exc}")
                    await queue.unclaim([rest["id"] for rest in claimed[index + 1 :]])
                    break
                except MoleculeError as exc:
                    await queue.release(item["id"], exc.message)
                    continue
                except Exception:
                    log.exception("workspace %s: draining %s failed", self.workspace_id, item["id"])
                    await queue.release(item["id"], "internal error")
                    continue
                await queue.complete(item["id"])
                await self.deps.dispatcher.stitch_delegation(target, req, result)
        except Exception:
            log.exception("workspace %s: queue drain failed", self.workspace_id)
        finally:
            self.draining = False
