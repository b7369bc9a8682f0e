"""The activity feed and notify (upstream-may §2): what poll-mode clients read all day.

`GET /workspaces/:id/activity` keeps the original's exact rules (newest first; with `since_id`
oldest first and strictly after the cursor, 410 for an unknown or foreign cursor), except
that a malformed id, cursor or parameter is a 400 (D8), never a database error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from quart import Blueprint, Response, request

from molecule.errors import BadRequest, Forbidden, Gone, NotFound
from molecule.events import AGENT_MESSAGE
from molecule.http.auth import workspace_auth
from molecule.http.common import json_response, read_json, require_uuid, services
from molecule.models import WorkspaceStatus, is_uuid
from molecule.store.activity import ABSENT, ActivityEntry

bp = Blueprint("activity", __name__)

MAX_SINCE_SECS = 30 * 24 * 3600
DEFAULT_LIMIT, MAX_LIMIT = 100, 500
ACTIVITY_TYPES = (
    "a2a_send", "a2a_receive", "task_update", "agent_log", "skill_promotion", "memory_write",
    "error",
)  # fmt: skip
CURSOR_GONE = (
    "since_id cursor not found (row may have been pruned or belongs to a different "
    "workspace); omit since_id to reset"
)
_COLUMNS = (
    "id, workspace_id, activity_type, source_id, target_id, method, summary, duration_ms,"
    " status, error_detail, created_at, request_body, response_body, tool_trace"
)
_BODY_KEYS = ("request_body", "response_body", "tool_trace")


def _row(record: Any) -> dict[str, Any]:
    row = dict(record)
    for key in _BODY_KEYS:
        if row.get(key) is None:
            row.pop(key, None)
    return row


def _limit(raw: str | None) -> int:
    try:
        value = int(raw) if raw is not None else DEFAULT_LIMIT
    except ValueError:
        return DEFAULT_LIMIT
    if value <= 0:
        return DEFAULT_LIMIT
    return min(value, MAX_LIMIT)


@bp.get("/workspaces/<workspace_id>/activity")
async def list_activity(workspace_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    args = request.args
    where = ["workspace_id = $1"]
    params: list[Any] = [wid]

    def add(clause: str, value: Any) -> None:
        params.append(value)
        where.append(clause.replace("$?", f"${len(params)}"))

    if "type" in args:
        add("activity_type = $?", args["type"])
    peer = args.get("peer_id")
    if peer is not None:
        if not is_uuid(peer):
            raise BadRequest("peer_id must be a UUID")
        add("(source_id = $? OR target_id = $?)", peer.lower())
    before = args.get("before_ts")
    if before is not None:
        try:
            stamp = datetime.fromisoformat(before.replace("Z", "+00:00"))
            if stamp.tzinfo is None:
                raise ValueError
        except ValueError:
            raise BadRequest(
                "before_ts must be an RFC3339 timestamp (e.g. 2026-05-01T00:00:00Z)"
            ) from None
        add("created_at < $?", stamp)
    limit = _limit(args.get("limit"))
    since_secs = args.get("since_secs")
    if since_secs is not None:
        try:
            secs = int(since_secs)
        except ValueError:
            secs = 0
        if secs <= 0:
            raise BadRequest("since_secs must be a positive integer")
        add("created_at >= now() - make_interval(secs => $?)", min(secs, MAX_SINCE_SECS))
    since_id = args.get("since_id")
    ascending = since_id is not None
    if since_id is not None:
        if not is_uuid(since_id):
            raise BadRequest("since_id must be a UUID (an activity row id)")
        cursor = await svc.store.fetchval(
            "SELECT created_at FROM activity_logs WHERE id = $1 AND workspace_id = $2",
            since_id.lower(),
            wid,
        )
        if cursor is None:
            raise Gone(CURSOR_GONE)
        add("created_at > $?", cursor)
    source = args.get("source")
    if source is not None:
        if source == "canvas":
            where.append("source_id IS NULL")
        elif source == "agent":
            where.append("source_id IS NOT NULL")
        else:
            raise BadRequest("source must be 'canvas' or 'agent'")
    order = "ASC" if ascending else "DESC"
    params.append(limit)
    rows = await svc.store.fetch(
        f"SELECT {_COLUMNS} FROM activity_logs WHERE {' AND '.join(where)}"
        f" ORDER BY created_at {order}, id {order} LIMIT ${len(params)}",
        *params,
    )
    return json_response([_row(r) for r in rows])


@bp.post("/workspaces/<workspace_id>/activity")
async def report_activity(workspace_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    body = await read_json("invalid request body")
    if not isinstance(body, dict) or not isinstance(body.get("activity_type"), str):
        raise BadRequest("invalid request body")
    kind = body["activity_type"]
    if kind not in ACTIVITY_TYPES:
        raise BadRequest(f"activity_type must be one of: {', '.join(ACTIVITY_TYPES)}")
    source = body.get("source_id") or None
    if source is not None and source != wid:
        raise Forbidden("source_id must match authenticated workspace")
    target = body.get("target_id") or None
    for key in ("method", "summary", "status", "error_detail"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise BadRequest("invalid request body")
    if target is not None and not is_uuid(target):
        raise BadRequest("target_id must be a UUID")
    duration = body.get("duration_ms")
    if duration is not None and (not isinstance(duration, int) or isinstance(duration, bool)):
        raise BadRequest("invalid request body")
    request_body = body.get("request_body")
    if request_body is None:
        request_body = body.get("metadata")
    response_body = body.get("response_body")
    await svc.activity.log(
        ActivityEntry(
            workspace_id=wid,
            activity_type=kind,
            source_id=wid,
            target_id=target,
            method=body.get("method"),
            summary=body.get("summary"),
            request_body=ABSENT if request_body is None else request_body,
            response_body=ABSENT if response_body is None else response_body,
            duration_ms=duration,
            status=body.get("status") or "ok",
            error_detail=body.get("error_detail"),
        )
    )
    return json_response({"status": "logged"})


def _attachments(raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise BadRequest("message is required")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not item.get("uri") or not item.get("name"):
            raise BadRequest(f"attachment[{i}]: uri and name are required")
        clean: dict[str, Any] = {"uri": str(item["uri"]), "name": str(item["name"])}
        if item.get("mimeType"):
            clean["mimeType"] = str(item["mimeType"])
        size = item.get("size")
        if isinstance(size, int) and not isinstance(size, bool) and size > 0:
            clean["size"] = size
        out.append(clean)
    return out


@bp.post("/workspaces/<workspace_id>/notify")
async def notify(workspace_id: str) -> Response:
    """An agent talks to its user: AGENT_MESSAGE now, and an `a2a_receive` row so a reloaded
    chat shows the message and its attachment chips. Attachment keys are lowercase (D4)."""
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    body = await read_json("message is required")
    if not isinstance(body, dict) or not isinstance(body.get("message"), str):
        raise BadRequest("message is required")
    message = body["message"]
    attachments = _attachments(body.get("attachments"))
    row = await svc.workspaces.get(wid)
    if row is None or row["status"] == WorkspaceStatus.REMOVED:
        raise NotFound("workspace not found")
    if not row.get("talk_to_user_enabled", True):
        raise Forbidden(
            "talk_to_user_disabled",
            extra={
                "hint": "this workspace may not message the user directly; forward the "
                "result to your parent with delegate_task instead"
            },
        )
    payload: dict[str, Any] = {"message": message, "workspace_id": wid, "name": row["name"]}
    if attachments:
        payload["attachments"] = attachments
    svc.bus.broadcast(AGENT_MESSAGE, wid, payload)
    summary = "Agent message: " + (message[:80] + ("…" if len(message) > 80 else ""))
    response: dict[str, Any] = {"result": message}
    if attachments:
        response["parts"] = [{"kind": "file", "file": a} for a in attachments]
    await svc.activity.rows.insert(
        ActivityEntry(
            workspace_id=wid,
            activity_type="a2a_receive",
            method="notify",
            summary=summary,
            response_body=response,
        )
    )
    return json_response({"status": "sent"})
