"""End to end with real agent processes: the issue's "done when" for local workspaces.

One API call creates an echo workspace; it comes online by itself, answers through the proxy,
survives a kill of its process, honours a burst of restarts with exactly two cycles,
hibernates and wakes on the next message, and is stopped when deleted.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import trio

from molecule.actors.messages import Snapshot
from molecule.provision.local import LocalProcessProvisioner
from tests.conftest import Harness

MESSAGE = {"method": "message/send", "params": {"message": {"role": "user", "content": "hi"}}}


async def status(h: Harness, wid: str) -> str:
    r = await h.client.get(f"/workspaces/{wid}", headers=h.admin)
    return str(r.json()["status"])


async def wait_status(h: Harness, wid: str, wanted: str, timeout: float = 30) -> None:
    with trio.fail_after(timeout):
        while await status(h, wid) != wanted:  # noqa: ASYNC110
            await trio.sleep(0.1)


async def send(h: Harness, wid: str, text: str = "hi") -> Any:
    body = {
        "method": "message/send",
        "params": {"message": {"role": "user", "content": text}},
    }
    return await h.client.post(f"/workspaces/{wid}/a2a", json=body, headers=h.admin)


async def snapshot(h: Harness, wid: str) -> dict[str, Any]:
    ref = await h.svc.directory.get(wid)
    assert ref is not None
    result: dict[str, Any] = await ref.ask(Snapshot(), 10)
    return result


def provisioner(h: Harness) -> LocalProcessProvisioner:
    p = h.svc.pipeline.provisioner
    assert isinstance(p, LocalProcessProvisioner)
    return p


async def test_echo_workspace_lifecycle(platform: Harness) -> None:
    h = platform
    r = await h.client.post(
        "/workspaces", json={"name": "echo e2e", "runtime": "echo"}, headers=h.admin
    )
    assert r.status_code == 201
    wid = r.json()["id"]
    await wait_status(h, wid, "online")
    r = await send(h, wid, "hello")
    assert r.status_code == 200, r.text
    assert r.json()["result"]["parts"][0]["text"] == "echo: hello"

    # Kill the agent: it is noticed at once and restarted.
    proc = provisioner(h)._procs[wid]
    os.kill(proc.pid, signal.SIGKILL)
    with trio.fail_after(30):
        while provisioner(h)._procs.get(wid) in (None, proc):  # noqa: ASYNC110
            await trio.sleep(0.05)
    await wait_status(h, wid, "online")
    r = await send(h, wid, "still there?")
    assert r.json()["result"]["parts"][0]["text"] == "echo: still there?"

    # A burst of restart requests: exactly two more cycles.
    before = (await snapshot(h, wid))["restart_cycles"]
    async with trio.open_nursery() as nursery:
        for _ in range(6):
            nursery.start_soon(lambda: h.client.post(f"/workspaces/{wid}/restart", headers=h.admin))
    with trio.fail_after(30):
        while (await snapshot(h, wid))["restart_running"]:  # noqa: ASYNC110
            await trio.sleep(0.05)
    assert (await snapshot(h, wid))["restart_cycles"] - before == 2
    await wait_status(h, wid, "online")

    # Hibernate, then wake on the next message (docs/compatibility.md#d1).
    r = await h.client.post(f"/workspaces/{wid}/hibernate", headers=h.admin)
    assert r.status_code == 200 and r.json() == {"status": "hibernated"}
    assert await status(h, wid) == "hibernated"
    assert not await provisioner(h).is_running(wid)
    r = await send(h, wid)
    assert r.status_code == 503 and r.headers["Retry-After"] == "15"
    assert r.json()["waking"] is True
    await wait_status(h, wid, "online")
    r = await send(h, wid, "awake")
    assert r.json()["result"]["parts"][0]["text"] == "echo: awake"

    # Delete stops the process and removes its files.
    workdir = provisioner(h).workspace_dir(wid)
    assert workdir.exists()
    r = await h.client.delete(f"/workspaces/{wid}", headers=h.admin)
    assert r.status_code == 200
    assert not await provisioner(h).is_running(wid)
    assert not workdir.exists()


async def test_pause_and_resume_cascade(platform: Harness) -> None:
    h = platform
    parent = (
        await h.client.post("/workspaces", json={"name": "p", "runtime": "echo"}, headers=h.admin)
    ).json()["id"]
    child = (
        await h.client.post(
            "/workspaces",
            json={"name": "c", "runtime": "echo", "parent_id": parent},
            headers=h.admin,
        )
    ).json()["id"]
    await wait_status(h, parent, "online")
    await wait_status(h, child, "online")
    r = await h.client.post(f"/workspaces/{parent}/pause", headers=h.admin)
    assert r.json() == {"status": "paused", "paused_count": 2}
    assert await status(h, child) == "paused"
    assert not await provisioner(h).is_running(child)
    r = await h.client.post(f"/workspaces/{child}/resume", headers=h.admin)
    assert r.status_code == 409  # its parent is still paused
    r = await h.client.post(f"/workspaces/{parent}/resume", headers=h.admin)
    assert r.json() == {"status": "provisioning", "resumed_count": 2}
    await wait_status(h, parent, "online")
    await wait_status(h, child, "online")
    # The child's agent runs with PARENT_ID in its environment.
    pid = provisioner(h)._procs[child].pid
    with open(f"/proc/{pid}/environ", "rb") as f:
        environ = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
    assert environ[b"PARENT_ID"] == parent.encode()
    assert environ[b"WORKSPACE_ID"] == child.encode()


async def test_team_expand_and_collapse(platform: Harness) -> None:
    h = platform
    r = await h.client.post(
        "/workspaces",
        json={"name": "lead", "runtime": "echo", "template": "echo-team"},
        headers=h.admin,
    )
    lead = r.json()["id"]
    await wait_status(h, lead, "online")
    r = await h.client.post(f"/workspaces/{lead}/expand", headers=h.admin)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "expanded"
    assert [(c["name"], c["role"]) for c in body["children"]] == [
        ("researcher", "finds things out"),
        ("writer", "writes them up"),
    ]
    for child in body["children"]:
        await wait_status(h, child["id"], "online")
        row = await h.row(child["id"])
        assert row is not None and row["parent_id"] == lead
    # Children may talk to their lead through the proxy, as siblings of each other.
    r = await h.client.post("/registry/check-access", json={
        "caller_id": body["children"][0]["id"], "target_id": body["children"][1]["id"]
    }, headers=h.admin)  # fmt: skip
    assert r.json() == {"allowed": True}

    r = await h.client.post(f"/workspaces/{lead}/collapse", headers=h.admin)
    assert r.json() == {"status": "collapsed", "removed": ["researcher", "writer"]}
    for child in body["children"]:
        assert (await h.row(child["id"]) or {})["status"] == "removed"
        assert not await provisioner(h).is_running(child["id"])
    assert await status(h, lead) == "online"
    # A workspace whose template has no team cannot expand.
    plain = (
        await h.client.post(
            "/workspaces", json={"name": "solo", "runtime": "echo"}, headers=h.admin
        )
    ).json()["id"]
    r = await h.client.post(f"/workspaces/{plain}/expand", headers=h.admin)
    assert r.status_code == 400
