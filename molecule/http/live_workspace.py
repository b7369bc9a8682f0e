"""The first step of the knowledge routes: who may call, then which workspace.

Authentication comes before any row is read, so nobody can probe which ids exist without a
credential; after it, an unknown or removed workspace is 404 `workspace not found` (its rows
went with it, or will on purge).
"""

from __future__ import annotations

from molecule.errors import NotFound
from molecule.http.auth import workspace_auth
from molecule.http.common import require_uuid, services
from molecule.models import WorkspaceStatus


async def authorized_live(workspace_id: str) -> str:
    """WorkspaceAuth for the path's workspace, which must exist and not be removed; its id."""
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    status = await svc.workspaces.status_of(wid)
    if status is None or status == WorkspaceStatus.REMOVED:
        raise NotFound("workspace not found")
    return wid
