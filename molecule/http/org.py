"""Org templates and org import: a whole team in one call (upstream-april §1.10 and §8.4,
upstream-may §12.2; the steps are in molecule/operations/org_import.py).

- `GET /org/templates` (admin): `[{dir, name, description, workspaces, required_env,
  recommended_env}]`, the shipped templates and the operator's (`MOLECULE_ORG_TEMPLATES_DIR`).
- `POST /org/import` (admin): `{dir}` names a template by its directory name, or
  `{template: {...}}` carries one inline; `mode` may be "" or "merge" (the same thing
  here: existing workspaces are kept); `force` is ignored, as upstream removed it (#2290).
  201 `{org, workspaces: [{id, name, tier, runtime, status, parent_id, skipped?,
  channels_skipped?, plugins_skipped?}], count}`; 207 adds `error` and `failed` when some
  could not be created; 400 with `detail` for anything wrong in the template (nothing is
  created); 404 for an unknown `dir`; 412 when a required variable is not set.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from quart import Blueprint, Response

from molecule.errors import BadRequest
from molecule.http import org_checks
from molecule.http.api import Auth, endpoint
from molecule.http.auth import admin_auth
from molecule.http.common import json_response, read_object, services
from molecule.operations.org_import import OrgImport, Source
from molecule.operations.org_plan import OrgPlan, runtime_of
from molecule.operations.org_spec import MAX_DEPTH, MAX_WORKSPACES, OrgTemplate, walk
from molecule.operations.plugin_seeds import staged_import
from molecule.operations.workspace_extras import WorkspaceExtras
from molecule.provision.org_templates import OrgTemplates, invalid_template
from molecule.provision.plugins_registry import PluginRegistry
from molecule.services import Services
from molecule.store.subtrees import Subtrees

bp = Blueprint("org", __name__)

IMPORT_TIMEOUT = 600.0  # the creation of a whole tree, as a platform task


class OrgImportBody(BaseModel):
    """Import a team: `dir` (a template's directory name) or an inline `template`."""

    dir: str | None = Field(None, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    template: OrgTemplate | None = None
    mode: str | None = Field(None, pattern=r"^(merge)?$")
    force: bool | None = Field(None, description="ignored: the 412 cannot be bypassed")


class OrgTemplateSummary(BaseModel):
    dir: str
    name: str
    description: str
    workspaces: int
    required_env: list[Any]
    recommended_env: list[Any]


class ImportedWorkspace(BaseModel):
    model_config = {"extra": "allow"}
    id: str
    name: str
    tier: int


class OrgImported(BaseModel):
    org: str
    workspaces: list[ImportedWorkspace]
    count: int
    error: str | None = None
    failed: list[dict[str, Any]] | None = None


class MissingEnv(BaseModel):
    error: str
    missing_env: list[Any]
    required_env: list[Any]
    template: str
    suggestion: str


def operation(svc: Services) -> OrgImport:
    return OrgImport(
        svc.creation,
        svc.secrets,
        svc.bus,
        Subtrees(svc.store),
        svc.pipeline.templates,
        OrgTemplates(),
        WorkspaceExtras(svc.store, svc.workspaces, svc.activity, svc.scheduler),
        PluginRegistry.for_home(svc.settings.home),
    )


async def check_org(svc: Services, org: OrgTemplate) -> None:
    """POST /workspaces' field rules for every workspace, and the tree's bounds."""
    templates = svc.pipeline.templates
    nodes = [
        org_checks.NewNode(
            where=p.path,
            parent=p.parent.path if p.parent else None,
            depth=p.depth,
            name=p.spec.name,
            role=p.spec.role or None,
            runtime=runtime_of(p.spec, org.defaults, templates),
            template=p.spec.template or None,
            model=p.spec.model or org.defaults.model or None,
            workspace_dir=p.spec.workspace_dir or None,
            workspace_access=p.spec.workspace_access or None,
            url=p.spec.url or None,
            external=p.spec.external,
        )
        for p in walk(org)
    ]
    await org_checks.check_tree(
        nodes,
        templates,
        svc.url_policy,
        invalid_template,
        org_checks.runtime_allowed(svc.pipeline),
        max_count=MAX_WORKSPACES,
        max_depth=MAX_DEPTH,
    )


@bp.get("/org/templates")
@endpoint(
    Auth.ADMIN,
    "The org templates, with the environment each needs",
    responses={200: {"type": "array", "items": OrgTemplateSummary.model_json_schema()}},
    tags=("org",),
)
async def list_org_templates() -> Response:
    svc = services()
    await admin_auth(svc)
    return json_response(await operation(svc).listing())


def _source_fields(body: dict[str, Any]) -> tuple[str | None, Any, str]:
    dir_name, template, mode = body.get("dir"), body.get("template"), body.get("mode")
    if dir_name is not None and not isinstance(dir_name, str):
        raise BadRequest("invalid org directory")
    if template is not None and not isinstance(template, dict):
        raise invalid_template("the template must be an object (name, workspaces, ...)")
    if mode not in (None, "", "merge"):
        raise BadRequest('mode must be "" or "merge" (reconcile is not available here)')
    return dir_name or None, template, mode or ""


@bp.post("/org/import")
@endpoint(
    Auth.ADMIN,
    "Create a whole team from an org template, parents before children",
    body=OrgImportBody,
    responses={
        201: OrgImported,
        207: OrgImported,
        404: "no org template of that name",
        412: MissingEnv,
    },
    tags=("org",),
)
async def import_org() -> Response:
    svc = services()
    await admin_auth(svc)
    dir_name, inline, mode = _source_fields(await read_object("invalid request body"))
    op = operation(svc)
    source: Source = await op.load(dir_name, inline)
    await check_org(svc, source.org)

    async def plan() -> OrgPlan:
        planned = await op.plan(source)
        await op.preflight(source, planned)
        return planned

    status, body = await staged_import(
        svc.plugins.take_slot,
        svc.tasks,
        f"org import {source.org.name!r}",
        plan,
        lambda planned: op.run(planned, mode),
        IMPORT_TIMEOUT,
    )
    return json_response(body, status)
