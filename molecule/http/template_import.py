"""`POST /templates/import` (admin): a new workspace template from a map of files.

`{name, files: {path: text}}`, at most 200 files. The id is the name made directory-safe, as
the original did it; an existing id is 409. Without a `config.yaml` one is generated. The
template goes to the operator's templates directory, never among the shipped ones
(molecule.provision.templates).
"""

from __future__ import annotations

import trio
from quart import Blueprint, Response

from molecule.errors import BadRequest, PathRefused
from molecule.http import config_schemas as cs
from molecule.http.api import Auth, endpoint
from molecule.http.auth import admin_auth
from molecule.http.common import json_response, read_object, services
from molecule.operations.workspace_files import INVALID_BODY, MAX_FILES

bp = Blueprint("template_import", __name__)

MAX_NAME = 255


@bp.post("/templates/import")
@endpoint(
    Auth.ADMIN,
    "Import a workspace template from files (a config.yaml is generated if none is given)",
    body=cs.TemplateImport,
    responses={
        201: cs.TemplateImported,
        400: "invalid body, path or too many files",
        401: "not an admin",
        409: "a template of that id exists",
    },
    tags=("templates",),
)
async def import_template() -> Response:
    svc = services()
    await admin_auth(svc)
    body = await read_object(INVALID_BODY)
    name, files = body.get("name"), body.get("files")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise BadRequest(INVALID_BODY)
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise BadRequest(INVALID_BODY)
    if len(files) > MAX_FILES:
        raise BadRequest(f"too many files ({len(files)}), max {MAX_FILES}")
    encoded = {path: text.encode("utf-8") for path, text in files.items()}
    templates = svc.pipeline.templates
    try:
        template_id = await trio.to_thread.run_sync(templates.import_template, name, encoded)
    except PathRefused:
        raise BadRequest(INVALID_BODY) from None
    return json_response({"status": "imported", "id": template_id, "name": name}, 201)
