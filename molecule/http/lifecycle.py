"""Workspace lifecycle routes (restart) and the template catalogue."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response

from molecule.actors.messages import Hibernate, Pause, Restart, Resume
from molecule.errors import BadRequest, Conflict, NoBackend, NotFound, ServiceUnavailable
from molecule.events import (
    WORKSPACE_COLLAPSED,
    WORKSPACE_EXPANDED,
    WORKSPACE_PROVISIONING,
)
from molecule.http import schemas
from molecule.http.api import AnyObject, Auth, StatusBody, endpoint
from molecule.http.auth import admin_auth, workspace_auth
from molecule.http.common import json_response, query_flag, require_uuid, services
from molecule.http.validation import check_name, check_role
from molecule.models import EXTERNAL_RUNTIMES, WorkspaceStatus
from molecule.store.workspaces import NewWorkspace

bp = Blueprint("lifecycle", __name__)
ASK_TIMEOUT = 15.0


@bp.post("/workspaces/<workspace_id>/restart")
@endpoint(
    Auth.WORKSPACE,
    "Restart the workspace's agent (answered once it is provisioning)",
    responses={200: AnyObject, 409: "paused, or its parent is", 503: "no backend can start it"},
    tags=("lifecycle",),
)
async def restart(workspace_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    row = await svc.workspaces.live(wid)
    await _refuse_if_parent_paused(row)  # the original's order: 404, 409, no-op, 503
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
    if not svc.pipeline.can_start(runtime):
        # An agent that registered itself with a runtime this platform cannot run: nothing
        # here can restart it (and it must never be driven into `failed` for it).
        raise ServiceUnavailable(svc.pipeline.cannot_start_message(runtime))
    ref = await svc.directory.get(wid)
    if ref is None:
        raise NotFound("workspace not found")
    # Answered once the workspace is `provisioning` with no URL and WORKSPACE_PROVISIONING
    # is recorded, as the original's handler does.
    if not await ref.ask(Restart("manual restart", explicit=True, wake=True), ASK_TIMEOUT):
        status = await svc.workspaces.status_of(wid)
        raise Conflict(
            f"workspace is {status}: resume it first"
            if status == "paused"
            else f"workspace is {status} and cannot be restarted now"
        )
    template = svc.pipeline.templates.for_workspace(row.get("template"), runtime)
    return json_response(
        {
            "status": "provisioning",
            "config_dir": template.id if template else "generated",
            "reset_session": False,
        }
    )


@bp.get("/templates")
@endpoint(
    Auth.ADMIN,
    "The workspace templates",
    responses={200: "an array of templates"},
    tags=("templates",),
)
async def list_templates() -> Response:
    svc = services()
    await admin_auth(svc)
    templates = svc.pipeline.templates.all().values()
    return json_response([t.summary() for t in templates])


async def _ask(workspace_id: str, msg: Any) -> Any:
    ref = await services().directory.get(workspace_id)
    if ref is None:
        raise NotFound("workspace not found")
    return await ref.ask(msg, ASK_TIMEOUT)


async def _refuse_if_parent_paused(row: dict[str, Any]) -> None:
    parent = row.get("parent_id")
    if not parent:
        return
    parent_row = await services().workspaces.get(str(parent))
    if parent_row is not None and parent_row["status"] == WorkspaceStatus.PAUSED:
        raise Conflict(f'parent workspace "{parent_row["name"]}" is paused — resume it first')


@bp.post("/workspaces/<workspace_id>/pause")
@endpoint(
    Auth.WORKSPACE,
    "Stop the agent and park the workspace and its descendants",
    responses={200: AnyObject, 404: "not found or already paused"},
    tags=("lifecycle",),
)
async def pause(workspace_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    row = await services().workspaces.live(wid)
    if row["status"] == WorkspaceStatus.PAUSED:
        raise NotFound("workspace not found or already paused")
    paused = 0
    for child in await svc.workspaces.descendants(wid):
        if child["status"] != WorkspaceStatus.PAUSED and await _ask(child["id"], Pause()):
            paused += 1
    if await _ask(wid, Pause()):
        paused += 1
    return json_response({"status": "paused", "paused_count": paused})


@bp.post("/workspaces/<workspace_id>/resume")
@endpoint(
    Auth.WORKSPACE,
    "Start a paused workspace and its paused descendants",
    responses={200: AnyObject, 404: "not found or not paused", 409: "its parent is paused"},
    tags=("lifecycle",),
)
async def resume(workspace_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    row = await services().workspaces.live(wid)
    if row["status"] != WorkspaceStatus.PAUSED:
        raise NotFound("workspace not found or not paused")
    await _refuse_if_parent_paused(row)
    if svc.pipeline.provisioner is None:
        raise NoBackend()
    resumed = 1 if await _ask(wid, Resume()) else 0
    for child in reversed(await svc.workspaces.descendants(wid)):  # parents before children
        if child["status"] == WorkspaceStatus.PAUSED and await _ask(child["id"], Resume()):
            resumed += 1
    return json_response({"status": "provisioning", "resumed_count": resumed})


@bp.post("/workspaces/<workspace_id>/hibernate")
@endpoint(
    Auth.WORKSPACE,
    "Stop an idle agent; the next A2A message wakes it",
    query=schemas.HibernateQuery,
    responses={200: StatusBody, 404: "not online or degraded", 409: "it has active tasks"},
    tags=("lifecycle",),
)
async def hibernate(workspace_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    await services().workspaces.live(wid)
    await _ask(wid, Hibernate(force=query_flag("force")))
    return json_response({"status": "hibernated"})


@bp.post("/workspaces/<workspace_id>/expand")
@endpoint(
    Auth.WORKSPACE,
    "Create the template's sub-workspaces as children and start them",
    responses={200: AnyObject},
    tags=("lifecycle",),
)
async def expand(workspace_id: str) -> Response:
    """Create the template's `sub_workspaces` as children and start them
    (docs/compatibility.md#d12)."""
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    row = await services().workspaces.live(wid)
    template = svc.pipeline.templates.for_workspace(row.get("template"), row["runtime"])
    subs = template.config.get("sub_workspaces") if template else None
    if not isinstance(subs, list) or not subs:
        raise BadRequest("workspace template declares no sub_workspaces to expand")
    children = []
    for entry in subs:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise BadRequest("template sub_workspaces entries need a name")
        runtime = str(entry.get("runtime") or row["runtime"])
        created = await svc.workspaces.insert(
            NewWorkspace(
                name=check_name(entry["name"]),
                role=check_role(entry.get("role")),
                tier=row["tier"],
                runtime=runtime,
                status=WorkspaceStatus.PROVISIONING,
                parent_id=wid,
                template=entry.get("config") if isinstance(entry.get("config"), str) else None,
            )
        )
        child = {"id": created["id"], "name": created["name"], "role": entry.get("role")}
        children.append(child)
        await svc.bus.record(
            WORKSPACE_PROVISIONING,
            child["id"],
            {"name": child["name"], "tier": row["tier"], "runtime": runtime, "parent_id": wid},
        )
        ref = await svc.directory.get(child["id"])
        if ref is not None:
            ref.tell(Restart("expand", explicit=True))
    await svc.bus.record(WORKSPACE_EXPANDED, wid, {"children": children})
    return json_response({"status": "expanded", "children": children})


@bp.post("/workspaces/<workspace_id>/collapse")
@endpoint(
    Auth.WORKSPACE,
    "Remove every child workspace (and its subtree)",
    responses={200: AnyObject},
    tags=("lifecycle",),
)
async def collapse(workspace_id: str) -> Response:
    """Stop and remove every child (and its subtree) (docs/compatibility.md#d12)."""
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    await services().workspaces.live(wid)
    removed_names = []
    for child in await svc.workspaces.children(wid):
        await svc.removal.cascade(child["id"])
        removed_names.append(child["name"])
    await svc.bus.record(WORKSPACE_COLLAPSED, wid, {"removed_children": removed_names})
    return json_response({"status": "collapsed", "removed": removed_names})
