"""Bundles: a workspace subtree as one JSON document, and back (upstream-april §1.10; the
document and the steps: molecule/operations/bundle_spec.py and bundles.py).

- `GET /bundles/export/:id` (admin): the workspace and its live descendants; 404 `bundle not
  found` for an unknown or removed id, 422 past 200 workspaces. Secret values never leave:
  only their names, under `secrets`.
- `POST /bundles/import?parent_id=` (admin): the bundle as the body (at most 8 MiB),
  recreated with new ids as a root or under `parent_id`. 201 `{workspace_id, name, status,
  secrets_to_set?, plugins_skipped?, children, count}` as the original answered (with this
  platform's `plugins_skipped`); 207 when some could not be created (each with `error`); 400
  `invalid bundle` with a `detail` for anything wrong in it, before anything is created.
"""

from __future__ import annotations

import trio
from pydantic import BaseModel
from quart import Blueprint, Response, request

from molecule.errors import BadRequest, NotFound
from molecule.http import org_checks
from molecule.http.api import AnyObject, Auth, endpoint
from molecule.http.auth import admin_auth
from molecule.http.common import json_response, read_json, require_uuid, services
from molecule.models import WorkspaceStatus, is_uuid
from molecule.operations.bundle_spec import (
    MAX_BODY,
    MAX_DEPTH,
    MAX_WORKSPACES,
    Bundle,
    invalid_bundle,
    parse_bundle,
    runtime_of,
    walk,
)
from molecule.operations.bundles import Bundles, PlannedNode, layout
from molecule.operations.plugin_seeds import staged_import
from molecule.operations.workspace_extras import (
    KeyValueSeed,
    ScheduleSeed,
    WorkspaceExtras,
    check_kv,
)
from molecule.provision.plugins_registry import PluginRegistry
from molecule.services import Services
from molecule.store.plugins import PluginRows
from molecule.store.subtrees import Subtrees

bp = Blueprint("bundles", __name__)

IMPORT_TIMEOUT = 600.0


class BundleImportQuery(BaseModel):
    parent_id: str | None = None


class BundleImported(BaseModel):
    """The new root (`workspace_id`, `name`, `status`) and its `children`, the same shape."""

    model_config = {"extra": "allow"}
    workspace_id: str | None
    name: str
    status: str


def operation(svc: Services) -> Bundles:
    return Bundles(
        svc.creation,
        svc.secrets,
        Subtrees(svc.store),
        svc.pipeline,
        WorkspaceExtras(svc.store, svc.workspaces, svc.activity, svc.scheduler),
        PluginRows(svc.store),
        PluginRegistry.for_home(svc.settings.home),
    )


@bp.get("/bundles/export/<workspace_id>")
@endpoint(
    Auth.ADMIN,
    "A workspace subtree as one bundle document (secret names only, never values)",
    responses={200: Bundle, 404: "no such workspace", 422: "more than 200 workspaces"},
    tags=("bundles",),
)
async def export_bundle(workspace_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    await admin_auth(svc)
    try:
        return json_response(await operation(svc).export(wid))
    except NotFound:
        raise NotFound("bundle not found") from None


async def _parent() -> tuple[str | None, float, float]:
    raw = request.args.get("parent_id") or None
    if raw is None:
        return None, 0.0, 0.0
    if not is_uuid(raw):
        raise BadRequest("parent_id must be a UUID")
    row = await services().workspaces.get(raw.lower())
    if row is None or row["status"] == WorkspaceStatus.REMOVED:
        raise BadRequest("parent_id must reference an existing workspace")
    return str(row["id"]), float(row["x"]), float(row["y"])


async def _check(
    svc: Services, bundle: Bundle, extras: WorkspaceExtras, under_parent: bool
) -> None:
    templates = svc.pipeline.templates
    nodes = []
    for p in walk(bundle):
        n = p.node
        named = templates.get(n.template or None)
        nodes.append(
            org_checks.NewNode(
                where=p.path,
                parent=p.parent,
                depth=p.depth,
                name=n.name.strip(),
                role=n.role or n.description or None,
                runtime=runtime_of(n, named.runtime if named else None),
                template=n.template or None,
                workspace_dir=n.workspace_dir or None,
                workspace_access=n.workspace_access or None,
                url=n.url or None,
                external=n.external,
            )
        )
        for i, s in enumerate(n.schedules):
            seed = ScheduleSeed(s.name, s.cron_expr, s.timezone, s.prompt, s.enabled)
            problem = extras.check_schedule(seed)
            if problem:
                raise invalid_bundle(f"{p.path}.schedules[{i}]: {problem}")
        for i, e in enumerate(n.kv):
            problem = check_kv(KeyValueSeed(e.key, e.value))
            if problem:
                raise invalid_bundle(f"{p.path}.kv[{i}]: {problem}")
        if (p.depth or under_parent) and any(m.scope == "GLOBAL" for m in n.memories):
            raise invalid_bundle(f"{p.path}: only a root workspace may hold GLOBAL memories")
    await org_checks.check_tree(
        nodes,
        templates,
        svc.url_policy,
        invalid_bundle,
        org_checks.runtime_allowed(svc.pipeline),
        max_count=MAX_WORKSPACES,
        max_depth=MAX_DEPTH,
    )


@bp.post("/bundles/import")
@endpoint(
    Auth.ADMIN,
    "Recreate a bundle's workspaces with new ids, as a root or under parent_id",
    body=Bundle,
    query=BundleImportQuery,
    responses={201: BundleImported, 207: AnyObject},
    tags=("bundles",),
)
async def import_bundle() -> Response:
    svc = services()
    await admin_auth(svc)
    parent_id, x, y = await _parent()
    bundle = parse_bundle(await read_json("invalid bundle", limit=MAX_BODY))
    op = operation(svc)
    await _check(svc, bundle, op.extras, parent_id is not None)
    positions = layout(bundle, x + 16.0, y + 130.0) if parent_id else layout(bundle, 0.0, 0.0)

    def requests() -> dict[str, PlannedNode]:
        seeds = op.plugin_seeds()
        return {
            p.path: op.request_for(p.node, p.path, *positions[p.path], seeds) for p in walk(bundle)
        }

    status, body = await staged_import(
        svc.plugins.take_slot,
        svc.tasks,
        f"bundle import {bundle.name!r}",
        lambda: trio.to_thread.run_sync(requests),
        lambda planned: op.import_bundle(bundle, planned, parent_id),
        IMPORT_TIMEOUT,
    )
    return json_response(body, status)
