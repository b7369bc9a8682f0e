"""Workflow checkpoints, behind WorkspaceAuth: where an agent's workflows got to.

- `POST /workspaces/:id/checkpoints` `{workflow_id, step_name, step_index, payload?}` → 201
  `{id, workspace_id, workflow_id, step_name}`; saving a step again updates it;
- `GET /workspaces/:id/checkpoints` (`?workflow_id=`, `?limit=`) → the most recent first;
- `GET /workspaces/:id/checkpoints/latest` → the most recently completed step across the
  workspace's workflows (the original took no parameter; `?workflow_id=` narrows it here),
  404 when there is none;
- `GET /workspaces/:id/checkpoints/:workflowId` → one workflow's steps, highest index first,
  404 when there is none (the original's list route);
- `DELETE /workspaces/:id/checkpoints/:workflowId` → `{deleted, workflow_id}`, 404 if none.

A workflow called `latest` cannot be read through the route for one workflow, as in the
original (the fixed path wins); the list route's `?workflow_id=latest` reaches it.
"""

from __future__ import annotations

from quart import Blueprint, Response, request

from molecule.errors import BadRequest, NotFound
from molecule.http import knowledge_schemas as ks
from molecule.http.api import Auth, endpoint
from molecule.http.common import json_response, query_int, read_object, services
from molecule.http.live_workspace import authorized_live
from molecule.jsontext import dumps
from molecule.store.checkpoints import CheckpointRows

bp = Blueprint("checkpoints", __name__)

INVALID_BODY = "invalid request body"
MAX_NAME = 256
MAX_STEP_INDEX = 1_000_000
MAX_PAYLOAD_BYTES = 256 * 1024
LIST_DEFAULT, LIST_MAX = 100, 500
NONE_FOR_WORKFLOW = "no checkpoints found for workflow"


def _rows() -> CheckpointRows:
    return CheckpointRows(services().store)


def _name(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_NAME:
        raise BadRequest(INVALID_BODY)
    return value


def _workflow_param(value: str) -> str:
    if len(value) > MAX_NAME:
        raise BadRequest(f"workflow_id must be at most {MAX_NAME} characters")
    return value


@bp.post("/workspaces/<workspace_id>/checkpoints")
@endpoint(
    Auth.WORKSPACE,
    "Save a workflow step (upsert on workflow and step name)",
    body=ks.CheckpointWrite,
    responses={201: ks.CheckpointSaved},
    tags=("checkpoints",),
)
async def save(workspace_id: str) -> Response:
    wid = await authorized_live(workspace_id)
    body = await read_object(INVALID_BODY)
    workflow_id = _name(body.get("workflow_id"))
    step_name = _name(body.get("step_name"))
    step_index = body.get("step_index", 0)
    if step_index is None:
        step_index = 0
    if isinstance(step_index, bool) or not isinstance(step_index, int):
        raise BadRequest(INVALID_BODY)
    if not 0 <= step_index <= MAX_STEP_INDEX:
        raise BadRequest(f"step_index must be between 0 and {MAX_STEP_INDEX}")
    rows = _rows()
    if "payload" in body:
        payload = body["payload"]
        if len(dumps(payload).encode("utf-8")) > MAX_PAYLOAD_BYTES:
            raise BadRequest(f"payload must be at most {MAX_PAYLOAD_BYTES} bytes of JSON")
        checkpoint_id = await rows.upsert(wid, workflow_id, step_name, step_index, payload)
    else:
        checkpoint_id = await rows.upsert(wid, workflow_id, step_name, step_index)
    return json_response(
        {
            "id": checkpoint_id,
            "workspace_id": wid,
            "workflow_id": workflow_id,
            "step_name": step_name,
        },
        201,
    )


@bp.get("/workspaces/<workspace_id>/checkpoints")
@endpoint(
    Auth.WORKSPACE,
    "List the workspace's checkpoints, most recently completed first",
    query=ks.CheckpointListQuery,
    responses={200: ks.Checkpoint},
    tags=("checkpoints",),
)
async def list_checkpoints(workspace_id: str) -> Response:
    wid = await authorized_live(workspace_id)
    workflow_id = request.args.get("workflow_id") or None
    if workflow_id is not None:
        _workflow_param(workflow_id)
    limit = query_int("limit", LIST_DEFAULT, low=1, high=LIST_MAX)
    return json_response(await _rows().recent(wid, workflow_id, limit))


@bp.get("/workspaces/<workspace_id>/checkpoints/latest")
@endpoint(
    Auth.WORKSPACE,
    "The most recently completed checkpoint (of one workflow with `workflow_id`)",
    query=ks.LatestQuery,
    responses={200: ks.Checkpoint, 404: "no checkpoint yet"},
    tags=("checkpoints",),
)
async def latest(workspace_id: str) -> Response:
    wid = await authorized_live(workspace_id)
    workflow_id = request.args.get("workflow_id") or None
    if workflow_id is not None:
        _workflow_param(workflow_id)
    found = await _rows().recent(wid, workflow_id, 1)
    if not found:
        raise NotFound(NONE_FOR_WORKFLOW if workflow_id else "no checkpoints found for workspace")
    return json_response(found[0])


@bp.get("/workspaces/<workspace_id>/checkpoints/<workflow_id>")
@endpoint(
    Auth.WORKSPACE,
    "One workflow's checkpoints, highest step index first",
    responses={200: ks.Checkpoint, 404: "no checkpoint for this workflow"},
    tags=("checkpoints",),
)
async def workflow_steps(workspace_id: str, workflow_id: str) -> Response:
    wid = await authorized_live(workspace_id)
    found = await _rows().steps(wid, _workflow_param(workflow_id), LIST_MAX)
    if not found:
        raise NotFound(NONE_FOR_WORKFLOW)
    return json_response(found)


@bp.delete("/workspaces/<workspace_id>/checkpoints/<workflow_id>")
@endpoint(
    Auth.WORKSPACE,
    "Delete every checkpoint of a workflow",
    responses={200: ks.CheckpointsDeleted, 404: "no checkpoint for this workflow"},
    tags=("checkpoints",),
)
async def delete_workflow(workspace_id: str, workflow_id: str) -> Response:
    wid = await authorized_live(workspace_id)
    deleted = await _rows().delete_workflow(wid, _workflow_param(workflow_id))
    if deleted == 0:
        raise NotFound(NONE_FOR_WORKFLOW)
    return json_response({"deleted": deleted, "workflow_id": workflow_id})
