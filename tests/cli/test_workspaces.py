"""`molecule workspace ...` against a real platform: tables, JSON and YAML, `--wait`, and the
errors a user sees (with the HTTP status behind them and a non-zero exit code)."""

from __future__ import annotations

import json
import socket
import uuid

import yaml

from tests.cli.conftest import molecule, wait_status
from tests.conftest import Harness


async def _count(h: Harness) -> int:
    r = await h.client.get("/workspaces", headers=h.admin)
    return len(r.json())


async def test_create_list_inspect_in_every_format(platform: Harness) -> None:
    h = platform
    made = await molecule(h, "workspace", "create", "-n", "scribe", "--runtime", "mock")
    assert made.exit_code == 0, made.output
    assert made.stdout.startswith("Workspace created: scribe (")
    wid = made.stdout.split("(")[1].split(")")[0]
    api = (await h.client.get("/workspaces", headers=h.admin)).json()
    assert [w["id"] for w in api] == [wid]

    table = await molecule(h, "workspace", "list")
    assert table.exit_code == 0
    header, row = table.stdout.splitlines()
    assert header.split() == ["ID", "NAME", "STATUS", "ROLE", "RUNTIME", "CREATED", "AT"]
    assert row.split()[:4] == [wid, "scribe", "online", "mock"]
    assert not any(line != line.rstrip() for line in table.stdout.splitlines())

    as_json = await molecule(h, "workspace", "list", "-o", "json")
    assert json.loads(as_json.stdout) == api
    as_yaml = await molecule(h, "-o", "yaml", "workspace", "list")  # before the command too
    assert yaml.safe_load(as_yaml.stdout) == api

    by_name = await molecule(h, "workspace", "inspect", "scribe")
    assert by_name.exit_code == 0
    lines = dict(line.split(":", 1) for line in by_name.stdout.splitlines())
    assert lines["ID"].strip() == wid and lines["Status"].strip() == "online"
    detail = await molecule(h, "workspace", "inspect", wid, "-o", "json")
    assert (
        json.loads(detail.stdout)
        == (await h.client.get(f"/workspaces/{wid}", headers=h.admin)).json()
    )

    empty = await molecule(h, "workspace", "delete", wid)
    assert empty.exit_code == 0 and f"Workspace {wid} removed." in empty.stdout
    assert (await molecule(h, "workspace", "list")).stdout == "No workspaces found.\n"


async def test_create_wait_shows_provisioning_then_online(platform: Harness) -> None:
    h = platform
    made = await molecule(
        h, "workspace", "create", "--name", "echoer", "--runtime", "echo", "--wait", "-o", "json"
    )
    assert made.exit_code == 0, made.stderr
    created = json.loads(made.stdout)
    wid = created["id"]
    assert created["status"] == "online"
    steps = made.stderr.splitlines()
    assert steps[0] == f"workspace {wid}: provisioning"
    assert steps[-1].startswith(f"workspace {wid}: online (") and steps[-1].endswith(" s)")
    assert (await h.client.get(f"/workspaces/{wid}", headers=h.admin)).json()["status"] == "online"

    # The rest of a running agent's lifecycle, and its output.
    paused = await molecule(h, "workspace", "pause", "echoer")
    assert paused.exit_code == 0 and "Paused 1 workspace(s)" in paused.stdout
    await wait_status(h, wid, "paused")
    again = await molecule(h, "workspace", "pause", wid)
    assert again.exit_code == 1
    assert again.stderr == "error: 404 workspace not found or already paused\n"
    resumed = await molecule(h, "workspace", "resume", wid, "--wait")
    assert resumed.exit_code == 0, resumed.stderr
    assert f"workspace {wid}: online" in resumed.stderr
    logs = await molecule(h, "workspace", "logs", wid)
    assert logs.exit_code == 0 and "molecule.runtime" in logs.stdout
    tail = await molecule(h, "workspace", "logs", wid, "-n", "1")
    assert len(tail.stdout.splitlines()) == 1
    assert tail.stdout.strip() == logs.stdout.strip().splitlines()[-1]
    restarted = await molecule(h, "workspace", "restart", wid)
    assert restarted.exit_code == 0
    assert restarted.stdout == f"Restart triggered for workspace {wid}.\n"


async def test_restart_of_a_mock_workspace_says_there_is_nothing_to_do(platform: Harness) -> None:
    h = platform
    made = await molecule(h, "workspace", "create", "-n", "m", "--runtime", "mock", "-o", "json")
    wid = json.loads(made.stdout)["id"]
    r = await molecule(h, "workspace", "restart", wid)
    assert r.exit_code == 0 and "restart is a no-op" in r.stdout


async def test_delete_asks_before_taking_the_children(platform: Harness) -> None:
    h = platform
    parent = await h.client.post(
        "/workspaces", json={"name": "lead", "runtime": "mock"}, headers=h.admin
    )
    pid = parent.json()["id"]
    child = await h.client.post(
        "/workspaces", json={"name": "aide", "runtime": "mock", "parent_id": pid}, headers=h.admin
    )
    refused = await molecule(h, "workspace", "delete", "lead", stdin="")
    assert refused.exit_code == 1
    assert refused.stderr == (
        "error: 409 workspace has 1 child workspace(s): pass --yes to remove them all\n"
    )
    assert await _count(h) == 2  # nothing removed
    done = await molecule(h, "workspace", "delete", "lead", "--yes")
    assert done.exit_code == 0
    assert done.stdout == f"Workspace {pid} removed with 1 descendant(s).\n"
    assert await _count(h) == 0
    gone = await h.client.get(f"/workspaces/{child.json()['id']}", headers=h.admin)
    assert gone.status_code == 410


async def test_errors_name_the_status_and_exit_non_zero(platform: Harness) -> None:
    h = platform
    unknown = str(uuid.uuid4())
    r = await molecule(h, "workspace", "inspect", unknown)
    assert (r.exit_code, r.stderr, r.stdout) == (1, "error: 404 workspace not found\n", "")

    r = await molecule(h, "workspace", "list", token="not-the-admin-token")
    assert r.exit_code == 1
    assert r.stderr.startswith("error: 401 invalid admin auth token (token from --token;")

    r = await molecule(h, "workspace", "inspect", "nobody")
    assert r.exit_code == 1 and "no workspace is named 'nobody'" in r.stderr

    before = await _count(h)
    r = await molecule(h, "workspace", "create", "-n", "bad", "--runtime", "mock", "--tier", "9")
    assert r.exit_code == 1 and r.stderr.startswith("error: 400 ")
    assert await _count(h) == before

    r = await molecule(h, "workspace", "create", "--runtime", "mock")
    assert r.exit_code == 2 and "Missing option '-n' / '--name'" in r.stderr

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    r = await molecule(h, "--api-url", dead, "workspace", "list")
    assert r.exit_code == 3
    assert r.stderr.startswith(f"error: cannot reach the platform at {dead} (connection refused)")
