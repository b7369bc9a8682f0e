"""Workspace lifecycle routes (restart) and the template catalogue."""

from __future__ import annotations

from quart import Blueprint, Response

from molecule.actors.messages import Restart
from molecule.errors import NotFound
from molecule.http.auth import admin_auth, workspace_auth
from molecule.http.common import json_response, require_uuid, services
from molecule.models import EXTERNAL_RUNTIMES, WorkspaceStatus
from molecule.provision.base import NoBackend

bp = Blueprint("lifecycle", __name__)
ASK_TIMEOUT = 15.0


@bp.post("/workspaces/<workspace_id>/restart")
async def restart(workspace_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    row = await svc.workspaces.get(wid)
    if row is None or row["status"] == WorkspaceStatus.REMOVED:
        raise NotFound("workspace not found")
    runtime = row["runtime"]
    if runtime in EXTERNAL_RUNTIMES:
        return json_response(
            {
                "status": "noop",
                "runtime": runtime,
                "message": f"{runtime} workspaces are operator-driven — restart your local agent; "
                "platform has nothing to restart",
            }
        )
    if runtime == "mock":
        return json_response(
            {
                "status": "noop",
                "runtime": "mock",
                "message": "mock workspaces have no container — restart is a no-op",
            }
        )
    if svc.pipeline.provisioner is None:
        raise NoBackend()
    ref = await svc.directory.get(wid)
    if ref is None:
        raise NotFound("workspace not found")
    await ref.ask(Restart("manual restart"), ASK_TIMEOUT)
    template = svc.pipeline.templates.for_workspace(row.get("template"), runtime)
    return json_response(
        {
            "status": "provisioning",
            "config_dir": template.id if template else "generated",
            "reset_session": False,
        }
    )


@bp.get("/templates")
async def list_templates() -> Response:
    svc = services()
    await admin_auth(svc)
    templates = svc.pipeline.templates.all().values()
    return json_response([t.summary() for t in templates])
