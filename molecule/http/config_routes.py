"""A workspace's configuration (WorkspaceAuth): the free-form config object, and the model
and LLM provider its agent runs with.

`PATCH /workspaces/:id/config` merges a JSON object into the stored one, shallowly, as the
original did; its body is at most 256 KiB (413) and must be a JSON object (400). `PUT
/workspaces/:id/model` and `/provider` store the setting as a workspace secret and restart
the agent this platform runs (molecule.operations.workspace_settings).
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response

from molecule.errors import BadRequest, PayloadTooLarge
from molecule.http import config_schemas as cs
from molecule.http.api import Auth, StatusBody, endpoint
from molecule.http.auth import workspace_auth
from molecule.http.common import json_response, read_json, read_object, require_uuid, services
from molecule.operations.workspace_settings import (
    MAX_VALUE_CHARS,
    MODEL,
    PROVIDER,
    Setting,
    read_setting,
    save_setting,
)
from molecule.store.workspace_config import MAX_CONFIG_BYTES, WorkspaceConfigRows

bp = Blueprint("config_routes", __name__)

REFUSALS = {401: "no or wrong credential", 404: "no such workspace"}
TOO_LARGE = "body too large or unreadable"


async def _live(workspace_id: str) -> str:
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    await svc.workspaces.live(wid)
    return wid


@bp.get("/workspaces/<workspace_id>/config")
@endpoint(
    Auth.WORKSPACE,
    "The workspace's config object ({} when none was saved)",
    responses={200: cs.ConfigData, **REFUSALS},
    tags=("config",),
)
async def get_config(workspace_id: str) -> Response:
    wid = await _live(workspace_id)
    return json_response({"data": await WorkspaceConfigRows(services().store).get(wid)})


@bp.patch("/workspaces/<workspace_id>/config")
@endpoint(
    Auth.WORKSPACE,
    "Merge a JSON object into the workspace's config (top-level keys replace stored ones)",
    body={"type": "object", "additionalProperties": True},
    responses={200: StatusBody, 400: "not a JSON object", 413: "over 256 KiB", **REFUSALS},
    tags=("config",),
)
async def patch_config(workspace_id: str) -> Response:
    wid = await _live(workspace_id)
    try:
        patch = await read_json("invalid JSON", limit=MAX_CONFIG_BYTES)
    except PayloadTooLarge:
        raise PayloadTooLarge(TOO_LARGE) from None
    if not isinstance(patch, dict):
        raise BadRequest("config must be a JSON object")
    if not await WorkspaceConfigRows(services().store).merge(wid, patch):
        raise PayloadTooLarge(f"config would be larger than {MAX_CONFIG_BYTES} bytes")
    return json_response({"status": "updated"})


async def _get_setting(workspace_id: str, setting: Setting) -> Response:
    wid = await _live(workspace_id)
    return json_response(await read_setting(services().secrets, wid, setting))


async def _put_setting(workspace_id: str, setting: Setting) -> Response:
    wid = await _live(workspace_id)
    body = await read_object("invalid request body")
    value: Any = body.get(setting.field, "")
    if not isinstance(value, str):
        raise BadRequest("invalid request body")
    if len(value) > MAX_VALUE_CHARS:
        raise BadRequest(f"{setting.field} must be at most {MAX_VALUE_CHARS} characters")
    svc = services()
    await save_setting(svc.secrets, svc.directory, wid, setting, value)
    if not value:
        return json_response({"status": "cleared"})
    return json_response({"status": "saved", setting.field: value})


@bp.get("/workspaces/<workspace_id>/model")
@endpoint(
    Auth.WORKSPACE,
    "The model the workspace's agent runs with (workspace secret MODEL)",
    responses={200: cs.ModelSetting, **REFUSALS},
    tags=("config",),
)
async def get_model(workspace_id: str) -> Response:
    return await _get_setting(workspace_id, MODEL)


@bp.put("/workspaces/<workspace_id>/model")
@endpoint(
    Auth.WORKSPACE,
    "Set (or clear, with an empty model) the model; restarts an agent this platform runs",
    body=cs.ModelWrite,
    responses={200: StatusBody, 400: "not a string, or too long", **REFUSALS},
    tags=("config",),
)
async def put_model(workspace_id: str) -> Response:
    return await _put_setting(workspace_id, MODEL)


@bp.get("/workspaces/<workspace_id>/provider")
@endpoint(
    Auth.WORKSPACE,
    "The LLM provider the workspace's agent uses (workspace secret LLM_PROVIDER)",
    responses={200: cs.ProviderSetting, **REFUSALS},
    tags=("config",),
)
async def get_provider(workspace_id: str) -> Response:
    return await _get_setting(workspace_id, PROVIDER)


@bp.put("/workspaces/<workspace_id>/provider")
@endpoint(
    Auth.WORKSPACE,
    "Set (or clear, with an empty provider) the provider; restarts an agent this platform runs",
    body=cs.ProviderWrite,
    responses={200: StatusBody, 400: "not a string, or too long", **REFUSALS},
    tags=("config",),
)
async def put_provider(workspace_id: str) -> Response:
    return await _put_setting(workspace_id, PROVIDER)
