"""External (bring-your-own-compute) workspaces: rotate the credentials, re-show the block.

- `POST /workspaces/:id/external/rotate` (WorkspaceAuth): revoke every live token, mint one,
  record EXTERNAL_CREDENTIALS_ROTATED -> 200 `{connection}` with the new plaintext token.
- `GET /workspaces/:id/external/connection` (WorkspaceAuth): the same block, `auth_token: ""`
  (the plaintext is never stored, so it cannot be shown again).

Both answer 400 for a workspace whose runtime is not external-like (external, kimi,
kimi-cli) and 404 for an unknown or removed one, as the original does.
"""

from __future__ import annotations

import logging
from typing import Any

from quart import Blueprint, Response

from molecule.errors import BadRequest, MoleculeError, NotFound
from molecule.events import EXTERNAL_CREDENTIALS_ROTATED
from molecule.http.api import AnyObject, Auth, endpoint
from molecule.http.auth import workspace_auth
from molecule.http.common import json_response, require_uuid, services
from molecule.http.connection_snippets import connection_block
from molecule.models import EXTERNAL_RUNTIMES, WorkspaceStatus

log = logging.getLogger("molecule.http.external")
bp = Blueprint("external", __name__)

ROTATE_ONLY_EXTERNAL = "rotate is only valid for external/BYO-compute workspaces"
CONNECTION_ONLY_EXTERNAL = "connection payload is only valid for external/BYO-compute workspaces"
NOT_EXTERNAL_HINT = (
    "platform-managed workspaces get their credentials from the provisioner; "
    "restart the workspace to issue a new token"
)


async def _external_row(workspace_id: str, error: str) -> dict[str, Any]:
    svc = services()
    row = await svc.workspaces.get(workspace_id)
    if row is None or row.get("status") == WorkspaceStatus.REMOVED:
        raise NotFound("workspace not found")
    runtime = row.get("runtime") or ""
    if runtime not in EXTERNAL_RUNTIMES:
        raise BadRequest(error, extra={"runtime": runtime, "hint": NOT_EXTERNAL_HINT})
    return row


@bp.post("/workspaces/<workspace_id>/external/rotate")
@endpoint(
    Auth.WORKSPACE,
    "New credentials for an external workspace (the old ones are revoked)",
    responses={200: AnyObject, 400: "not an external workspace"},
    tags=("workspaces",),
)
async def rotate(workspace_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    row = await _external_row(wid, ROTATE_ONLY_EXTERNAL)
    try:
        await svc.tokens.revoke_all(wid)
    except MoleculeError:
        raise  # an outage is a 503, not the original's 500
    except Exception as exc:
        log.error("rotate %s: revoke failed: %s", wid, exc)
        raise MoleculeError("revoke failed") from None
    try:
        token = await svc.tokens.mint(wid)
    except MoleculeError:
        raise  # an outage is a 503, not the original's 500
    except Exception as exc:
        log.error("rotate %s: mint failed: %s", wid, exc)
        raise MoleculeError("mint failed") from None
    await svc.bus.record(EXTERNAL_CREDENTIALS_ROTATED, wid, {"workspace_id": wid})
    log.info("workspace %s: external credentials rotated", wid)
    return json_response({"connection": connection_block(svc, wid, row["name"] or "", token)})


@bp.get("/workspaces/<workspace_id>/external/connection")
@endpoint(
    Auth.WORKSPACE,
    "How to connect an external agent (without the token)",
    responses={200: AnyObject, 400: "not an external workspace"},
    tags=("workspaces",),
)
async def show_connection(workspace_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    row = await _external_row(wid, CONNECTION_ONLY_EXTERNAL)
    return json_response({"connection": connection_block(svc, wid, row["name"] or "", "")})
