"""Schedule routes: a workspace's cron jobs (upstream-april §1.7), fired by the scheduler
(molecule.operations.scheduler) as A2A messages from `system:cron`.

- `GET/POST /workspaces/:id/schedules`, `PATCH/DELETE .../schedules/:scheduleId`,
  `POST .../:scheduleId/run`, `GET .../:scheduleId/history`: WorkspaceAuth on `:id`; every
  statement is scoped by the workspace too, so one workspace never reaches another's rows.
- `GET /workspaces/:id/schedules/health`: its own check, as the original's: the caller names
  itself in X-Workspace-ID with its own token and must be a peer (CanCommunicate); the admin
  token, an org token or the session cookie may leave the header out.
- `GET /admin/schedules/health`: AdminAuth; every schedule with ok / stale / never_run.

The original's bodies, status codes and messages; a malformed id is a 400, a duplicate name
a 409, more than MAX_SCHEDULES a 429, and `run` fires on the platform
(docs/compatibility.md#d47, #d48).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from quart import Blueprint, Response, request

from molecule.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
)
from molecule.http.api import Auth, StatusBody, endpoint
from molecule.http.auth import (
    admin_auth,
    agent_auth,
    current_credentials,
    privileged,
    workspace_auth,
)
from molecule.http.common import json_response, read_object, require_uuid, services
from molecule.http.schedule_schemas import (
    MAX_NAME,
    MAX_PROMPT,
    AdminScheduleHealth,
    Schedule,
    ScheduleCreate,
    ScheduleCreated,
    ScheduleFired,
    ScheduleHealth,
    SchedulePatch,
    ScheduleRun,
)
from molecule.models import SYSTEM_CALLER_PREFIXES, WorkspaceStatus
from molecule.operations.access import can_communicate
from molecule.operations.cron import (
    MAX_CRON_LENGTH,
    MAX_TIMEZONE_LENGTH,
    check_cron,
    check_timezone,
    interval,
    next_run,
)
from molecule.operations.cron_runs import wall_clock
from molecule.operations.scheduler import Scheduler
from molecule.services import Services
from molecule.store.schedules import DueSchedule, NewSchedule, ScheduleRows

bp = Blueprint("schedules", __name__)

MAX_SCHEDULES = 100  # per workspace
REQUIRED = "cron_expr and prompt are required"
INVALID_JSON = "invalid JSON"
NOT_FOUND = "schedule not found"
INVALID_SCHEDULE_ID = "invalid schedule ID"
TAGS = ("schedules",)


def _array(model: type[BaseModel]) -> dict[str, Any]:
    return {"type": "array", "items": model.model_json_schema()}


def _rows() -> ScheduleRows:
    return ScheduleRows(services().store)


def _scheduler(svc: Services) -> Scheduler:
    if svc.scheduler is None:
        raise ServiceUnavailable("scheduler not running — retry shortly", retry_after=5)
    return svc.scheduler


def _now(svc: Services) -> datetime:
    """The scheduler's "now" (tests inject one), so routes and fires agree on the time."""
    return svc.scheduler.now() if svc.scheduler is not None else wall_clock()


async def _authorized(workspace_id: str) -> str:
    wid = require_uuid(workspace_id)
    await workspace_auth(services(), wid)
    return wid


async def _live(wid: str) -> None:
    status = await services().workspaces.status_of(wid)
    if status is None or status == WorkspaceStatus.REMOVED:
        raise NotFound("workspace not found")


def _text(body: dict[str, Any], key: str, error: str, limit: int) -> str | None:
    """A string field or None (absent or null); another type is the route's 400."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(error)
    if len(value) > limit:
        raise BadRequest(f"{key} must be at most {limit} characters")
    return value


def _flag(body: dict[str, Any], key: str, error: str) -> bool | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise BadRequest(error)
    return value


def _prompt(value: str | None, error: str) -> str | None:
    """CR characters are stripped (templates written on Windows made agents answer nothing);
    what is left must not be empty."""
    if value is None:
        return None
    cleaned = value.replace("\r", "")
    if not cleaned.strip():
        raise BadRequest(error)
    return cleaned


@bp.get("/workspaces/<workspace_id>/schedules")
@endpoint(
    Auth.WORKSPACE,
    "The workspace's schedules, oldest first",
    responses={200: _array(Schedule), 404: "no such workspace"},
    tags=TAGS,
)
async def list_schedules(workspace_id: str) -> Response:
    wid = await _authorized(workspace_id)
    await _live(wid)
    return json_response(await _rows().listing(wid))


@bp.post("/workspaces/<workspace_id>/schedules")
@endpoint(
    Auth.WORKSPACE,
    "Add a schedule: its prompt is sent to the workspace at every cron time",
    body=ScheduleCreate,
    responses={201: ScheduleCreated, 404: "no such workspace", 409: "the name is taken"},
    tags=TAGS,
)
async def create_schedule(workspace_id: str) -> Response:
    svc = services()
    wid = await _authorized(workspace_id)
    body = await read_object(REQUIRED)
    name = _text(body, "name", REQUIRED, MAX_NAME) or ""
    cron_expr = _text(body, "cron_expr", REQUIRED, MAX_CRON_LENGTH)
    timezone = _text(body, "timezone", REQUIRED, MAX_TIMEZONE_LENGTH) or "UTC"
    prompt = _prompt(_text(body, "prompt", REQUIRED, MAX_PROMPT), REQUIRED)
    enabled = _flag(body, "enabled", REQUIRED)
    if not cron_expr or prompt is None:
        raise BadRequest(REQUIRED)
    check_timezone(timezone)
    first = next_run(check_cron(cron_expr), timezone, _now(svc))
    await _live(wid)
    new = NewSchedule(wid, name, cron_expr, timezone, prompt, enabled is not False, first)
    schedule_id = await _rows().insert(new, MAX_SCHEDULES)
    if schedule_id is None:
        raise TooManyRequests(
            f"a workspace may have at most {MAX_SCHEDULES} schedules: delete one first"
        )
    if svc.scheduler is not None:
        svc.scheduler.nudge()
    return json_response({"id": schedule_id, "status": "created", "next_run_at": first}, 201)


@bp.patch("/workspaces/<workspace_id>/schedules/<schedule_id>")
@endpoint(
    Auth.WORKSPACE,
    "Change a schedule; its next run is planned again when its times change",
    body=SchedulePatch,
    responses={200: StatusBody, 404: "no such schedule", 409: "the name is taken"},
    tags=TAGS,
)
async def update_schedule(workspace_id: str, schedule_id: str) -> Response:
    svc = services()
    wid = await _authorized(workspace_id)
    sid = require_uuid(schedule_id, INVALID_SCHEDULE_ID)
    body = await read_object(INVALID_JSON)
    fields: dict[str, Any] = {}
    limits = (("name", MAX_NAME), ("cron_expr", MAX_CRON_LENGTH), ("timezone", MAX_TIMEZONE_LENGTH))
    for key, limit in limits:
        value = _text(body, key, INVALID_JSON, limit)
        if value is not None:
            fields[key] = value
    prompt = _prompt(_text(body, "prompt", INVALID_JSON, MAX_PROMPT), "prompt must not be empty")
    if prompt is not None:
        fields["prompt"] = prompt
    enabled = _flag(body, "enabled", INVALID_JSON)
    if enabled is not None:
        fields["enabled"] = enabled
    await _live(wid)
    if {"cron_expr", "timezone", "enabled"} & fields.keys():
        current = await _rows().get(wid, sid)
        if current is None:
            raise NotFound(NOT_FOUND)
        timezone = fields.get("timezone", current["timezone"])
        check_timezone(timezone)
        cron_expr = check_cron(fields.get("cron_expr", current["cron_expr"]))
        fields["next_run_at"] = next_run(cron_expr, timezone, _now(svc))
    if not await _rows().update(wid, sid, fields):
        raise NotFound(NOT_FOUND)
    if svc.scheduler is not None:
        svc.scheduler.nudge()
    return json_response({"status": "updated"})


@bp.delete("/workspaces/<workspace_id>/schedules/<schedule_id>")
@endpoint(
    Auth.WORKSPACE,
    "Delete a schedule (its run history stays readable)",
    responses={200: StatusBody, 404: "no such schedule"},
    tags=TAGS,
)
async def delete_schedule(workspace_id: str, schedule_id: str) -> Response:
    wid = await _authorized(workspace_id)
    sid = require_uuid(schedule_id, INVALID_SCHEDULE_ID)
    await _live(wid)
    if not await _rows().delete(wid, sid):
        raise NotFound(NOT_FOUND)
    return json_response({"status": "deleted"})


@bp.post("/workspaces/<workspace_id>/schedules/<schedule_id>/run")
@endpoint(
    Auth.WORKSPACE,
    "Fire a schedule now, as the scheduler would (the run goes on in the background)",
    responses={200: ScheduleFired, 404: "no such schedule", 503: "the scheduler is not running"},
    tags=TAGS,
)
async def run_schedule(workspace_id: str, schedule_id: str) -> Response:
    svc = services()
    wid = await _authorized(workspace_id)
    sid = require_uuid(schedule_id, INVALID_SCHEDULE_ID)
    await _live(wid)
    row = await _rows().get(wid, sid)
    if row is None:
        raise NotFound(NOT_FOUND)
    schedule = DueSchedule(
        sid, wid, row["name"], row["cron_expr"], row["timezone"], row["prompt"], None
    )
    _scheduler(svc).fire_now(schedule)
    return json_response(
        {"status": "fired", "workspace_id": wid, "schedule_id": sid, "prompt": row["prompt"]}
    )


@bp.get("/workspaces/<workspace_id>/schedules/<schedule_id>/history")
@endpoint(
    Auth.WORKSPACE,
    "The schedule's last 20 runs, newest first",
    responses={200: _array(ScheduleRun)},
    tags=TAGS,
)
async def schedule_history(workspace_id: str, schedule_id: str) -> Response:
    wid = await _authorized(workspace_id)
    sid = require_uuid(schedule_id, INVALID_SCHEDULE_ID)
    await _live(wid)
    return json_response(await _rows().history(wid, sid))


async def _health_caller(svc: Services, target: str) -> str | None:
    """The peer asking (X-Workspace-ID, proven by its own token), or None for the admin
    token, an org token or the session cookie without the header."""
    creds = current_credentials()
    header = request.headers.get("X-Workspace-ID", "").strip()
    if not header:
        if await privileged(svc, creds) is not None or svc.settings.dev_fail_open:
            return None
        raise Unauthorized("X-Workspace-ID header required")
    if header.startswith(SYSTEM_CALLER_PREFIXES):
        raise Forbidden("invalid caller ID")  # reserved for the platform's own callers
    caller = require_uuid(header, "X-Workspace-ID must be a workspace UUID")
    if creds.bearer is None and svc.settings.dev_fail_open:
        return caller
    await agent_auth(
        svc,
        caller,
        creds=creds,
        missing="missing caller auth token",
        invalid="invalid caller auth token",
    )
    return caller


@bp.get("/workspaces/<workspace_id>/schedules/health")
@endpoint(
    Auth.OWN,
    "Execution state of the workspace's schedules, for it and its peers",
    description="X-Workspace-ID names the caller, with its own token, and the caller must be "
    "allowed to talk to the workspace (CanCommunicate); the admin token, an org token or the "
    "session cookie may leave the header out. No prompts or cron expressions are shown.",
    responses={200: _array(ScheduleHealth), 403: "not a peer", 404: "no such workspace"},
    tags=TAGS,
)
async def schedules_health(workspace_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    caller = await _health_caller(svc, wid)
    if caller is not None and not await can_communicate(svc.workspaces, caller, wid):
        raise Forbidden("access denied")
    await _live(wid)
    return json_response(await _rows().health(wid))


@bp.get("/admin/schedules/health")
@endpoint(
    Auth.ADMIN,
    "Every schedule with its status: ok, stale (no run for twice its interval) or never_run",
    responses={200: _array(AdminScheduleHealth)},
    tags=TAGS,
)
async def admin_schedules_health() -> Response:
    svc = services()
    await admin_auth(svc)
    now = _now(svc)
    answer = []
    for row in await _rows().all_with_workspaces():
        try:
            threshold = int(2 * interval(row["cron_expr"], row["timezone"], now).total_seconds())
        except BadRequest:  # an expression a later library refuses: shown, never stale
            threshold = 0
        last = row["last_run_at"]
        if last is None:
            status = "never_run"
        elif threshold > 0 and (now - last).total_seconds() > threshold:
            status = "stale"
        else:
            status = "ok"
        answer.append(
            {
                "workspace_id": row["workspace_id"],
                "workspace_name": row["workspace_name"],
                "schedule_id": row["schedule_id"],
                "schedule_name": row["schedule_name"],
                "cron_expr": row["cron_expr"],
                "last_run_at": last,
                "expected_next_run": row["next_run_at"],
                "status": status,
                "stale_threshold_seconds": threshold,
            }
        )
    return json_response(answer)
