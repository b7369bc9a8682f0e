"""Wire shapes of the schedule routes (molecule.http.schedules), for the API description.

The routes validate with their own checks and the original's messages; these models say
what a client may send and will get back, never stricter than the routes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from molecule.operations.cron import MAX_CRON_LENGTH, MAX_TIMEZONE_LENGTH

MAX_NAME = 200
MAX_PROMPT = 65_536


class ScheduleCreate(BaseModel):
    """A new schedule: five cron fields in an IANA time zone (default UTC)."""

    name: str | None = Field(None, max_length=MAX_NAME)
    cron_expr: str = Field(min_length=1, max_length=MAX_CRON_LENGTH)
    timezone: str | None = Field(None, max_length=MAX_TIMEZONE_LENGTH)
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT)
    enabled: bool | None = None


class SchedulePatch(BaseModel):
    """Any of the fields; the next run is planned again when the times change."""

    name: str | None = Field(None, max_length=MAX_NAME)
    cron_expr: str | None = Field(None, min_length=1, max_length=MAX_CRON_LENGTH)
    timezone: str | None = Field(None, max_length=MAX_TIMEZONE_LENGTH)
    prompt: str | None = Field(None, min_length=1, max_length=MAX_PROMPT)
    enabled: bool | None = None


class Schedule(BaseModel):
    id: str
    workspace_id: str
    name: str
    cron_expr: str
    timezone: str
    prompt: str
    enabled: bool
    last_run_at: datetime | None
    next_run_at: datetime | None
    run_count: int
    last_status: str
    last_error: str
    source: str
    created_at: datetime
    updated_at: datetime


class ScheduleCreated(BaseModel):
    id: str
    status: str
    next_run_at: datetime


class ScheduleFired(BaseModel):
    """The run started; its outcome lands in the history and the schedule's last_status."""

    status: str
    workspace_id: str
    schedule_id: str
    prompt: str


class ScheduleRun(BaseModel):
    """One `cron_run` activity row."""

    timestamp: datetime
    duration_ms: int | None
    status: str | None
    error_detail: str
    request: dict[str, Any]


class ScheduleHealth(BaseModel):
    """Execution state only: no prompt, no expression (peers may read it)."""

    id: str
    name: str
    enabled: bool
    last_run_at: datetime | None
    next_run_at: datetime | None
    run_count: int
    last_status: str
    last_error: str


class AdminScheduleHealth(BaseModel):
    """`status`: ok, stale (no run for twice the interval) or never_run."""

    workspace_id: str
    workspace_name: str
    schedule_id: str
    schedule_name: str
    cron_expr: str
    last_run_at: datetime | None
    expected_next_run: datetime | None
    status: str
    stale_threshold_seconds: int
