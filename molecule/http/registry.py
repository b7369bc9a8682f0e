"""Agent <-> platform registry: register, heartbeat, update-card, discovery, access checks.

The handlers authenticate and validate; the workspace's actor does the rest (status, url,
liveness, token and secret minting, events).
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, request

from molecule.access import can_communicate
from molecule.actors.messages import Heartbeat, Register, UpdateCard
from molecule.errors import BadRequest, Forbidden, NotFound, ServiceUnavailable
from molecule.http.auth import current_credentials, lazy_bootstrap, privileged
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

bp = Blueprint("registry", __name__)
S = WorkspaceStatus
ASK_TIMEOUT = 15.0
ACCESS_DENIED = "access denied: workspaces cannot communicate per hierarchy rules"
INVALID_BODY = "invalid request body"


def _body_uuid(value: str) -> str:
    if not is_uuid(value):
        raise BadRequest(INVALID_BODY)
    return value.lower()


@bp.post("/registry/register")
async def register() -> Response:
    svc = services()
    p = await read_model(RegisterPayload, INVALID_BODY)
    wid = _body_uuid(p.id)
    if p.delivery_mode and p.delivery_mode not in ("push", "poll"):
        raise BadRequest("delivery_mode must be 'push' or 'poll'")
    await lazy_bootstrap(svc, wid)  # before any row read: no existence probing
    ref = await svc.directory.get(wid)
    if ref is None:
        await svc.workspaces.insert_registered(wid)
        ref = await svc.directory.get(wid)
        if ref is None:
            raise NotFound("workspace not found")
    msg = Register(url=p.url, agent_card=p.agent_card, delivery_mode=p.delivery_mode or None)
    return json_response(await ref.ask(msg, ASK_TIMEOUT))


@bp.post("/registry/heartbeat")
async def heartbeat() -> Response:
    svc = services()
    p = await read_model(HeartbeatPayload, INVALID_BODY)
    wid = _body_uuid(p.workspace_id)
    await lazy_bootstrap(svc, wid)
    ref = await svc.directory.get(wid)
    if ref is None:
        return json_response({"status": "ok"})  # unknown id: nothing to update, as upstream
    return json_response(await ref.ask(Heartbeat(p), ASK_TIMEOUT))


@bp.post("/registry/update-card")
async def update_card() -> Response:
    svc = services()
    p = await read_model(UpdateCardPayload, INVALID_BODY)
    wid = _body_uuid(p.workspace_id)
    await lazy_bootstrap(svc, wid)
    ref = await svc.directory.get(wid)
    if ref is None:
        raise NotFound("workspace not found")
    await ref.ask(UpdateCard(p.agent_card), ASK_TIMEOUT)
    return json_response({"status": "updated"})


async def _discovery_caller(workspace_id: str | None = None) -> str | None:
    """The calling workspace (X-Workspace-ID, token-checked), or None for admin/org/session."""
    svc = services()
    header = request.headers.get("X-Workspace-ID", "").strip()
    if not header:
        if await privileged(svc, current_credentials()) is not None:
            return None
        if workspace_id is None:
            raise BadRequest("X-Workspace-ID header required")
        header = workspace_id
    caller = require_uuid(header, "X-Workspace-ID must be a workspace UUID")
    await lazy_bootstrap(svc, caller)
    return caller


@bp.get("/registry/discover/<target_id>")
async def discover(target_id: str) -> Response:
    svc = services()
    target = require_uuid(target_id)
    caller = await _discovery_caller()
    if caller is not None and not await can_communicate(svc.workspaces, caller, target):
        raise Forbidden(ACCESS_DENIED)
    row = await svc.workspaces.get(target)
    if row is None or row["status"] == S.REMOVED:
        raise NotFound("workspace not found")
    url = row.get("url") or ""
    available = row["runtime"] in EXTERNAL_RUNTIMES or row["status"] in (S.ONLINE, S.DEGRADED)
    if not url or not available:
        raise ServiceUnavailable("workspace not available", extra={"status": row["status"]})
    return json_response({"id": target, "url": url, "name": row["name"]})


@bp.get("/registry/<workspace_id>/peers")
async def peers(workspace_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    caller = await _discovery_caller(wid)
    if caller is not None and caller != wid:
        raise Forbidden(ACCESS_DENIED)
    row = await svc.workspaces.get(wid)
    if row is None or row["status"] == S.REMOVED:
        raise NotFound("workspace not found")
    found = await svc.workspaces.peers(wid, row.get("parent_id"))
    q = request.args.get("q", "").strip().lower()
    if q:
        found = [
            p for p in found if q in (p["name"] or "").lower() or q in (p["role"] or "").lower()
        ]
    return json_response(found)


@bp.post("/registry/check-access")
async def check_access() -> Response:
    svc = services()
    p = await read_model(CheckAccessPayload, INVALID_BODY)
    caller, target = _body_uuid(p.caller_id), _body_uuid(p.target_id)
    allowed: Any = await can_communicate(svc.workspaces, caller, target)
    return json_response({"allowed": allowed})
