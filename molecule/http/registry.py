"""Agent <-> platform registry: register, heartbeat, update-card, discovery, access checks.

The handlers authenticate and validate; the workspace's actor does the rest (status, url,
liveness, token and secret minting, events).
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, request

from molecule.actors.messages import Heartbeat, Register, UpdateCard
from molecule.actors.workspace import workspace_gone
from molecule.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
    UnsafeURL,
)
from molecule.http import schemas
from molecule.http.api import AnyObject, Auth, StatusBody, endpoint
from molecule.http.auth import agent_auth, any_auth, current_credentials, privileged
from molecule.http.common import json_response, read_model, require_uuid, services
from molecule.models import (
    EXTERNAL_RUNTIMES,
    CheckAccessPayload,
    HeartbeatPayload,
    RegisterPayload,
    UpdateCardPayload,
    WorkspaceStatus,
    is_uuid,
)
from molecule.operations.access import can_communicate
from molecule.security.ssrf import validate_agent_url
from molecule.services import Services

bp = Blueprint("registry", __name__)
ASK_TIMEOUT = 15.0
DISCOVERY_DENIED = "not authorized to discover this workspace"
INVALID_BODY = "invalid request body"


def _body_uuid(value: str) -> str:
    if not is_uuid(value):
        raise BadRequest(INVALID_BODY)
    return value.lower()


async def _agent_or_gone(svc: Services, workspace_id: str) -> None:
    """AgentAuth, except that a removed workspace answers its 410 (docs/compatibility.md#d10
    and #d29) to whoever names it: its agent's token was revoked with it, and the agent stops
    on the 410. The row is read only when the credential was refused, never on the
    heartbeat's hot path."""
    try:
        await agent_auth(svc, workspace_id)
    except Unauthorized:
        row = await svc.workspaces.get(workspace_id)
        if row is not None and row["status"] == WorkspaceStatus.REMOVED:
            raise workspace_gone(row) from None
        raise


@bp.post("/registry/register")
@endpoint(
    Auth.AGENT,
    "An agent announces its URL and card; the workspace goes online",
    body=RegisterPayload,
    responses={
        200: schemas.Registered,
        409: "the platform paused or hibernated the workspace and stopped its agent (D53)",
        410: "the workspace was removed",
    },
    tags=("registry",),
)
async def register() -> Response:
    svc = services()
    p = await read_model(RegisterPayload, INVALID_BODY)
    wid = _body_uuid(p.id)
    if p.delivery_mode and p.delivery_mode not in ("push", "poll"):
        raise BadRequest("delivery_mode must be 'push' or 'poll'")
    await _agent_or_gone(svc, wid)  # before any row read: no existence probing
    if p.url and p.delivery_mode != "poll":  # refused before anything is written
        # (a poll-mode agent is never called at its URL: the original ignores it there)
        try:
            await validate_agent_url(p.url, svc.url_policy)
        except UnsafeURL as exc:
            raise BadRequest(exc.message) from None
    ref = await svc.directory.get(wid)
    if ref is None:
        # Only reachable in development (elsewhere an unknown id has no valid token): the
        # original's bootstrap creates the row. Its agent runs outside the platform.
        if (p.delivery_mode or "push") == "push" and not p.url:
            raise BadRequest("url is required for push-mode workspaces")
        await svc.workspaces.insert_registered(wid)
        ref = await svc.directory.get(wid)
        if ref is None:
            raise NotFound("workspace not found")
    msg = Register(url=p.url, agent_card=p.agent_card, delivery_mode=p.delivery_mode or None)
    return json_response(await ref.ask(msg, ASK_TIMEOUT))


@bp.post("/registry/heartbeat")
@endpoint(
    Auth.AGENT,
    "An agent's heartbeat: liveness, load, current task, capabilities",
    body=HeartbeatPayload,
    responses={200: AnyObject, 410: "the workspace was removed"},
    tags=("registry",),
)
async def heartbeat() -> Response:
    svc = services()
    p = await read_model(HeartbeatPayload, INVALID_BODY)
    wid = _body_uuid(p.workspace_id)
    await _agent_or_gone(svc, wid)
    ref = await svc.directory.get(wid)
    if ref is None:  # (development only) unknown id: nothing to update, as the original
        return json_response({"status": "ok"})
    return json_response(await ref.ask(Heartbeat(p), ASK_TIMEOUT))


@bp.post("/registry/update-card")
@endpoint(
    Auth.AGENT,
    "Replace the workspace's agent card",
    body=UpdateCardPayload,
    responses={200: StatusBody},
    tags=("registry",),
)
async def update_card() -> Response:
    svc = services()
    p = await read_model(UpdateCardPayload, INVALID_BODY)
    wid = _body_uuid(p.workspace_id)
    await _agent_or_gone(svc, wid)
    ref = await svc.directory.get(wid)
    if ref is None:
        raise NotFound("workspace not found")
    await ref.ask(UpdateCard(p.agent_card), ASK_TIMEOUT)
    return json_response({"status": "updated"})


async def _discovery_caller(workspace_id: str | None = None) -> str | None:
    """The calling workspace (X-Workspace-ID, token-checked), or None for admin/org/session.

    In development without ADMIN_TOKEN a caller without a bearer is let through, as the
    original's discovery did (its CLI's `agent peers` sends none).
    """
    svc = services()
    creds = current_credentials()
    header = request.headers.get("X-Workspace-ID", "").strip()
    if not header:
        if await privileged(svc, creds) is not None:
            return None
        if workspace_id is None:
            raise BadRequest("X-Workspace-ID header is required")
        header = workspace_id
    caller = require_uuid(header, "X-Workspace-ID must be a workspace UUID")
    if creds.bearer is None and svc.settings.dev_fail_open:
        return caller
    await agent_auth(svc, caller)
    return caller


@bp.get("/registry/discover/<target_id>")
@endpoint(
    Auth.OWN,
    "Where a peer workspace is reached (X-Workspace-ID and its token, or admin/org/session)",
    responses={200: schemas.Discovered, 403: "not a peer", 503: "not available"},
    tags=("registry",),
)
async def discover(target_id: str) -> Response:
    svc = services()
    target = require_uuid(target_id)
    caller = await _discovery_caller()
    if caller is not None and not await can_communicate(svc.workspaces, caller, target):
        raise Forbidden(DISCOVERY_DENIED)
    row = await svc.workspaces.live(target)
    url = row.get("url") or ""
    available = row["runtime"] in EXTERNAL_RUNTIMES or row["status"] in (
        WorkspaceStatus.ONLINE,
        WorkspaceStatus.DEGRADED,
    )
    if not url or not available:
        raise ServiceUnavailable("workspace not available", extra={"status": row["status"]})
    return json_response({"id": target, "url": url, "name": row["name"]})


@bp.get("/registry/<workspace_id>/peers")
@endpoint(
    Auth.OWN,
    "The workspace's peers: parent, siblings, children (its token, or admin/org/session)",
    query=schemas.PeersQuery,
    responses={200: "an array of peers"},
    tags=("registry",),
)
async def peers(workspace_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    caller = await _discovery_caller(wid)
    if caller is not None and caller != wid:
        raise Forbidden(DISCOVERY_DENIED)
    row = await svc.workspaces.live(wid)
    found = await svc.workspaces.peers(wid, row.get("parent_id"))
    q = request.args.get("q", "").strip().lower()
    if q:
        found = [
            p for p in found if q in (p["name"] or "").lower() or q in (p["role"] or "").lower()
        ]
    return json_response(found)


@bp.post("/registry/check-access")
@endpoint(
    Auth.ANY,
    "May caller_id talk to target_id? (a workspace token asks about itself only)",
    body=CheckAccessPayload,
    responses={200: schemas.Allowed, 403: "not your own access"},
    tags=("registry",),
)
async def check_access() -> Response:
    """Any credential (the original answered anyone); a workspace asks only about itself."""
    svc = services()
    who = await any_auth(svc)
    p = await read_model(CheckAccessPayload, INVALID_BODY)
    caller, target = _body_uuid(p.caller_id), _body_uuid(p.target_id)
    if who.kind == "workspace" and who.workspace_id != caller:
        raise Forbidden("a workspace token may only check its own access (caller_id)")
    allowed: Any = await can_communicate(svc.workspaces, caller, target)
    return json_response({"allowed": allowed})
