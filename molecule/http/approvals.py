"""Approvals (human in the loop), the original's routes and answers (upstream-april §1.10):

- `POST /workspaces/:id/approvals` (WorkspaceAuth): an agent asks; 201 `{approval_id,
  status: "pending"}`;
- `GET /workspaces/:id/approvals` (WorkspaceAuth): its last 50 requests;
- `POST /workspaces/:id/approvals/:approvalId/decide`: a human decides; 404 `approval not
  found or already decided` when it is not pending. Unlike the original, the workspace's own
  token may not decide (docs/compatibility.md#d40): the agent that asked cannot approve itself;
- `GET /approvals/pending` (AdminAuth): expire what is due, then every workspace's pending
  requests with their workspace name.

What happens to a request (events, expiry) is molecule.operations.approvals.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from quart import Blueprint, Response

from molecule.errors import BadRequest, Forbidden
from molecule.http.api import AnyObject, Auth, endpoint
from molecule.http.auth import admin_auth, workspace_auth
from molecule.http.common import json_response, read_object, require_uuid, services
from molecule.jsontext import dumps
from molecule.operations.approvals import Approvals
from molecule.store.approvals import ApprovalRows

bp = Blueprint("approvals", __name__)

INVALID_BODY = "invalid request body"
INVALID_DECISION = "decision must be 'approved' or 'denied'"
AGENT_CANNOT_DECIDE = (
    "an agent cannot decide approvals: a human decides with the admin token, an org token "
    "or the canvas session"
)
MAX_ACTION, MAX_TASK_ID, MAX_REASON, MAX_DECIDED_BY = 1000, 256, 10_000, 200
MAX_CONTEXT_BYTES = 64 * 1024


class ApprovalRequest(BaseModel):
    """What the agent wants to do, and why."""

    action: str = Field(min_length=1, max_length=MAX_ACTION)
    task_id: str | None = Field(None, max_length=MAX_TASK_ID)
    reason: str | None = Field(None, max_length=MAX_REASON)
    context: dict[str, Any] | None = None


class ApprovalDecision(BaseModel):
    decision: Literal["approved", "denied"]
    decided_by: str | None = Field(None, max_length=MAX_DECIDED_BY)


class Approval(BaseModel):
    id: str
    task_id: str | None
    action: str
    reason: str | None
    status: str
    decided_by: str | None
    decided_at: str | None
    created_at: str


class PendingApproval(BaseModel):
    id: str
    workspace_id: str
    workspace_name: str
    action: str
    reason: str | None
    status: str
    created_at: str


def _approvals() -> Approvals:
    svc = services()
    return Approvals(ApprovalRows(svc.store), svc.workspaces, svc.bus)


def _text(body: dict[str, Any], key: str, limit: int, *, required: bool = False) -> str:
    """A string field ("" when absent, as the original stored it); a wrong type, or an
    absent required one, is the original's bind error; past `limit` characters, a 400
    naming the limit."""
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise BadRequest(INVALID_BODY)
        return ""
    if not isinstance(value, str):
        raise BadRequest(INVALID_BODY)
    if len(value) > limit:
        raise BadRequest(f"{key} must be at most {limit} characters")
    return value


def _context(body: dict[str, Any]) -> dict[str, Any]:
    value = body.get("context")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(INVALID_BODY)
    if len(dumps(value).encode()) > MAX_CONTEXT_BYTES:
        raise BadRequest(f"context must be at most {MAX_CONTEXT_BYTES} bytes of JSON")
    return value


@bp.post("/workspaces/<workspace_id>/approvals")
@endpoint(
    Auth.WORKSPACE,
    "Ask a human before an action (APPROVAL_REQUESTED; APPROVAL_ESCALATED to the parent)",
    body=ApprovalRequest,
    responses={201: AnyObject, 404: "no such workspace"},
    tags=("approvals",),
)
async def request_approval(workspace_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    body = await read_object(INVALID_BODY)
    action = _text(body, "action", MAX_ACTION, required=True)
    task_id = _text(body, "task_id", MAX_TASK_ID)
    reason = _text(body, "reason", MAX_REASON)
    context = _context(body)
    approval_id = await _approvals().request(wid, action, task_id, reason, context)
    return json_response({"approval_id": approval_id, "status": "pending"}, 201)


@bp.get("/workspaces/<workspace_id>/approvals")
@endpoint(
    Auth.WORKSPACE,
    "The workspace's last 50 approval requests, newest first",
    responses={200: Approval, 404: "no such workspace"},
    tags=("approvals",),
)
async def list_approvals(workspace_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    return json_response(await _approvals().listing(wid))


@bp.post("/workspaces/<workspace_id>/approvals/<approval_id>/decide")
@endpoint(
    Auth.OWN,
    "A human approves or denies a pending request (APPROVAL_APPROVED / APPROVAL_DENIED)",
    description=(
        "The admin token, an org token, the canvas session (or development fail-open); the "
        "workspace's own token is refused with 403, another workspace's with 401."
    ),
    body=ApprovalDecision,
    responses={200: AnyObject, 403: "an agent may not decide", 404: "not pending"},
    tags=("approvals",),
)
async def decide_approval(workspace_id: str, approval_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    who = await workspace_auth(svc, wid)
    if who.kind == "workspace":
        raise Forbidden(AGENT_CANNOT_DECIDE)
    aid = require_uuid(approval_id, "invalid approval ID")
    body = await read_object(INVALID_BODY)
    decision = body.get("decision")
    if not isinstance(decision, str) or not decision:
        raise BadRequest(INVALID_BODY)
    if decision not in ("approved", "denied"):
        raise BadRequest(INVALID_DECISION)
    decided_by = _text(body, "decided_by", MAX_DECIDED_BY) or "human"
    await _approvals().decide(wid, aid, decision, decided_by)
    return json_response({"status": decision, "approval_id": aid})


@bp.get("/approvals/pending")
@endpoint(
    Auth.ADMIN,
    "Every workspace's pending approvals (at most 50), after denying those past 10 minutes",
    responses={200: PendingApproval},
    tags=("approvals",),
)
async def pending_approvals() -> Response:
    await admin_auth(services())
    return json_response(await _approvals().pending())
