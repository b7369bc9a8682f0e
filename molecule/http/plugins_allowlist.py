"""The org plugin allowlist (upstream-april §1.10, the original's #591): AdminAuth.

`GET /orgs/:id/plugins/allowlist` → `{org_id, plugins: [{plugin_name, enabled_by,
enabled_at}], allow_all}`; `PUT` with `{plugins: [names], enabled_by}` replaces the whole list
in one transaction (an empty list allows every plugin again) → `{org_id, plugins, allow_all}`.
An org is a root workspace: 404 `org not found` for an unknown or removed id, 400 for a
workspace that has a parent (its root's list is the one installs consult;
docs/compatibility.md#d51). Installs and downloads into any workspace of the tree are then
limited to the listed plugins (403).
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response

from molecule.errors import BadRequest
from molecule.http import plugins_schemas as ps
from molecule.http.api import Auth, endpoint
from molecule.http.auth import admin_auth
from molecule.http.common import json_response, read_object, require_uuid, services
from molecule.provision.plugins_registry import INVALID_NAME, valid_name
from molecule.store.plugins import PluginRows

bp = Blueprint("plugins_allowlist", __name__)

ROUTE = "/orgs/<org_id>/plugins/allowlist"
INVALID_BODY = "invalid request body"
NOT_AN_ORG = "not an org: this workspace has a parent; use the id of its root workspace"
REFUSALS: dict[int, Any] = {
    400: "malformed id or body, or not a root workspace",
    401: "no or wrong credential",
    404: "org not found",
}


async def _org(org_id: str) -> str:
    oid = require_uuid(org_id, "invalid org ID")
    row = await services().workspaces.live(oid, "org not found")
    if row["parent_id"] is not None:
        raise BadRequest(NOT_AN_ORG)
    return oid


def _names(raw: Any) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(n, str) for n in raw):
        raise BadRequest(INVALID_BODY)
    if len(raw) > ps.MAX_ALLOWLIST:
        raise BadRequest(f"at most {ps.MAX_ALLOWLIST} plugins")
    names: list[str] = []
    for name in raw:
        if not valid_name(name):
            raise BadRequest(
                INVALID_NAME,
                extra={
                    "plugin_name": name[:200],
                    "detail": "a plugin name is 1-128 letters, digits, '.', '_' or '-', "
                    "starting with a letter or digit, without '..'",
                },
            )
        if name not in names:
            names.append(name)
    return names


@bp.get(ROUTE)
@endpoint(
    Auth.ADMIN,
    "An org's plugin allowlist (empty: every plugin is allowed)",
    responses={200: ps.Allowlist, **REFUSALS},
    tags=("plugins",),
)
async def get_allowlist(org_id: str) -> Response:
    svc = services()
    await admin_auth(svc)
    oid = await _org(org_id)
    entries = await PluginRows(svc.store).allowlist(oid)
    return json_response({"org_id": oid, "plugins": entries, "allow_all": not entries})


@bp.put(ROUTE)
@endpoint(
    Auth.ADMIN,
    "Replace an org's plugin allowlist",
    body=ps.AllowlistPut,
    responses={200: ps.AllowlistSaved, **REFUSALS},
    tags=("plugins",),
)
async def put_allowlist(org_id: str) -> Response:
    svc = services()
    await admin_auth(svc)
    oid = require_uuid(org_id, "invalid org ID")
    body = await read_object(INVALID_BODY)
    names = _names(body.get("plugins"))
    enabled_by = body.get("enabled_by")
    if enabled_by is not None and not isinstance(enabled_by, str):
        raise BadRequest(INVALID_BODY)
    if not enabled_by:
        raise BadRequest("enabled_by is required")
    if len(enabled_by) > ps.MAX_ENABLED_BY:
        raise BadRequest(f"enabled_by must be at most {ps.MAX_ENABLED_BY} characters")
    await _org(oid)
    await PluginRows(svc.store).replace_allowlist(oid, names, enabled_by)
    return json_response({"org_id": oid, "plugins": names, "allow_all": not names})
