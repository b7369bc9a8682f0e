"""`molecule connect` as its own process against a real platform, end to end.

The bridge registers a poll-mode external workspace, and messages sent through the proxy (by
the canvas or by a parent workspace) are answered by its backend. Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import trio

from tests.conftest import Harness

MOLECULE = Path(sys.executable).with_name("molecule")
WAIT = 30.0


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def message(text: str) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": str(uuid.uuid4()),
        "method": "message/send",
        "params": {
            "message": {
                "role": "user",
                "messageId": str(uuid.uuid4()),
                "parts": [{"kind": "text", "text": text}],
            }
        },
    }


@contextmanager
def bridge(
    h: Harness, wid: str, token: str, state: Path, *extra: str
) -> Iterator[subprocess.Popen[bytes]]:
    argv = [
        str(MOLECULE), "connect", wid, "--platform", h.base_url, "--token", token,
        "--state-dir", str(state), "--poll-interval", "0.3", *extra,
    ]  # fmt: skip
    if "--backend" not in extra:
        argv += ["--backend", "mock"]
    log = state.parent / f"bridge-{wid[:8]}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.returncode not in (0, -15):
            print(log.read_text())


async def require_activity_routes(h: Harness, wid: str) -> None:
    r = await h.client.get(f"/workspaces/{wid}/activity", headers=h.admin)
    assert r.status_code == 200, "the bridge needs GET /workspaces/:id/activity"


async def wait_registered(h: Harness, wid: str, proc: subprocess.Popen[bytes]) -> None:
    with trio.fail_after(WAIT):
        while True:
            assert proc.poll() is None, "bridge exited early"
            row = await h.row(wid)
            if row and row["status"] == "online" and row["delivery_mode"] == "poll":
                return
            await trio.sleep(0.1)


async def wait_row(h: Harness, sql: str, *args: Any) -> dict[str, Any]:
    with trio.fail_after(WAIT):
        while True:
            row = await h.svc.store.fetchrow(sql, *args)
            if row is not None:
                return dict(row)
            await trio.sleep(0.2)


def body_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


async def notify_reply(h: Harness, wid: str, expected: str) -> dict[str, Any]:
    return await wait_row(
        h,
        "SELECT * FROM activity_logs WHERE workspace_id = $1 AND activity_type = 'a2a_receive'"
        " AND method = 'notify' AND response_body::text LIKE $2",
        wid,
        f"%{expected}%",
    )


async def test_canvas_message_answered_by_mock_bridge(platform: Harness, tmp_path: Path) -> None:
    h = platform
    ws = await h.create_external("bridged")
    wid, token = str(ws["id"]), str(ws["connection"]["auth_token"])  # type: ignore[index]
    await require_activity_routes(h, wid)
    state = tmp_path / "state"
    with bridge(h, wid, token, state) as proc:
        await wait_registered(h, wid, proc)
        r = await h.client.post(f"/workspaces/{wid}/a2a", json=message("hi there"), headers=h.admin)
        assert r.status_code == 200 and r.json()["status"] == "queued", r.text
        row = await notify_reply(h, wid, "echo: hi there")
        assert row["source_id"] is None
        inbound = await h.svc.store.fetchval(
            "SELECT id::text FROM activity_logs WHERE workspace_id = $1"
            " AND method = 'message/send'",
            wid,
        )
        # the cursor is persisted (the inbound row, or the bridge's own notify row after it)
        with trio.fail_after(WAIT):
            while not (state / "cursor").exists():
                await trio.sleep(0.1)
        assert (state / "cursor").read_text() in {inbound, str(row["id"])}
        # never answers itself: one reply only, even after more polls
        await trio.sleep(1.5)
        replies = await h.svc.store.fetchval(
            "SELECT count(*) FROM activity_logs WHERE workspace_id = $1 AND method = 'notify'", wid
        )
        assert replies == 1


async def test_parent_message_answered_through_the_proxy(platform: Harness, tmp_path: Path) -> None:
    h = platform
    parent = await h.create_external("parent", delivery_mode="poll")
    pid, ptoken = str(parent["id"]), str(parent["connection"]["auth_token"])  # type: ignore[index]
    child = await h.create_external("child", parent_id=pid)
    cid, ctoken = str(child["id"]), str(child["connection"]["auth_token"])  # type: ignore[index]
    await require_activity_routes(h, cid)
    with bridge(h, cid, ctoken, tmp_path / "state") as proc:
        await wait_registered(h, cid, proc)
        r = await h.client.post(
            f"/workspaces/{cid}/a2a",
            json=message("from parent"),
            headers={**bearer(ptoken), "X-Workspace-ID": pid},
        )
        assert r.status_code == 200, r.text
        row = await wait_row(
            h,
            "SELECT * FROM activity_logs WHERE workspace_id = $1 AND activity_type = 'a2a_receive'"
            " AND source_id = $2 AND request_body::text LIKE '%echo: from parent%'",
            pid,
            cid,
        )
        assert row["method"] == "message/send"


async def test_stale_cursor_resets_and_exec_backend(platform: Harness, tmp_path: Path) -> None:
    h = platform
    ws = await h.create_external("exec bridge")
    wid, token = str(ws["id"]), str(ws["connection"]["auth_token"])  # type: ignore[index]
    await require_activity_routes(h, wid)
    state = tmp_path / "state"
    state.mkdir()
    stale = str(uuid.uuid4())
    (state / "cursor").write_text(stale)
    with bridge(h, wid, token, state, "--backend", "exec", "--exec", "tr a-z A-Z") as proc:
        await wait_registered(h, wid, proc)
        r = await h.client.post(f"/workspaces/{wid}/a2a", json=message("loud"), headers=h.admin)
        assert r.status_code == 200, r.text
        await notify_reply(h, wid, "LOUD")
    assert (state / "cursor").read_text() != stale


async def test_once_with_a_revoked_token_fails(platform: Harness, tmp_path: Path) -> None:
    h = platform
    ws = await h.create_external("revoked")
    wid, token = str(ws["id"]), str(ws["connection"]["auth_token"])  # type: ignore[index]
    r = await h.client.post(f"/workspaces/{wid}/external/rotate", headers=h.admin)
    assert r.status_code == 200
    argv = [
        str(MOLECULE), "connect", wid, "--platform", h.base_url, "--token", token,
        "--state-dir", str(tmp_path / "s"), "--once",
    ]  # fmt: skip
    done = await trio.to_thread.run_sync(
        lambda: subprocess.run(argv, capture_output=True, timeout=WAIT)
    )
    assert done.returncode == 1
    assert b"register refused (401)" in done.stderr
