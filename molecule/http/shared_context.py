"""`GET /workspaces/:id/shared-context` (WorkspaceAuth): the files the workspace's
`config.yaml` shares under `shared_context:`, read from its config directory through the
provisioner (molecule.operations.shared_context). Always a list; `[]` when nothing can be
read (no provisioning backend, no config, no such list).
"""

from __future__ import annotations

from quart import Blueprint, Response

from molecule.http import knowledge_schemas as ks
from molecule.http.api import Auth, endpoint
from molecule.http.common import json_response, services
from molecule.http.live_workspace import authorized_live
from molecule.operations.shared_context import SharedContext

bp = Blueprint("shared_context", __name__)


@bp.get("/workspaces/<workspace_id>/shared-context")
@endpoint(
    Auth.WORKSPACE,
    "The files the workspace's config.yaml lists under shared_context",
    description="`[{path, content}]`, paths relative to the config directory. Files that "
    "cannot be read, paths leaving the directory and the workspace's credential files are "
    "left out; at most 50 entries, 256 KiB per file and 1 MiB in all.",
    responses={200: ks.SharedFile},
    tags=("files",),
)
async def shared_context(workspace_id: str) -> Response:
    wid = await authorized_live(workspace_id)
    return json_response(await SharedContext(services().pipeline.provisioner).files(wid))
