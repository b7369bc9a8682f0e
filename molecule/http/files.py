"""The files API (WorkspaceAuth): list, read, write and delete a workspace's files, and
replace its `/configs` in bulk. The rules are in molecule.operations.workspace_files."""

from __future__ import annotations

from quart import Blueprint, Response, request

from molecule.errors import BadRequest
from molecule.http import config_schemas as cs
from molecule.http.api import Auth, endpoint
from molecule.http.auth import workspace_auth
from molecule.http.common import json_response, read_object, require_uuid, services
from molecule.operations.workspace_files import (
    INVALID_BODY,
    WorkspaceFiles,
    depth_of,
    root_of,
    virtual_path,
)

bp = Blueprint("files", __name__)

FILE_ROUTE = "/workspaces/<workspace_id>/files/<path:path>"
REFUSALS = {
    400: "bad root, path or depth",
    401: "no or wrong credential",
    403: "a credential file of the platform",
    404: "no such workspace or file",
}


async def _authorized(workspace_id: str) -> str:
    wid = require_uuid(workspace_id)
    await workspace_auth(services(), wid)
    return wid


async def _live_name(wid: str) -> str:
    row = await services().workspaces.live(wid)
    return str(row["name"])


def _files() -> WorkspaceFiles:
    return WorkspaceFiles(services().pipeline.provisioner)


@bp.get("/workspaces/<workspace_id>/files")
@endpoint(
    Auth.WORKSPACE,
    "List a workspace's files under one of its roots",
    query=cs.FilesQuery,
    responses={200: cs.FileEntry, **REFUSALS},
    tags=("files",),
)
async def list_files(workspace_id: str) -> Response:
    wid = await _authorized(workspace_id)
    root = root_of(request.args.get("root"))
    sub = request.args.get("path", "")
    if sub:
        virtual_path(root, sub)
    depth = depth_of(request.args.get("depth"))
    await _live_name(wid)
    return json_response(await _files().list(wid, root, sub, depth))


@bp.get(FILE_ROUTE)
@endpoint(
    Auth.WORKSPACE,
    "Read a text file of a workspace",
    query=cs.RootQuery,
    responses={200: cs.FileContent, 413: "larger than 5 MiB", 422: "not UTF-8 text", **REFUSALS},
    tags=("files",),
)
async def read_file(workspace_id: str, path: str) -> Response:
    wid = await _authorized(workspace_id)
    root = root_of(request.args.get("root"))
    virtual_path(root, path)
    await _live_name(wid)
    return json_response(await _files().read(wid, root, path))


@bp.put(FILE_ROUTE)
@endpoint(
    Auth.WORKSPACE,
    "Create or replace a text file of a workspace",
    query=cs.RootQuery,
    body=cs.FileWrite,
    responses={200: cs.Saved, **REFUSALS},
    tags=("files",),
)
async def write_file(workspace_id: str, path: str) -> Response:
    wid = await _authorized(workspace_id)
    root = root_of(request.args.get("root"))
    virtual_path(root, path)
    body = await read_object(INVALID_BODY)
    content = body.get("content", "")
    if not isinstance(content, str):
        raise BadRequest(INVALID_BODY)
    await _live_name(wid)
    await _files().write(wid, root, path, content)
    return json_response({"status": "saved", "path": path})


@bp.delete(FILE_ROUTE)
@endpoint(
    Auth.WORKSPACE,
    "Delete a file (or a directory with its contents) of a workspace",
    query=cs.RootQuery,
    responses={200: cs.Saved, **REFUSALS},
    tags=("files",),
)
async def delete_file(workspace_id: str, path: str) -> Response:
    wid = await _authorized(workspace_id)
    root = root_of(request.args.get("root"))
    virtual_path(root, path)
    await _live_name(wid)
    await _files().delete(wid, root, path)
    return json_response({"status": "deleted", "path": path})


@bp.put("/workspaces/<workspace_id>/files")
@endpoint(
    Auth.WORKSPACE,
    "Write files over the workspace's /configs (a config.yaml is generated if it has none)",
    body=cs.FilesReplace,
    responses={200: cs.FilesReplaced, **REFUSALS},
    tags=("files",),
)
async def replace_files(workspace_id: str) -> Response:
    wid = await _authorized(workspace_id)
    body = await read_object(INVALID_BODY)
    if not isinstance(body.get("files"), dict):
        raise BadRequest(INVALID_BODY)
    name = await _live_name(wid)
    count = await _files().replace(wid, name, body["files"])
    return json_response(
        {"status": "replaced", "workspace": wid, "files": count, "source": "volume"}
    )
