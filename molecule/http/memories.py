"""Agent memories (HMA), behind WorkspaceAuth: what an agent commits and recalls.

- `POST /workspaces/:id/memories` `{content, scope, namespace?}` → 201 `{id, scope, namespace}`;
- `GET /workspaces/:id/memories?scope=&q=&namespace=&limit=` → the memories it may read;
- `DELETE /workspaces/:id/memories/:memoryId` → `{status: "deleted"}`, 404 unless its own.

The rules (scopes, redaction, the GLOBAL audit row, full-text search) live in
molecule.operations.memories, which the MCP tools share.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, request

from molecule.errors import BadRequest
from molecule.http import knowledge_schemas as ks
from molecule.http.api import Auth, StatusBody, endpoint
from molecule.http.auth import workspace_auth
from molecule.http.common import json_response, query_int, read_object, require_uuid, services
from molecule.operations.memories import RECALL_LIMIT, Memories

bp = Blueprint("memories", __name__)

INVALID_BODY = "invalid request body"
NOT_SEMANTIC = (
    "Search is full-text only (PostgreSQL `plainto_tsquery` for 2+ characters, a substring "
    "match for one): the original's semantic (embedding) search and its `similarity_score` "
    "are not available here (docs/compatibility.md#d39)."
)


def _memories() -> Memories:
    svc = services()
    return Memories(svc.store, svc.workspaces, svc.activity)


async def _authorized(workspace_id: str) -> str:
    wid = require_uuid(workspace_id)
    await workspace_auth(services(), wid)
    return wid


def _optional_text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(INVALID_BODY)
    return value


@bp.post("/workspaces/<workspace_id>/memories")
@endpoint(
    Auth.WORKSPACE,
    "Commit a memory (LOCAL, TEAM or GLOBAL); secrets in it are redacted",
    description="GLOBAL only from a root workspace (403); a GLOBAL write records a "
    "`memory_write_global` activity row with the content's sha256.",
    body=ks.MemoryCommit,
    responses={201: ks.MemoryCommitted, 403: "GLOBAL from a workspace with a parent"},
    tags=("memories",),
)
async def commit(workspace_id: str) -> Response:
    wid = await _authorized(workspace_id)
    body = await read_object(INVALID_BODY)
    content = _optional_text(body, "content")
    scope = _optional_text(body, "scope")
    if not content or not scope:
        raise BadRequest(INVALID_BODY)
    committed = await _memories().commit(wid, content, scope, _optional_text(body, "namespace"))
    return json_response(
        {"id": committed.id, "scope": committed.scope, "namespace": committed.namespace}, 201
    )


@bp.get("/workspaces/<workspace_id>/memories")
@endpoint(
    Auth.WORKSPACE,
    "Search the memories the workspace may read",
    description="No scope: its own. LOCAL: its own LOCAL ones. TEAM: its team's (parent and "
    "siblings, or a root's children) that it may communicate with. GLOBAL: all, each wrapped "
    "as `[MEMORY id=… scope=GLOBAL from=…]: …`. At most 50 rows (`limit` below 50 takes "
    "fewer). " + NOT_SEMANTIC,
    query=ks.MemoryQuery,
    responses={200: ks.Memory},
    tags=("memories",),
)
async def recall(workspace_id: str) -> Response:
    wid = await _authorized(workspace_id)
    args = request.args
    found = await _memories().recall(
        wid,
        scope=args.get("scope") or None,
        query=args.get("q", ""),
        namespace=args.get("namespace") or None,
        limit=query_int("limit", RECALL_LIMIT, low=1, high=RECALL_LIMIT),
    )
    return json_response(found)


@bp.delete("/workspaces/<workspace_id>/memories/<memory_id>")
@endpoint(
    Auth.WORKSPACE,
    "Delete one of the workspace's own memories",
    responses={200: StatusBody, 404: "not this workspace's memory"},
    tags=("memories",),
)
async def forget(workspace_id: str, memory_id: str) -> Response:
    wid = await _authorized(workspace_id)
    await _memories().forget(wid, memory_id)
    return json_response({"status": "deleted"})
