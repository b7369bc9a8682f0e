"""`molecule schedule`, `token create|list|revoke`, `agent peers` and `platform health`
against a real platform."""

from __future__ import annotations

import json
import socket

from tests.cli.conftest import molecule
from tests.conftest import Harness


async def _mock(h: Harness, name: str, parent: str | None = None) -> str:
    body = {"name": name, "runtime": "mock", **({"parent_id": parent} if parent else {})}
    r = await h.client.post("/workspaces", json=body, headers=h.admin)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _schedules(h: Harness, wid: str) -> list[dict[str, object]]:
    r = await h.client.get(f"/workspaces/{wid}/schedules", headers=h.admin)
    return r.json()  # type: ignore[no-any-return]


async def test_schedules_add_list_rm(platform: Harness) -> None:
    h = platform
    wid = await _mock(h, "clock")
    assert (await molecule(h, "schedule", "list", "clock")).stdout == "No schedules.\n"
    added = await molecule(
        h, "schedule", "add", "clock", "--cron", "0 9 * * 1-5", "--prompt", "standup",
        "--name", "daily", "--timezone", "Europe/Paris", "-o", "json",
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    sid = json.loads(added.stdout)["id"]
    [stored] = await _schedules(h, wid)
    assert (stored["id"], stored["cron_expr"], stored["timezone"], stored["prompt"]) == (
        sid, "0 9 * * 1-5", "Europe/Paris", "standup",
    )  # fmt: skip

    table = await molecule(h, "schedule", "list", wid)
    header, row = table.stdout.splitlines()
    assert header.split()[:4] == ["ID", "NAME", "CRON", "TIMEZONE"]
    assert row.split()[:3] == [sid, "daily", "0"]

    bad = await molecule(h, "schedule", "add", wid, "--cron", "61 * * * *", "--prompt", "x")
    assert bad.exit_code == 1 and bad.stderr.startswith("error: 400 ")
    assert len(await _schedules(h, wid)) == 1

    removed = await molecule(h, "schedule", "rm", "clock", sid)
    assert (removed.exit_code, removed.stdout) == (0, f"Schedule {sid} deleted.\n")
    assert await _schedules(h, wid) == []
    again = await molecule(h, "schedule", "rm", "clock", sid)
    assert again.exit_code == 1 and again.stderr.startswith("error: 404 ")


async def test_workspace_tokens_create_list_revoke(platform: Harness) -> None:
    h = platform
    wid = await _mock(h, "keyed")
    made = await molecule(h, "token", "create", "keyed")
    assert made.exit_code == 0 and "cannot be retrieved again" in made.stderr
    token = made.stdout.strip()
    mine = {"Authorization": f"Bearer {token}"}
    assert (await h.client.get(f"/workspaces/{wid}", headers=mine)).status_code == 200

    listed = await molecule(h, "token", "list", wid, "-o", "json")
    [row] = [t for t in json.loads(listed.stdout)["tokens"] if token.startswith(t["prefix"])]
    table = await molecule(h, "token", "list", wid)
    assert row["id"] in table.stdout and "PREFIX" in table.stdout

    revoked = await molecule(h, "token", "revoke", wid, row["id"])
    assert revoked.exit_code == 0, revoked.stderr
    assert (await h.client.get(f"/workspaces/{wid}", headers=mine)).status_code == 401
    again = await molecule(h, "token", "revoke", wid, row["id"])
    assert (again.exit_code, again.stderr) == (1, "error: 404 token not found or already revoked\n")


async def test_agent_peers_lists_parent_siblings_and_children(platform: Harness) -> None:
    h = platform
    lead = await _mock(h, "lead")
    me = await _mock(h, "me", lead)
    sibling = await _mock(h, "sibling", lead)
    child = await _mock(h, "child", me)
    await _mock(h, "stranger")
    r = await molecule(h, "agent", "peers", "me")
    assert r.exit_code == 0, r.stderr
    ids = [line.split()[0] for line in r.stdout.splitlines()[1:]]
    assert sorted(ids) == sorted([lead, sibling, child])
    as_json = await molecule(h, "agent", "peers", me, "-o", "json")
    api = await h.client.get(f"/registry/{me}/peers", headers=h.admin)
    assert json.loads(as_json.stdout) == api.json()


async def test_platform_health(platform: Harness) -> None:
    h = platform
    r = await molecule(h, "platform", "health")
    assert r.exit_code == 0
    fields = dict(line.split(":", 1) for line in r.stdout.splitlines())
    assert fields["Status"].strip() == "ok" and fields["Provisioner"].strip() == "local"
    r = await molecule(h, "platform", "health", "-o", "json")
    report = json.loads(r.stdout)
    build = (await h.client.get("/buildinfo")).json()
    assert report == {"api_url": h.base_url.rstrip("/"), "status": "ok", **build}

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    r = await molecule(h, "--api-url", dead, "platform", "health")
    assert r.exit_code == 3 and "cannot reach the platform" in r.stderr
