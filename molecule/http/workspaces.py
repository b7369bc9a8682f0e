"""Workspace CRUD: create, list, get, patch, cascade delete, state."""

from __future__ import annotations

import logging
from typing import Any

from quart import Blueprint, Response

from molecule.actors.messages import Reload
from molecule.actors.workspace import workspace_gone
from molecule.errors import (
    BadRequest,
    Forbidden,
    MailboxFull,
    NotFound,
    UnsafeURL,
)
from molecule.http import schemas
from molecule.http import validation as v
from molecule.http.api import AnyObject, Auth, endpoint
from molecule.http.auth import Principal, admin_auth, any_auth, workspace_auth
from molecule.http.common import (
    json_response,
    query_flag,
    read_model,
    read_object,
    require_uuid,
    services,
)
from molecule.http.connection_snippets import connection_block
from molecule.models import (
    MAX_BUDGET,
    MAX_CONCURRENT_TASKS,
    CreateWorkspacePayload,
    WorkspaceStatus,
    is_uuid,
)
from molecule.operations.creation import CreateRequest
from molecule.security.ssrf import validate_agent_url

log = logging.getLogger("molecule.http.workspaces")
bp = Blueprint("workspaces", __name__)

_LIST_FIELDS = (
    "id", "name", "role", "tier", "status", "agent_card", "url", "parent_id", "active_tasks",
    "max_concurrent_tasks", "last_error_rate", "last_sample_error", "uptime_seconds",
    "current_task", "runtime", "workspace_dir", "monthly_spend", "budget_limit", "x", "y",
    "collapsed", "delivery_mode", "broadcast_enabled", "talk_to_user_enabled",
    "last_heartbeat_at", "created_at", "updated_at", "hibernation_idle_minutes",
)  # fmt: skip
_HIDDEN_ON_GET = {
    "budget_limit",
    "monthly_spend",
    "current_task",
    "last_sample_error",
    "workspace_dir",
}


def _with_timeout(body: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    timeout_ms = services().pipeline.templates.provision_timeout_ms(row.get("runtime") or "")
    if timeout_ms is not None:
        body["provision_timeout_ms"] = timeout_ms
    return body


def workspace_map(row: dict[str, Any]) -> dict[str, Any]:
    return _with_timeout({k: row.get(k) for k in _LIST_FIELDS}, row)


def workspace_detail(row: dict[str, Any]) -> dict[str, Any]:
    body = {k: row.get(k) for k in _LIST_FIELDS if k not in _HIDDEN_ON_GET}
    body["last_outbound_at"] = row.get("last_outbound_at")
    return _with_timeout(body, row)


async def _existing_parent(parent_id: str | None) -> str | None:
    if parent_id is None:
        return None
    if not is_uuid(parent_id):
        raise BadRequest("parent_id must be a UUID")
    status = await services().workspaces.status_of(parent_id.lower())
    if status is None or status == WorkspaceStatus.REMOVED:
        raise BadRequest("parent_id must reference an existing workspace")
    return parent_id.lower()


@bp.post("/workspaces")
@endpoint(
    Auth.ADMIN,
    "Create a workspace (and start its agent, or wait for an external one)",
    body=CreateWorkspacePayload,
    responses={201: schemas.Created, 409: "name taken"},
    tags=("workspaces",),
)
async def create_workspace() -> Response:
    svc = services()
    await admin_auth(svc)
    p = await read_model(CreateWorkspacePayload, "invalid workspace payload")
    name = v.check_name(p.name)
    role = v.check_role(p.role)
    v.check_model(p.model)
    runtime = v.check_runtime(p.runtime)
    template = v.check_template(p.template)
    tier = v.check_tier(p.tier)
    workspace_dir = v.check_workspace_dir(p.workspace_dir)
    access = v.check_workspace_access(p.workspace_access, workspace_dir)
    mode = v.check_delivery_mode(p.delivery_mode)
    if not 0 <= p.max_concurrent_tasks <= MAX_CONCURRENT_TASKS or (
        p.budget_limit is not None and not 0 <= p.budget_limit <= MAX_BUDGET
    ):
        raise BadRequest(v.INVALID_FIELDS)
    url = p.url or None
    if url is not None:
        try:
            await validate_agent_url(url, svc.url_policy)
        except UnsafeURL as exc:
            raise BadRequest(f"unsafe workspace URL: {exc.message}") from None
    parent_id = await _existing_parent(p.parent_id)

    created = await svc.creation.create(
        CreateRequest(
            name=name,
            role=role,
            tier=tier,
            runtime=runtime,
            external=p.external,
            url=url,
            parent_id=parent_id,
            template=template,
            workspace_dir=workspace_dir,
            workspace_access=access,
            budget_limit=p.budget_limit,
            max_concurrent_tasks=p.max_concurrent_tasks or 1,
            delivery_mode=mode,
            x=float(p.canvas.x) if p.canvas else 0.0,
            y=float(p.canvas.y) if p.canvas else 0.0,
        )
    )
    wid = created.id
    if created.external:
        body = {
            "id": wid,
            "external": True,
            "status": str(created.status),
            "connection": connection_block(svc, wid, created.name, created.token),
        }
        return json_response(body, 201)
    return json_response(
        {
            "id": wid,
            "status": str(created.status),
            "awareness_namespace": f"workspace:{wid}",
            "workspace_access": access,
        },
        201,
    )


@bp.get("/workspaces")
@endpoint(
    Auth.ADMIN,
    "Every workspace that is not removed",
    responses={200: "an array of workspaces"},
    tags=("workspaces",),
)
async def list_workspaces() -> Response:
    svc = services()
    await admin_auth(svc)
    await svc.heartbeats.flush()
    return json_response([workspace_map(r) for r in await svc.workspaces.list_active()])


@bp.get("/workspaces/<workspace_id>")
@endpoint(
    Auth.ANY,
    "One workspace; a removed one answers its 410 to anyone (docs/compatibility.md#d14)",
    query=schemas.IncludeRemoved,
    responses={200: schemas.Workspace, 404: "not found", 410: "removed"},
    tags=("workspaces",),
)
async def get_workspace(workspace_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    await svc.heartbeats.flush()
    row = await svc.workspaces.get(wid)
    if (
        row is not None
        and row["status"] == WorkspaceStatus.REMOVED
        and not query_flag("include_removed")
    ):
        # docs/compatibility.md#d14: to anyone who names it, its revoked token included: its
        # agents and clients watch for this 410 to stop.
        raise workspace_gone(row)
    await any_auth(svc)
    if row is None:
        raise NotFound("workspace not found")
    return json_response(workspace_detail(row))


# What a workspace may change about itself with its own token: how it is called and shown.
SELF_PATCHABLE = frozenset({"name", "role", "collapsed", "x", "y"})
# Where it sits and what it runs (its peers follow from parent_id): admin, org or canvas only.
ADMIN_PATCHABLE = frozenset(
    {"tier", "parent_id", "runtime", "workspace_dir", "hibernation_idle_minutes"}
)


async def _patch_fields(wid: str, body: dict[str, Any], who: Principal) -> dict[str, Any]:
    if who.kind == "workspace":
        denied = sorted(ADMIN_PATCHABLE & body.keys())
        if denied:
            raise Forbidden(
                f"only an admin may change {', '.join(denied)}; a workspace token may change "
                f"{', '.join(sorted(SELF_PATCHABLE))}"
            )
    fields: dict[str, Any] = {}
    for key, value in body.items():
        if key not in SELF_PATCHABLE | ADMIN_PATCHABLE:
            continue
        if key == "name":
            if not isinstance(value, str):
                raise BadRequest(v.INVALID_FIELDS)
            fields["name"] = v.check_name(value)
        elif key == "role":
            if value is not None and not isinstance(value, str):
                raise BadRequest(v.INVALID_FIELDS)
            fields["role"] = v.check_role(value)
        elif key == "tier":
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 4:
                raise BadRequest(v.INVALID_FIELDS)
            fields["tier"] = value
        elif key == "runtime":
            if not isinstance(value, str) or v.check_runtime(value) is None:
                raise BadRequest(v.INVALID_FIELDS)
            fields["runtime"] = value
        elif key == "workspace_dir":
            if value is not None and not isinstance(value, str):
                raise BadRequest(v.INVALID_FIELDS)
            fields["workspace_dir"] = v.check_workspace_dir(value)
        elif key == "collapsed":
            if not isinstance(value, bool):
                raise BadRequest(v.INVALID_FIELDS)
            fields["collapsed"] = value
        elif key in ("x", "y"):
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise BadRequest(v.INVALID_FIELDS)
            fields[key] = float(value)
        elif key == "parent_id":
            fields["parent_id"] = await _new_parent(wid, value)
        elif key == "hibernation_idle_minutes":
            ok = value is None or (isinstance(value, int) and not isinstance(value, bool))
            if not ok or (value is not None and not 0 <= value <= 10_080):
                raise BadRequest("hibernation_idle_minutes must be 0..10080 or null")
            fields[key] = value or None
    return fields


async def _new_parent(wid: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadRequest("parent_id must be a UUID")
    parent = await _existing_parent(value)
    assert parent is not None
    chains = await services().workspaces.ancestry([parent])
    if parent == wid or wid in chains.get(parent, []):
        raise BadRequest("parent_id would create a cycle")
    return parent


@bp.patch("/workspaces/<workspace_id>")
@endpoint(
    Auth.WORKSPACE,
    "Change a workspace (hierarchy fields: admin only)",
    body=schemas.WorkspacePatch,
    responses={
        200: AnyObject,
        403: "a field only an admin may change",
        404: "not found",
        409: "name taken",
    },
    tags=("workspaces",),
)
async def patch_workspace(workspace_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    who = await workspace_auth(svc, wid)
    body = await read_object("invalid request body")
    fields = await _patch_fields(wid, body, who)
    needs_restart = "workspace_dir" in fields
    updated = await svc.workspaces.patch(wid, fields)  # a taken name: NameTaken, 409
    if not updated:
        raise NotFound("workspace not found")
    ref = svc.directory.running(wid)
    if ref is not None:
        try:
            ref.tell(Reload())
        except MailboxFull:
            log.warning("workspace %s: mailbox full, reload skipped", wid)
    result: dict[str, Any] = {"status": "updated"}
    if needs_restart:
        result["needs_restart"] = True
    return json_response(result)


@bp.delete("/workspaces/<workspace_id>")
@endpoint(
    Auth.ADMIN,
    "Remove a workspace and its subtree (confirm=true when it has children)",
    query=schemas.DeleteQuery,
    responses={
        200: AnyObject,
        404: "not found",
        409: "confirmation required",
        500: "a stop failed; retry",
    },
    tags=("workspaces",),
)
async def delete_workspace(workspace_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    await admin_auth(svc)
    row = await svc.workspaces.get(wid)
    if row is None:
        raise NotFound("workspace not found")
    purge = query_flag("purge")
    if row["status"] == WorkspaceStatus.REMOVED and not purge:
        return json_response({"status": "removed", "cascade_deleted": 0})
    children = await svc.workspaces.children(wid)
    if children and not query_flag("confirm"):
        return json_response(
            {
                "status": "confirmation_required",
                "message": f"workspace has {len(children)} child workspace(s); "
                "retry with ?confirm=true to delete them all",
                "children": children,
                "children_count": len(children),
            },
            409,
        )
    ids, failures = await svc.removal.cascade(wid)
    descendants = [i for i in ids if i != wid]
    log.info("workspace %s removed with %d descendants", wid, len(descendants))
    if failures:
        joined = "\n".join(failures)
        return json_response(
            {
                "error": f"workspace marked removed, but {len(failures)} stop call(s) failed — "
                f"please retry: {joined}",
                "removed_count": len(ids),
                "stop_failures": len(failures),
            },
            500,
        )
    if purge:
        await svc.workspaces.purge(ids)
        return json_response({"status": "purged", "cascade_deleted": len(descendants)})
    return json_response({"status": "removed", "cascade_deleted": len(descendants)})


@bp.get("/workspaces/<workspace_id>/state")
@endpoint(
    Auth.WORKSPACE,
    "The workspace's status in short",
    responses={200: AnyObject, 404: "deleted"},
    tags=("workspaces",),
)
async def workspace_state(workspace_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    status = await svc.workspaces.status_of(wid)
    if status is None:
        return json_response({"workspace_id": wid, "deleted": True}, 404)
    if status == WorkspaceStatus.REMOVED:
        return json_response({"workspace_id": wid, "deleted": True, "status": "removed"}, 404)
    return json_response(
        {
            "workspace_id": wid,
            "status": status,
            "paused": status == WorkspaceStatus.PAUSED,
            "deleted": False,
        }
    )
