"""The Docker backend's routes on a platform without it (local processes): who may call
them, and the refusal that says why they cannot work here (the refresh route is a 404, as in
the original, which registered it only with Docker; the terminal a 503). Their behaviour on
a real Engine is tested in tests/docker/."""

from __future__ import annotations

import pytest
from trio_websocket import ConnectionRejected, open_websocket_url

from tests.conftest import Harness

REFRESH = "/admin/workspace-images/refresh"


async def test_image_refresh_needs_an_admin_and_the_docker_backend(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("agent")
    token = ws["connection"]["auth_token"]  # type: ignore[index]
    assert (await h.client.post(REFRESH)).status_code == 401
    r = await h.client.post(REFRESH, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and r.json()["error"] == "invalid admin auth token"
    r = await h.client.post(REFRESH, params={"runtime": "x" * 200}, headers=h.admin)
    assert r.status_code == 400
    r = await h.client.post(REFRESH, params={"runtime": "echo"}, headers=h.admin)
    assert r.status_code == 404 and "Docker backend" in r.json()["error"]
    assert (await h.row(str(ws["id"])) or {})["status"] == "awaiting_agent"  # nothing moved


async def test_terminal_refusals_without_docker(platform: Harness) -> None:
    h = platform
    target = await h.create_external("target")
    other = await h.create_external("other")
    url = h.base_url.replace("http://", "ws://") + f"/workspaces/{target['id']}/terminal"
    other_token = other["connection"]["auth_token"]  # type: ignore[index]
    cases = [
        ([], 401),
        ([("Authorization", f"Bearer {other_token}")], 401),  # another workspace's token
        (list(h.admin.items()), 503),  # allowed, but no container can run here
    ]
    for headers, status in cases:
        with pytest.raises(ConnectionRejected) as rejected:
            async with open_websocket_url(url, extra_headers=headers):
                pass
        assert rejected.value.status_code == status
