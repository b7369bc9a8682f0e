"""Cron expressions and time zones of schedules: validation and the next fire time.

An expression is the standard five fields (minute, hour, day of month, month, day of week),
as the original parsed them: numbers, `*`, `?`, ranges, steps, lists and three-letter month
and day names; when both day fields are restricted either one matching is enough. No
seconds field, no `@daily`-style descriptors. Parsing and iteration are croniter's; this
module only bounds what it is given and decides the daylight-saving rules, which follow the
classic cron daemon:

- a local time that the spring-forward skips fires at the first instant after the gap
  (`30 2 * * *` fires at 03:00 on that day), once;
- a local time that the fall-back repeats fires once, at its first occurrence, for a job with
  a fixed minute and hour (`30 2 * * *` fires at 02:30 summer time only). A job whose minute
  or hour field starts with `*` is a wildcard job: it fires at every matching instant of the
  repeated hour too, so `0 * * * *` fires 25 times on a 25-hour day.

Time zones are IANA names (`Europe/Berlin`), checked against the installed database, so a
client's string is never used to look up a file.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from croniter import croniter
from croniter.croniter import CroniterError

from molecule.errors import BadRequest

MAX_CRON_LENGTH = 256
MAX_TIMEZONE_LENGTH = 64
# A repeated hour skips at most 60 fixed-time matches; a search this long means a bug.
MAX_SKIPS = 200
_NAME = r"[A-Za-z]{3}"
_ITEM = re.compile(rf"^(\*|\?|\d{{1,2}}|{_NAME})(-(\d{{1,2}}|{_NAME}))?(/\d{{1,2}})?$")


def invalid_cron(expr: str, reason: str) -> BadRequest:
    return BadRequest(f'invalid cron expression "{expr[:MAX_CRON_LENGTH]}": {reason}')


def check_timezone(name: str) -> zoneinfo.ZoneInfo:
    """The zone for an IANA name; 400 `invalid timezone: <name>` for anything else."""
    if len(name) > MAX_TIMEZONE_LENGTH or name not in _known_zones():
        raise BadRequest(f"invalid timezone: {name[:MAX_TIMEZONE_LENGTH]}")
    return zoneinfo.ZoneInfo(name)


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


def check_cron(expr: str) -> str:
    """The expression, if it is five valid fields that fire at some time; else a 400."""
    if len(expr) > MAX_CRON_LENGTH:
        raise invalid_cron(expr, f"longer than {MAX_CRON_LENGTH} characters")
    fields = expr.split()
    if len(fields) != 5:
        raise invalid_cron(expr, f"expected exactly 5 fields, found {len(fields)}")
    for field in fields:
        if not all(_ITEM.match(item) for item in field.split(",")):
            raise invalid_cron(expr, f"unsupported field {field!r}")
    try:
        croniter(expr, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except CroniterError as exc:
        raise invalid_cron(expr, _reason(exc)) from None
    return expr


def _reason(exc: CroniterError) -> str:
    if "find next date" in str(exc):
        return "it never fires"
    return "a value is out of range or malformed"


def _wildcard(expr: str) -> bool:
    minute, hour = expr.split()[:2]
    return minute.startswith("*") or hour.startswith("*")


def _second_pass(local: datetime) -> bool:
    """Is this the second occurrence of a local time the fall-back repeats?"""
    if local.fold != 1:
        return False
    return local.replace(fold=0).utcoffset() != local.utcoffset()


def next_run(expr: str, timezone: str, after: datetime) -> datetime:
    """The first fire time strictly after `after`, in UTC (see the module doc for DST).

    Raises a 400 for an expression or zone that is not valid (stored rows were checked when
    they were written; a later library may still disagree)."""
    zone = check_timezone(timezone)
    check_cron(expr)
    wildcard = _wildcard(expr)
    try:
        it = croniter(expr, after.astimezone(zone))
        for _ in range(MAX_SKIPS):
            candidate: Any = it.get_next(datetime)
            assert isinstance(candidate, datetime)
            if wildcard or not _second_pass(candidate):
                return candidate.astimezone(UTC)
    except CroniterError as exc:
        raise invalid_cron(expr, _reason(exc)) from None
    raise invalid_cron(expr, "no fire time found")


def interval(expr: str, timezone: str, now: datetime) -> timedelta:
    """The gap between the next two fire times after `now` (the health views' yardstick)."""
    first = next_run(expr, timezone, now)
    return next_run(expr, timezone, first) - first
