"""Delegation routes, all behind WorkspaceAuth on the source (docs/compatibility.md#d32).

- `POST /workspaces/:id/delegate`: record, then deliver in the background; 202 at once.
- `GET /workspaces/:id/delegations`: the last 50 `delegate` / `delegate_result` rows, folded.
- `POST /workspaces/:id/delegations/record`: track a delegation the agent sent itself.
- `POST /workspaces/:id/delegations/:delegation_id/update`: close such a delegation.

The delivery runs as a supervised platform task (`Services.tasks`), which outlives the
request: the caller's disconnect does not cancel it, platform shutdown does, and a failure is
logged instead of lost.
"""

from __future__ import annotations

import logging
from typing import Any

from quart import Blueprint, Response

from molecule.errors import BadRequest, MoleculeError, NotFound
from molecule.http import schemas
from molecule.http.api import AnyObject, Auth, endpoint
from molecule.http.auth import workspace_auth
from molecule.http.common import json_response, read_object, require_uuid, services
from molecule.models import WorkspaceStatus, is_uuid
from molecule.operations.delegation import Delegations
from molecule.store.delegations import DelegationRows

log = logging.getLogger("molecule.http.delegations")
bp = Blueprint("delegations", __name__)

INVALID_DELEGATION = "invalid delegation request"
INVALID_BODY = "invalid request body"
INVALID_TARGET = "target_id must be a valid UUID"
SELF_DELEGATION = "self-delegation not permitted"
INVALID_STATUS = "status must be 'completed' or 'failed'"


def _delegations() -> Delegations:
    svc = services()
    return Delegations(
        DelegationRows(svc.store), svc.activity, svc.bus, svc.directory, svc.workspaces
    )


async def _authorized(workspace_id: str) -> str:
    wid = require_uuid(workspace_id)
    await workspace_auth(services(), wid)
    return wid


async def _live_source(wid: str) -> None:
    """Rows hang off the source workspace: a missing or removed one is a 404, not a 500."""
    status = await services().workspaces.status_of(wid)
    if status is None or status == WorkspaceStatus.REMOVED:
        raise NotFound("workspace not found")


def _text(body: dict[str, Any], key: str, error: str, *, required: bool = True) -> str | None:
    """A string field: absent or empty fails when required; any other type always fails."""
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise BadRequest(error)
        return None
    if not isinstance(value, str):
        raise BadRequest(error)
    return value


async def _object(error: str) -> dict[str, Any]:
    body = await read_object(error)
    return body


def _target(body: dict[str, Any], error: str) -> str:
    target = _text(body, "target_id", error)
    assert target is not None
    if not is_uuid(target):
        raise BadRequest(INVALID_TARGET)
    return target.lower()


@bp.post("/workspaces/<workspace_id>/delegate")
@endpoint(
    Auth.WORKSPACE,
    "Hand a task to another workspace; delivered in the background",
    body=schemas.Delegate,
    responses={202: AnyObject},
    tags=("delegation",),
)
async def delegate(workspace_id: str) -> Response:
    wid = await _authorized(workspace_id)
    body = await _object(INVALID_DELEGATION)
    task = _text(body, "task", INVALID_DELEGATION)
    key = _text(body, "idempotency_key", INVALID_DELEGATION, required=False)
    target = _target(body, INVALID_DELEGATION)
    assert task is not None
    if target == wid:
        raise BadRequest(SELF_DELEGATION)
    await _live_source(wid)
    delegations = _delegations()
    started = await delegations.begin(wid, target, task, key)
    if started.hit:
        return json_response(
            {
                "delegation_id": started.delegation_id,
                "status": started.status,
                "target_id": started.target_id,
                "idempotent_hit": True,
            }
        )
    services().tasks.start(
        f"delegation {started.delegation_id}",
        lambda: delegations.execute(wid, target, started.delegation_id, task),
    )
    reply: dict[str, Any] = {
        "delegation_id": started.delegation_id,
        "status": "delegated",
        "target_id": target,
    }
    if started.warning:
        reply["warning"] = started.warning
    return json_response(reply, 202)


@bp.get("/workspaces/<workspace_id>/delegations")
@endpoint(
    Auth.WORKSPACE,
    "The last 50 delegation rows, folded",
    responses={200: "an array of delegations"},
    tags=("delegation",),
)
async def list_delegations(workspace_id: str) -> Response:
    wid = await _authorized(workspace_id)
    return json_response(await _delegations().listing(wid))


@bp.post("/workspaces/<workspace_id>/delegations/record")
@endpoint(
    Auth.WORKSPACE,
    "Track a delegation the agent sent itself",
    body=schemas.DelegationRecord,
    responses={202: AnyObject},
    tags=("delegation",),
)
async def record_delegation(workspace_id: str) -> Response:
    wid = await _authorized(workspace_id)
    body = await _object(INVALID_BODY)
    task = _text(body, "task", INVALID_BODY)
    delegation_id = _text(body, "delegation_id", INVALID_BODY)
    target = _target(body, INVALID_BODY)
    assert task is not None and delegation_id is not None
    await _live_source(wid)
    try:
        await _delegations().record(wid, target, task, delegation_id)
    except MoleculeError:
        raise
    except Exception:
        log.exception("workspace %s: recording delegation %s failed", wid, delegation_id)
        raise MoleculeError("failed to record delegation") from None
    return json_response({"delegation_id": delegation_id, "status": "recorded"}, 202)


@bp.post("/workspaces/<workspace_id>/delegations/<delegation_id>/update")
@endpoint(
    Auth.WORKSPACE,
    "Close a delegation the agent tracks itself",
    body=schemas.DelegationUpdate,
    responses={200: AnyObject, 404: "no such delegation"},
    tags=("delegation",),
)
async def update_delegation(workspace_id: str, delegation_id: str) -> Response:
    wid = await _authorized(workspace_id)
    body = await _object(INVALID_BODY)
    status = body.get("status")
    if status not in ("completed", "failed"):
        raise BadRequest(INVALID_STATUS)
    error = _text(body, "error", INVALID_BODY, required=False)
    preview = _text(body, "response_preview", INVALID_BODY, required=False)
    if not await _delegations().update(wid, delegation_id, status, error, preview):
        raise NotFound("delegation not found")
    return json_response({"status": status, "delegation_id": delegation_id})
