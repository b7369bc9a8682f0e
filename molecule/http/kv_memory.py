"""Key/value memory, behind WorkspaceAuth: small JSON state an agent keeps between tasks.

- `GET /workspaces/:id/memory` → `[{key, value, version, expires_at?, updated_at}]` (live keys);
- `GET /workspaces/:id/memory/:key` → one entry, 404 `key not found`;
- `POST /workspaces/:id/memory` `{key, value, ttl_seconds?, if_match_version?}` → upsert,
  200 `{status: "ok", key, version}`, 409 `if_match_version mismatch` (molecule.store.kv_memory);
- `DELETE /workspaces/:id/memory/:key` → `{status: "deleted"}` (whether or not it existed).

Bounds the original did not have (docs/compatibility.md#d39): a key is 1 to 256 characters, a
value at most 64 KiB of JSON, a TTL 1 s to 10 years, at most 1000 live keys per workspace.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response

from molecule.errors import BadRequest, NotFound
from molecule.http import knowledge_schemas as ks
from molecule.http.api import Auth, StatusBody, endpoint
from molecule.http.common import json_response, read_object, services
from molecule.http.live_workspace import authorized_live
from molecule.jsontext import dumps
from molecule.store.kv_memory import KeyValueRows

bp = Blueprint("kv_memory", __name__)

MAX_KEY = 256
MAX_VALUE_BYTES = 64 * 1024
MAX_TTL = 10 * 365 * 24 * 3600
MAX_KEYS = 1000
INVALID_BODY = "invalid request body"


def _rows() -> KeyValueRows:
    return KeyValueRows(services().store)


def _optional_int(body: dict[str, Any], name: str, low: int, high: int, what: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"{name} must be {what}")
    return value


def _key(key: object) -> str:
    if not isinstance(key, str) or not key:
        raise BadRequest("key is required")
    if len(key) > MAX_KEY:
        raise BadRequest(f"key must be at most {MAX_KEY} characters")
    return key


@bp.get("/workspaces/<workspace_id>/memory")
@endpoint(
    Auth.WORKSPACE,
    "List the workspace's key/value memory (expired keys are hidden)",
    responses={200: ks.KeyValueEntry},
    tags=("memory",),
)
async def list_keys(workspace_id: str) -> Response:
    wid = await authorized_live(workspace_id)
    return json_response(await _rows().live(wid))


@bp.get("/workspaces/<workspace_id>/memory/<path:key>")
@endpoint(
    Auth.WORKSPACE,
    "Read one key of the workspace's key/value memory",
    responses={200: ks.KeyValueEntry, 404: "no such key, or it expired"},
    tags=("memory",),
)
async def get_key(workspace_id: str, key: str) -> Response:
    wid = await authorized_live(workspace_id)
    found = await _rows().get(wid, _key(key))
    if found is None:
        raise NotFound("key not found")
    return json_response(found)


@bp.post("/workspaces/<workspace_id>/memory")
@endpoint(
    Auth.WORKSPACE,
    "Write a key (upsert; every write bumps its version)",
    description="With `if_match_version` the write happens only if the live key still has "
    "that version (0: only if the key does not exist); otherwise 409 with "
    "`expected_version` and `current_version`.",
    body=ks.KeyValueWrite,
    responses={
        200: ks.KeyValueWritten,
        409: ks.VersionConflict,
        429: "the workspace already has 1000 live keys",
    },
    tags=("memory",),
)
async def set_key(workspace_id: str) -> Response:
    wid = await authorized_live(workspace_id)
    body = await read_object(INVALID_BODY)
    key = _key(body.get("key"))
    if "value" not in body:
        raise BadRequest("value is required")
    value = body["value"]
    if len(dumps(value).encode("utf-8")) > MAX_VALUE_BYTES:
        raise BadRequest(f"value must be at most {MAX_VALUE_BYTES} bytes of JSON")
    ttl = _optional_int(
        body, "ttl_seconds", 1, MAX_TTL, f"a positive integer of seconds (at most {MAX_TTL})"
    )
    expected = _optional_int(body, "if_match_version", 0, 2**63 - 1, "a non-negative integer")
    version = await _rows().set(wid, key, value, ttl, expected, max_keys=MAX_KEYS)
    return json_response({"status": "ok", "key": key, "version": version})


@bp.delete("/workspaces/<workspace_id>/memory/<path:key>")
@endpoint(
    Auth.WORKSPACE,
    "Delete a key of the workspace's key/value memory",
    responses={200: StatusBody},
    tags=("memory",),
)
async def delete_key(workspace_id: str, key: str) -> Response:
    wid = await authorized_live(workspace_id)
    await _rows().delete(wid, _key(key))
    return json_response({"status": "deleted"})
