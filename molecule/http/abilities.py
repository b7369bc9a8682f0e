"""A workspace's abilities and the one that sends to the whole team.

- `PATCH /workspaces/:id/abilities` (AdminAuth), the original's (upstream-may §6.1):
  `{broadcast_enabled?, talk_to_user_enabled?}` -> `{status: "updated"}`; 400 `at least one
  ability field required`; 404 `workspace not found`. `talk_to_user_enabled: false` makes
  `/notify` answer 403 `talk_to_user_disabled`; `broadcast_enabled: true` allows the route below.
- `POST /workspaces/:id/broadcast` (WorkspaceAuth), ours (docs/compatibility.md#d41):
  `{message}` -> 202 `{status: "queued", broadcast_id, recipients: [{id, name}], count}` once
  every recipient's copy is stored (molecule.operations.broadcast); 403 `broadcast_disabled`
  while the ability is off.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from quart import Blueprint, Response

from molecule.errors import BadRequest, NotFound
from molecule.http.api import AnyObject, Auth, StatusBody, endpoint
from molecule.http.auth import admin_auth, workspace_auth
from molecule.http.common import json_response, read_object, require_uuid, services
from molecule.operations.broadcast import Broadcasts
from molecule.store.broadcasts import BroadcastRows

bp = Blueprint("abilities", __name__)

ABILITIES = ("broadcast_enabled", "talk_to_user_enabled")
INVALID_BODY = "invalid request body"
NO_ABILITY = "at least one ability field required"
MESSAGE_REQUIRED = "message is required"
MAX_MESSAGE = 32 * 1024


class AbilitiesPatch(BaseModel):
    broadcast_enabled: bool | None = None
    talk_to_user_enabled: bool | None = None


class BroadcastBody(BaseModel):
    """The text every member of the team receives (at most 32768 characters)."""

    message: str = Field(min_length=1, max_length=MAX_MESSAGE)


@bp.patch("/workspaces/<workspace_id>/abilities")
@endpoint(
    Auth.ADMIN,
    "Turn a workspace's abilities on or off (broadcast, talking to the user)",
    body=AbilitiesPatch,
    responses={200: StatusBody, 404: "no such workspace"},
    tags=("workspaces",),
)
async def patch_abilities(workspace_id: str) -> Response:
    svc = services()
    await admin_auth(svc)
    wid = require_uuid(workspace_id)
    body = await read_object(INVALID_BODY)
    fields: dict[str, Any] = {}
    for key in ABILITIES:
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, bool):
            raise BadRequest(INVALID_BODY)
        fields[key] = value
    if not fields:
        raise BadRequest(NO_ABILITY)
    # One statement for every field given: all or nothing.
    if not await svc.workspaces.patch(wid, fields):
        raise NotFound("workspace not found")
    return json_response({"status": "updated"})


@bp.post("/workspaces/<workspace_id>/broadcast")
@endpoint(
    Auth.WORKSPACE,
    "Send one message to the workspace's whole team (needs broadcast_enabled)",
    body=BroadcastBody,
    responses={202: AnyObject, 403: "broadcast_disabled", 404: "no such workspace"},
    tags=("workspaces",),
)
async def broadcast(workspace_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    body = await read_object(MESSAGE_REQUIRED)
    message = body.get("message")
    if not isinstance(message, str) or not message.strip():
        raise BadRequest(MESSAGE_REQUIRED)
    if len(message) > MAX_MESSAGE:
        raise BadRequest(f"message must be at most {MAX_MESSAGE} characters")
    sent = await Broadcasts(
        BroadcastRows(svc.store), svc.workspaces, svc.directory, svc.activity
    ).send(wid, message)
    return json_response(
        {
            "status": "queued",
            "broadcast_id": sent.broadcast_id,
            "recipients": sent.recipients,
            "count": len(sent.recipients),
        },
        202,
    )
