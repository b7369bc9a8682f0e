"""POST /workspaces/:id/a2a, the queue item lookup, and the admin queue drop.

Caller identity: `X-Workspace-ID`, else the workspace owning the bearer. A named caller must
prove itself with its own token (lazy bootstrap). Unlike the original, an anonymous caller is
not trusted as "the canvas": it needs the session cookie, an admin or org bearer, or
development mode (no route fails open: docs/compatibility.md#d5).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import trio
from quart import Blueprint, Response, request

from molecule.a2a.normalize import normalize_a2a_request
from molecule.asgi import Send, send_bytes
from molecule.errors import BadRequest, Forbidden, MoleculeError, NotFound, Unauthorized
from molecule.http import schemas
from molecule.http.api import AnyObject, Auth, endpoint
from molecule.http.auth import admin_auth, agent_auth, current_credentials, privileged
from molecule.http.common import json_response, require_uuid, services
from molecule.http.raw_routes import RawRequest
from molecule.models import SYSTEM_CALLER_PREFIXES, is_uuid
from molecule.observability.metrics import a2a_error_outcome
from molecule.operations.a2a_send import send_a2a
from molecule.security.token_material import constant_time_equal

bp = Blueprint("a2a", __name__)

MAX_A2A_BODY = 1024 * 1024
MAX_AGE_MINUTES = 366 * 24 * 60  # a year: older items are long expired anyway
MAX_AGE_INVALID = "max_age_minutes must be a positive integer"
MAX_AGE_TOO_LARGE = f"max_age_minutes must be at most {MAX_AGE_MINUTES} (a year)"


async def _caller(req: RawRequest) -> str | None:
    """The calling workspace, or None for a privileged (canvas/admin) caller."""
    svc = req.svc
    header = (req.header("x-workspace-id") or "").strip()
    creds = req.credentials
    bearer = creds.bearer
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
        await agent_auth(
            svc,
            caller,
            creds=creds,
            missing="missing caller auth token",
            invalid="invalid caller auth token",
        )
        return caller
    if await privileged(svc, creds) is not None or svc.settings.dev_fail_open:
        return None
    if bearer is not None:
        raise Unauthorized("invalid caller auth token")
    raise Unauthorized("missing caller auth token")


def _x_timeout(req: RawRequest) -> float | None:
    raw = (req.header("x-timeout") or "").strip()
    try:
        value = int(raw)
    except ValueError:
        return None
    return float(value) if value > 0 else None


@endpoint(
    Auth.OWN,
    "Send an A2A message to the workspace",
    description="The caller is X-Workspace-ID with its own token (an agent), or the canvas, "
    "admin or an org token.",
    body=schemas.JsonRpcRequest,
    responses={
        200: "the agent's answer (JSON, or SSE when it streams)",
        202: "busy: queued durably",
        403: "not a peer",
        502: "agent unreachable",
        503: "restarting, waking or busy",
    },
    tags=("a2a",),
)
async def proxy(req: RawRequest, send: Send) -> None:
    """The hot path, served as raw ASGI: Quart's per-request machinery cost about as much
    CPU as the whole forward (bench/a2a_proxy.py). Each request is counted by its outcome,
    with its time until the answer was sent (molecule.observability.metrics)."""
    started = time.perf_counter()
    outcome = "error"
    try:
        outcome = await _proxy(req, send)
    except MoleculeError as exc:
        outcome = a2a_error_outcome(exc)
        raise
    except trio.Cancelled:
        outcome = "client_gone"
        raise
    finally:
        req.svc.metrics.a2a_request(outcome, time.perf_counter() - started)


async def _proxy(req: RawRequest, send: Send) -> str:
    svc = req.svc
    target = require_uuid(req.match["workspace_id"])
    raw = await req.read_body(MAX_A2A_BODY)
    caller = await _caller(req)
    envelope, method, changed = normalize_a2a_request(raw)
    result = await send_a2a(
        svc.directory,
        svc.workspaces,
        target,
        envelope,
        method,
        caller,
        timeout=_x_timeout(req),
        a2a_version=req.header("a2a-version") or None,
        raw=None if changed else raw,
    )
    if result.stream is not None:
        await _send_stream(req, send, result.status, result.content_type, result.stream)
        return result.outcome
    await send_bytes(send, result.status, result.body, "application/json", result.headers.items())
    return result.outcome


async def _send_stream(
    req: RawRequest, send: Send, status: int, content_type: str, stream: AsyncIterator[bytes]
) -> None:
    """Pass an SSE reply through event by event (docs/compatibility.md#d6); a client that hangs
    up ends it."""
    headers = [(b"content-type", content_type.encode()), (b"cache-control", b"no-cache")]
    async with trio.open_nursery() as nursery:

        async def hang_up() -> None:
            while (await req.receive())["type"] != "http.disconnect":
                pass
            nursery.cancel_scope.cancel()

        nursery.start_soon(hang_up)
        try:
            await send({"type": "http.response.start", "status": status, "headers": headers})
            async for chunk in stream:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                with trio.CancelScope(shield=True):
                    await aclose()
        nursery.cancel_scope.cancel()


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
@endpoint(
    Auth.OWN,
    "A queued A2A item (caller's or target's token, or admin/org); every refusal is a 404",
    responses={200: AnyObject, 404: "not found, or not yours"},
    tags=("a2a",),
)
async def queue_item(workspace_id: str, queue_id: str) -> Response:
    """Identity from a verified bearer; every refusal is the same 404
    (docs/compatibility.md#d3)."""
    svc = services()
    not_found = NotFound("queue item not found")
    if not is_uuid(queue_id):
        raise BadRequest("queue_id must be a UUID")
    creds = current_credentials()
    bearer = creds.bearer
    if bearer is None:
        raise not_found
    sees_all = await privileged(svc, creds) is not None
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
@endpoint(
    Auth.ADMIN,
    "Drop queued A2A items older than max_age_minutes",
    query=schemas.DropStaleQuery,
    responses={200: AnyObject},
    tags=("a2a",),
)
async def drop_stale() -> Response:
    svc = services()
    await admin_auth(svc)
    raw = request.args.get("max_age_minutes", "60")
    try:
        max_age = int(raw)
    except ValueError:
        raise BadRequest(MAX_AGE_INVALID) from None
    if max_age < 1:
        raise BadRequest(MAX_AGE_INVALID)
    if max_age > MAX_AGE_MINUTES:  # past any use, and past what the database can count
        raise BadRequest(MAX_AGE_TOO_LARGE)
    workspace = request.args.get("workspace_id") or None
    if workspace is not None:
        workspace = require_uuid(workspace)
    dropped = await svc.queue.drop_stale(max_age, workspace)
    return json_response({"dropped": dropped})
