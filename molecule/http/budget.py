"""A workspace's monthly budget: `GET` (WorkspaceAuth) and `PATCH` (admin only).

Amounts are USD cents. `monthly_spend` is what the agent reports in its heartbeats;
`budget_remaining` is `budget_limit - monthly_spend` and may be negative (how far over it
is). Both `budget_limit` and `budget_remaining` are null without a ceiling. Changing the
ceiling is for an admin, as in the original: an agent's own token may read its budget, never
raise it. The WorkspaceActor caches the ceiling for the A2A proxy's 402, so a change is
followed by `Reload`.
"""

from __future__ import annotations

import logging
from typing import Any

from quart import Blueprint, Response

from molecule.actors.messages import Reload
from molecule.errors import BadRequest, MoleculeError, NotFound
from molecule.http import config_schemas as cs
from molecule.http.api import Auth, endpoint
from molecule.http.auth import admin_auth, workspace_auth
from molecule.http.common import json_response, read_object, require_uuid, services

log = logging.getLogger("molecule.http.budget")
bp = Blueprint("budget", __name__)

MAX_BUDGET = 10**15  # cents; far beyond any real ceiling, well inside bigint


async def _budget(wid: str) -> dict[str, Any]:
    svc = services()
    await svc.heartbeats.flush()  # monthly_spend is written behind
    row = await svc.workspaces.live(wid)
    limit, spend = row.get("budget_limit"), row.get("monthly_spend") or 0
    return {
        "budget_limit": limit,
        "monthly_spend": spend,
        "budget_remaining": None if limit is None else limit - spend,
    }


@bp.get("/workspaces/<workspace_id>/budget")
@endpoint(
    Auth.WORKSPACE,
    "The workspace's monthly budget ceiling, spend and what remains (USD cents)",
    responses={200: cs.Budget, 401: "no or wrong credential", 404: "no such workspace"},
    tags=("budget",),
)
async def get_budget(workspace_id: str) -> Response:
    wid = require_uuid(workspace_id)
    await workspace_auth(services(), wid)
    return json_response(await _budget(wid))


def _limit(body: dict[str, Any]) -> int | None:
    if "budget_limit" not in body:
        raise BadRequest("budget_limit field is required")
    value = body["budget_limit"]
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest("budget_limit must be an integer (USD cents) or null")
    if value < 0:
        raise BadRequest("budget_limit must be >= 0 (USD cents)")
    if value != int(value) or value > MAX_BUDGET:
        raise BadRequest("budget_limit must be an integer (USD cents) or null")
    return int(value)


@bp.patch("/workspaces/<workspace_id>/budget")
@endpoint(
    Auth.ADMIN,
    "Set or remove (null) the workspace's monthly budget ceiling (USD cents)",
    body=cs.BudgetWrite,
    responses={
        200: cs.Budget,
        400: "budget_limit missing, negative or not an integer",
        401: "not an admin",
        404: "no such workspace",
    },
    tags=("budget",),
)
async def patch_budget(workspace_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    await admin_auth(svc)
    limit = _limit(await read_object("invalid request body"))
    if not await svc.workspaces.set_budget_limit(wid, limit):
        raise NotFound("workspace not found")
    ref = svc.directory.running(wid)
    if ref is not None:
        try:
            ref.tell(Reload())  # the proxy's 402 reads the actor's cached ceiling
        except MoleculeError:
            log.warning("workspace %s: budget reload not delivered", wid)
    return json_response(await _budget(wid))
