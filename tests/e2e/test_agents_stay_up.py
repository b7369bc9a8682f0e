"""Platform-run agents stay up: real `echo` agents, real time.

The bug this guards against: orphan protection tied to the thread that forked the agent
(PR_SET_PDEATHSIG from a trio worker thread) killed every agent ~10 s after its start, when
trio's idle worker thread exited; the platform then saw "exited on its own", restarted it,
and after five cycles marked the workspace `failed`. Only real time shows it, so this test
keeps agents started concurrently, and one restarted, for more than 30 s, and checks that
the same processes are still serving and no restart cycle was added.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import trio

from molecule.actors.messages import Restart
from tests.conftest import Harness
from tests.e2e.test_echo_workspace import provisioner, send, snapshot, wait_status

KEEP_UP_SECONDS = 32.0  # > 3 x trio's 10 s idle-thread lifetime


async def _create(h: Harness, name: str) -> str:
    r = await h.client.post("/workspaces", json={"name": name, "runtime": "echo"}, headers=h.admin)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_agents_started_together_and_restarted_stay_up(platform: Harness) -> None:
    h = platform
    ids: list[str] = []

    async def create(name: str) -> None:
        ids.append(await _create(h, name))

    async with trio.open_nursery() as nursery:
        for i in range(4):
            nursery.start_soon(create, f"steady {i}")
    async with trio.open_nursery() as nursery:
        for wid in ids:
            nursery.start_soon(wait_status, h, wid, "online")

    # One of them is restarted and messaged while it restarts.
    restarted = ids[0]
    ref = await h.svc.directory.get(restarted)
    assert ref is not None
    await ref.ask(Restart("test restart"), 10)
    await send(h, restarted, "during the restart")
    await wait_status(h, restarted, "online")

    pids = {wid: provisioner(h)._procs[wid].pid for wid in ids}
    cycles = {wid: (await snapshot(h, wid))["restart_cycles"] for wid in ids}
    started = time.monotonic()
    while time.monotonic() - started < KEEP_UP_SECONDS:
        await trio.sleep(2)
        for wid in ids:
            proc = provisioner(h)._procs.get(wid)
            assert proc is not None and proc.pid == pids[wid], f"{wid}: agent was replaced"
            assert proc.returncode is None, f"{wid}: agent exited ({proc.returncode})"

    for wid in ids:
        assert _alive(pids[wid])
        snap = await snapshot(h, wid)
        assert snap["restart_cycles"] == cycles[wid], f"{wid}: unrequested restart cycle"
        r = await h.client.get(f"/workspaces/{wid}", headers=h.admin)
        assert r.json()["status"] == "online"
        reply = await send(h, wid, "still here")
        assert reply.status_code == 200, reply.text
        assert reply.json()["result"]["parts"][0]["text"] == "echo: still here"


def test_an_agent_stops_when_the_platform_is_killed(tmp_path: object) -> None:
    """The lifeline: SIGKILL the process that started an agent; the agent shuts down.

    A stand-in platform (a Python process) starts the real runtime through the local
    provisioner's own spawn path and is then killed with SIGKILL, which runs no cleanup.
    """
    script = textwrap.dedent(
        """
        import sys, trio
        from pathlib import Path
        from molecule.provision.local import LocalProcessProvisioner
        from molecule.provision.base import StartSpec

        async def main():
            async with trio.open_nursery() as nursery:
                p = LocalProcessProvisioner(Path(sys.argv[1]), nursery, lambda *a: None)
                spec = StartSpec("00000000-0000-4000-8000-000000000001", "echo",
                                 {"WORKSPACE_ID": "00000000-0000-4000-8000-000000000001",
                                  "PLATFORM_URL": "http://127.0.0.1:9"},
                                 {"config.yaml": b"name: x\\nruntime: echo\\n"})
                await p.start(spec)
                print(p._procs[spec.workspace_id].pid, flush=True)
                await trio.sleep_forever()

        trio.run(main)
        """
    )
    home = f"{tmp_path}/home"
    platform = subprocess.Popen(
        [sys.executable, "-c", script, home], stdout=subprocess.PIPE, text=True
    )
    try:
        assert platform.stdout is not None
        agent_pid = int(platform.stdout.readline())
        time.sleep(1.0)
        assert _alive(agent_pid)
        platform.send_signal(signal.SIGKILL)
        platform.wait(10)
        deadline = time.monotonic() + 15
        while _alive(agent_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
            try:  # reap it if it became our zombie (it is not our child: usually a no-op)
                os.waitpid(agent_pid, os.WNOHANG)
            except ChildProcessError:
                pass
        assert not _alive(agent_pid), "agent outlived the killed platform"
    finally:
        if platform.poll() is None:
            platform.kill()
