"""Forwarding one A2A request to a push-mode agent, and classifying what happened.

Runs as a task in the target's WorkspaceActor nursery, so a slow agent never blocks the
actor. The outcomes are the original platform's (listed in docs/architecture.md §4.1, step 6),
plus streaming and X-Timeout (docs/compatibility.md#d6, #d7):
- busy (idle timer, deadline, dropped connection, no free connection) -> durable enqueue +
  202, or 503 when the target manages its own sessions;
- upstream dead status with a dead agent -> 503 restarting; unreachable -> 502;
- which failure is which follows from the transport's error types (`AgentBusy`,
  `AgentUnreachable`), in `molecule.a2a.classify`;
- 2xx with an empty body -> error with the upstream status;
- success -> the agent's status and body, an activity row, A2A_RESPONSE for the canvas.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol

import trio

from molecule.a2a.agent_response import AgentResponse
from molecule.a2a.classify import (
    DEAD_STATUSES,
    dead_status_outcome,
    failure_outcome,
    reply_text,
    tool_trace,
    upstream_error_message,
)
from molecule.a2a.client import AgentClient
from molecule.a2a.normalize import expires_in_seconds, extract_message_id
from molecule.a2a.sse_reply import StreamCopy
from molecule.actors.a2a_call import A2ARequest, ProxyResult, Target, json_result
from molecule.errors import (
    AgentBusy,
    AgentConnectionLost,
    AgentErrorStatus,
    AgentUnreachable,
    CeilingTimeout,
    DatastoreUnavailable,
    IdleTimeout,
    MoleculeError,
    ResponseTooLarge,
    StillBusy,
)
from molecule.events import A2A_RESPONSE, DELEGATION_COMPLETE, EventBus
from molecule.events.activity_log import ActivityLog
from molecule.models import EXTERNAL_RUNTIMES
from molecule.observability.logs import log_extra
from molecule.security.redact import truncate_bytes
from molecule.store.activity_rows import ABSENT
from molecule.store.delegations import DelegationRows
from molecule.store.queue import QueueRows
from molecule.store.token_usage import UsageBuffer
from molecule.store.workspaces import Workspaces

log = logging.getLogger("molecule.actors.dispatch")
__all__ = ["A2ARequest", "AgentLiveness", "Dispatcher", "ProxyResult", "Target", "json_result"]

AGENT_CEILING = 30 * 60.0
BUSY_MESSAGE = "workspace agent busy — request queued, will dispatch when capacity available"


class AgentLiveness(Protocol):
    """Is the agent's process/container still running? (provisioners implement this)."""

    async def is_running(self, workspace_id: str) -> bool: ...


class Dispatcher:
    def __init__(
        self,
        client: AgentClient,
        bus: EventBus,
        activity: ActivityLog,
        queue: QueueRows,
        workspaces: Workspaces,
        delegations: DelegationRows,
        liveness: AgentLiveness | None = None,
    ) -> None:
        self.client = client
        self.bus = bus
        self.activity = activity
        self.queue = queue
        self.workspaces = workspaces
        self.delegations = delegations
        self.liveness = liveness  # None until a provisioner is wired: agents count as alive
        self.on_dead: Callable[[str], Awaitable[None]] | None = None
        self.usage = UsageBuffer()  # token usage agents report (platform.py wires the store)

    # -- the upstream call ----------------------------------------------------------------

    async def _call(self, target: Target, req: A2ARequest) -> AgentResponse:
        """POST to the agent until its response headers arrive, within the idle timer."""
        headers = {"A2A-Version": req.a2a_version} if req.a2a_version else {}
        response: AgentResponse | None = None
        with self.bus.idle_timer(target.workspace_id, target.idle_timeout):
            response = await self.client.post(target.url, req.body, headers, address=target.address)
        if response is None:
            raise IdleTimeout(f"no activity from the agent for {target.idle_timeout:g}s")
        return response

    async def forward(self, target: Target, req: A2ARequest) -> ProxyResult:
        started = trio.current_time()
        ceiling = req.timeout or (AGENT_CEILING if req.agent_caller else math.inf)
        response: AgentResponse | None = None
        error: AgentBusy | AgentUnreachable | None = None
        with _bounded(ceiling) as deadline:
            try:
                response = await self._call(target, req)
            except (AgentBusy, AgentUnreachable) as exc:  # the transport raises only these
                error = exc
        if deadline.cancelled_caught:
            error = CeilingTimeout(f"no answer within {ceiling:g}s")
        if error is not None or response is None:
            return await self._failed(target, req, error or CeilingTimeout("no response"), started)
        if response.content_type.startswith("text/event-stream"):
            return self._stream(target, req, response, started)
        try:
            with _bounded(ceiling) as reading:
                body = await response.read()
        except (AgentConnectionLost, ResponseTooLarge) as exc:
            return await self._unreadable(target, req, response.status, exc, started)
        finally:
            await response.aclose()
        if reading.cancelled_caught:
            return await self._unreadable(
                target, req, response.status, CeilingTimeout("body read timed out"), started
            )
        return await self._answered(target, req, response.status, body, started)

    # -- outcomes -----------------------------------------------------------------------

    async def _agent_dead(self, target: Target) -> bool:
        if self.liveness is None or target.runtime in EXTERNAL_RUNTIMES:
            return False
        try:
            alive = await self.liveness.is_running(target.workspace_id)
        except Exception:
            wid = target.workspace_id
            log.warning("workspace %s: liveness check failed; assuming alive", wid, extra=_a2a(wid))
            return False
        if not alive and self.on_dead is not None:
            await self.on_dead(target.workspace_id)
        return not alive

    async def _failed(
        self, target: Target, req: A2ARequest, exc: AgentBusy | AgentUnreachable, started: float
    ) -> ProxyResult:
        wid = target.workspace_id
        log.info("workspace %s: A2A %s failed: %r", wid, req.method, exc, extra=_a2a(wid))
        dead = await self._agent_dead(target)
        if req.log_activity:
            self.activity.stage(
                req.receipt(
                    target.workspace_id,
                    f"A2A request to {target.name} failed: {exc}",
                    duration_ms=_ms(started),
                    status="error",
                    error_detail=str(exc) or type(exc).__name__,
                )
            )
        outcome = failure_outcome(exc, dead=dead, session_capable=target.session_capable)
        if outcome is not None:
            raise outcome
        if req.queue_id is not None:
            raise StillBusy(str(exc))
        return await self._enqueue(target, req)

    async def _enqueue(self, target: Target, req: A2ARequest) -> ProxyResult:
        try:
            queue_id, depth = await self.queue.enqueue(
                target.workspace_id,
                req.caller_id if req.agent_caller else None,
                req.envelope,
                req.method,
                extract_message_id(req.envelope),
                expires_in_seconds(req.envelope),
            )
        except DatastoreUnavailable:
            raise  # nothing queued: the outage's own 503
        except Exception:
            wid = target.workspace_id
            log.exception("workspace %s: enqueue failed", wid, extra=_a2a(wid))
            raise MoleculeError(
                "workspace agent busy — retry after a short backoff",
                status=503,
                extra={"busy": True, "retry_after": 30},
                headers={"Retry-After": "30"},
            ) from None
        wid = target.workspace_id
        log.info("workspace %s busy: queued %s (depth %d)", wid, queue_id, depth, extra=_a2a(wid))
        body = {"queued": True, "queue_id": queue_id, "queue_depth": depth, "message": BUSY_MESSAGE}
        return json_result(202, body, outcome="queued")

    async def _unreadable(
        self, target: Target, req: A2ARequest, status: int, exc: BaseException, started: float
    ) -> ProxyResult:
        confirmed = 200 <= status < 400
        if confirmed and req.log_activity:
            await self._log_success(target, req, status, ABSENT, started)
        raise MoleculeError(
            "failed to read agent response",
            status=502 if 200 <= status < 300 else status,
            extra={"delivery_confirmed": confirmed},
        )

    async def _answered(
        self, target: Target, req: A2ARequest, status: int, body: bytes, started: float
    ) -> ProxyResult:
        if 200 <= status < 300 and not body.strip():
            raise MoleculeError("agent returned empty response body", status=status)
        if status in DEAD_STATUSES and await self._agent_dead(target):
            raise dead_status_outcome()
        self.usage.record(target.workspace_id, parsed := _parse(body))  # tokens, written behind
        if req.log_activity:
            await self._log_success(target, req, status, parsed, started)
        if status >= 300:
            raise AgentErrorStatus(upstream_error_message(status, body), status=status)
        return ProxyResult(status, body)

    def _stream(
        self, target: Target, req: A2ARequest, response: AgentResponse, started: float
    ) -> ProxyResult:
        """An SSE reply is passed through event by event (docs/compatibility.md#d6), logged
        when it ends with the event that answers as its body."""
        copy = StreamCopy()

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in response.iter_raw():
                    copy.keep(chunk)
                    yield chunk
            except AgentConnectionLost as exc:  # the caller's stream just ends: say why here
                wid = target.workspace_id
                log.info(
                    "workspace %s: A2A %s stream cut: %s", wid, req.method, exc, extra=_a2a(wid)
                )
                raise
            finally:
                await response.aclose()
                if req.log_activity:
                    with trio.CancelScope(shield=True):
                        said = copy.reply()
                        body = ABSENT if said is None else said
                        await self._log_success(target, req, response.status, body, started)

        return ProxyResult(response.status, content_type=response.content_type, stream=chunks())

    async def _log_success(
        self, target: Target, req: A2ARequest, status: int, response_body: Any, started: float
    ) -> None:
        duration = _ms(started)
        self.activity.stage(  # written moments later, off the reply's path (as the original)
            req.receipt(
                target.workspace_id,
                f"{req.method} → {target.name}",
                response_body=response_body,
                tool_trace=tool_trace(response_body),
                duration_ms=duration,
                status="ok" if status < 400 else "error",
            )
        )
        if status >= 400:
            return
        if req.agent_caller and req.caller_id:
            try:
                await self.workspaces.touch_outbound(req.caller_id)
            except Exception:
                wid = req.caller_id
                log.exception("workspace %s: last_outbound_at update failed", wid, extra=_a2a(wid))
        elif req.caller_id is None:
            self.bus.broadcast(
                A2A_RESPONSE,
                target.workspace_id,
                {
                    "response_body": None if response_body is ABSENT else response_body,
                    "method": req.method,
                    "duration_ms": duration,
                },
            )

    async def stitch_delegation(self, target: Target, req: A2ARequest, result: ProxyResult) -> None:
        """A drained delegation completes the caller's `delegate_result` row
        (docs/architecture.md §4.2, step 4)."""
        message = (req.envelope.get("params") or {}).get("message") or {}
        metadata = message.get("metadata") if isinstance(message, dict) else None
        delegation_id = metadata.get("delegation_id") if isinstance(metadata, dict) else None
        if not delegation_id or not req.caller_id or result.stream is not None:
            return
        text = reply_text(result.body)
        completed = await self.delegations.complete_result(
            req.caller_id,
            target.workspace_id,
            str(delegation_id),
            text,
            f"Delegation completed ({truncate_bytes(text, 80)})",
        )
        if not completed:
            return
        await self.bus.record(
            DELEGATION_COMPLETE,
            req.caller_id,
            {
                "delegation_id": delegation_id,
                "target_id": target.workspace_id,
                "response_preview": truncate_bytes(text, 200),
                "via": "queue_drain",
            },
        )


# Stands in for the scope of an unbounded wait: never cancelled, and entering it costs nothing
# (a canvas call without X-Timeout has no ceiling, and an infinite scope still cost ~8 us).
_NO_CEILING = trio.CancelScope()


def _bounded(seconds: float) -> AbstractContextManager[trio.CancelScope]:
    return nullcontext(_NO_CEILING) if seconds == math.inf else trio.move_on_after(seconds)


def _a2a(workspace_id: str) -> dict[str, str]:
    """The structured fields of a log line about an A2A call of this workspace."""
    return log_extra(workspace_id, "a2a")


def _ms(started: float) -> int:
    return int((trio.current_time() - started) * 1000)


def _parse(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode(errors="replace")
