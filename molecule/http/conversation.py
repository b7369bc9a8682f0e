"""A workspace's conversation, read (WorkspaceAuth):

- `GET /workspaces/:id/chat-history?limit=&before_ts=`: the chat a panel shows, rebuilt on the
  server from the activity rows the original canvas rebuilt it from
  (molecule.operations.chat_history; ours, docs/compatibility.md#d43). `{messages: [{id,
  role, content, timestamp, activity_id, attachments?}] oldest first, reached_end,
  next_before_ts}`; pass `next_before_ts` as `before_ts` for the page before.
- `GET /workspaces/:id/session-search?q=&limit=`: the original's search (upstream-april
  §1.5) over the workspace's activity and its own memories: `[{kind: "activity"|"memory", id,
  workspace_id, label, content, method, status, request_body?, response_body?, created_at}]`,
  newest first (a memory's `label` is its scope, its `method` and `status` ""); `q` is literal
  text here (the original passed `%` and `_` through as wildcards).

`limit` is lenient like the activity feed's: junk or a value below 1 is the default (50), and
at most 200 rows are read. A malformed `before_ts`, a `q` longer than 500 characters or an
unknown workspace is refused.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from quart import Blueprint, Response, request

from molecule.errors import BadRequest, NotFound
from molecule.http.activity_feed import BEFORE_TS_INVALID, parse_rfc3339
from molecule.http.api import AnyObject, Auth, endpoint
from molecule.http.auth import workspace_auth
from molecule.http.common import json_response, query_int, require_uuid, services
from molecule.models import WorkspaceStatus
from molecule.operations.chat_history import chat_messages
from molecule.store.conversation import Conversation

bp = Blueprint("conversation", __name__)

DEFAULT_LIMIT, MAX_LIMIT = 50, 200
MAX_QUERY = 500


class ChatHistoryQuery(BaseModel):
    limit: int | None = Field(None, ge=1, le=MAX_LIMIT)
    before_ts: str | None = None


class SessionSearchQuery(BaseModel):
    q: str | None = Field(None, max_length=MAX_QUERY)
    limit: int | None = Field(None, ge=1, le=MAX_LIMIT)


class SearchHit(BaseModel):
    kind: str
    id: str
    workspace_id: str
    label: str
    content: str
    method: str
    status: str
    created_at: str


async def _readable(workspace_id: str) -> str:
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    status = await svc.workspaces.status_of(wid)
    if status is None or status == WorkspaceStatus.REMOVED:
        raise NotFound("workspace not found")
    await svc.activity.flush()  # receipts staged before this read are in it
    return wid


@bp.get("/workspaces/<workspace_id>/chat-history")
@endpoint(
    Auth.WORKSPACE,
    "The workspace's chat (user and agent messages), a page at a time, oldest first",
    query=ChatHistoryQuery,
    responses={200: AnyObject, 404: "no such workspace"},
    tags=("activity",),
)
async def chat_history(workspace_id: str) -> Response:
    wid = await _readable(workspace_id)
    before: datetime | None = None
    raw_before = request.args.get("before_ts")
    if raw_before:
        before = parse_rfc3339(raw_before)
        if before is None:
            raise BadRequest(BEFORE_TS_INVALID)
    limit = query_int("limit", DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
    rows = await Conversation(services().store).chat_rows(wid, limit, before)
    return json_response(
        {
            "messages": chat_messages(rows),
            "reached_end": len(rows) < limit,
            "next_before_ts": rows[-1]["created_at"] if rows else None,
        }
    )


@bp.get("/workspaces/<workspace_id>/session-search")
@endpoint(
    Auth.WORKSPACE,
    "Search the workspace's activity (summary, type, method, status, bodies) and memories",
    query=SessionSearchQuery,
    responses={200: SearchHit, 404: "no such workspace"},
    tags=("activity",),
)
async def session_search(workspace_id: str) -> Response:
    wid = await _readable(workspace_id)
    query = (request.args.get("q") or "").strip()
    if len(query) > MAX_QUERY:
        raise BadRequest(f"q must be at most {MAX_QUERY} characters")
    limit = query_int("limit", DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
    return json_response(await Conversation(services().store).search(wid, query, limit))
