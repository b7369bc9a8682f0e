"""Agent memories across rebuilds (AdminAuth), the original's backup routes
(upstream-april §1.1); the rules are molecule.operations.memory_transfer.

- `GET /admin/memories/export` → `[{id, content, scope, namespace, created_at,
  workspace_name}]`, oldest first, content redacted;
- `POST /admin/memories/import` with that array (ids are ignored) → 200 `{imported, skipped,
  errors, total}`; entries are matched to live workspaces by name.

An import is checked whole before anything is written: a body that is not an array, more than
10,000 entries, or one malformed entry (a missing name or content, an unknown scope, a
namespace over 50 characters, content over 64 KiB, a `created_at` that is not RFC 3339) is
400 `invalid JSON` with a `detail` naming the entry, where the original inserted the entries
before it and counted the bad one in `errors` (docs/compatibility.md#d39).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from quart import Blueprint, Response

from molecule.errors import BadRequest
from molecule.http.activity_feed import parse_rfc3339
from molecule.http.api import Auth, endpoint
from molecule.http.auth import admin_auth
from molecule.http.common import json_response, read_json, services
from molecule.operations.memories import (
    DEFAULT_NAMESPACE,
    MAX_CONTENT_BYTES,
    MAX_NAMESPACE,
    MSG_NAMESPACE,
    MSG_SCOPE,
    SCOPES,
)
from molecule.operations.memory_transfer import MemoryEntry, export_memories, import_memories

bp = Blueprint("admin_memories", __name__)

INVALID = "invalid JSON"
MAX_ENTRIES = 10_000
MAX_BODY = 16 * 1024 * 1024
MAX_NAME = 255


class ExportedMemory(BaseModel):
    id: str
    content: str
    scope: str
    namespace: str
    created_at: str
    workspace_name: str


class ImportedMemory(BaseModel):
    workspace_name: str = Field(min_length=1, max_length=MAX_NAME)
    content: str = Field(min_length=1, description="at most 64 KiB; secrets are redacted")
    scope: str = Field(description="LOCAL, TEAM or GLOBAL (GLOBAL only into a root)")
    namespace: str | None = Field(None, max_length=MAX_NAMESPACE, description='"general"')
    created_at: str | None = Field(None, description="RFC 3339; kept when given")


class ImportResult(BaseModel):
    imported: int
    skipped: int
    errors: int
    total: int


def _entry(index: int, raw: Any) -> MemoryEntry:
    """One entry of the array, or the 400 that names it."""

    def refuse(reason: str) -> BadRequest:
        return BadRequest(INVALID, extra={"detail": f"entry {index}: {reason}"})

    if not isinstance(raw, dict):
        raise refuse("not an object")
    name, content = raw.get("workspace_name"), raw.get("content")
    if not isinstance(name, str) or not name or len(name) > MAX_NAME:
        raise refuse(f"workspace_name must be 1 to {MAX_NAME} characters")
    if not isinstance(content, str) or not content:
        raise refuse("content is required")
    if len(content.encode("utf-8")) > MAX_CONTENT_BYTES:
        raise refuse(f"content must be at most {MAX_CONTENT_BYTES} bytes")
    scope = raw.get("scope")
    if scope not in SCOPES:
        raise refuse(MSG_SCOPE)
    namespace = raw.get("namespace") or DEFAULT_NAMESPACE
    if not isinstance(namespace, str) or len(namespace) > MAX_NAMESPACE:
        raise refuse(MSG_NAMESPACE)
    created: Any = raw.get("created_at") or None
    if created is not None:
        created = parse_rfc3339(created) if isinstance(created, str) else None
        if created is None:
            raise refuse("created_at must be an RFC 3339 timestamp")
    return MemoryEntry(name, content, str(scope), namespace, created)


@bp.get("/admin/memories/export")
@endpoint(
    Auth.ADMIN,
    "Every live workspace's memories with the workspace's name, for a backup",
    responses={200: ExportedMemory},
    tags=("memories",),
)
async def export() -> Response:
    svc = services()
    await admin_auth(svc)
    return json_response(await export_memories(svc.store))


@bp.post("/admin/memories/import")
@endpoint(
    Auth.ADMIN,
    "Restore memories from an export, matching workspaces by name",
    description="An entry is skipped when no live workspace, or more than one, has its "
    "`workspace_name`, when it is GLOBAL and that workspace has a parent, or when the "
    "workspace already holds the same content in the same scope.",
    body={"type": "array", "items": ImportedMemory.model_json_schema()},
    responses={200: ImportResult, 400: "not an array of valid entries"},
    tags=("memories",),
)
async def import_() -> Response:
    svc = services()
    await admin_auth(svc)
    body = await read_json(INVALID, limit=MAX_BODY)
    if not isinstance(body, list):
        raise BadRequest(INVALID, extra={"detail": "expected an array of memories"})
    if len(body) > MAX_ENTRIES:
        raise BadRequest(INVALID, extra={"detail": f"at most {MAX_ENTRIES} memories at once"})
    entries = [_entry(i, raw) for i, raw in enumerate(body)]
    return json_response(await import_memories(svc.store, entries))
