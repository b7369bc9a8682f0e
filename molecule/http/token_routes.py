"""Token management: per-workspace tokens (WorkspaceAuth) and org API tokens (AdminAuth)."""

from __future__ import annotations

from collections import deque

import trio
from quart import Blueprint, Response, current_app, request

from molecule.errors import BadRequest, NotFound, TooManyRequests
from molecule.http import schemas
from molecule.http.api import AnyObject, Auth, StatusBody, endpoint
from molecule.http.auth import Principal, admin_auth, workspace_auth
from molecule.http.common import json_response, query_int, read_json, require_uuid, services
from molecule.models import WorkspaceStatus
from molecule.store.token_rows import MAX_LIVE_WORKSPACE_TOKENS

bp = Blueprint("tokens", __name__)

ORG_TOKEN_CREATE_LIMIT = 10  # per hour per client address, as the original
MAX_ORG_TOKEN_NAME = 100


async def _live_workspace(workspace_id: str) -> None:
    status = await services().workspaces.status_of(workspace_id)
    if status is None or status == WorkspaceStatus.REMOVED:
        raise NotFound("workspace not found")


@bp.get("/workspaces/<workspace_id>/tokens")
@endpoint(
    Auth.WORKSPACE,
    "The workspace's live tokens (prefixes only)",
    query=schemas.Paging,
    responses={200: AnyObject},
    tags=("tokens",),
)
async def list_tokens(workspace_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    await _live_workspace(wid)
    limit = query_int("limit", 50, low=1, high=200)
    offset = max(query_int("offset", 0, low=0, high=1_000_000), 0)
    tokens = await svc.tokens.list_live(wid, limit, offset)
    return json_response({"tokens": tokens, "count": len(tokens)})


@bp.post("/workspaces/<workspace_id>/tokens")
@endpoint(
    Auth.WORKSPACE,
    "Mint a workspace token (shown once)",
    responses={201: schemas.TokenCreated, 429: "50 live tokens already"},
    tags=("tokens",),
)
async def create_token(workspace_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    await _live_workspace(wid)
    if await svc.tokens.count_live(wid) >= MAX_LIVE_WORKSPACE_TOKENS:
        raise TooManyRequests(f"maximum {MAX_LIVE_WORKSPACE_TOKENS} active tokens per workspace")
    token = await svc.tokens.mint(wid)
    return json_response(
        {
            "auth_token": token,
            "workspace_id": wid,
            "message": "Save this token now — it cannot be retrieved again.",
        },
        201,
    )


@bp.delete("/workspaces/<workspace_id>/tokens/<token_id>")
@endpoint(
    Auth.WORKSPACE,
    "Revoke a workspace token",
    responses={200: StatusBody, 404: "not found or already revoked"},
    tags=("tokens",),
)
async def revoke_token(workspace_id: str, token_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    tid = require_uuid(token_id, "invalid token ID")
    if not await svc.tokens.revoke(wid, tid):
        raise NotFound("token not found or already revoked")
    return json_response({"status": "revoked"})


class HourlyLimiter:
    """A sliding one-hour window per key; enough for a rarely used admin route."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._hits: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        now = trio.current_time()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - 3600:
            hits.popleft()
        if len(hits) >= self.limit:
            return False
        hits.append(now)
        return True


def _created_by(who: Principal) -> str:
    if who.kind == "org":
        return f"org-token:{who.org_token_prefix}"
    if who.kind == "session":
        return "session"
    return "admin-token"


@bp.get("/org/tokens")
@endpoint(Auth.ADMIN, "The live org API tokens", responses={200: AnyObject}, tags=("tokens",))
async def list_org_tokens() -> Response:
    svc = services()
    await admin_auth(svc)
    tokens = await svc.org_tokens.list_live()
    return json_response({"tokens": tokens, "count": len(tokens)})


@bp.post("/org/tokens")
@endpoint(
    Auth.ADMIN,
    "Mint an org API token (full admin; shown once; 10 per hour per address)",
    body=schemas.OrgTokenCreate,
    responses={200: schemas.TokenCreated, 429: "rate limit exceeded"},
    tags=("tokens",),
)
async def create_org_token() -> Response:
    svc = services()
    who = await admin_auth(svc)
    body = await read_json("invalid request body") if await request.get_data() else {}
    if not isinstance(body, dict):
        raise BadRequest("invalid request body")
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > MAX_ORG_TOKEN_NAME):
        raise BadRequest(f"name too long (max {MAX_ORG_TOKEN_NAME} chars)")
    limiter: HourlyLimiter = current_app.config["ORG_TOKEN_LIMITER"]
    if not limiter.allow(request.remote_addr or "unknown"):
        raise TooManyRequests("rate limit exceeded", headers={"Retry-After": "3600"})
    row, token = await svc.org_tokens.mint(name, _created_by(who))
    return json_response(
        {
            "id": row["id"],
            "prefix": row["prefix"],
            "name": row["name"],
            "auth_token": token,
            "warning": "copy this token now; it will not be shown again",
        }
    )


@bp.delete("/org/tokens/<token_id>")
@endpoint(
    Auth.ADMIN,
    "Revoke an org API token",
    responses={200: AnyObject, 404: "not found or already revoked"},
    tags=("tokens",),
)
async def revoke_org_token(token_id: str) -> Response:
    svc = services()
    await admin_auth(svc)
    tid = require_uuid(token_id, "invalid token ID")
    if not await svc.org_tokens.revoke(tid):
        raise NotFound("token not found or already revoked")
    return json_response({"revoked": tid})
