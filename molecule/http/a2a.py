"""POST /workspaces/:id/a2a, the queue item lookup, and the admin queue drop.

Caller identity: `X-Workspace-ID`, else the workspace owning the bearer. A named caller must
prove itself with its own token (lazy bootstrap). Unlike the original, an anonymous caller is
not trusted as "the canvas": it needs the session cookie, an admin or org bearer, or
development mode (D5: no route fails open).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from quart import Blueprint, Response, request

from molecule.a2a.normalize import normalize_a2a_payload
from molecule.actors.proxy import send_a2a
from molecule.errors import BadRequest, Forbidden, NotFound, PayloadTooLarge, Unauthorized
from molecule.http.auth import admin_auth, current_bearer, lazy_bootstrap, privileged
from molecule.http.common import json_response, require_uuid, services
from molecule.models import SYSTEM_CALLER_PREFIXES, is_uuid
from molecule.security.tokens import constant_time_equal

bp = Blueprint("a2a", __name__)

MAX_A2A_BODY = 1024 * 1024


async def _caller() -> str | None:
    """The calling workspace, or None for a privileged (canvas/admin) caller."""
    svc = services()
    header = request.headers.get("X-Workspace-ID", "").strip()
    bearer = current_bearer()
    if not header and bearer is not None and constant_time_equal(bearer, svc.admin_token):
        return None  # the admin (canvas) is the common caller: no token lookup for it
    if not header and bearer is not None:
        hit = await svc.tokens.validate(bearer)
        if hit is not None:
            return hit.owner_id
    if header.startswith(SYSTEM_CALLER_PREFIXES):
        raise Forbidden("invalid caller ID")
    if header:
        if not is_uuid(header):
            raise BadRequest("X-Workspace-ID must be a workspace UUID")
        caller = header.lower()
        await lazy_bootstrap(
            svc, caller, missing="missing caller auth token", invalid="invalid caller auth token"
        )
        return caller
    if await privileged(svc, bearer) is not None or svc.settings.dev_fail_open:
        return None
    if bearer is not None:
        raise Unauthorized("invalid caller auth token")
    raise Unauthorized("missing caller auth token")


def _x_timeout() -> float | None:
    raw = request.headers.get("X-Timeout", "").strip()
    try:
        value = int(raw)
    except ValueError:
        return None
    return float(value) if value > 0 else None


@bp.post("/workspaces/<workspace_id>/a2a")
async def proxy(workspace_id: str) -> Response:
    svc = services()
    target = require_uuid(workspace_id)
    if (request.content_length or 0) > MAX_A2A_BODY:
        raise PayloadTooLarge("request body too large")
    raw = await request.get_data(cache=False, as_text=False)
    if len(raw) > MAX_A2A_BODY:
        raise PayloadTooLarge("request body too large")
    caller = await _caller()
    envelope, method = normalize_a2a_payload(raw if isinstance(raw, bytes) else raw.encode())
    result = await send_a2a(
        svc.directory,
        svc.workspaces,
        target,
        envelope,
        method,
        caller,
        timeout=_x_timeout(),
        a2a_version=request.headers.get("A2A-Version") or None,
    )
    if result.stream is not None:
        stream: AsyncIterator[bytes] = result.stream
        response = Response(stream, status=result.status, content_type=result.content_type)
        response.timeout = None
        response.headers["Cache-Control"] = "no-cache"
        return response
    return Response(
        result.body,
        status=result.status,
        content_type="application/json",
        headers=result.headers,
    )


def _queue_item_body(row: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "queue_id": row["id"],
        "workspace_id": row["workspace_id"],
        "status": row["status"],
        "priority": row["priority"],
        "attempts": row["attempts"],
    }
    if row.get("last_error"):
        body["last_error"] = row["last_error"]
    for key in ("enqueued_at", "dispatched_at", "completed_at", "expires_at"):
        if row.get(key) is not None:
            body[key] = row[key]
    if row["status"] == "completed" and row.get("stitched") is not None:
        body["response_body"] = row["stitched"]
    return body


@bp.get("/workspaces/<workspace_id>/a2a/queue/<queue_id>")
async def queue_item(workspace_id: str, queue_id: str) -> Response:
    """D3: identity from a verified bearer; every refusal is the same 404."""
    svc = services()
    not_found = NotFound("queue item not found")
    if not is_uuid(queue_id):
        raise BadRequest("queue_id must be a UUID")
    bearer = current_bearer()
    if bearer is None:
        raise not_found
    sees_all = await privileged(svc, bearer) is not None
    owner = None if sees_all else await svc.tokens.validate(bearer)
    if not sees_all and owner is None:
        raise not_found
    row = await svc.queue.get(queue_id.lower())
    if row is None:
        raise not_found
    if owner is not None and owner.owner_id not in (row["caller_id"], row["workspace_id"]):
        raise not_found
    return json_response(_queue_item_body(row))


@bp.post("/admin/a2a-queue/drop-stale")
async def drop_stale() -> Response:
    svc = services()
    await admin_auth(svc)
    raw = request.args.get("max_age_minutes", "60")
    try:
        max_age = int(raw)
    except ValueError:
        raise BadRequest("max_age_minutes must be an integer >= 1") from None
    if max_age < 1:
        raise BadRequest("max_age_minutes must be an integer >= 1")
    workspace = request.args.get("workspace_id") or None
    if workspace is not None:
        workspace = require_uuid(workspace)
    dropped = await svc.queue.drop_stale(max_age, workspace)
    return json_response({"dropped": dropped})
