"""The Docker backend's own operations on a real Engine: the orphan sweep, the stale-token
pass, image refresh (route and watcher) and the terminal WebSocket."""

from __future__ import annotations

import contextlib
import io
import tarfile
import uuid

import pytest
import trio
from trio_websocket import ConnectionRejected, open_websocket_url

from molecule.actors.docker_sweeps import sweep_orphans, sweep_stale_tokens
from molecule.actors.image_refresh import ImageRefresh
from molecule.errors import EngineError
from molecule.provision.docker.naming import container_name, labels, volume_names
from molecule.provision.runtimes import BUILTIN_IMAGE
from molecule.store.orphan_rows import OrphanRows
from tests.conftest import Harness
from tests.docker.test_docker_workspace import ONLINE_WITHIN, create_echo, docker, volumes_of
from tests.e2e.test_echo_workspace import send, wait_status

# One xdist worker runs every Docker test: one engine, images built once (Makefile).
pytestmark = pytest.mark.xdist_group("docker")


async def test_orphan_container_and_volumes_are_swept(docker_platform: Harness) -> None:
    h = docker_platform
    p = docker(h)
    live = await create_echo(h, "keeps running")
    ghost = str(uuid.uuid4())  # a container whose row is gone (a wiped database)
    for root, name in volume_names(ghost).items():
        body = {"Name": name, "Labels": labels(ghost, p.instance, **{"molecule.volume.root": root})}
        await p.engine.json("POST", "volumes/create", body=body)
    body = {
        "Image": BUILTIN_IMAGE,
        "Entrypoint": ["sleep", "600"],
        "Labels": labels(ghost, p.instance),
        "HostConfig": {"Binds": [f"{v}:{r}" for r, v in volume_names(ghost).items()]},
    }
    created = await p.engine.json(
        "POST", "containers/create", params={"name": container_name(ghost)}, body=body
    )
    await p.engine.json("POST", f"containers/{created['Id']}/start")
    # A removed row whose cleanup never ran keeps its volumes until the sweep.
    gone = await create_echo(h, "deleted badly")
    await h.svc.store.execute("UPDATE workspaces SET status = 'removed' WHERE id = $1", gone)
    h.svc.directory.deactivate(gone)  # its actor ends first: nothing restarts the container
    with trio.fail_after(30):
        while h.svc.directory.running(gone) is not None:
            await trio.sleep(0.05)
    await p.stop(gone)

    cleaned = await sweep_orphans(p, OrphanRows(h.svc.store))
    assert sorted(cleaned) == sorted([ghost, gone])
    assert await p.engine.inspect("containers", container_name(ghost)) is None
    assert await volumes_of(p, ghost) == set() and await volumes_of(p, gone) == set()
    assert await p.is_running(live)  # a live row's container is never touched
    assert await volumes_of(p, live) == set(volume_names(live).values())
    assert await sweep_orphans(p, OrphanRows(h.svc.store)) == []


async def test_stale_tokens_of_workspaces_without_a_container(docker_platform: Harness) -> None:
    h = docker_platform
    p = docker(h)
    running = await create_echo(h, "running")
    stopped = await create_echo(h, "stopped")
    h.svc.directory.deactivate(stopped)  # its actor ends first: nothing restarts the container
    with trio.fail_after(30):
        while h.svc.directory.running(stopped) is not None:
            await trio.sleep(0.05)
    await p.stop(stopped)  # its container is gone, the row stays online
    await h.svc.tokens.flush_last_used()
    # Both workspaces' tokens unused for 10 minutes; a fresh one is minted for `stopped` too.
    await h.svc.store.execute(
        "UPDATE workspace_auth_tokens SET created_at = now() - interval '10 minutes',"
        " last_used_at = NULL"
    )
    fresh = await h.svc.tokens.mint(stopped)
    revoked = await sweep_stale_tokens(p, OrphanRows(h.svc.store), h.svc.tokens)
    assert revoked == [stopped]
    live = await h.svc.store.fetch(
        "SELECT workspace_id::text AS w FROM workspace_auth_tokens WHERE revoked_at IS NULL"
    )
    assert sorted(r["w"] for r in live) == sorted([running, stopped])  # the fresh one survives
    assert await h.svc.tokens.validate_for(fresh, stopped)


async def _retag_derived(h: Harness) -> tuple[str, str]:
    """Point molecule-runtime:latest at a new image (same content, one more label)."""
    p = docker(h)
    old = await p.images.image_id(BUILTIN_IMAGE)
    assert old is not None
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        data = f"FROM {old}\nLABEL molecule.test.refresh={uuid.uuid4().hex}\n".encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    await p.engine.stream_json(
        "POST", "build", params={"t": BUILTIN_IMAGE}, data=out.getvalue(),
        content_type="application/x-tar",
    )  # fmt: skip
    new = await p.images.image_id(BUILTIN_IMAGE)
    assert new is not None and new != old
    return old, new


async def _image_of(h: Harness, wid: str) -> str:
    """The image of the workspace's container ("" while a restart has none)."""
    info = await docker(h).engine.inspect("containers", container_name(wid))
    return "" if info is None else str(info["Image"])


async def test_an_image_change_restarts_its_workspaces(docker_platform: Harness) -> None:
    h = docker_platform
    p = docker(h)
    wid = await create_echo(h)
    watch = ImageRefresh(p, h.svc.directory)
    assert await watch.watch_tick() == []  # the first observation only seeds
    old, new = await _retag_derived(h)
    try:
        # The watcher sees the tag move and restarts the workspace on the new image.
        assert await watch.watch_tick() == [BUILTIN_IMAGE]
        with trio.fail_after(ONLINE_WITHIN):
            while await p.engine.inspect("containers", container_name(wid)) is None or (
                await _image_of(h, wid) != new
            ):
                await trio.sleep(0.1)
        await wait_status(h, wid, "online", timeout=ONLINE_WITHIN)
        assert await watch.watch_tick() == []
        # The admin route: back to the old image; `recreated` names the container.
        await p.engine.json(
            "POST", f"images/{old}/tag", params={"repo": "molecule-runtime", "tag": "latest"}
        )
        r = await h.client.post(
            "/admin/workspace-images/refresh", params={"runtime": "echo"}, headers=h.admin
        )
        assert r.status_code == 200, r.text
        assert r.json() == {
            "pulled": [BUILTIN_IMAGE],
            "failed": [],
            "recreated": [container_name(wid)],
        }
        with trio.fail_after(ONLINE_WITHIN):
            while await p.engine.inspect("containers", container_name(wid)) is None or (
                await _image_of(h, wid) != old
            ):
                await trio.sleep(0.1)
        await wait_status(h, wid, "online", timeout=ONLINE_WITHIN)
        r = await send(h, wid, "new image")
        assert r.json()["result"]["parts"][0]["text"] == "echo: new image"
    finally:
        await p.engine.json(
            "POST", f"images/{old}/tag", params={"repo": "molecule-runtime", "tag": "latest"}
        )
        with contextlib.suppress(EngineError):  # still used by a container: teardown's job
            await p.engine.json("DELETE", f"images/{new}")


async def test_image_refresh_refusals(docker_platform: Harness) -> None:
    h = docker_platform
    url = "/admin/workspace-images/refresh"
    r = await h.client.post(url)
    assert r.status_code == 401
    r = await h.client.post(url, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    r = await h.client.post(url, params={"runtime": "cobol"}, headers=h.admin)
    assert r.status_code == 400 and "unknown runtime" in r.json()["error"]
    r = await h.client.post(url, params={"recreate": "maybe"}, headers=h.admin)
    assert r.status_code == 400


async def test_terminal_is_a_shell_in_the_container(docker_platform: Harness) -> None:
    h = docker_platform
    wid = await create_echo(h)
    ws_url = h.base_url.replace("http://", "ws://") + f"/workspaces/{wid}/terminal"
    admin = list(h.admin.items())
    async with open_websocket_url(ws_url, extra_headers=admin) as ws:
        await ws.send_message('{"type":"resize","rows":40,"cols":120}')
        await ws.send_message("echo in-$((40+2)) $WORKSPACE_ID\n")
        seen = ""
        with trio.fail_after(10):
            while f"in-42 {wid}" not in seen:
                seen += await ws.get_message()

    # Refusals before the upgrade.
    with pytest.raises(ConnectionRejected) as rejected:
        async with open_websocket_url(ws_url):
            pass
    assert rejected.value.status_code == 401
    team = await h.create_external("another team")
    stranger = await h.create_external("stranger", parent_id=team["id"])  # not wid's peer
    headers = [*admin, ("X-Workspace-ID", str(stranger["id"]))]
    with pytest.raises(ConnectionRejected) as rejected:
        async with open_websocket_url(ws_url, extra_headers=headers):
            pass
    assert rejected.value.status_code == 403
    missing = ws_url.replace(wid, str(uuid.uuid4()))
    with pytest.raises(ConnectionRejected) as rejected:
        async with open_websocket_url(missing, extra_headers=admin):
            pass
    assert rejected.value.status_code == 404
    with pytest.raises(ConnectionRejected) as rejected:
        async with open_websocket_url(ws_url.replace(wid, "not-a-uuid"), extra_headers=admin):
            pass
    assert rejected.value.status_code == 400
