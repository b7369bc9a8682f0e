"""Platform instructions: rules operators write (AdminAuth) and agents resolve (WorkspaceAuth).

- `GET /instructions` (`?scope=`, or `?workspace_id=` for the rules that apply to one);
- `POST /instructions` `{scope: global|workspace, scope_target, title, content, priority}` →
  201 `{id}`; the schema's `team` scope is refused (400), as in the original;
- `PUT /instructions/:id` partial `{title, content, priority, enabled}` → `{status: "updated"}`;
- `DELETE /instructions/:id` → `{status: "deleted"}`;
- `GET /workspaces/:id/instructions/resolve` → `{workspace_id, instructions}`: markdown with
  the global rules, then the workspace's, each by priority (highest first).
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, request

from molecule.errors import BadRequest, NotFound, TooManyRequests
from molecule.http import knowledge_schemas as ks
from molecule.http.api import Auth, StatusBody, endpoint
from molecule.http.auth import admin_auth
from molecule.http.common import json_response, read_object, require_uuid, services
from molecule.http.live_workspace import authorized_live
from molecule.store.instructions import InstructionRows

bp = Blueprint("instructions", __name__)

MAX_TITLE = 200
MAX_CONTENT = 8192
MAX_PRIORITY = 1_000_000
MAX_INSTRUCTIONS = 1000
REQUIRED = "scope, title, and content are required"
INVALID_UPDATE = "invalid request"
SCOPE_LABELS = {"global": "Platform-Wide Rules", "workspace": "Role-Specific Rules"}


def _rows() -> InstructionRows:
    return InstructionRows(services().store)


def _instruction_id(value: str) -> str:
    return require_uuid(value, "invalid instruction ID")


def _text(body: dict[str, Any], name: str, error: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise BadRequest(error)
    return value


def _priority(body: dict[str, Any], error: str) -> int | None:
    value = body.get("priority")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(error)
    if abs(value) > MAX_PRIORITY:
        raise BadRequest(f"priority must be between -{MAX_PRIORITY} and {MAX_PRIORITY}")
    return value


def _check_sizes(title: str | None, content: str | None) -> None:
    if content is not None and len(content) > MAX_CONTENT:
        raise BadRequest("content exceeds 8192 chars")
    if title is not None and len(title) > MAX_TITLE:
        raise BadRequest("title exceeds 200 chars")


@bp.get("/instructions")
@endpoint(
    Auth.ADMIN,
    "List platform instructions",
    description="`workspace_id`: the enabled rules that apply to that workspace, global ones "
    "first; otherwise every rule (or one `scope`'s), enabled or not.",
    query=ks.InstructionListQuery,
    responses={200: ks.Instruction},
    tags=("instructions",),
)
async def list_instructions() -> Response:
    await admin_auth(services())
    workspace_id = request.args.get("workspace_id")
    if workspace_id:
        return json_response(await _rows().for_workspace(require_uuid(workspace_id)))
    return json_response(await _rows().listing(request.args.get("scope") or None))


@bp.post("/instructions")
@endpoint(
    Auth.ADMIN,
    "Create a platform instruction (global, or for one workspace)",
    body=ks.InstructionCreate,
    responses={201: ks.Created, 429: "1000 instructions exist already"},
    tags=("instructions",),
)
async def create_instruction() -> Response:
    await admin_auth(services())
    body = await read_object(REQUIRED)
    scope = _text(body, "scope", REQUIRED)
    title = _text(body, "title", REQUIRED)
    content = _text(body, "content", REQUIRED)
    target = _text(body, "scope_target", REQUIRED)
    priority = _priority(body, REQUIRED) or 0
    if not scope or not title or not content:
        raise BadRequest(REQUIRED)
    if scope not in SCOPE_LABELS:
        raise BadRequest("scope must be global or workspace (team scope not yet supported)")
    if scope == "workspace":
        if not target:
            raise BadRequest("scope_target required for workspace scope")
        target = require_uuid(target, "scope_target must be a workspace ID")
    else:
        target = None
    _check_sizes(title, content)
    rows = _rows()
    if await rows.count() >= MAX_INSTRUCTIONS:
        raise TooManyRequests(f"maximum {MAX_INSTRUCTIONS} instructions")
    instruction_id = await rows.create(scope, target, title, content, priority)
    return json_response({"id": instruction_id}, 201)


@bp.put("/instructions/<instruction_id>")
@endpoint(
    Auth.ADMIN,
    "Change an instruction's title, content, priority or enabled flag",
    body=ks.InstructionUpdate,
    responses={200: StatusBody, 404: "no such instruction"},
    tags=("instructions",),
)
async def update_instruction(instruction_id: str) -> Response:
    await admin_auth(services())
    iid = _instruction_id(instruction_id)
    body = await read_object(INVALID_UPDATE)
    changes: dict[str, Any] = {
        "title": _text(body, "title", INVALID_UPDATE),
        "content": _text(body, "content", INVALID_UPDATE),
        "priority": _priority(body, INVALID_UPDATE),
        "enabled": body.get("enabled"),
    }
    if changes["enabled"] is not None and not isinstance(changes["enabled"], bool):
        raise BadRequest(INVALID_UPDATE)
    _check_sizes(changes["title"], changes["content"])
    if not await _rows().update(iid, changes):
        raise NotFound("instruction not found")
    return json_response({"status": "updated"})


@bp.delete("/instructions/<instruction_id>")
@endpoint(
    Auth.ADMIN,
    "Delete an instruction",
    responses={200: StatusBody, 404: "no such instruction"},
    tags=("instructions",),
)
async def delete_instruction(instruction_id: str) -> Response:
    await admin_auth(services())
    if not await _rows().delete(_instruction_id(instruction_id)):
        raise NotFound("instruction not found")
    return json_response({"status": "deleted"})


@bp.get("/workspaces/<workspace_id>/instructions/resolve")
@endpoint(
    Auth.WORKSPACE,
    "The instructions that apply to the workspace, as one markdown text",
    responses={200: ks.Resolved},
    tags=("instructions",),
)
async def resolve(workspace_id: str) -> Response:
    wid = await authorized_live(workspace_id)
    return json_response(
        {"workspace_id": wid, "instructions": render(await _rows().for_workspace(wid))}
    )


def render(rules: list[dict[str, Any]]) -> str:
    """The original's markdown: a `## <scope>` heading per group, `### <title>` per rule."""
    parts: list[str] = []
    current = ""
    for rule in rules:
        if rule["scope"] != current:
            current = rule["scope"]
            parts.append(f"\n## {SCOPE_LABELS.get(current, current)}\n\n")
        parts.append(f"### {rule['title']}\n{rule['content']}\n\n")
    return "".join(parts)
