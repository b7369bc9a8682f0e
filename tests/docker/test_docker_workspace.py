"""End to end on a real Docker Engine: a workspace is a container.

One echo workspace goes through its whole life in a container: it comes online by itself and
answers through the proxy; its container carries the original's name, labels and volumes, no
restart policy, its credentials 0600 in /configs; the files API reads its config volume; a
killed container is noticed at once (the Engine's event stream) and restarted; a restart
burst gives exactly two cycles; hibernating stops the container and the next message wakes
it; chat files go up into and come down from the container; delete removes the container and
its volumes.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import trio

from molecule.provision.docker.naming import (
    MANAGED_LABEL,
    RUNTIME_LABEL,
    WORKSPACE_LABEL,
    container_name,
    volume_names,
)
from molecule.provision.docker.provisioner import DockerProvisioner
from tests.conftest import Harness
from tests.e2e.test_echo_workspace import send, snapshot, status, wait_status

# One xdist worker runs every Docker test: one engine, images built once (Makefile).
pytestmark = pytest.mark.xdist_group("docker")

ONLINE_WITHIN = 90.0


def docker(h: Harness) -> DockerProvisioner:
    p = h.svc.pipeline.provisioner
    assert isinstance(p, DockerProvisioner)
    return p


async def create_echo(h: Harness, name: str = "echo in a box", **extra: Any) -> str:
    r = await h.client.post(
        "/workspaces", json={"name": name, "runtime": "echo", **extra}, headers=h.admin
    )
    assert r.status_code == 201, r.text
    wid = str(r.json()["id"])
    await wait_status(h, wid, "online", timeout=ONLINE_WITHIN)
    return wid


async def volumes_of(p: DockerProvisioner, wid: str) -> set[str]:
    return {
        str(v["Name"]) for v in await p.managed_volumes() if v["Name"] in volume_names(wid).values()
    }


async def test_echo_workspace_lives_in_a_container(docker_platform: Harness) -> None:
    h = docker_platform
    p = docker(h)
    wid = await create_echo(h)
    r = await send(h, wid, "hello")
    assert r.status_code == 200, r.text
    assert r.json()["result"]["parts"][0]["text"] == "echo: hello"
    r = await h.client.get("/buildinfo")
    assert r.status_code == 200 and r.json()["provisioner"] == "docker"

    # The container as the original made it (names, labels, volumes), without a restart policy.
    info = await p.engine.inspect("containers", container_name(wid))
    assert info is not None and info["State"]["Running"]
    labels = info["Config"]["Labels"]
    assert labels[MANAGED_LABEL] == "true" and labels[WORKSPACE_LABEL] == wid
    assert labels[RUNTIME_LABEL] == "echo"
    assert info["HostConfig"]["RestartPolicy"]["Name"] in ("", "no")
    assert info["HostConfig"]["NetworkMode"] == "host"
    mounts = {m["Destination"]: m["Name"] for m in info["Mounts"]}
    assert mounts == {root: name for root, name in volume_names(wid).items()}
    env = dict(e.split("=", 1) for e in info["Config"]["Env"])
    assert env["WORKSPACE_ID"] == wid and env["PLATFORM_URL"] == h.base_url.rstrip("/")
    assert env["WORKSPACE_CONFIG_PATH"] == "/configs" and env["PLUGINS_DIR"] == "/plugins"
    row = await h.row(wid)
    assert row is not None and row["url"] == f"http://127.0.0.1:{env['MOLECULE_AGENT_PORT']}"

    # Credentials in the configs volume, 0600; the files API reads that volume.
    for secret in ("/configs/.auth_token", "/configs/.platform_inbound_secret"):
        stat = await p.engine.path_stat(info["Id"], secret)
        assert stat is not None and stat["mode"] & 0o777 == 0o600
    r = await h.client.get(
        f"/workspaces/{wid}/files/config.yaml", params={"root": "/configs"}, headers=h.admin
    )
    assert r.status_code == 200, r.text
    assert "adapter: echo" in r.json()["content"]
    r = await h.client.get(f"/workspaces/{wid}/files", params={"root": "/configs"}, headers=h.admin)
    assert r.status_code == 200, r.text
    listed = {e["path"] for e in r.json()}
    assert "config.yaml" in listed and ".auth_token" not in listed

    # Kill the container: the Engine's event stream reports it at once; it is restarted.
    old = p.tracked(wid)
    assert old is not None
    await p.engine.json("POST", f"containers/{old}/kill", params={"signal": "SIGKILL"})
    with trio.fail_after(5):  # noticed at once: no health sweep, no liveness timeout
        while not (await snapshot(h, wid))["restart_reason"].startswith("agent process exited"):
            await trio.sleep(0.02)
    await wait_status(h, wid, "online", timeout=ONLINE_WITHIN)
    r = await send(h, wid, "still there?")
    assert r.json()["result"]["parts"][0]["text"] == "echo: still there?"
    assert p.tracked(wid) not in (None, old)

    # A burst of restart requests: exactly two more cycles.
    before = (await snapshot(h, wid))["restart_cycles"]
    async with trio.open_nursery() as nursery:
        for _ in range(6):
            nursery.start_soon(lambda: h.client.post(f"/workspaces/{wid}/restart", headers=h.admin))
    with trio.fail_after(ONLINE_WITHIN):
        while (await snapshot(h, wid))["restart_running"]:  # noqa: ASYNC110
            await trio.sleep(0.05)
    assert (await snapshot(h, wid))["restart_cycles"] - before == 2
    await wait_status(h, wid, "online", timeout=ONLINE_WITHIN)

    # Hibernate: the container is stopped (and removed; the volumes stay). A message wakes it.
    r = await h.client.post(f"/workspaces/{wid}/hibernate", headers=h.admin)
    assert r.status_code == 200 and r.json() == {"status": "hibernated"}
    assert await status(h, wid) == "hibernated"
    assert not await p.is_running(wid)
    assert await p.engine.inspect("containers", container_name(wid)) is None
    assert await volumes_of(p, wid) == set(volume_names(wid).values())
    r = await send(h, wid)
    assert r.status_code == 503 and r.json()["waking"] is True
    await wait_status(h, wid, "online", timeout=ONLINE_WITHIN)
    r = await send(h, wid, "awake")
    assert r.json()["result"]["parts"][0]["text"] == "echo: awake"

    # Chat files go into the container's /workspace volume and come back byte for byte.
    payload = os.urandom(256 * 1024 + 3)
    r = await h.client.post(
        f"/workspaces/{wid}/chat/uploads",
        files={"files": ("report.bin", payload, "application/octet-stream")},
        headers=h.admin,
    )
    assert r.status_code == 200, r.text
    path = r.json()["files"][0]["uri"].removeprefix("workspace:")
    assert await p.read_file(wid, path) == payload  # really in the volume
    r = await h.client.get(
        f"/workspaces/{wid}/chat/download", params={"path": path}, headers=h.admin
    )
    assert r.status_code == 200 and r.content == payload

    # Delete: the container and its volumes are gone.
    r = await h.client.delete(f"/workspaces/{wid}", headers=h.admin)
    assert r.status_code == 200, r.text
    assert await p.engine.inspect("containers", container_name(wid)) is None
    assert await volumes_of(p, wid) == set()
    assert p.tracked(wid) is None
