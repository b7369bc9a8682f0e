"""The JSON log format, the structured fields and the request-id rules, without a platform."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest
import trio

from molecule.config import log_format
from molecule.errors import ConfigError
from molecule.observability import logs


def _format(record: logging.LogRecord) -> dict[str, object]:
    line = logs.JsonFormatter().format(record)
    assert "\n" not in line
    parsed: dict[str, object] = json.loads(line)
    return parsed


def _record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("molecule.test", logging.WARNING, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_a_line_is_one_json_object_with_the_known_fields() -> None:
    entry = _format(_record("workspace %s: %s", "w-1", "line\nbreak", **logs.log_extra("w-1", "x")))
    assert entry["message"] == "workspace w-1: line\nbreak"
    assert entry["level"] == "WARNING" and entry["logger"] == "molecule.test"
    assert entry["workspace_id"] == "w-1" and entry["operation"] == "x"
    assert "request_id" not in entry  # unknown: left out
    assert isinstance(entry["time"], str) and entry["time"].endswith("Z")


def test_text_nobody_can_encode_still_makes_a_valid_line() -> None:
    entry = _format(_record("agent said %s", "caf\u00e9 \ud800 \x00"))
    assert entry["message"] == "agent said caf\u00e9 \ud800 \x00"
    line = logs.JsonFormatter().format(_record("agent said %s", "\ud800"))
    line.encode("ascii")  # escaped: writable to any stream


def test_an_exception_is_one_field_of_the_same_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "molecule.test", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    entry = _format(record)
    assert entry["message"] == "failed"
    assert "ValueError: boom" in str(entry["exception"])


async def test_context_fields_and_their_precedence() -> None:
    token = logs.open_context("req-1")
    try:
        logs.bind(operation="route.op", workspace_id="w-ctx")
        entry = _format(_record("x"))
        assert (entry["request_id"], entry["operation"], entry["workspace_id"]) == (
            "req-1",
            "route.op",
            "w-ctx",
        )
        # A record's own fields win over the context's.
        entry = _format(_record("x", **logs.log_extra("w-own", "own")))
        assert entry["workspace_id"] == "w-own" and entry["operation"] == "own"

        seen: list[dict[str, object]] = []

        async def child() -> None:  # a task started meanwhile logs as the request
            seen.append(_format(_record("child")))
            logs.open_context(workspace_id="w-child")  # its own, not its parent's
            seen.append(_format(_record("child again")))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(child)
        assert seen[0]["request_id"] == "req-1"
        assert seen[1]["workspace_id"] == "w-child" and "request_id" not in seen[1]
        assert _format(_record("x"))["workspace_id"] == "w-ctx"  # the parent's is untouched
    finally:
        logs.close_context(token)
    assert "request_id" not in _format(_record("after"))


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("0f8fad5b-d9cb-469f-a165-70867728950e", True),
        ("a" * 128, True),
        ("abc/DEF+ghi=:._-1", True),
        ("a" * 129, False),
        ("", False),
        ("-starts-with-a-dash", False),
        ("has space", False),
        ("tab\t", False),
        ("new\nline", False),
        ("esc\x1b[0m", False),
        ("caf\u00e9", False),
    ],
)
def test_request_id_shapes(value: str, valid: bool) -> None:
    assert logs.valid_request_id(value) is valid


def test_use_format_switches_the_root_handlers() -> None:
    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root.addHandler(handler)
    try:
        logs.use_format("json")
        assert isinstance(handler.formatter, logs.JsonFormatter)
        logs.use_format("text")
        assert handler.formatter is not None and handler.formatter._fmt == logs.TEXT_FORMAT
        with pytest.raises(ValueError):
            logs.use_format("xml")
    finally:
        root.removeHandler(handler)


def test_log_format_from_the_environment() -> None:
    assert log_format({}) == "text"
    assert log_format({"MOLECULE_LOG_FORMAT": " JSON "}) == "json"
    with pytest.raises(ConfigError, match="MOLECULE_LOG_FORMAT"):
        log_format({"MOLECULE_LOG_FORMAT": "xml"})
