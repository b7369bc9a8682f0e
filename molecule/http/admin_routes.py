"""Operator routes under `/admin`: the test-token minter, the legacy secrets alias, and the
delegations across every workspace.

- `GET /admin/workspaces/:id/test-token`: the original's in-handler rule (upstream-may §8.4),
  no middleware. 404 `not found` when test tokens are off (`MOLECULE_ENV=production` without
  `MOLECULE_ENABLE_TEST_TOKENS=1`); then the `Authorization` header, with one `Bearer `
  prefix stripped, must equal the admin token (401 `admin auth required`): org tokens and the
  session cookie never mint workspace tokens (the original's IDOR fix #112). The original let
  anyone through while `ADMIN_TOKEN` was unset; this platform always has an admin token, so
  only development fail-open keeps that (docs/compatibility.md#d5, #d42). 200 `{auth_token,
  workspace_id}` mints a token for the workspace.
- `/admin/secrets` (GET, POST) and `/admin/secrets/:key` (DELETE): the legacy alias of
  `/settings/secrets`, the same handlers (molecule.http.secrets).
- `GET /admin/delegations?status=in_flight|stuck|failed|completed&limit=1..1000` and
  `GET /admin/delegations/stats` (AdminAuth): in the shape of the original's ledger
  dashboard (upstream-may §5.4), read from the delegation activity rows
  (molecule.store.delegation_overview).
"""

from __future__ import annotations

import logging
import re
from typing import Any, Literal

from pydantic import BaseModel, Field
from quart import Blueprint, Response, request

from molecule.errors import BadRequest, NotFound, TooManyRequests, Unauthorized
from molecule.http import secrets
from molecule.http.api import AnyObject, Auth, endpoint
from molecule.http.auth import admin_auth
from molecule.http.common import json_response, require_uuid, services
from molecule.models import WorkspaceStatus
from molecule.security.token_material import constant_time_equal
from molecule.store.delegation_overview import IN_FLIGHT, DelegationOverview
from molecule.store.token_rows import MAX_LIVE_WORKSPACE_TOKENS

log = logging.getLogger("molecule.http.admin_routes")
bp = Blueprint("admin_routes", __name__)

# The original's filters; in-flight rows past the 6 h deadline are the `stuck` ones.
STATUS_FILTERS: dict[str, tuple[tuple[str, ...], bool | None]] = {
    "in_flight": (IN_FLIGHT, False),
    "stuck": (IN_FLIGHT, True),
    "failed": (("failed",), None),
    "completed": (("completed",), None),
}
# The ledger's statuses, always present in the stats (zero-filled), plus ours.
STATS_KEYS = ("queued", "dispatched", "in_progress", "completed", "failed", "stuck", "pending")
DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
MAX_ECHO = 200  # characters of a refused parameter echoed back
_ATOI = re.compile(r"[+-]?[0-9]{1,19}")


class TestToken(BaseModel):
    auth_token: str
    workspace_id: str


class DelegationsQuery(BaseModel):
    status: Literal["in_flight", "stuck", "failed", "completed"] | None = None
    limit: int | None = Field(None, ge=1, le=MAX_LIMIT)


class DelegationsPage(BaseModel):
    delegations: list[dict[str, Any]]
    count: int
    status: str
    limit: int


# -- test tokens ------------------------------------------------------------------------------


@bp.get("/admin/workspaces/<workspace_id>/test-token")
@endpoint(
    Auth.OWN,
    "Mint a workspace token for tests (hidden when MOLECULE_ENV=production)",
    description=(
        "404 when test tokens are off. Otherwise the Authorization header, less one "
        "`Bearer ` prefix, must be the admin token itself (org tokens and the session do not "
        "count); development fail-open needs none."
    ),
    responses={200: TestToken, 401: "admin auth required", 404: "off, or no such workspace"},
    tags=("admin",),
)
async def test_token(workspace_id: str) -> Response:
    svc = services()
    if not svc.settings.test_tokens_enabled:
        raise NotFound("not found")  # hide the route itself, as the original did
    if not svc.settings.dev_fail_open:
        presented = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
        if not presented or not constant_time_equal(presented, svc.admin_token):
            raise Unauthorized("admin auth required")
    wid = require_uuid(workspace_id)
    status = await svc.workspaces.status_of(wid)
    if status is None or status == WorkspaceStatus.REMOVED:
        raise NotFound("workspace not found")
    if await svc.tokens.count_live(wid) >= MAX_LIVE_WORKSPACE_TOKENS:
        raise TooManyRequests(f"maximum {MAX_LIVE_WORKSPACE_TOKENS} active tokens per workspace")
    token = await svc.tokens.mint(wid)
    log.info("admin: issued a test token for workspace %s", wid)  # never the token itself
    return json_response({"auth_token": token, "workspace_id": wid})


# -- /admin/secrets: the legacy alias of /settings/secrets ------------------------------------

bp.add_url_rule("/admin/secrets", view_func=secrets.list_global_secrets, methods=["GET"])
bp.add_url_rule("/admin/secrets", view_func=secrets.set_global_secret, methods=["POST"])
bp.add_url_rule("/admin/secrets/<key>", view_func=secrets.delete_global_secret, methods=["DELETE"])


# -- delegations across workspaces ------------------------------------------------------------


def _limit() -> int:
    raw = request.args.get("limit")
    if not raw:
        return DEFAULT_LIMIT
    value = int(raw) if _ATOI.fullmatch(raw) else 0
    if not 1 <= value <= MAX_LIMIT:
        raise BadRequest("limit must be 1..1000", extra={"requested": raw[:MAX_ECHO]})
    return value


def _row(row: dict[str, Any]) -> dict[str, Any]:
    out = {
        "delegation_id": row["delegation_id"],
        "caller_id": row["caller_id"],
        "callee_id": row["callee_id"],
        "task_preview": row["task_preview"],
        "status": row["status"],
        "deadline": row["deadline"],
        "retry_count": 0,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }
    if row["result_preview"] is not None:
        out["result_preview"] = row["result_preview"]
    if row["error_detail"] is not None:
        out["error_detail"] = row["error_detail"]
    return out


@bp.get("/admin/delegations")
@endpoint(
    Auth.ADMIN,
    "Delegations across every workspace, newest first, by status group",
    query=DelegationsQuery,
    responses={200: DelegationsPage, 400: "unknown status filter or bad limit"},
    tags=("admin", "delegation"),
)
async def admin_delegations() -> Response:
    svc = services()
    await admin_auth(svc)
    key = request.args.get("status") or "in_flight"
    if key not in STATUS_FILTERS:
        raise BadRequest(
            "unknown status filter",
            extra={"allowed": list(STATUS_FILTERS), "requested_status": key[:MAX_ECHO]},
        )
    limit = _limit()
    statuses, overdue = STATUS_FILTERS[key]
    await svc.activity.flush()  # delegation rows staged a moment ago are in the answer
    rows = await DelegationOverview(svc.store).listing(statuses, overdue, limit)
    listed = [_row(r) for r in rows]
    return json_response(
        {"delegations": listed, "count": len(listed), "status": key, "limit": limit}
    )


@bp.get("/admin/delegations/stats")
@endpoint(
    Auth.ADMIN,
    "Delegation counts by status across every workspace (every key present)",
    responses={200: AnyObject},
    tags=("admin", "delegation"),
)
async def admin_delegation_stats() -> Response:
    svc = services()
    await admin_auth(svc)
    await svc.activity.flush()
    stats = dict.fromkeys(STATS_KEYS, 0)
    for row in await DelegationOverview(svc.store).counts():
        key = "stuck" if row["overdue"] else row["status"]
        stats[key] = stats.get(key, 0) + int(row["n"])
    return json_response(stats)
