"""The reply a streamed answer is logged with (molecule.a2a.sse_reply)."""

from __future__ import annotations

import json

import pytest

from molecule.a2a import sse_reply
from molecule.a2a.sse_reply import StreamCopy

WORKING = {"jsonrpc": "2.0", "id": 1, "result": {"kind": "status-update", "final": False}}
MESSAGE = {
    "jsonrpc": "2.0",
    "id": 1,
    "result": {"kind": "message", "parts": [{"kind": "text", "text": "hi"}]},
}


def frame(obj: object) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def test_the_event_with_text_wins_over_a_later_status_update_even_split_mid_line() -> None:
    body = frame(WORKING) + frame(MESSAGE) + frame({**WORKING, "result": {"kind": "status-update"}})
    copy = StreamCopy()
    for i in range(0, len(body), 7):
        copy.keep(body[i : i + 7])
    assert copy.reply() == MESSAGE


def test_without_text_the_last_event_and_garbage_is_none() -> None:
    copy = StreamCopy()
    copy.keep(frame(WORKING))
    assert copy.reply() == WORKING
    garbage = StreamCopy()
    garbage.keep(b"data: not json\n\n")
    assert garbage.reply() is None
    assert StreamCopy().reply() is None


def test_an_answer_past_the_bound_is_logged_without_body(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sse_reply, "MAX_KEPT_BYTES", 100)
    copy = StreamCopy()
    copy.keep(frame(MESSAGE))
    copy.keep(frame(MESSAGE))
    assert copy.reply() is None
