"""How a WorkspaceActor delivers A2A messages to its agent, and drains its durable queue.

The common case, a push to an agent with a URL, is decided without awaiting (`push_now`,
called through the actor runtime's handle_now fast path) and forwarded in a task of the
actor's nursery, so a slow agent never blocks the actor. Otherwise: poll mode records the
message for the agent to fetch (acknowledged once stored), mock answers itself, a hibernated
workspace is woken (docs/compatibility.md#d1), a (re)starting one is a 503 with Retry-After.
An agent URL the platform did not assign passes the SSRF guard and is dialled at the vetted
address, for direct calls and queue drains alike. The queue drains up to the spare capacity
a heartbeat reports (docs/compatibility.md#d2).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import trio

from molecule.actors.dispatch import A2ARequest, Target, json_result
from molecule.actors.messages import Dispatch
from molecule.errors import (
    ActorStopped,
    MoleculeError,
    PaymentRequired,
    ServiceUnavailable,
    StillBusy,
    UnsafeURL,
)
from molecule.models import DeliveryMode, WorkspaceStatus
from molecule.observability.logs import log_extra
from molecule.security.ssrf import IPAddress, check_outbound_url

if TYPE_CHECKING:
    from molecule.actors.workspace import WorkspaceActor

log = logging.getLogger("molecule.actors.delivery")

URL_CHECK_TTL = 5.0
RESTART_RETRY_AFTER = 15  # seconds a caller is told to wait for a (re)starting agent


class Delivery:
    """The A2A side of one WorkspaceActor (composed into it)."""

    def __init__(self, actor: WorkspaceActor) -> None:
        self.actor = actor
        self.draining = False
        self._checked_url: tuple[str, IPAddress, float] | None = None  # url, vetted IP, expiry

    def push_now(self, msg: Dispatch) -> bool:
        """The common case, decided without awaiting: a push to an agent with a URL."""
        actor = self.actor
        if actor.budget_limit is not None and actor.monthly_spend >= actor.budget_limit:
            raise PaymentRequired("workspace budget limit exceeded")
        if actor.delivery_mode == DeliveryMode.POLL or actor.runtime == "mock" or not actor.url:
            return False
        actor.nursery.start_soon(self._forward, self.target(), msg)
        return True

    async def dispatch(self, msg: Dispatch) -> None:
        if self.push_now(msg):
            return
        actor, req = self.actor, msg.request
        if actor.delivery_mode == DeliveryMode.POLL:
            msg.reply.set(await self._record_for_poll(req))
            return
        if actor.runtime == "mock":
            actor.nursery.start_soon(self._mock_reply, msg)
            return
        # No URL (a push with one went out in push_now).
        if actor.status == WorkspaceStatus.HIBERNATED:  # docs/compatibility.md#d1: really wake it
            await actor.lifecycle.request_restart("wake on A2A", wake=True)
            raise ServiceUnavailable(
                "workspace is waking from hibernation — retry in ~15 seconds",
                retry_after=15,
                extra={"waking": True, "retry_after": 15},
            )
        if actor.status == WorkspaceStatus.PROVISIONING:
            # Starting or restarting: retry once it is up (never another restart cycle).
            raise ServiceUnavailable(
                "workspace has no URL",
                retry_after=RESTART_RETRY_AFTER,
                extra={
                    "status": str(actor.status),
                    "restarting": True,
                    "retry_after": RESTART_RETRY_AFTER,
                },
            )
        raise ServiceUnavailable("workspace has no URL", extra={"status": str(actor.status)})

    def target(self) -> Target:
        actor = self.actor
        assert actor.url is not None
        return Target(
            workspace_id=actor.workspace_id,
            name=actor.name,
            url=actor.url,
            runtime=actor.runtime,
            session_capable=actor.capabilities.get("session", False),
            idle_timeout=actor.idle_timeout_override or actor.deps.settings.a2a_idle_timeout,
            # Only the local provisioner writes 127.0.0.1 URLs (agents may not register one).
            trusted=actor.lifecycle.startable() and actor.url.startswith("http://127.0.0.1:"),
        )

    async def _vetted(self, target: Target) -> Target:
        """The target to dial: a URL the platform did not assign passes the SSRF guard and is
        dialled at the vetted address (resolving the name again could land elsewhere)."""
        if target.trusted:
            return target
        address = self._url_recently_checked(target.url)
        if address is None:
            try:
                address = await check_outbound_url(target.url, self.actor.deps.url_policy)
            except UnsafeURL:
                raise MoleculeError("workspace URL is not publicly routable", status=502) from None
            self._checked_url = (target.url, address, trio.current_time() + URL_CHECK_TTL)
        return replace(target, address=address)

    async def _forward(self, target: Target, msg: Dispatch) -> None:
        """One push dispatch, in this actor's nursery: the actor keeps serving meanwhile."""
        wid = self.actor.workspace_id
        try:
            target = await self._vetted(target)
            msg.reply.set(await self.actor.deps.dispatcher.forward(target, msg.request))
        except MoleculeError as exc:
            msg.reply.fail(exc)
        except Exception:  # one bad dispatch must not take the workspace down
            log.exception("workspace %s: dispatch failed", wid, extra=log_extra(wid, "a2a"))
            msg.reply.fail(MoleculeError("internal error"))
        finally:  # a no-op once answered; cancelled with this incarnation, the sender
            # must not wait forever
            msg.reply.fail(ActorStopped(wid))

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
        actor = self.actor
        if req.log_activity:
            summary = f"{req.method} → {actor.name} (queued for poll)"
            await actor.deps.activity.store(req.receipt(actor.workspace_id, summary))
        body = {"status": "queued", "delivery_mode": "poll", "method": req.method}
        return json_result(200, body, outcome="poll")

    async def _mock_reply(self, msg: Dispatch) -> None:
        """runtime "mock": a canned JSON-RPC reply after 80 ms, logged as a success."""
        actor = self.actor
        try:
            await trio.sleep(0.08)
        except trio.Cancelled:  # with this incarnation: the sender must not wait forever
            msg.reply.fail(ActorStopped(actor.workspace_id))
            raise
        req = msg.request
        reply = {
            "jsonrpc": "2.0",
            "id": req.envelope.get("id"),
            "result": {
                "kind": "message",
                "role": "agent",
                "messageId": str(uuid.uuid4()),
                "parts": [{"kind": "text", "text": f"mock reply from {actor.name}"}],
            },
        }
        if req.log_activity:
            summary = f"{req.method} → {actor.name}"
            receipt = req.receipt(actor.workspace_id, summary, response_body=reply, duration_ms=80)
            actor.deps.activity.stage(receipt)
        msg.reply.set(json_result(200, reply))

    # -- the durable queue (docs/compatibility.md#d2) --------------------------------------

    def maybe_drain(self) -> None:
        actor = self.actor
        spare = actor.max_concurrent_tasks - actor.active_tasks
        if self.draining or spare <= 0 or not actor.url:
            return
        if actor.delivery_mode != DeliveryMode.PUSH or actor.status not in (
            WorkspaceStatus.ONLINE,
            WorkspaceStatus.DEGRADED,
        ):
            return
        self.draining = True
        actor.nursery.start_soon(self._drain, self.target(), spare)

    async def _drain(self, target: Target, spare: int) -> None:
        """Dispatch up to the spare capacity; busy-again items go back to `queued`."""
        actor = self.actor
        queue, metrics = actor.deps.queue, actor.deps.metrics
        wid, fields = actor.workspace_id, log_extra(actor.workspace_id, "drain")
        try:
            target = await self._vetted(target)
            claimed = await queue.claim(wid, spare)
            if claimed:
                metrics.queue_drains.inc()
            for index, item in enumerate(claimed):
                req = A2ARequest(
                    envelope=item["body"],
                    method=item["method"] or "",
                    caller_id=item["caller_id"],
                    log_activity=True,
                    queue_id=item["id"],
                )
                try:
                    result = await actor.deps.dispatcher.forward(target, req)
                except StillBusy as exc:
                    # No point pushing more at a busy agent; what was claimed but not yet
                    # sent goes back untouched.
                    metrics.drained("busy_again")
                    await queue.release(item["id"], f"target busy: {exc}")
                    await queue.unclaim([rest["id"] for rest in claimed[index + 1 :]])
                    break
                except MoleculeError as exc:
                    metrics.drained("failed")
                    await queue.release(item["id"], exc.message)
                    continue
                except Exception:
                    metrics.drained("failed")
                    log.exception("workspace %s: draining %s failed", wid, item["id"], extra=fields)
                    await queue.release(item["id"], "internal error")
                    continue
                metrics.drained("delivered")
                await queue.complete(item["id"])
                await actor.deps.dispatcher.stitch_delegation(target, req, result)
        except MoleculeError as exc:  # e.g. an unsafe URL: the items stay queued
            log.warning("workspace %s: queue not drained: %s", wid, exc.message, extra=fields)
        except Exception:
            log.exception("workspace %s: queue drain failed", wid, extra=fields)
        finally:
            self.draining = False
