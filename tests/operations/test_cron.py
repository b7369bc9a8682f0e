"""Cron expressions and time zones (molecule.operations.cron): what is accepted, and the
fire times across both daylight-saving changes of Europe/Berlin in 2026 (spring-forward on
29 March at 01:00 UTC, fall-back on 25 October at 01:00 UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from molecule.errors import BadRequest
from molecule.operations.cron import check_cron, check_timezone, interval, next_run

BERLIN = "Europe/Berlin"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def fires(expr: str, zone: str, start: datetime, count: int) -> list[datetime]:
    out, at = [], start
    for _ in range(count):
        at = next_run(expr, zone, at)
        out.append(at)
    return out


@pytest.mark.parametrize(
    "expr",
    ["* * * * *", "0 9 * * 1-5", "*/15 * * * *", "0 9 * * MON-FRI", "30 2 1,15 jan *", "0 0 ? * *"],
)
def test_five_standard_fields_are_accepted(expr: str) -> None:
    assert check_cron(expr) == expr


@pytest.mark.parametrize(
    ("expr", "reason"),
    [
        ("", "expected exactly 5 fields, found 0"),
        ("@daily", "expected exactly 5 fields, found 1"),
        ("* * * * * *", "expected exactly 5 fields, found 6"),  # no seconds field
        ("61 * * * *", "out of range"),
        ("0 24 * * *", "out of range"),
        ("0 0 L * *", "unsupported field 'L'"),
        ("0 0 * * 5#2", "unsupported field '5#2'"),
        ("0 0 30 2 *", "it never fires"),
        ("* " * 200, "longer than 256 characters"),
    ],
)
def test_other_expressions_are_a_400_that_says_why(expr: str, reason: str) -> None:
    with pytest.raises(BadRequest) as caught:
        check_cron(expr)
    assert caught.value.message.startswith("invalid cron expression ")
    assert reason in caught.value.message


@pytest.mark.parametrize(
    "name", ["Mars/Base", "utc", "", "../etc/passwd", "/etc/passwd", "America"]
)
def test_unknown_zones_are_a_400_and_never_a_file_lookup(name: str) -> None:
    with pytest.raises(BadRequest, match="^invalid timezone: "):
        check_timezone(name)


def test_fire_times_are_in_the_schedule_zone_and_strictly_after() -> None:
    start = utc(2026, 1, 5, 8, 0)  # a Monday, 09:00 in Berlin
    assert next_run("0 9 * * *", BERLIN, start) == utc(2026, 1, 6, 8, 0)
    assert next_run("0 9 * * *", "UTC", start) == utc(2026, 1, 5, 9, 0)
    assert next_run("0 9 * * 1-5", "America/New_York", utc(2026, 1, 9, 15)) == utc(2026, 1, 12, 14)


def test_spring_forward_a_skipped_local_time_fires_once_right_after_the_gap() -> None:
    # 02:30 does not exist on 29 March: the daily job runs at 03:00 CEST (01:00 UTC), once.
    assert fires("30 2 * * *", BERLIN, utc(2026, 3, 28, 12), 3) == [
        utc(2026, 3, 29, 1, 0),
        utc(2026, 3, 30, 0, 30),  # 02:30 CEST
        utc(2026, 3, 31, 0, 30),
    ]
    # Hourly: 01:00 CET, then 03:00 CEST; the missing 02:00 is that same instant.
    assert fires("0 * * * *", BERLIN, utc(2026, 3, 28, 23, 30), 3) == [
        utc(2026, 3, 29, 0),
        utc(2026, 3, 29, 1),
        utc(2026, 3, 29, 2),
    ]


def test_fall_back_a_fixed_time_fires_once_in_the_repeated_hour() -> None:
    # 02:30 happens twice on 25 October: only the first (CEST, 00:30 UTC) fires.
    assert fires("30 2 * * *", BERLIN, utc(2026, 10, 24, 12), 3) == [
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 26, 1, 30),  # 02:30 CET
        utc(2026, 10, 27, 1, 30),
    ]
    # From inside the repeated hour (a platform that was down), the next is tomorrow's.
    assert next_run("30 2 * * *", BERLIN, utc(2026, 10, 25, 1, 10)) == utc(2026, 10, 26, 1, 30)
    # Four fixed times in the 02:00 hour: the repeated hour adds none.
    assert fires("0,15,30,45 2 * * *", BERLIN, utc(2026, 10, 24, 23, 50), 5) == [
        utc(2026, 10, 25, 0, 0),
        utc(2026, 10, 25, 0, 15),
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 25, 0, 45),
        utc(2026, 10, 26, 1, 0),
    ]
    # The same with a `*/15` minute field is a wildcard job: both passes of the hour run.
    assert fires("*/15 2 * * *", BERLIN, utc(2026, 10, 25, 0, 40), 3) == [
        utc(2026, 10, 25, 0, 45),
        utc(2026, 10, 25, 1, 0),
        utc(2026, 10, 25, 1, 15),
    ]


def test_fall_back_a_wildcard_hour_fires_every_real_hour() -> None:
    # Hourly jobs run 25 times on the 25-hour day, one real hour apart: never twice at once.
    times = fires("0 * * * *", BERLIN, utc(2026, 10, 24, 21, 59), 26)
    day = [t for t in times if t.astimezone(check_timezone(BERLIN)).day == 25]
    assert len(day) == 25
    gaps = {b - a for a, b in zip(times, times[1:], strict=False)}
    assert gaps == {timedelta(hours=1)}


def test_interval_is_the_gap_between_the_next_two_fires() -> None:
    assert interval("*/5 * * * *", "UTC", utc(2026, 1, 1)) == timedelta(minutes=5)
    assert interval("0 9 * * *", BERLIN, utc(2026, 1, 1)) == timedelta(days=1)
