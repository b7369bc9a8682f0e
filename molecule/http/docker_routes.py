"""Routes that exist because agents run in containers (the Docker backend).

- `POST /admin/workspace-images/refresh?runtime=&recreate=` (admin; upstream-april §1.1):
  update the runtime images (all, or one runtime's) and, unless `recreate=false`, restart the
  workspaces running an older image through their actors' coalescing path. 200
  `{pulled[], failed[], recreated[]}`; 400 for an unknown runtime or a bad `recreate`; 500
  `{error, partial_result}` when the Engine cannot list the containers; 404 without the
  Docker backend (the original registered the route only with Docker, so it was a 404 there).
- `GET /workspaces/:id/terminal` (WebSocket; upstream-april §1.8): a shell in the
  workspace's container. WorkspaceAuth for `:id`; a caller that names itself with
  `X-Workspace-ID` other than `:id` must also pass CanCommunicate. Refusals come before the
  upgrade, as plain HTTP answers (401, 403, 400 for a malformed id, 404 unknown, 410 removed,
  503 no container). Client frames (text or binary) are the shell's input, except a text
  frame `{"type":"resize","rows":R,"cols":C}`; the shell's output comes back as text frames.
"""

from __future__ import annotations

import codecs
import logging

import trio
from pydantic import BaseModel, Field
from quart import Blueprint, Response, request, websocket

from molecule.actors.image_refresh import ImageRefresh, RefreshResult
from molecule.errors import (
    BadRequest,
    EngineError,
    Forbidden,
    Gone,
    MoleculeError,
    NotFound,
    ServiceUnavailable,
)
from molecule.http.api import AnyObject, Auth, endpoint
from molecule.http.auth import admin_auth, workspace_auth
from molecule.http.common import json_response, require_uuid, services
from molecule.jsontext import loads
from molecule.models import WorkspaceStatus
from molecule.operations.access import can_communicate
from molecule.provision.docker.provisioner import DockerProvisioner
from molecule.provision.docker.terminal import Shell, open_shell
from molecule.provision.runtimes import refreshable_runtimes

log = logging.getLogger("molecule.http.docker_routes")
bp = Blueprint("docker_routes", __name__)

MAX_FRAME = 64 * 1024
NO_DOCKER = "workspace images and terminals need the Docker backend (no Docker Engine here)"


class RefreshQuery(BaseModel):
    runtime: str | None = Field(None, max_length=100)
    recreate: bool = True


class RefreshAnswer(BaseModel):
    pulled: list[str]
    failed: list[str]
    recreated: list[str]


def _docker(absent: type[MoleculeError] = ServiceUnavailable) -> DockerProvisioner:
    provisioner = services().pipeline.provisioner
    if not isinstance(provisioner, DockerProvisioner):
        raise absent(NO_DOCKER)
    return provisioner


@bp.post("/admin/workspace-images/refresh")
@endpoint(
    Auth.ADMIN,
    "Update the workspace runtime images and restart workspaces on an older image",
    query=RefreshQuery,
    responses={200: RefreshAnswer, 400: "unknown runtime", 404: "no Docker", 500: AnyObject},
    tags=("workspaces",),
)
async def refresh_images() -> Response:
    svc = services()
    await admin_auth(svc)
    runtime = request.args.get("runtime") or None
    if runtime is not None and runtime not in refreshable_runtimes():
        raise BadRequest(
            f"unknown runtime {runtime[:100]!r}: use one of {', '.join(refreshable_runtimes())}"
        )
    raw = request.args.get("recreate", "true").strip().lower()
    if raw not in ("true", "false", "1", "0"):
        raise BadRequest("recreate must be true or false")
    provisioner = _docker(absent=NotFound)
    result = RefreshResult()
    try:
        await ImageRefresh(provisioner, svc.directory).refresh(
            [runtime] if runtime else None, raw in ("true", "1"), into=result
        )
    except EngineError as exc:
        log.error("image refresh failed: %s", exc)
        body = {"error": "listing workspace containers failed", "partial_result": result.body()}
        return json_response(body, 500)
    return json_response(result.body())


async def _terminal_caller(workspace_id: str) -> None:
    """The upgrade request's checks (raise the refusal)."""
    svc = services()
    workspace_id = require_uuid(workspace_id)
    await workspace_auth(svc, workspace_id)
    caller = websocket.headers.get("X-Workspace-ID", "").strip()
    if caller and caller != workspace_id:
        caller = require_uuid(caller, "X-Workspace-ID must be a workspace UUID")
        if not await can_communicate(svc.workspaces, caller, workspace_id):
            raise Forbidden("not allowed to open this workspace's terminal")
    status = await svc.workspaces.status_of(workspace_id)
    if status is None:
        raise NotFound("workspace not found")
    if status == WorkspaceStatus.REMOVED:
        raise Gone("workspace removed")


@bp.websocket("/workspaces/<workspace_id>/terminal")
@endpoint(
    Auth.WORKSPACE,
    "A shell in the workspace's container (WebSocket)",
    description="WorkspaceAuth for the workspace; an X-Workspace-ID naming another workspace "
    "must pass CanCommunicate. Input frames go to the shell; its output comes back as text.",
    tags=("workspaces",),
)
async def terminal(workspace_id: str) -> Response | None:
    try:
        await _terminal_caller(workspace_id)
        shell = await open_shell(_docker().engine, workspace_id)
    except MoleculeError as exc:
        return json_response(exc.body(), exc.status, exc.headers)
    await websocket.accept()
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_pump_output, shell, nursery.cancel_scope)
            await _pump_input(shell)
            nursery.cancel_scope.cancel()
    finally:
        await shell.close()
    return None


async def _pump_output(shell: Shell, scope: trio.CancelScope) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while True:
        data = await shell.read()
        if data is None:
            break
        text = decoder.decode(data)
        if text:
            await websocket.send(text)
    scope.cancel()  # the shell ended: so does the connection


async def _pump_input(shell: Shell) -> None:
    while True:
        frame = await websocket.receive()
        if isinstance(frame, str):
            if frame.startswith('{"type":') and await _control(shell, frame):
                continue
            data = frame.encode()
        else:
            data = frame
        if len(data) > MAX_FRAME:
            continue  # no terminal input is that large: dropped, not forwarded
        await shell.write(data)


async def _control(shell: Shell, frame: str) -> bool:
    """A resize message; True when the frame was one (and is not shell input)."""
    try:
        message = loads(frame)
    except Exception:
        return False
    if not isinstance(message, dict) or message.get("type") != "resize":
        return False
    rows, cols = message.get("rows"), message.get("cols")
    if isinstance(rows, int) and isinstance(cols, int):
        try:
            await shell.resize(rows, cols)
        except EngineError as exc:
            log.info("terminal resize refused: %s", exc)
    return True
