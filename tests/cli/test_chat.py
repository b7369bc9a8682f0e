"""`molecule chat`: lines from stdin to an agent through the platform's A2A proxy, replies
printed (streamed when the agent streams SSE); the stream parsing on its own."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio

from molecule.cli.chat import Conversation, reply_of, sse_events
from tests.cli.conftest import molecule, wait_status
from tests.conftest import Harness


async def _create(h: Harness, name: str, runtime: str) -> str:
    r = await h.client.post("/workspaces", json={"name": name, "runtime": runtime}, headers=h.admin)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_a_conversation_with_a_mock_workspace_from_stdin(platform: Harness) -> None:
    h = platform
    wid = await _create(h, "oracle", "mock")
    r = await molecule(h, "chat", "oracle", stdin="hello\n\nand again\n")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "mock reply from oracle\nmock reply from oracle\n"  # blank line skipped
    sent = await _sent(h, wid, 2)
    assert [m["params"]["message"]["parts"][0]["text"] for m in sent] == ["hello", "and again"]


async def test_an_echo_agent_streams_its_reply(platform: Harness) -> None:
    h = platform
    wid = await _create(h, "echo", "echo")
    await wait_status(h, wid)
    r = await molecule(h, "chat", wid, "-m", "hi there")
    assert (r.exit_code, r.stdout) == (0, "echo: hi there\n")
    # -o json: each Server-Sent Event as one line: the agent answered a stream.
    r = await molecule(h, "chat", wid, "-m", "once more", "-o", "json")
    events = [json.loads(line) for line in r.stdout.splitlines()]
    kinds = [e["result"]["kind"] for e in events]
    assert kinds == ["status-update", "message"]
    assert events[1]["result"]["parts"][0]["text"] == "echo: once more"
    # Two lines, one conversation: the second message carries the agent's context id.
    r = await molecule(h, "chat", wid, stdin="one\ntwo\n")
    assert r.stdout == "echo: one\necho: two\n"
    sent = await _sent(h, wid, 4)
    contexts = [m["params"]["message"].get("contextId") for m in sent[-2:]]
    assert contexts[0] is None and isinstance(contexts[1], str) and contexts[1]


async def _sent(h: Harness, wid: str, count: int) -> list[dict[str, Any]]:
    """The A2A requests the workspace received, oldest first (once `count` are logged)."""
    with trio.fail_after(10):
        while True:
            r = await h.client.get(f"/workspaces/{wid}/activity", headers=h.admin)
            rows = [a for a in r.json() if a.get("method") == "message/stream"]
            if len(rows) >= count:
                return [a["request_body"] for a in sorted(rows, key=lambda a: a["created_at"])]
            await trio.sleep(0.1)


async def test_chat_with_no_such_workspace(platform: Harness) -> None:
    r = await molecule(platform, "chat", "00000000-0000-4000-8000-000000000000", stdin="hi\n")
    assert (r.exit_code, r.stderr) == (1, "error: 404 workspace not found\n")


# -- the stream, on its own ---------------------------------------------------------------------


def test_sse_events_are_data_lines_up_to_a_blank_line() -> None:
    lines = ['data: {"a": 1}', "", ": a comment", "event: x", "data: {", 'data: "b": 2}', ""]
    assert list(sse_events(lines)) == [{"a": 1}, {"b": 2}]
    assert list(sse_events(["data: not json"])) == [{"text": "not json"}]


def test_reply_of_reads_v03_and_v10_shapes() -> None:
    part = [{"kind": "text", "text": "hi"}]
    assert reply_of({"kind": "message", "parts": part}) == ("message", "hi")
    assert reply_of({"message": {"parts": [{"text": "hi"}]}}) == ("message", "hi")
    assert reply_of({"kind": "artifact-update", "artifact": {"parts": part}}) == (
        "artifact-update",
        "hi",
    )
    status = {"kind": "status-update", "status": {"state": "working"}}
    assert reply_of(status) == ("status-update", "")
    task = {"kind": "task", "status": {"state": "completed"}, "artifacts": [{"parts": part}]}
    assert reply_of(task) == ("task", "hi")
    assert reply_of("nonsense") == ("", "")


class _NoClient:
    pass


def test_streamed_chunks_print_once_and_the_context_is_kept(
    capsys: pytest.CaptureFixture[str],
) -> None:
    talk = Conversation(_NoClient(), "w", "table")  # type: ignore[arg-type]

    def event(result: dict[str, Any]) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": "1", "result": {"contextId": "ctx-1", **result}}

    chunk = {"kind": "artifact-update", "artifact": {"parts": [{"kind": "text", "text": "Hel"}]}}
    talk.take(event({"kind": "status-update", "status": {"state": "working"}}))
    talk.take(event(chunk))
    talk.take(event({**chunk, "artifact": {"parts": [{"kind": "text", "text": "lo"}]}}))
    talk.take(event({"kind": "message", "parts": [{"kind": "text", "text": "Hello"}]}))
    talk.end()
    talk.take({"jsonrpc": "2.0", "id": "2", "error": {"code": -32000, "message": "boom"}})
    out = capsys.readouterr()
    assert out.out == "Hello\n" and out.err == "agent error: boom\n"
    assert talk.context_id == "ctx-1"
