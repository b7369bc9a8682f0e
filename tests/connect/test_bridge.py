"""The `molecule connect` bridge against an in-memory fake platform (httpx.MockTransport).

Pins what poll clients do (docs/compatibility.md §1.1, the activity feed): since_secs until a
cursor, then since_id; newest-first without a cursor; 410 resets; the cursor persists; own
notify rows are never answered; replies go to the sender (agent: proxy as self; canvas: notify).
"""

from __future__ import annotations

import json
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from molecule.connect.backends import ExecBackend, MockBackend
from molecule.connect.bridge import Bridge, BridgeConfig, message_text
from molecule.connect.main import _attach_values, build_parser
from molecule.connect.main import main as connect_main

WS = "11111111-2222-3333-4444-555555555555"
PEER = "99999999-8888-7777-6666-555555555555"
TOKEN = "tok-" + "x" * 39


def a2a(text: str, tag: str = "kind") -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": "1",
        "method": "message/send",
        "params": {"message": {"role": "user", "parts": [{tag: "text", "text": text}]}},
    }


@dataclass
class FakePlatform:
    rows: list[dict[str, Any]] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    register_reply: dict[str, Any] = field(
        default_factory=lambda: {"status": "registered", "delivery_mode": "poll"}
    )
    register_status: int = 200

    def add(self, text: str | None = None, *, source: str | None = None, **extra: Any) -> str:
        rid = str(uuid.uuid4())
        row = {
            "id": rid,
            "workspace_id": WS,
            "activity_type": "a2a_receive",
            "source_id": source,
            "target_id": WS,
            "method": "message/send",
            "request_body": a2a(text) if text is not None else None,
        }
        row.update(extra)
        self.rows.append(row)
        return rid

    def calls(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/registry/register":
            return httpx.Response(self.register_status, json=self.register_reply)
        if path == "/registry/heartbeat":
            return httpx.Response(200, json={"status": "ok"})
        if path == f"/workspaces/{WS}/activity":
            q = request.url.params
            assert q["type"] == "a2a_receive"
            since_id = q.get("since_id")
            if since_id:
                ids = [r["id"] for r in self.rows]
                if since_id not in ids:
                    return httpx.Response(410, json={"error": "since_id cursor not found"})
                return httpx.Response(200, json=self.rows[ids.index(since_id) + 1 :])
            assert int(q["since_secs"]) > 0
            return httpx.Response(200, json=list(reversed(self.rows)))
        if path == f"/workspaces/{WS}/notify":
            message = json.loads(request.content)["message"]
            self.add(None, method="notify", response_body={"result": message})
            return httpx.Response(200, json={"status": "sent"})
        if path.endswith("/a2a"):
            return httpx.Response(200, json={"status": "queued", "delivery_mode": "poll"})
        return httpx.Response(404, json={"error": "not found"})


def make_bridge(fake: FakePlatform, state: Path, backend: Any = None) -> Bridge:
    config = BridgeConfig(
        workspace_id=WS, platform_url="http://platform.test", token=TOKEN, state_dir=state
    )
    return Bridge(config, backend or MockBackend(), transport=httpx.MockTransport(fake.handler))


def notified(fake: FakePlatform) -> list[str]:
    return [
        json.loads(r.content)["message"] for r in fake.calls("POST", f"/workspaces/{WS}/notify")
    ]


# -- text extraction -----------------------------------------------------------------------


def test_message_text_shapes() -> None:
    assert message_text(a2a("hi")) == "hi"
    assert message_text(a2a("hi", tag="type")) == "hi"
    multi = {"params": {"message": {"parts": [
        {"kind": "text", "text": "a"}, {"kind": "file", "file": {"uri": "x"}},
        {"type": "text", "text": "b"}, {"text": "c"},
    ]}}}  # fmt: skip
    assert message_text(multi) == "a\nb\nc"
    assert message_text({"params": {"message": {"role": "user", "content": "v02"}}}) == "v02"
    content_list = {"params": {"message": {"content": [{"type": "text", "text": "l"}]}}}
    assert message_text(content_list) == "l"
    assert message_text(json.dumps(a2a("as string"))) == "as string"
    assert message_text(None) == "" and message_text({"params": {}}) == ""


# -- the loop ------------------------------------------------------------------------------


def test_registers_in_poll_mode_and_heartbeats(tmp_path: Path) -> None:
    fake = FakePlatform()
    bridge = make_bridge(fake, tmp_path)
    assert bridge.run(once=True) == 0
    (reg,) = fake.calls("POST", "/registry/register")
    body = json.loads(reg.content)
    assert body["id"] == WS and body["url"] == "" and body["delivery_mode"] == "poll"
    assert isinstance(body["agent_card"], dict)
    assert reg.headers["Authorization"] == f"Bearer {TOKEN}"
    assert reg.headers["Origin"] == "http://platform.test"
    (beat,) = fake.calls("POST", "/registry/heartbeat")
    assert json.loads(beat.content)["workspace_id"] == WS


def test_canvas_message_is_answered_by_notify_and_cursor_persists(tmp_path: Path) -> None:
    fake = FakePlatform()
    first = fake.add("hello")
    bridge = make_bridge(fake, tmp_path)
    assert bridge.poll_once() == 1
    assert notified(fake) == ["echo: hello"]
    assert (tmp_path / "cursor").read_text() == first
    # the second poll uses the cursor and skips the bridge's own notify row
    assert bridge.poll_once() == 0
    polls = fake.calls("GET", f"/workspaces/{WS}/activity")
    assert "since_secs" in polls[0].url.params and "since_id" not in polls[0].url.params
    assert polls[1].url.params["since_id"] == first
    assert notified(fake) == ["echo: hello"]
    assert (tmp_path / "cursor").read_text() == fake.rows[-1]["id"]  # past the notify row
    # a restarted bridge resumes from the file and answers only what is new
    fake.add("again")
    again = make_bridge(fake, tmp_path)
    assert again.poll_once() == 1
    assert notified(fake) == ["echo: hello", "echo: again"]


def test_rows_without_cursor_are_answered_oldest_first(tmp_path: Path) -> None:
    fake = FakePlatform()
    for text in ("one", "two", "three"):
        fake.add(text)
    bridge = make_bridge(fake, tmp_path)
    assert bridge.poll_once() == 3
    assert notified(fake) == ["echo: one", "echo: two", "echo: three"]
    assert (tmp_path / "cursor").read_text() == fake.rows[2]["id"]


def test_agent_message_is_answered_through_the_proxy(tmp_path: Path) -> None:
    fake = FakePlatform()
    fake.add("ping", source=PEER)
    fake.add("self talk", source=WS)  # never answered
    bridge = make_bridge(fake, tmp_path)
    assert bridge.poll_once() == 1
    (reply,) = fake.calls("POST", f"/workspaces/{PEER}/a2a")
    assert reply.headers["X-Workspace-ID"] == WS
    assert reply.headers["Authorization"] == f"Bearer {TOKEN}"
    body = json.loads(reply.content)
    assert body["method"] == "message/send" and body["jsonrpc"] == "2.0"
    msg = body["params"]["message"]
    assert msg["parts"] == [{"kind": "text", "text": "echo: ping"}]
    assert msg["role"] == "agent" and msg["messageId"]
    assert notified(fake) == []


def test_stale_cursor_resets_to_since_secs(tmp_path: Path) -> None:
    fake = FakePlatform()
    (tmp_path / "cursor").write_text(str(uuid.uuid4()))
    fake.add("after reset")
    bridge = make_bridge(fake, tmp_path)
    assert bridge.poll_once() == 0  # 410
    assert not (tmp_path / "cursor").exists()
    assert bridge.poll_once() == 1
    polls = fake.calls("GET", f"/workspaces/{WS}/activity")
    assert "since_id" in polls[0].url.params and "since_secs" in polls[1].url.params
    assert notified(fake) == ["echo: after reset"]


def test_rows_without_text_advance_the_cursor(tmp_path: Path) -> None:
    fake = FakePlatform()
    rid = fake.add(None, request_body={"params": {"message": {"parts": []}}})
    bridge = make_bridge(fake, tmp_path)
    assert bridge.poll_once() == 0
    assert (tmp_path / "cursor").read_text() == rid and notified(fake) == []


def test_first_registration_token_is_saved_and_reused(tmp_path: Path) -> None:
    fake = FakePlatform()
    fake.register_reply = {"status": "registered", "auth_token": "minted-token"}
    config = BridgeConfig(
        workspace_id=WS, platform_url="http://platform.test", token=None, state_dir=tmp_path
    )
    bridge = Bridge(config, MockBackend(), transport=httpx.MockTransport(fake.handler))
    bridge.run(once=True)
    assert (tmp_path / "auth_token").read_text() == "minted-token"
    assert (tmp_path / "auth_token").stat().st_mode & 0o777 == 0o600
    assert fake.calls("POST", "/registry/heartbeat")[0].headers["Authorization"] == (
        "Bearer minted-token"
    )
    again = Bridge(
        BridgeConfig(workspace_id=WS, platform_url="http://x", token=None, state_dir=tmp_path),
        MockBackend(),
        transport=httpx.MockTransport(fake.handler),
    )
    assert again.config.token == "minted-token"


# -- exec backend --------------------------------------------------------------------------


def test_exec_backend_cat_and_tr(tmp_path: Path) -> None:
    assert ExecBackend("cat").answer("same text") == "same text"
    assert ExecBackend("tr a-z A-Z").answer("shout") == "SHOUT"
    fake = FakePlatform()
    fake.add("via exec")
    bridge = make_bridge(fake, tmp_path, ExecBackend("tr a-z A-Z"))
    assert bridge.poll_once() == 1
    assert notified(fake) == ["VIA EXEC"]


def test_exec_backend_is_bounded() -> None:
    slow = ExecBackend(f"{sys.executable} -c 'import time; time.sleep(30)'", timeout=0.5)
    assert slow.answer("x") == "error: backend timed out after 0.5s"
    big = ExecBackend(
        f"{sys.executable} -c 'import sys; sys.stdout.write(\"y\" * 1000000)'", max_output=1000
    )
    assert big.answer("") == "y" * 1000
    failing = ExecBackend("sh -c 'echo boom >&2; exit 3'")
    assert failing.answer("") == "error: backend exited with status 3: boom"
    missing = ExecBackend("/nonexistent/binary")
    assert missing.answer("").startswith("error: cannot run /nonexistent/binary")


# -- argv ----------------------------------------------------------------------------------


def test_argv_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        connect_main(["not-a-uuid"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        connect_main([WS, "--backend", "exec"])
    assert "--exec" in capsys.readouterr().err


def test_a_token_starting_with_a_dash_is_taken_as_the_value() -> None:
    """Tokens are base64url: one in 64 starts with "-" (this made an e2e test flaky)."""
    parser = build_parser()
    for argv in ([WS, "--token", "-Ab_c"], [WS, "--token=-Ab_c"]):
        assert parser.parse_args(_attach_values(argv, ("--token",))).token == "-Ab_c"
    assert _attach_values([WS, "--token"], ("--token",)) == [WS, "--token"]  # argparse's error


def test_unreachable_platform_exits_1(tmp_path: Path) -> None:
    code = connect_main(
        [WS, "--platform", "http://127.0.0.1:9", "--token", "t", "--state-dir", str(tmp_path),
         "--once"]
    )  # fmt: skip
    assert code == 1
