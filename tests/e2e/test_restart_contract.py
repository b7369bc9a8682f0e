"""Restart and liveness as docs/compatibility.md describes them (#d9, #d24, #d33, #d34), with
real agent processes over real HTTP.

- a restart answers once the workspace is `provisioning` with no URL (GET says so at once),
  and an A2A call during the cycle is a 503 with Retry-After that starts no other cycle;
- a managed agent that is alive but silent past its liveness TTL is restarted;
- DELETE's cleanup finishes even when the client hangs up;
- a secret change restarts only what this platform runs, and never fails the others.
"""

from __future__ import annotations

import socket
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import trio

from molecule.provision.local import LocalProcessProvisioner
from tests.conftest import Harness, make_settings, start_platform
from tests.e2e.test_echo_workspace import provisioner, send, snapshot, wait_status

# An agent that ignores polite signals: the stop ladder needs SIGKILL, ~10 s.
STUBBORN = [
    sys.executable,
    "-c",
    "import signal, time\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "time.sleep(600)",
]


async def _echo(h: Harness, name: str) -> str:
    r = await h.client.post("/workspaces", json={"name": name, "runtime": "echo"}, headers=h.admin)
    assert r.status_code == 201, r.text
    wid = str(r.json()["id"])
    await wait_status(h, wid, "online")
    return wid


async def test_restart_is_provisioning_before_it_answers(platform: Harness) -> None:
    h = platform
    wid = await _echo(h, "restarted")
    cycles = (await snapshot(h, wid))["restart_cycles"]
    with h.svc.bus.subscribe(wid) as sub:
        r = await h.client.post(f"/workspaces/{wid}/restart", headers=h.admin)
        assert r.status_code == 200 and r.json()["status"] == "provisioning"
        # Already true when the answer arrives: status, URL and the recorded event.
        r = await h.client.get(f"/workspaces/{wid}", headers=h.admin)
        assert r.json()["status"] == "provisioning" and r.json()["url"] is None
        assert any(e.type == "WORKSPACE_PROVISIONING" for e in sub.receive.drain(100))
    # A message while it restarts: 503 with Retry-After, not a new restart.
    r = await send(h, wid, "are you there?")
    if r.status_code == 503:  # (a fast machine may finish the cycle first)
        assert r.headers["Retry-After"] == "15"
        assert r.json()["restarting"] is True and r.json()["status"] == "provisioning"
    await wait_status(h, wid, "online")
    r = await send(h, wid, "now?")
    assert r.json()["result"]["parts"][0]["text"] == "echo: now?"
    await trio.sleep(1.0)  # a second cycle would have started by now
    snap = await snapshot(h, wid)
    assert snap["restart_cycles"] == cycles + 1 and not snap["restart_running"]


@pytest.fixture
async def short_liveness(aio_loop: object, dsn: str, tmp_path: Path) -> AsyncIterator[Harness]:
    """Agents heartbeat every 30 s; a 2 s TTL makes every agent 'alive but silent'."""
    settings = make_settings(tmp_path, dsn, liveness_ttl=2.0)
    async with trio.open_nursery() as nursery:
        svc, base, stop = await start_platform(settings, dsn, nursery)
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            yield Harness(svc, base, client)
        stop.set()


async def test_a_silent_managed_agent_is_restarted(short_liveness: Harness) -> None:
    h = short_liveness
    wid = await _echo(h, "silent")
    first = provisioner(h)._procs[wid].pid
    with h.svc.bus.subscribe(wid) as sub:
        with trio.fail_after(30):
            seen: list[str] = []
            while "WORKSPACE_PROVISIONING" not in seen:
                seen.append((await sub.receive.receive()).type)
    assert seen[seen.index("WORKSPACE_OFFLINE") + 1 :].count("WORKSPACE_PROVISIONING") == 1
    assert (await snapshot(h, wid))["restart_reason"] == "no heartbeat for 2 s"
    await wait_status(h, wid, "online")
    assert provisioner(h)._procs[wid].pid != first


async def test_external_workspaces_are_not_restarted_by_liveness(short_liveness: Harness) -> None:
    h = short_liveness
    made = await h.create_external("byo")
    token = made["connection"]["auth_token"]
    r = await h.client.post(
        "/registry/heartbeat",
        json={"workspace_id": made["id"]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200
    await wait_status(h, str(made["id"]), "awaiting_agent", timeout=10)
    await trio.sleep(0.5)
    assert (await snapshot(h, str(made["id"])))["restart_cycles"] == 0


async def test_delete_cleanup_finishes_when_the_client_hangs_up(platform: Harness) -> None:
    h = platform
    p = provisioner(h)
    assert isinstance(p, LocalProcessProvisioner)
    p.command = STUBBORN
    r = await h.client.post(
        "/workspaces", json={"name": "doomed", "runtime": "echo"}, headers=h.admin
    )
    wid = r.json()["id"]
    with trio.fail_after(15):
        while wid not in p._procs:  # noqa: ASYNC110
            await trio.sleep(0.05)
    proc = p._procs[wid]

    # DELETE, then hang up long before the ~10 s stop ladder is done.
    host, port = h.base_url.removeprefix("http://").split(":")
    request = (
        f"DELETE /workspaces/{wid} HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: {h.admin['Authorization']}\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    await sock.connect((host, int(port)))
    await sock.send(request)
    await trio.sleep(0.5)
    sock.close()

    with trio.fail_after(30):
        await proc.wait()
    assert proc.returncode is not None
    with trio.fail_after(10):
        while p.workspace_dir(wid).exists():  # noqa: ASYNC110
            await trio.sleep(0.05)
    row = await h.row(wid)
    assert row is not None and row["status"] == "removed"
    events = await h.svc.store.fetch(
        "SELECT event_type FROM structure_events WHERE workspace_id = $1", wid
    )
    assert "WORKSPACE_REMOVED" in [e["event_type"] for e in events]


async def test_secret_changes_restart_only_what_the_platform_runs(dev_platform: Harness) -> None:
    h = dev_platform
    managed = await _echo(h, "managed")
    before = (await snapshot(h, managed))["restart_cycles"]
    # An agent that registered itself (development bootstrap): it runs elsewhere.
    ext = str(uuid.uuid4())
    r = await h.client.post(
        "/registry/register",
        json={"id": ext, "url": "https://8.8.8.8:9443", "agent_card": {"name": "e"}},
    )
    assert r.status_code == 200, r.text
    key = "K" + uuid.uuid4().hex[:6].upper()
    r = await h.client.post("/settings/secrets", json={"key": key, "value": "v"}, headers=h.admin)
    assert r.status_code == 200
    r = await h.client.post(
        f"/workspaces/{ext}/secrets", json={"key": key, "value": "w"}, headers=h.admin
    )
    assert r.status_code == 200
    await wait_status(h, managed, "online")
    await trio.sleep(0.5)
    assert (await snapshot(h, managed))["restart_cycles"] == before + 1
    assert (await snapshot(h, ext))["restart_cycles"] == 0
    r = await h.client.get(f"/workspaces/{ext}", headers=h.admin)
    assert r.json()["status"] == "online"


async def test_a_manual_restart_wakes_a_hibernated_workspace_and_refuses_a_paused_one(
    platform: Harness,
) -> None:
    h = platform
    wid = await _echo(h, "sleeper")
    r = await h.client.post(f"/workspaces/{wid}/hibernate", headers=h.admin)
    assert r.status_code == 200
    await wait_status(h, wid, "hibernated")
    r = await h.client.post(f"/workspaces/{wid}/restart", headers=h.admin)
    assert r.status_code == 200 and r.json()["status"] == "provisioning"
    r = await h.client.get(f"/workspaces/{wid}", headers=h.admin)
    assert r.json()["status"] == "provisioning"
    await wait_status(h, wid, "online")

    r = await h.client.post(f"/workspaces/{wid}/pause", headers=h.admin)
    assert r.status_code == 200
    r = await h.client.post(f"/workspaces/{wid}/restart", headers=h.admin)
    assert (r.status_code, r.json()) == (409, {"error": "workspace is paused: resume it first"})
    r = await h.client.get(f"/workspaces/{wid}", headers=h.admin)
    assert r.json()["status"] == "paused"
