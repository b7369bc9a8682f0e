"""Plugins on the Docker backend: an install lands in the workspace's `/plugins` volume (the
volume file helpers write it), the container restarts and sees it, and an uninstall removes
it again."""

from __future__ import annotations

import errno

import pytest
import trio

from molecule.provision.plugins_registry import BUILTIN_PLUGINS_DIR
from tests.conftest import Harness
from tests.docker.test_docker_workspace import ONLINE_WITHIN, create_echo, docker
from tests.e2e.test_echo_workspace import snapshot, wait_status

# One xdist worker runs every Docker test: one engine, images built once (Makefile).
pytestmark = pytest.mark.xdist_group("docker")

PLUGIN = "standup-report"


async def test_a_plugin_goes_into_the_plugins_volume(docker_platform: Harness) -> None:
    h = docker_platform
    p = docker(h)
    wid = await create_echo(h, "plugged box")
    before = (await snapshot(h, wid))["restart_cycles"]

    r = await h.client.post(
        f"/workspaces/{wid}/plugins", json={"source": f"local://{PLUGIN}"}, headers=h.admin
    )
    assert r.status_code == 200, r.text
    expected = (BUILTIN_PLUGINS_DIR / PLUGIN / "skills" / PLUGIN / "SKILL.md").read_bytes()
    virtual = f"/plugins/{PLUGIN}/skills/{PLUGIN}/SKILL.md"
    assert await p.read_file(wid, virtual) == expected
    with trio.fail_after(ONLINE_WITHIN):  # the restart the install asked for
        while (await snapshot(h, wid))["restart_cycles"] < before + 1:
            await trio.sleep(0.05)
    await wait_status(h, wid, "online", timeout=ONLINE_WITHIN)
    info = await p.engine.inspect("containers", p.tracked(wid) or "")
    assert info is not None
    stat = await p.engine.path_stat(info["Id"], virtual)  # the new container sees it
    assert stat is not None and stat["size"] == len(expected)

    r = await h.client.delete(f"/workspaces/{wid}/plugins/{PLUGIN}", headers=h.admin)
    assert r.status_code == 200, r.text
    with pytest.raises(OSError) as gone:
        await p.read_file(wid, virtual)
    assert gone.value.errno == errno.ENOENT
    await wait_status(h, wid, "online", timeout=ONLINE_WITHIN)
