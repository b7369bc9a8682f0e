"""Console (admin) and transcript (proxied to the agent): a real echo agent's log and
`/transcript`, a scripted agent that shows what the platform sends it, secrets redacted, the
admin token never forwarded, and the SSRF guard on the agent's URL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from molecule.provision.local import LocalProcessProvisioner
from tests.a2a.agents import ScriptedAgent, free_port
from tests.conftest import Harness, make_settings, start_platform
from tests.http.footprint import footprint

CARD = {"name": "agent", "description": "transcript test agent", "version": "1.0.0"}
TRANSCRIPT = b'{"runtime":"scripted","supported":true,"lines":["hello"],"cursor":1,"more":false}'


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def workdir(h: Harness, wid: str) -> Path:
    provisioner = h.svc.pipeline.provisioner
    assert isinstance(provisioner, LocalProcessProvisioner)
    return provisioner.workspace_dir(wid)


async def wait_online(h: Harness, wid: str) -> None:
    with trio.fail_after(30):
        while True:
            r = await h.client.get(f"/workspaces/{wid}", headers=h.admin)
            if r.json()["status"] == "online":
                return
            await trio.sleep(0.1)


async def test_console_is_the_agent_log_redacted(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("console")
    wid, token = str(ws["id"]), ws["connection"]["auth_token"]  # type: ignore[index]
    r = await h.client.get(f"/workspaces/{wid}/console", headers=h.admin)
    assert r.status_code == 200 and r.json() == {"output": ""}  # no log yet

    await h.client.put(
        f"/workspaces/{wid}/secrets", json={"key": "MY_API_KEY", "value": "plainvalue123"},
        headers=h.admin,
    )  # fmt: skip
    log = workdir(h, wid) / "agent.log"
    log.parent.mkdir(parents=True)
    lines = [
        "starting agent",
        "calling the API with key plainvalue123",
        "Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123",
        "done",
    ]
    log.write_text("old line\n" * 20_000 + "\n".join(lines) + "\n")
    r = await h.client.get(f"/workspaces/{wid}/console", headers=h.admin)
    output = r.json()["output"]
    assert output.endswith(
        "calling the API with key [REDACTED]\nAuthorization: Bearer [REDACTED]\ndone\n"
    )
    assert "plainvalue123" not in output and "abcdefghijklmnop" not in output
    assert len(output.encode()) <= 64 * 1024 and output.startswith("old line\n")  # whole lines

    before = await footprint(h)
    r = await h.client.get(f"/workspaces/{wid}/console", headers=auth(token))
    assert r.status_code == 401 and r.json() == {"error": "invalid admin auth token"}
    r = await h.client.get(f"/workspaces/{wid}/console")
    assert r.status_code == 401 and r.json() == {"error": "admin auth required"}
    r = await h.client.get(
        "/workspaces/00000000-0000-0000-0000-000000000002/console", headers=h.admin
    )
    assert r.status_code == 404
    log.unlink()
    log.symlink_to("/etc/passwd")  # the agent cannot make the platform read another file
    r = await h.client.get(f"/workspaces/{wid}/console", headers=h.admin)
    assert r.status_code == 422 and "root:" not in r.text
    log.unlink()
    log.write_text("old line\n" * 20_000 + "\n".join(lines) + "\n")
    assert await footprint(h) == before


async def test_an_echo_agents_console_and_transcript(platform: Harness) -> None:
    h = platform
    r = await h.client.post(
        "/workspaces", json={"name": "echo", "runtime": "echo"}, headers=h.admin
    )
    wid = r.json()["id"]
    await wait_online(h, wid)
    r = await h.client.get(f"/workspaces/{wid}/console", headers=h.admin)
    assert r.status_code == 200 and r.json()["output"]  # the agent logged its start

    token = (workdir(h, wid) / "configs" / ".auth_token").read_text().strip()
    expected = {"runtime": "echo", "supported": False, "lines": [], "cursor": 0, "more": False,
                "source": None}  # fmt: skip
    for headers in (auth(token), h.admin):  # the admin token is not forwarded: the agent's is
        r = await h.client.get(
            f"/workspaces/{wid}/transcript", params={"since": "0"}, headers=headers
        )
        assert r.status_code == 200, r.text
        assert r.json() == expected
    r = await h.client.get(f"/workspaces/{wid}/transcript", params={"limit": "x"}, headers=h.admin)
    assert r.status_code == 400 and r.json() == {"error": "limit must be an integer"}


@dataclass
class WithAgents(Harness):
    agents: trio.Nursery

    async def serve(self, agent: ScriptedAgent) -> str:
        config = HypercornConfig()
        config.bind = ["127.0.0.1:0"]
        config.accesslog = None
        config.graceful_timeout = 0.1
        binds = await self.agents.start(
            lambda task_status: serve(agent, config, task_status=task_status)  # type: ignore[arg-type]
        )
        return f"http://localhost:{binds[0].rsplit(':', 1)[1]}"


@pytest.fixture
async def dev(aio_loop: object, dsn: str, tmp_path: Path) -> AsyncIterator[WithAgents]:
    settings = make_settings(tmp_path, dsn, dev_mode=True)  # loopback agent URLs allowed
    async with trio.open_nursery() as nursery:
        svc, base, stop = await start_platform(settings, dsn, nursery)
        async with trio.open_nursery() as agents:
            async with httpx.AsyncClient(base_url=base, timeout=15) as client:
                yield WithAgents(svc, base, client, agents)
            agents.cancel_scope.cancel()
        stop.set()


async def test_transcript_is_proxied_with_the_callers_workspace_token(dev: WithAgents) -> None:
    h = dev
    ws = await h.create_external("t")
    wid, token = str(ws["id"]), ws["connection"]["auth_token"]  # type: ignore[index]
    url = f"/workspaces/{wid}/transcript"
    r = await h.client.get(url, headers=auth(token))
    assert r.status_code == 503 and r.json() == {
        "error": "workspace not registered (no URL on file)"
    }

    agent = ScriptedAgent(body=TRANSCRIPT)
    agent_url = await h.serve(agent)
    body = {"id": wid, "url": agent_url, "agent_card": CARD}
    assert (await h.client.post("/registry/register", json=body, headers=auth(token))).is_success

    params = {"since": "3", "limit": "10", "other": "smuggled"}
    r = await h.client.get(url, params=params, headers=auth(token))
    assert r.status_code == 200 and r.content == TRANSCRIPT
    seen = agent.received[-1]
    assert (seen.method, seen.path) == ("GET", "/transcript")
    assert seen.headers["authorization"] == f"Bearer {token}"

    r = await h.client.get(url, headers=h.admin)  # an admin: nothing of the admin's is sent
    assert r.status_code == 200
    assert "authorization" not in agent.received[-1].headers

    agent.content_type, agent.body = "text/html", b"<script>alert(1)</script>"
    r = await h.client.get(url, headers=auth(token))  # never a page on the platform's origin
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["x-content-type-options"] == "nosniff"
    agent.content_type = "application/json"

    agent.status, agent.body = 401, b'{"error":"unauthorized"}'
    r = await h.client.get(url, headers=auth(token))
    assert r.status_code == 401 and r.json() == {"error": "unauthorized"}  # the agent's answer

    other = await h.create_external("o")
    r = await h.client.get(url, headers=auth(other["connection"]["auth_token"]))  # type: ignore[index]
    assert r.status_code == 401
    count = len(agent.received)
    for bad in ({"since": "abc"}, {"limit": "1.5"}, {"since": "9" * 30}, {"limit": "²"}):
        assert (await h.client.get(url, params=bad, headers=auth(token))).status_code == 400
    assert len(agent.received) == count  # refused before the agent is asked

    await h.svc.store.execute(
        "UPDATE workspaces SET url = $2 WHERE id = $1", wid, f"http://127.0.0.1:{free_port()}"
    )
    r = await h.client.get(url, headers=auth(token))
    assert r.status_code == 502 and r.json() == {"error": "workspace unreachable"}


async def test_transcript_url_passes_the_ssrf_guard(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("ssrf")
    wid, token = str(ws["id"]), ws["connection"]["auth_token"]  # type: ignore[index]
    for url in ("http://169.254.169.254", "http://127.0.0.1:9", "http://10.0.0.1"):
        await h.svc.store.execute("UPDATE workspaces SET url = $2 WHERE id = $1", wid, url)
        r = await h.client.get(f"/workspaces/{wid}/transcript", headers=auth(token))
        assert r.status_code == 400 and r.json() == {"error": "workspace URL not allowed"}, url
