"""Secrets: global (`/settings/secrets`, AdminAuth) and per workspace (WorkspaceAuth).

Values are sealed at rest and never returned except through `/secrets/values` to the
workspace itself (what its agent runs with). A change restarts the affected workspaces that
this platform runs, so the agent sees it (docs/compatibility.md#d33); restarts coalesce and
none is dropped by a debounce (docs/compatibility.md#d11).
"""

from __future__ import annotations

import logging
import re

from quart import Blueprint, Response

from molecule.actors.messages import Restart
from molecule.errors import BadRequest, MoleculeError, NotFound
from molecule.http import schemas
from molecule.http.api import Auth, StatusBody, endpoint
from molecule.http.auth import admin_auth, workspace_auth
from molecule.http.common import json_response, read_object, require_uuid, services

log = logging.getLogger("molecule.http.secrets")
bp = Blueprint("secrets", __name__)

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,255}$")
MAX_VALUE = 64 * 1024


async def _key_value() -> tuple[str, str]:
    body = await read_object("invalid request body")
    key, value = body.get("key"), body.get("value")
    if not isinstance(key, str) or not isinstance(value, str) or not key:
        raise BadRequest("key and value are required")
    if not _KEY.match(key):
        raise BadRequest("key must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
    if len(value.encode()) > MAX_VALUE:
        raise BadRequest(f"value is larger than {MAX_VALUE} bytes")
    return key, value


async def _restart(workspace_ids: list[str], reason: str) -> None:
    directory = services().directory
    for wid in workspace_ids:
        try:
            ref = await directory.get(wid)
            if ref is not None:
                ref.tell(Restart(reason))
        except MoleculeError:
            log.warning("workspace %s: restart after a secret change not requested", wid)


@bp.get("/workspaces/<workspace_id>/secrets")
@endpoint(
    Auth.WORKSPACE,
    "List the workspace's secret keys (and the global ones it inherits); never values",
    responses={200: schemas.SecretKey},
    tags=("secrets",),
)
async def list_workspace_secrets(workspace_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    await services().workspaces.live(wid)
    return json_response(await svc.secrets.list_keys(wid))


@bp.get("/workspaces/<workspace_id>/secrets/values")
@endpoint(
    Auth.WORKSPACE,
    "The secret values the workspace's agent runs with (global overlaid by workspace)",
    responses={200: "a flat map KEY: value", 500: "a secret could not be decrypted"},
    tags=("secrets",),
)
async def secret_values(workspace_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    await services().workspaces.live(wid)
    loaded = await svc.secrets.load(wid)
    failed = loaded.failed_global + loaded.failed_workspace
    if failed:
        return json_response(
            {
                "error": "one or more secrets failed to decrypt; refusing to return partial bundle",
                "failed_keys": [f"global:{k}" for k in sorted(loaded.failed_global)]
                + [f"workspace:{k}" for k in sorted(loaded.failed_workspace)],
            },
            500,
        )
    return json_response(loaded.values)


@bp.route("/workspaces/<workspace_id>/secrets", methods=["POST", "PUT"])
@endpoint(
    Auth.WORKSPACE,
    "Set a workspace secret (encrypted); restarts the workspace's agent",
    body=schemas.SecretWrite,
    responses={200: StatusBody},
    tags=("secrets",),
)
async def set_workspace_secret(workspace_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    await services().workspaces.live(wid)
    key, value = await _key_value()
    await svc.secrets.set_workspace(wid, key, value)
    await _restart([wid], f"secret {key} saved")
    return json_response({"status": "saved", "key": key})


@bp.delete("/workspaces/<workspace_id>/secrets/<key>")
@endpoint(
    Auth.WORKSPACE,
    "Delete a workspace secret; restarts the workspace's agent",
    responses={200: StatusBody, 404: "no such secret"},
    tags=("secrets",),
)
async def delete_workspace_secret(workspace_id: str, key: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    if not await svc.secrets.delete_workspace(wid, key):
        raise NotFound("secret not found")
    await _restart([wid], f"secret {key} deleted")
    return json_response({"status": "deleted", "key": key})


async def _global_fan_out(key: str) -> None:
    """Restart every running managed workspace that does not override `key` itself."""
    rows = await services().workspaces.using_global_secret(key)
    # Only agents this platform runs: an agent running elsewhere reads its secrets itself,
    # and a restart it cannot get must never mark it failed.
    ids = [r["id"] for r in rows if services().pipeline.can_start(r["runtime"])]
    await _restart(ids, f"global secret {key} changed")


@bp.get("/settings/secrets")
@endpoint(
    Auth.ADMIN,
    "List the global secret keys; never values",
    responses={200: schemas.SecretKey},
    tags=("secrets",),
)
async def list_global_secrets() -> Response:
    svc = services()
    await admin_auth(svc)
    return json_response(await svc.secrets.list_keys(None))


@bp.route("/settings/secrets", methods=["POST", "PUT"])
@endpoint(
    Auth.ADMIN,
    "Set a global secret; restarts the agents it reaches",
    body=schemas.SecretWrite,
    responses={200: StatusBody},
    tags=("secrets",),
)
async def set_global_secret() -> Response:
    svc = services()
    await admin_auth(svc)
    key, value = await _key_value()
    await svc.secrets.set_global(key, value)
    await _global_fan_out(key)
    return json_response({"status": "saved", "key": key, "scope": "global"})


@bp.delete("/settings/secrets/<key>")
@endpoint(
    Auth.ADMIN,
    "Delete a global secret; restarts the agents it reached",
    responses={200: StatusBody, 404: "no such secret"},
    tags=("secrets",),
)
async def delete_global_secret(key: str) -> Response:
    svc = services()
    await admin_auth(svc)
    if not await svc.secrets.delete_global(key):
        raise NotFound("secret not found")
    await _global_fan_out(key)
    return json_response({"status": "deleted", "key": key, "scope": "global"})
