"""A workspace's config object, model and provider: stored as the original stored them,
refusals change nothing, and a saved model or provider restarts an agent this platform runs
(and only such an agent) so that it runs with the new value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import trio

from molecule.actors.messages import Snapshot
from molecule.provision.local import LocalProcessProvisioner
from tests.conftest import Harness
from tests.http.footprint import rows

UNKNOWN = "00000000-0000-0000-0000-000000000001"
TOO_LARGE = "body too large or unreadable"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def external(h: Harness, name: str) -> tuple[str, dict[str, str]]:
    ws = await h.create_external(name)
    connection = ws["connection"]
    assert isinstance(connection, dict)
    return str(ws["id"]), auth(str(connection["auth_token"]))


async def snapshot(h: Harness, wid: str) -> dict[str, Any]:
    ref = await h.svc.directory.get(wid)
    assert ref is not None
    result: dict[str, Any] = await ref.ask(Snapshot(), 10)
    return result


async def test_config_is_merged_shallowly(platform: Harness) -> None:
    h = platform
    wid, as_ws = await external(h, "cfg")
    url = f"/workspaces/{wid}/config"
    r = await h.client.get(url, headers=as_ws)
    assert r.status_code == 200 and r.json() == {"data": {}}
    r = await h.client.patch(url, json={"a": 1, "b": {"c": 2, "d": 3}}, headers=as_ws)
    assert r.status_code == 200 and r.json() == {"status": "updated"}
    r = await h.client.patch(url, json={"b": {"c": 9}, "e": None}, headers=h.admin)
    assert r.json() == {"status": "updated"}
    r = await h.client.get(url, headers=h.admin)
    assert r.json() == {"data": {"a": 1, "b": {"c": 9}, "e": None}}  # top-level keys replaced
    stored = await h.svc.store.fetchval(
        "SELECT data FROM workspace_config WHERE workspace_id = $1", wid
    )
    assert stored == {"a": 1, "b": {"c": 9}, "e": None}


async def test_config_refusals_change_nothing(platform: Harness) -> None:
    h = platform
    wid, as_ws = await external(h, "cfg")
    _, as_other = await external(h, "other")
    url = f"/workspaces/{wid}/config"
    await h.client.patch(url, json={"kept": True}, headers=as_ws)
    before = await rows(h)
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"content": b"{not json"}, 400, "invalid JSON"),
        ({"content": b""}, 400, "invalid JSON"),
        ({"json": [1, 2]}, 400, "config must be a JSON object"),
        ({"json": "text"}, 400, "config must be a JSON object"),
        ({"json": {"k": "a\u0000b"}}, 400, "invalid JSON"),
        ({"content": json.dumps({"big": "x" * (256 * 1024)}).encode()}, 413, TOO_LARGE),
    ]  # fmt: skip
    for kwargs, status, error in cases:
        r = await h.client.patch(url, headers=as_ws, **kwargs)
        assert r.status_code == status and r.json()["error"] == error, r.text
    for headers, status in (({}, 401), (as_other, 401)):
        r = await h.client.patch(url, json={"x": 1}, headers=headers)
        assert r.status_code == status
        assert (await h.client.get(url, headers=headers)).status_code == status
    r = await h.client.patch(f"/workspaces/{UNKNOWN}/config", json={"x": 1}, headers=h.admin)
    assert r.status_code == 404 and r.json() == {"error": "workspace not found"}
    r = await h.client.patch("/workspaces/nope/config", json={"x": 1}, headers=h.admin)
    assert r.status_code == 400
    assert await rows(h) == before

    # The stored object is bounded too: patches that would grow it past 256 KiB are refused.
    chunk = "y" * (100 * 1024)
    for key in ("p1", "p2"):
        r = await h.client.patch(url, json={key: chunk}, headers=as_ws)
        assert r.status_code == 200
    grown = await rows(h)
    r = await h.client.patch(url, json={"p3": chunk}, headers=as_ws)
    assert r.status_code == 413
    assert await rows(h) == grown
    r = await h.client.patch(url, json={"p2": "small"}, headers=as_ws)  # replacing shrinks it
    assert r.status_code == 200


async def test_model_and_provider_settings(platform: Harness) -> None:
    h = platform
    wid, as_ws = await external(h, "ext")
    for field, key, path in (("model", "MODEL", "model"), ("provider", "LLM_PROVIDER", "provider")):
        url = f"/workspaces/{wid}/{path}"
        r = await h.client.get(url, headers=as_ws)
        assert r.status_code == 200 and r.json() == {field: "", "source": "default"}
        r = await h.client.put(url, json={field: "openai/gpt-4o"}, headers=as_ws)
        assert r.status_code == 200 and r.json() == {"status": "saved", field: "openai/gpt-4o"}
        r = await h.client.get(url, headers=h.admin)
        assert r.json() == {field: "openai/gpt-4o", "source": "workspace_secrets"}
        loaded = await h.svc.secrets.load(wid)
        assert loaded.values[key] == "openai/gpt-4o"
        r = await h.client.put(url, json={field: ""}, headers=as_ws)
        assert r.status_code == 200 and r.json() == {"status": "cleared"}
        assert key not in (await h.svc.secrets.load(wid)).values
        r = await h.client.put(url, json={}, headers=as_ws)  # absent clears, as in the original
        assert r.json() == {"status": "cleared"}
    # An external agent runs elsewhere: no restart, no status change.
    state = await snapshot(h, wid)
    assert state["restart_cycles"] == 0 and state["status"] == "awaiting_agent"


async def test_setting_refusals_change_nothing(platform: Harness) -> None:
    h = platform
    wid, as_ws = await external(h, "ext")
    _, as_other = await external(h, "other")
    await h.client.put(f"/workspaces/{wid}/model", json={"model": "m"}, headers=as_ws)
    before = await rows(h)
    for path, field in (("model", "model"), ("provider", "provider")):
        url = f"/workspaces/{wid}/{path}"
        for body in ({field: 5}, {field: None}, {field: ["x"]}, [1]):
            r = await h.client.put(url, json=body, headers=as_ws)
            assert r.status_code == 400 and r.json()["error"] == "invalid request body", body
        r = await h.client.put(url, json={field: "x" * 257}, headers=as_ws)
        assert r.status_code == 400
        assert r.json() == {"error": f"{field} must be at most 256 characters"}
        r = await h.client.put(url, json={field: "a\u0000"}, headers=as_ws)
        assert r.status_code == 400
        r = await h.client.put(url, json={field: "v"})
        assert r.status_code == 401 and r.json() == {"error": "missing workspace auth token"}
        r = await h.client.put(url, json={field: "v"}, headers=as_other)
        assert r.status_code == 401 and r.json() == {"error": "invalid workspace auth token"}
        assert (await h.client.get(url, headers=as_other)).status_code == 401
        r = await h.client.put(f"/workspaces/{UNKNOWN}/{path}", json={field: "v"}, headers=h.admin)
        assert r.status_code == 404
        r = await h.client.get(f"/workspaces/{UNKNOWN}/{path}", headers=h.admin)
        assert r.status_code == 404
    assert await rows(h) == before


def agent_environment(h: Harness, wid: str) -> dict[str, str]:
    provisioner = h.svc.pipeline.provisioner
    assert isinstance(provisioner, LocalProcessProvisioner)
    pid = provisioner._procs[wid].pid
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


async def wait_online_after(h: Harness, wid: str, cycles: int) -> None:
    with trio.fail_after(30):
        while True:
            state = await snapshot(h, wid)
            if state["restart_cycles"] > cycles and not state["restart_running"]:
                if state["status"] == "online":
                    return
            await trio.sleep(0.05)


async def test_saving_restarts_an_agent_the_platform_runs(platform: Harness) -> None:
    h = platform
    r = await h.client.post(
        "/workspaces", json={"name": "echo", "runtime": "echo"}, headers=h.admin
    )
    assert r.status_code == 201
    wid = r.json()["id"]
    await wait_online_after(h, wid, 0)
    assert "MODEL" not in agent_environment(h, wid)

    cycles = (await snapshot(h, wid))["restart_cycles"]
    r = await h.client.put(f"/workspaces/{wid}/model", json={"model": "m-1"}, headers=h.admin)
    assert r.json() == {"status": "saved", "model": "m-1"}
    await wait_online_after(h, wid, cycles)
    env = agent_environment(h, wid)
    assert env["MODEL"] == "m-1" and env["MOLECULE_MODEL"] == "m-1"
    assert (await snapshot(h, wid))["restart_reason"] == "model saved"

    cycles = (await snapshot(h, wid))["restart_cycles"]
    r = await h.client.put(
        f"/workspaces/{wid}/provider", json={"provider": "openai"}, headers=h.admin
    )
    assert r.json() == {"status": "saved", "provider": "openai"}
    await wait_online_after(h, wid, cycles)
    assert agent_environment(h, wid)["LLM_PROVIDER"] == "openai"

    cycles = (await snapshot(h, wid))["restart_cycles"]
    r = await h.client.put(f"/workspaces/{wid}/model", json={"model": ""}, headers=h.admin)
    assert r.json() == {"status": "cleared"}
    await wait_online_after(h, wid, cycles)
    assert "MODEL" not in agent_environment(h, wid)
