"""What an agent said: `GET /workspaces/:id/console` (admin only, as the original: raw
output can carry secrets) and `GET /workspaces/:id/transcript` (WorkspaceAuth, proxied to the
agent). The rules are in molecule.operations.agent_output."""

from __future__ import annotations

from quart import Blueprint, Response, request

from molecule.http import config_schemas as cs
from molecule.http.api import AnyObject, Auth, endpoint
from molecule.http.auth import admin_auth, workspace_auth
from molecule.http.common import json_response, require_uuid, services
from molecule.operations.agent_output import console_output, transcript, transcript_query

bp = Blueprint("agent_output", __name__)


@bp.get("/workspaces/<workspace_id>/console")
@endpoint(
    Auth.ADMIN,
    "The tail of the agent's own output (64 KiB), secrets redacted",
    responses={200: cs.Console, 401: "not an admin", 404: "no such workspace"},
    tags=("inspection",),
)
async def console(workspace_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    await admin_auth(svc)
    await services().workspaces.live(wid)
    return json_response({"output": await console_output(svc.pipeline, svc.secrets, wid)})


@bp.get("/workspaces/<workspace_id>/transcript")
@endpoint(
    Auth.WORKSPACE,
    "The agent's session transcript, as the agent answers it (proxied)",
    query=cs.TranscriptQuery,
    responses={
        200: AnyObject,
        400: "a parameter is not an integer, or the agent's URL is refused",
        404: "no such workspace",
        502: "the agent did not answer",
        503: "the agent has no URL yet",
    },
    tags=("inspection",),
)
async def agent_transcript(workspace_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    who = await workspace_auth(svc, wid)
    query = transcript_query(dict(request.args))
    row = await services().workspaces.live(wid)
    forwarded = request.headers.get("Authorization") if who.kind == "workspace" else None
    relayed = await transcript(svc.pipeline, svc.url_policy, row, query, forwarded)
    return Response(
        relayed.body,
        status=relayed.status,
        content_type=relayed.content_type,
        headers={"X-Content-Type-Options": "nosniff"},
    )
