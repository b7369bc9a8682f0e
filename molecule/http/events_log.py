"""The recorded event log for operators (upstream-april §1.10): `GET /events` and
`GET /events/:workspaceId` (AdminAuth), the newest 100 `structure_events` rows, newest first,
as `{id, event_type, workspace_id, payload, created_at}` with RFC 3339 times.

Only recorded events are there (EventBus.record: lifecycle, delegations, approvals), not the
ephemeral ones (heartbeats, activity, agent messages), as in the original. A malformed
workspace id is a 400 (docs/compatibility.md#d8); an unknown one has no events.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from quart import Blueprint, Response

from molecule.http.api import Auth, endpoint
from molecule.http.auth import admin_auth
from molecule.http.common import json_response, require_uuid, services
from molecule.store.structure_events import StructureEvents

bp = Blueprint("events_log", __name__)


class RecordedEvent(BaseModel):
    id: str
    event_type: str
    workspace_id: str | None
    payload: Any
    created_at: str


@bp.get("/events")
@endpoint(
    Auth.ADMIN,
    "The newest 100 recorded events of every workspace, newest first",
    responses={200: RecordedEvent},
    tags=("events",),
)
async def list_events() -> Response:
    svc = services()
    await admin_auth(svc)
    return json_response(await StructureEvents(svc.store).recent())


@bp.get("/events/<workspace_id>")
@endpoint(
    Auth.ADMIN,
    "The newest 100 recorded events of one workspace, newest first",
    responses={200: RecordedEvent},
    tags=("events",),
)
async def list_workspace_events(workspace_id: str) -> Response:
    svc = services()
    await admin_auth(svc)
    wid = require_uuid(workspace_id)
    return json_response(await StructureEvents(svc.store).recent(wid))
