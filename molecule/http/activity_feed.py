"""The activity feed and notify: what poll-mode clients read all day.

`GET /workspaces/:id/activity` keeps the original's exact rules (docs/compatibility.md §1.1:
newest first; with `since_id` oldest first and strictly after the cursor, 410 for an unknown
or foreign cursor), except that a malformed id, cursor or parameter is a 400
(docs/compatibility.md#d8), never a database error. As in the original, an empty query
parameter counts as absent.

`POST /workspaces/:id/notify` broadcasts AGENT_MESSAGE with lowercase attachment keys
(docs/compatibility.md#d4) and stores an `a2a_receive` row so a reloaded chat shows the message
and its file chips. Like the original it does *not* broadcast ACTIVITY_LOGGED for that row: chat
panels consume both events, and the live AGENT_MESSAGE is the one that renders the bubble, so a
second event would show the message twice. The writer itself is
molecule.operations.user_messages, shared with the MCP bridge's `send_message_to_user`.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from quart import Blueprint, Response, request

from molecule.asgi import Send, send_json
from molecule.errors import BadRequest, Forbidden, Gone
from molecule.http import schemas
from molecule.http.api import Auth, StatusBody, endpoint
from molecule.http.auth import workspace_auth
from molecule.http.common import (
    MAX_JSON_BODY,
    json_response,
    parse_object,
    read_object,
    require_uuid,
    services,
)
from molecule.http.raw_routes import RawRequest
from molecule.models import is_uuid
from molecule.operations.user_messages import send_to_user
from molecule.store.activity_rows import ABSENT, ActivityEntry, FeedQuery

log = logging.getLogger("molecule.http.activity_feed")

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
BEFORE_TS_INVALID = "before_ts must be an RFC3339 timestamp (e.g. 2026-05-01T00:00:00Z)"
SINCE_SECS_INVALID = "since_secs must be a positive integer"
SINCE_ID_INVALID = "since_id must be a UUID (an activity row id)"

_INT64 = 2**63
_ATOI = re.compile(r"[+-]?[0-9]+")
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:Z|([+-])(\d{2}):(\d{2}))"
)


def _atoi(raw: str) -> int | None:
    """Go's strconv.Atoi: optional sign and ASCII digits, within int64; else None."""
    if not _ATOI.fullmatch(raw):
        return None
    value = int(raw)
    return value if -_INT64 <= value < _INT64 else None


def parse_rfc3339(raw: str) -> datetime | None:
    """An RFC 3339 timestamp (fractional seconds of any length, `Z` or `±hh:mm`), else None."""
    m = _RFC3339.fullmatch(raw)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    fraction, sign, off_h, off_m = m.group(7), m.group(8), m.group(9), m.group(10)
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        tz: timezone = UTC
        if sign is not None:
            if int(off_m) >= 60:
                return None
            offset = timedelta(hours=int(off_h), minutes=int(off_m))
            tz = timezone(-offset if sign == "-" else offset)
        return datetime(year, month, day, hour, minute, second, micros, tzinfo=tz)
    except ValueError:
        return None


def _arg(name: str) -> str | None:
    value = request.args.get(name)
    return value if value else None


def _limit(raw: str | None) -> int:
    value = _atoi(raw) if raw is not None else None
    if value is None or value <= 0:
        return DEFAULT_LIMIT
    return min(value, MAX_LIMIT)


@bp.get("/workspaces/<workspace_id>/activity")
@endpoint(
    Auth.WORKSPACE,
    "The activity feed (newest first; with since_id, oldest first after the cursor)",
    query=schemas.ActivityQuery,
    responses={200: "an array of activity rows", 410: "since_id cursor not found"},
    tags=("activity",),
)
async def list_activity(workspace_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    # Validation order as the original: peer_id, before_ts, limit, since_secs, since_id, source.
    peer = _arg("peer_id")
    if peer is not None and not is_uuid(peer):
        raise BadRequest("peer_id must be a UUID")
    before: datetime | None = None
    raw_before = _arg("before_ts")
    if raw_before is not None:
        before = parse_rfc3339(raw_before)
        if before is None:
            raise BadRequest(BEFORE_TS_INVALID)
    limit = _limit(_arg("limit"))
    since_secs: int | None = None
    raw_secs = _arg("since_secs")
    if raw_secs is not None:
        since_secs = _atoi(raw_secs)
        if since_secs is None or since_secs <= 0:
            raise BadRequest(SINCE_SECS_INVALID)
        since_secs = min(since_secs, MAX_SINCE_SECS)
    after: datetime | None = None
    since_id = _arg("since_id")
    if since_id is not None:
        if not is_uuid(since_id):
            raise BadRequest(SINCE_ID_INVALID)
        after = await svc.activity.rows.cursor_time(wid, since_id.lower())
        if after is None:
            raise Gone(CURSOR_GONE)
    source = _arg("source")
    if source is not None and source not in ("canvas", "agent"):
        raise BadRequest("source must be 'canvas' or 'agent'")
    await svc.activity.flush()  # rows staged before this read (A2A receipts) are in it
    rows = await svc.activity.rows.feed(
        wid,
        FeedQuery(
            activity_type=_arg("type"),
            peer_id=peer.lower() if peer is not None else None,
            before=before,
            since_secs=since_secs,
            after=after,
            source=source,
            limit=limit,
        ),
    )
    return json_response(rows)


def _optional(body: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    """An optional field of the given JSON type; a wrong type is a bind error (400)."""
    value = body.get(key)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise BadRequest("invalid request body")
    return value


@endpoint(
    Auth.WORKSPACE,
    "An agent reports activity (stored before it is acknowledged)",
    body=schemas.ActivityReport,
    responses={200: StatusBody, 403: "source_id is not you"},
    tags=("activity",),
)
async def report_activity(req: RawRequest, send: Send) -> None:
    """Raw ASGI: agents report activity all day, and Quart's per-request machinery cost more
    than the rest of this route (bench/fanout.py publishes through it)."""
    svc = req.svc
    wid = require_uuid(req.match["workspace_id"])
    await workspace_auth(svc, wid, req.credentials)
    body = parse_object(await req.read_body(MAX_JSON_BODY), "invalid request body")
    kind = _optional(body, "activity_type", str)
    if not kind:
        raise BadRequest("invalid request body")
    method = _optional(body, "method", str)
    summary = _optional(body, "summary", str)
    status = _optional(body, "status", str)
    error_detail = _optional(body, "error_detail", str)
    source = _optional(body, "source_id", str)
    target = _optional(body, "target_id", str)
    duration = _optional(body, "duration_ms", int)
    if kind not in ACTIVITY_TYPES:
        raise BadRequest(f"invalid activity_type, must be one of: {', '.join(ACTIVITY_TYPES)}")
    if source and source.lower() != wid:
        raise Forbidden("source_id must match authenticated workspace")
    if target and not is_uuid(target):
        raise BadRequest("target_id must be a UUID")
    request_body = body.get("request_body")
    if request_body is None:
        request_body = body.get("metadata")
    response_body = body.get("response_body")
    # Acknowledged means stored: the answer waits for the row's group commit (the original
    # answered 200 even when its insert failed), and an outage is a 503.
    await svc.activity.store(
        ActivityEntry(
            workspace_id=wid,
            activity_type=kind,
            source_id=wid,
            target_id=target.lower() if target else None,
            method=method,
            summary=summary,
            request_body=ABSENT if request_body is None else request_body,
            response_body=ABSENT if response_body is None else response_body,
            duration_ms=duration,
            status=status or "ok",
            error_detail=error_detail,
        )
    )
    await send_json(send, 200, {"status": "logged"})


def _key(item: dict[str, Any], key: str) -> Any:
    """Field lookup that, like the original's Go binding, also accepts other letter cases
    (`URI`, `Name`, `MimeType`: the keys its own AGENT_MESSAGE used to emit)."""
    if key in item:
        return item[key]
    for k, v in item.items():
        if k.lower() == key.lower():
            return v
    return None


def _attachments(raw: Any) -> list[dict[str, Any]]:
    """Validated attachments with lowercase keys; `mimeType` only when non-empty and `size`
    only when > 0, the same shape live (AGENT_MESSAGE) and on reload (the row's parts)."""
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise BadRequest("message is required")
    for item in raw:  # type errors are bind errors, checked before the per-element rule
        for key in ("uri", "name", "mimeType"):
            if not isinstance(_key(item, key), str | None):
                raise BadRequest("message is required")
        size = _key(item, "size")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool)):
            raise BadRequest("message is required")
    out = []
    for i, item in enumerate(raw):
        uri, name = _key(item, "uri"), _key(item, "name")
        if not uri or not name:
            raise BadRequest(f"attachment[{i}]: uri and name are required")
        clean: dict[str, Any] = {"uri": uri, "name": name}
        if mime := _key(item, "mimeType"):
            clean["mimeType"] = mime
        size = _key(item, "size")
        if size is not None and size > 0:
            clean["size"] = size
        out.append(clean)
    return out


@bp.post("/workspaces/<workspace_id>/notify")
@endpoint(
    Auth.WORKSPACE,
    "An agent's message to its user (AGENT_MESSAGE); stored before it is shown",
    body=schemas.Notify,
    responses={200: StatusBody, 403: "talk to user disabled"},
    tags=("activity",),
)
async def notify(workspace_id: str) -> Response:
    """An agent talks to its user: AGENT_MESSAGE now, and an `a2a_receive` row so a reloaded
    chat shows the message and its attachment chips. Attachment keys are lowercase
    (docs/compatibility.md#d4)."""
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    body = await read_object("message is required")
    message = body.get("message")
    if not isinstance(message, str) or not message:
        raise BadRequest("message is required")
    attachments = _attachments(body.get("attachments"))
    await send_to_user(svc.workspaces, svc.activity, svc.bus, wid, message, attachments)
    return json_response({"status": "sent"})
