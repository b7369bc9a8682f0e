"""Plugin routes (upstream-april §1.10; the rules are in molecule.operations.plugins).

- `GET /plugins[?runtime=]`, `GET /plugins/sources`: open, as in the original: the registry
  (`local://` plugins) and the install schemes.
- `GET/POST /workspaces/:id/plugins`, `DELETE /workspaces/:id/plugins/:name`,
  `GET …/plugins/available`, `GET …/plugins/compatibility?runtime=`,
  `GET …/plugins/:name/download[?source=&sha256=]`: WorkspaceAuth on `:id`.

Install and uninstall answer once the files and the row are written, then the workspace
restarts (coalescing with any restart under way). Download sends the plugin as `.tar.gz`
(paths relative to the plugin) with `X-Plugin-Name` and `X-Plugin-Source`.
"""

from __future__ import annotations

import os
from typing import Any

import trio
from pydantic import BaseModel
from quart import Blueprint, Response, request

from molecule.errors import BadRequest
from molecule.http import plugins_schemas as ps
from molecule.http.api import Auth, endpoint
from molecule.http.auth import workspace_auth
from molecule.http.common import json_response, read_json, require_uuid, services
from molecule.operations.plugins import SCHEMES, Plugins
from molecule.provision.plugins_archive import pack
from molecule.provision.plugins_registry import PluginRegistry

bp = Blueprint("plugins", __name__)

INVALID_BODY = "invalid request body"
DEFAULT_BODY_LIMIT = 64 * 1024  # PLUGIN_INSTALL_BODY_MAX_BYTES
TAGS = ("plugins",)
REFUSALS: dict[int, Any] = {
    400: "malformed id, name or input",
    401: "no or wrong credential",
    404: "no such workspace",
}


def _array(model: type[BaseModel]) -> dict[str, Any]:
    return {"type": "array", "items": model.model_json_schema()}


def _plugins() -> Plugins:
    svc = services()
    return Plugins(
        svc.store,
        svc.workspaces,
        svc.directory,
        svc.pipeline,
        svc.tasks,
        svc.settings.home,
        svc.plugins,
    )


async def _authorized(workspace_id: str) -> str:
    wid = require_uuid(workspace_id)
    await workspace_auth(services(), wid)
    return wid


def _runtime(value: str | None, *, required: bool = False) -> str:
    if value is None or value == "":
        if required:
            raise BadRequest("runtime query parameter is required")
        return ""
    if len(value) > ps.MAX_RUNTIME or not value.isprintable():
        raise BadRequest(f"runtime must be at most {ps.MAX_RUNTIME} printable characters")
    return value


def _body_limit() -> int:
    raw = os.environ.get("PLUGIN_INSTALL_BODY_MAX_BYTES", "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and int(raw) > 0 else DEFAULT_BODY_LIMIT


def _optional_text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(INVALID_BODY)
    return value or None


@bp.get("/plugins")
@endpoint(
    Auth.OPEN,
    "The plugin registry: every local:// plugin, described by its plugin.yaml",
    query=ps.RuntimeQuery,
    responses={200: _array(ps.PluginInfo), 400: "runtime too long"},
    tags=TAGS,
)
async def registry() -> Response:
    runtime = _runtime(request.args.get("runtime"))
    listing = PluginRegistry.for_home(services().settings.home).listing
    return json_response(await trio.to_thread.run_sync(listing, runtime))


@bp.get("/plugins/sources")
@endpoint(Auth.OPEN, "The install source schemes", responses={200: ps.Sources}, tags=TAGS)
async def sources() -> Response:
    return json_response({"schemes": list(SCHEMES)})


@bp.get("/workspaces/<workspace_id>/plugins")
@endpoint(
    Auth.WORKSPACE,
    "The plugins installed in a workspace",
    responses={200: _array(ps.InstalledPlugin), **REFUSALS},
    tags=TAGS,
)
async def installed(workspace_id: str) -> Response:
    wid = await _authorized(workspace_id)
    return json_response(await _plugins().installed(wid))


@bp.get("/workspaces/<workspace_id>/plugins/available")
@endpoint(
    Auth.WORKSPACE,
    "The registry's plugins that support the workspace's runtime",
    responses={200: _array(ps.PluginInfo), **REFUSALS},
    tags=TAGS,
)
async def available(workspace_id: str) -> Response:
    wid = await _authorized(workspace_id)
    return json_response(await _plugins().available(wid))


@bp.get("/workspaces/<workspace_id>/plugins/compatibility")
@endpoint(
    Auth.WORKSPACE,
    "Which installed plugins would still work if the workspace changed to a runtime",
    query=ps.CompatibilityQuery,
    responses={200: ps.Compatibility, **REFUSALS},
    tags=TAGS,
)
async def compatibility(workspace_id: str) -> Response:
    wid = await _authorized(workspace_id)
    runtime = _runtime(request.args.get("runtime"), required=True)
    return json_response(await _plugins().compatibility(wid, runtime))


@bp.post("/workspaces/<workspace_id>/plugins")
@endpoint(
    Auth.WORKSPACE,
    "Install a plugin into the workspace's /plugins, then restart the workspace",
    body=ps.PluginInstall,
    responses={
        200: ps.PluginInstalled,
        **REFUSALS,
        403: "not in the org allowlist",
        404: "no such workspace, or the source has no such plugin",
        413: "body or plugin too large",
        422: "unpinned github source, unsafe tree, integrity or sha256 mismatch, or a "
        "workspace whose agent runs elsewhere",
        502: "the source failed",
        503: "no provisioning backend, or too many installs at once",
        504: "the source timed out",
    },
    tags=TAGS,
)
async def install(workspace_id: str) -> Response:
    wid = await _authorized(workspace_id)
    body = await read_json(INVALID_BODY, limit=_body_limit())
    if not isinstance(body, dict):
        raise BadRequest(INVALID_BODY)
    source = _optional_text(body, "source") or ""
    sha256 = _optional_text(body, "sha256")
    return json_response(await _plugins().install(wid, source, sha256))


@bp.delete("/workspaces/<workspace_id>/plugins/<name>")
@endpoint(
    Auth.WORKSPACE,
    "Uninstall a plugin, then restart the workspace",
    responses={200: ps.PluginUninstalled, **REFUSALS, 404: "no such workspace or install"},
    tags=TAGS,
)
async def uninstall(workspace_id: str, name: str) -> Response:
    wid = await _authorized(workspace_id)
    return json_response(await _plugins().uninstall(wid, name))


@bp.get("/workspaces/<workspace_id>/plugins/<name>/download")
@endpoint(
    Auth.WORKSPACE,
    "A plugin as .tar.gz, for an agent that installs it itself",
    query=ps.DownloadQuery,
    responses={
        200: "the plugin (application/gzip)",
        **REFUSALS,
        403: "not in the org allowlist",
        404: "no such workspace or plugin",
        413: "plugin too large",
        422: "unsafe tree, integrity or sha256 mismatch",
        502: "the source failed",
        504: "the source timed out",
    },
    tags=TAGS,
)
async def download(workspace_id: str, name: str) -> Response:
    wid = await _authorized(workspace_id)
    source = request.args.get("source") or None
    sha256 = request.args.get("sha256") or None
    staged, resolved = await _plugins().download(wid, name, source, sha256)
    data = await trio.to_thread.run_sync(pack, staged)
    return Response(
        data,
        status=200,
        mimetype="application/gzip",
        headers={
            "Content-Disposition": f'attachment; filename="{name}.tar.gz"',
            "X-Plugin-Name": name,
            "X-Plugin-Source": resolved.raw,
        },
    )
