"""Live events: the WebSocket `/ws` and the per-workspace SSE stream.

`/ws` (authenticated, unlike the original: docs/compatibility.md#d5 and #d38):
- the canvas (session cookie, admin or org bearer, or development fail-open) gets every event;
- an agent (X-Workspace-ID + its bearer, lazy bootstrap) gets only events of workspaces it
  may talk to, decided by CanCommunicate and cached per connection for a short while.
Refusals happen before the upgrade, as plain HTTP responses. A client that offers the
`molecule.events.batch.v1` subprotocol gets JSON arrays of events instead of single events
(see BATCH_SUBPROTOCOL).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import trio
from quart import Blueprint, Response, websocket

from molecule.errors import Forbidden, Gone, MoleculeError, NotFound, Unauthorized
from molecule.events import Event, EventBus
from molecule.http.api import Auth, endpoint
from molecule.http.auth import agent_auth, current_credentials, privileged, workspace_auth
from molecule.http.common import json_response, require_uuid, services
from molecule.models import WorkspaceStatus
from molecule.operations.access import can_communicate

log = logging.getLogger("molecule.http.events")
bp = Blueprint("events", __name__)

WS_BUFFER = 256
# Opt-in wire format: with this subprotocol every message is a JSON array of the events that
# were waiting (one or more), in order. Without it, one event per message, as the original.
# Under load one message per event cost the server ~0.1 ms per client per event.
BATCH_SUBPROTOCOL = "molecule.events.batch.v1"
MAX_BATCH = 256
# A batch-mode canvas gets the bus's per-tick arrays (molecule.events.BatchFeed).
SSE_BUFFER = 64
SSE_KEEPALIVE = 15.0
ACCESS_CACHE_TTL = 30.0


class _AccessCache:
    """CanCommunicate answers for one agent connection, refreshed every 30 s."""

    def __init__(self, caller: str) -> None:
        self.caller = caller
        self._answers: dict[str, tuple[float, bool]] = {}

    async def allows(self, target: str | None) -> bool:
        if target is None:
            return False
        now = trio.current_time()
        hit = self._answers.get(target)
        if hit is not None and hit[0] > now:
            return hit[1]
        allowed = await can_communicate(services().workspaces, self.caller, target)
        self._answers[target] = (now + ACCESS_CACHE_TTL, allowed)
        return allowed


async def _ws_client() -> str | None:
    """Authenticate the upgrade request: None for a canvas client, else the agent's id."""
    svc = services()
    origins = svc.settings.cors_origins
    origin = websocket.headers.get("Origin")
    if origins and origin and origin.lower() not in {o.lower() for o in origins}:
        raise Forbidden("origin not allowed")
    creds = current_credentials()
    agent = websocket.headers.get("X-Workspace-ID", "").strip()
    if agent:
        agent_id = require_uuid(agent, "X-Workspace-ID must be a workspace UUID")
        await agent_auth(svc, agent_id)
        # A removed workspace's tokens are revoked, which would reopen the lazy-bootstrap
        # door: its id must not become a credential-free subscription.
        status = await svc.workspaces.status_of(agent_id)
        if status is None:
            raise NotFound("workspace not found")
        if status == WorkspaceStatus.REMOVED:
            raise Gone("workspace removed")
        return agent_id
    if await privileged(svc, creds) is not None or svc.settings.dev_fail_open:
        return None
    if creds.bearer is not None:
        raise Unauthorized("invalid auth token")
    raise Unauthorized("authentication required: session cookie or bearer token")


@bp.websocket("/ws")
@endpoint(
    Auth.OWN,
    "Live events over a WebSocket",
    description="The canvas (session, admin or org token) gets every event; an agent "
    "(X-Workspace-ID and its token) gets its peers' events.",
    tags=("events",),
)
async def ws() -> Response | None:
    try:
        agent = await _ws_client()
    except MoleculeError as exc:
        return json_response(exc.body(), exc.status)
    svc = services()
    batched = BATCH_SUBPROTOCOL in websocket.requested_subprotocols
    await websocket.accept(subprotocol=BATCH_SUBPROTOCOL if batched else None)
    async with trio.open_nursery() as nursery:

        async def watch_close() -> None:
            try:
                while True:
                    await websocket.receive()  # clients' messages are ignored
            finally:
                nursery.cancel_scope.cancel()

        nursery.start_soon(watch_close)
        if agent is None and batched:
            await _send_ticks(svc.bus)
        else:
            await _send_events(svc.bus, _AccessCache(agent) if agent else None, batched)
        nursery.cancel_scope.cancel()
    return None


async def _send_ticks(bus: EventBus) -> None:
    """A batch-mode canvas: the bus's per-tick arrays (every event)."""
    with bus.batch_feed() as feed:
        while True:
            try:
                text = await feed.receive()
            except trio.EndOfChannel:
                return
            await websocket.send(text)


async def _send_events(bus: EventBus, access: _AccessCache | None, batched: bool) -> None:
    """One event per message (the original's format), or for a batch-mode agent arrays of
    whatever queued up; an agent sees only the workspaces it may talk to."""
    with bus.subscribe(buffer=WS_BUFFER) as sub:
        while True:
            try:
                events = [await sub.receive.receive()]
            except trio.EndOfChannel:
                return
            events += sub.receive.drain(MAX_BATCH - 1)
            if access is not None:
                events = [e for e in events if await access.allows(e.workspace_id)]
            if not events:
                continue
            if batched:
                await websocket.send("[" + ",".join(e.wire_json for e in events) + "]")
            else:
                for event in events:
                    await websocket.send(event.wire_json)


@bp.get("/workspaces/<workspace_id>/events/stream")
@endpoint(
    Auth.WORKSPACE,
    "The workspace's events as Server-Sent Events",
    responses={200: "text/event-stream"},
    tags=("events",),
)
async def sse_stream(workspace_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    status = await svc.workspaces.status_of(wid)
    if status is None or status == WorkspaceStatus.REMOVED:
        raise NotFound("workspace not found")

    async def frames() -> AsyncIterator[bytes]:
        with svc.bus.subscribe(wid, buffer=SSE_BUFFER) as sub:
            yield b": ping\n\n"
            while True:
                event: Event | None = None
                with trio.move_on_after(SSE_KEEPALIVE):
                    event = await sub.receive.receive()
                if event is None:
                    yield b": ping\n\n"
                else:
                    yield f"data: {event.sse_data}\n\n".encode()

    headers: dict[str, Any] = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    response = Response(frames(), mimetype="text/event-stream", headers=headers)
    response.timeout = None
    return response
