"""Workspace CRUD over real HTTP, including every refusal and the rows after it."""

from __future__ import annotations

import uuid
from typing import Any

import trio

from tests.conftest import Harness


async def count_rows(h: Harness) -> int:
    value: int = await h.svc.store.fetchval("SELECT count(*) FROM workspaces")
    return value


async def test_create_external_without_url_awaits_agent(platform: Harness) -> None:
    h = platform
    with h.svc.bus.subscribe() as sub:
        body = await h.create_external("my agent")
    assert body["status"] == "awaiting_agent" and body["external"] is True
    conn = body["connection"]
    assert conn["workspace_id"] == body["id"]
    assert conn["platform_url"] == h.base_url
    assert conn["registry_endpoint"] == f"{h.base_url}/registry/register"
    assert conn["heartbeat_endpoint"] == f"{h.base_url}/registry/heartbeat"
    assert len(conn["auth_token"]) == 43 and conn["auth_token"] in conn["curl_register_template"]
    row = await h.row(body["id"])
    assert row is not None and row["status"] == "awaiting_agent" and row["runtime"] == "external"
    types = [sub.receive.receive_nowait().type for _ in range(2)]
    assert types == ["WORKSPACE_PROVISIONING", "WORKSPACE_AWAITING_AGENT"]
    stored = await h.svc.store.fetchval(
        "SELECT count(*) FROM structure_events WHERE workspace_id = $1", body["id"]
    )
    assert stored == 2


async def test_create_external_with_url_is_online(platform: Harness) -> None:
    h = platform
    r = await h.client.post(
        "/workspaces",
        json={"name": "byo", "external": True, "url": "http://localhost:7000"},
        headers=h.admin,
    )
    assert r.status_code == 201
    body = r.json()
    connection = body.pop("connection")
    assert body == {"id": body["id"], "external": True, "status": "online"}
    row = await h.row(body["id"])
    assert row is not None and row["url"] == "http://localhost:7000"
    # Its token exists from creation, shown once here (docs/compatibility.md#d17); nobody can
    # register without it (#d13).
    assert await h.svc.tokens.validate_for(connection["auth_token"], body["id"])


async def test_create_managed_runs_the_start_pipeline(platform: Harness) -> None:
    """A runtime the local provisioner cannot run fails with a clear reason, not silence."""
    h = platform
    with h.svc.bus.subscribe() as sub:
        r = await h.client.post(
            "/workspaces", json={"name": "managed", "runtime": "langgraph", "tier": 2},
            headers=h.admin,
        )  # fmt: skip
        assert r.status_code == 201
        body = r.json()
        assert body["status"] == "provisioning" and body["workspace_access"] == "none"
        assert body["awareness_namespace"] == f"workspace:{body['id']}"
        with trio.fail_after(10):
            async for event in sub:
                if event.type == "WORKSPACE_PROVISION_FAILED":
                    break
    assert "cannot run as a local process" in event.payload["error"]
    row = await h.row(body["id"])
    assert row is not None and row["status"] == "failed" and row["tier"] == 2
    assert row["last_sample_error"] == event.payload["error"]


async def test_name_collisions_get_numbered(platform: Harness) -> None:
    h = platform
    names = []
    for _ in range(3):
        body = await h.create_external("twin")
        names.append((await h.row(body["id"]) or {})["name"])
    assert names == ["twin", "twin (2)", "twin (3)"]


async def test_create_refusals_write_nothing(platform: Harness) -> None:
    h = platform
    cases: list[tuple[Any, int, str]] = [
        ({"role": "no name"}, 400, "invalid workspace payload"),
        ({"name": 42}, 400, "invalid workspace payload"),
        ({"name": "a", "tier": "high"}, 400, "invalid workspace payload"),
        ([1, 2], 400, "invalid workspace payload"),
        ({"name": "bad{name}"}, 400, "invalid workspace fields"),
        ({"name": "line\nbreak"}, 400, "invalid workspace fields"),
        ({"name": "x" * 256}, 400, "invalid workspace fields"),
        ({"name": "ok", "role": "r" * 1001}, 400, "invalid workspace fields"),
        ({"name": "ok", "runtime": "r" * 101}, 400, "invalid workspace fields"),
        ({"name": "ok", "tier": 9}, 400, "invalid workspace fields"),
        ({"name": "ok", "delivery_mode": "fax"}, 400, "delivery_mode must be 'push' or 'poll'"),
        ({"name": "ok", "parent_id": "nope"}, 400, "parent_id must be a UUID"),
        (
            {"name": "ok", "parent_id": str(uuid.uuid4())},
            400,
            "parent_id must reference an existing workspace",
        ),
        ({"name": "ok", "external": True, "url": "http://169.254.169.254/"}, 400, ""),
        ({"name": "ok", "workspace_dir": "/etc/passwd"}, 400, ""),
        ({"name": "ok", "workspace_access": "read_write"}, 400, ""),
        ({"name": "ok", "template": "../escape"}, 400, ""),
    ]
    for body, status, message in cases:
        r = await h.client.post("/workspaces", json=body, headers=h.admin)
        assert r.status_code == status, (body, r.text)
        if message:
            assert r.json()["error"] == message, body
        else:
            assert r.json()["error"]
    r = await h.client.post(
        "/workspaces", content=b'{"name": ', headers={**h.admin, "Content-Type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid workspace payload"
    r = await h.client.post(
        "/workspaces",
        json={"name": "x", "external": True, "url": "http://10.0.0.5/"},
        headers=h.admin,
    )
    assert r.json()["error"].startswith("unsafe workspace URL: url targets a blocked address")
    assert await count_rows(h) == 0


async def test_admin_routes_need_admin_credentials(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("someone")
    ws_token = ws["connection"]["auth_token"]
    for method, path in [("POST", "/workspaces"), ("GET", "/workspaces"),
                         ("DELETE", f"/workspaces/{ws['id']}")]:  # fmt: skip
        r = await h.client.request(method, path, json={"name": "x"})
        assert r.status_code == 401 and r.json()["error"] == "admin auth required"
        r = await h.client.request(method, path, json={"name": "x"},
                                   headers={"Authorization": "Bearer wrong"})  # fmt: skip
        assert r.status_code == 401 and r.json()["error"] == "invalid admin auth token"
        r = await h.client.request(method, path, json={"name": "x"},
                                   headers={"Authorization": f"Bearer {ws_token}"})  # fmt: skip
        assert r.status_code == 401
    assert await count_rows(h) == 1
    assert (await h.row(ws["id"]) or {})["status"] == "awaiting_agent"


async def test_list_and_get(platform: Harness) -> None:
    h = platform
    a = await h.create_external("a")
    b = await h.create_external("b")
    r = await h.client.get("/workspaces", headers=h.admin)
    assert r.status_code == 200
    listed = r.json()
    assert [w["id"] for w in listed] == [a["id"], b["id"]]
    assert {"budget_limit", "monthly_spend", "delivery_mode", "x", "y"} <= set(listed[0])

    token = a["connection"]["auth_token"]
    r = await h.client.get(f"/workspaces/{b['id']}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    detail = r.json()
    assert detail["id"] == b["id"] and "last_outbound_at" in detail
    assert "budget_limit" not in detail and "current_task" not in detail

    assert (await h.client.get(f"/workspaces/{b['id']}")).status_code == 401
    r = await h.client.get("/workspaces/not-a-uuid", headers=h.admin)
    assert r.status_code == 400 and r.json()["error"] == "invalid workspace ID"
    r = await h.client.get(f"/workspaces/{uuid.uuid4()}", headers=h.admin)
    assert r.status_code == 404 and r.json()["error"] == "workspace not found"


async def test_patch(platform: Harness) -> None:
    h = platform
    a = await h.create_external("a")
    b = await h.create_external("b")
    token = a["connection"]["auth_token"]
    r = await h.client.patch(
        f"/workspaces/{a['id']}",
        json={"name": "renamed", "x": 10, "y": 20.5, "collapsed": True, "role": "lead"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200 and r.json() == {"status": "updated"}
    row = await h.row(a["id"])
    assert row is not None
    assert (row["name"], row["x"], row["y"], row["collapsed"], row["role"]) == (
        "renamed", 10.0, 20.5, True, "lead"
    )  # fmt: skip
    # Another workspace's token may not patch it.
    r = await h.client.patch(
        f"/workspaces/{b['id']}",
        json={"name": "hijack"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid workspace auth token"
    r = await h.client.patch(f"/workspaces/{b['id']}", json={"name": "x{"}, headers=h.admin)
    assert r.status_code == 400
    r = await h.client.patch(f"/workspaces/{a['id']}", json={"parent_id": a["id"]}, headers=h.admin)
    assert r.status_code == 400
    r = await h.client.patch(
        f"/workspaces/{b['id']}", json={"workspace_dir": "/srv/b"}, headers=h.admin
    )
    assert r.json() == {"status": "updated", "needs_restart": True}
    assert (await h.row(b["id"]) or {})["name"] == "b"
    r = await h.client.patch(f"/workspaces/{uuid.uuid4()}", json={"name": "z"}, headers=h.admin)
    assert r.status_code == 404


async def test_patch_parent_rejects_cycles(platform: Harness) -> None:
    h = platform
    root = await h.create_external("root")
    child = await h.create_external("child", parent_id=root["id"])
    r = await h.client.patch(
        f"/workspaces/{root['id']}", json={"parent_id": child["id"]}, headers=h.admin
    )
    assert r.status_code == 400 and r.json()["error"] == "parent_id would create a cycle"
    assert (await h.row(root["id"]) or {})["parent_id"] is None


async def test_cascade_delete(platform: Harness) -> None:
    h = platform
    root = await h.create_external("root")
    child = await h.create_external("child", parent_id=root["id"])
    grandchild = await h.create_external("gc", parent_id=child["id"])
    r = await h.client.delete(f"/workspaces/{root['id']}", headers=h.admin)
    assert r.status_code == 409
    body = r.json()
    assert body["status"] == "confirmation_required" and body["children_count"] == 1
    assert body["children"] == [{"id": child["id"], "name": "child"}]
    assert (await h.row(root["id"]) or {})["status"] == "awaiting_agent"

    with h.svc.bus.subscribe() as sub:
        r = await h.client.delete(f"/workspaces/{root['id']}?confirm=true", headers=h.admin)
        assert r.status_code == 200 and r.json() == {"status": "removed", "cascade_deleted": 2}
        removed = [sub.receive.receive_nowait() for _ in range(3)]
    assert [e.workspace_id for e in removed] == [grandchild["id"], child["id"], root["id"]]
    assert removed[-1].payload == {"cascade_deleted": 2}
    for ws in (root, child, grandchild):
        row = await h.row(ws["id"])
        assert row is not None and row["status"] == "removed" and row["removed_at"] is not None
        # Tokens are revoked: the agent's credential no longer works anywhere.
        r = await h.client.get(
            f"/workspaces/{ws['id']}/state",
            headers={"Authorization": f"Bearer {ws['connection']['auth_token']}"},
        )
        assert r.status_code == 401
    r = await h.client.get(f"/workspaces/{child['id']}", headers=h.admin)
    assert r.status_code == 410
    gone = r.json()
    assert gone["error"] == "workspace removed" and gone["id"] == child["id"]
    assert gone["hint"] and gone["removed_at"]
    r = await h.client.get(f"/workspaces/{child['id']}?include_removed=true", headers=h.admin)
    assert r.status_code == 200 and r.json()["status"] == "removed"
    r = await h.client.get(f"/workspaces/{child['id']}/state", headers=h.admin)
    assert r.status_code == 404
    assert r.json() == {"workspace_id": child["id"], "deleted": True, "status": "removed"}
    assert (await h.client.get("/workspaces", headers=h.admin)).json() == []


async def test_delete_refusals_and_purge(platform: Harness) -> None:
    h = platform
    r = await h.client.delete("/workspaces/nope", headers=h.admin)
    assert r.status_code == 400
    r = await h.client.delete(f"/workspaces/{uuid.uuid4()}", headers=h.admin)
    assert r.status_code == 404
    ws = await h.create_external("purged")
    r = await h.client.delete(f"/workspaces/{ws['id']}?purge=true", headers=h.admin)
    assert r.status_code == 200 and r.json() == {"status": "purged", "cascade_deleted": 0}
    assert await h.svc.workspaces.get(ws["id"]) is None


async def test_state(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("stateful")
    token = ws["connection"]["auth_token"]
    r = await h.client.get(
        f"/workspaces/{ws['id']}/state", headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200
    assert r.json() == {
        "workspace_id": ws["id"], "status": "awaiting_agent", "paused": False, "deleted": False
    }  # fmt: skip
    r = await h.client.get(f"/workspaces/{ws['id']}/state")
    assert r.status_code == 401 and r.json()["error"] == "missing workspace auth token"
    r = await h.client.get(f"/workspaces/{uuid.uuid4()}/state", headers=h.admin)
    assert r.status_code == 404 and r.json()["deleted"] is True


async def test_create_mock_is_online_and_answers_without_a_process(platform: Harness) -> None:
    h = platform
    r = await h.client.post("/workspaces", json={"name": "m", "runtime": "mock"}, headers=h.admin)
    assert r.status_code == 201 and r.json()["status"] == "online"
    wid = r.json()["id"]
    r = await h.client.post(
        f"/workspaces/{wid}/a2a",
        json={"method": "message/send", "params": {"message": {"role": "user", "content": "hi"}}},
        headers=h.admin,
    )
    assert r.status_code == 200
    body = r.json()
    assert body["jsonrpc"] == "2.0" and body["result"]["parts"][0]["text"] == "mock reply from m"
    await h.svc.activity.flush()
    rows = await h.svc.store.fetch(
        "SELECT method, status, request_body FROM activity_logs WHERE workspace_id = $1", wid
    )
    assert [(r["method"], r["status"]) for r in rows] == [("message/send", "ok")]
    assert rows[0]["request_body"]["params"]["message"]["parts"] == [{"kind": "text", "text": "hi"}]


async def test_templates_and_provision_timeout(platform: Harness) -> None:
    h = platform
    r = await h.client.get("/templates", headers=h.admin)
    assert r.status_code == 200
    by_id = {t["id"]: t for t in r.json()}
    assert {"echo-default", "llm-default", "echo-team"} <= set(by_id)
    assert by_id["llm-default"]["required_env"] == ["OPENAI_API_KEY"]
    assert by_id["echo-default"]["provision_timeout_seconds"] == 60
    assert (await h.client.get("/templates")).status_code == 401
    ws = await h.create_external("ext")
    r = await h.client.get(f"/workspaces/{ws['id']}", headers=h.admin)
    assert "provision_timeout_ms" not in r.json()  # external runtime: no template value
    await h.svc.store.execute("UPDATE workspaces SET runtime = 'echo' WHERE id = $1", ws["id"])
    r = await h.client.get(f"/workspaces/{ws['id']}", headers=h.admin)
    assert r.json()["provision_timeout_ms"] == 60_000


async def test_delete_reports_stop_failures_after_marking_removed(
    platform: Harness, monkeypatch: Any
) -> None:
    h = platform
    root = await h.create_external("root")
    child = await h.create_external("child", parent_id=root["id"])
    provisioner = h.svc.pipeline.provisioner
    assert provisioner is not None

    async def failing_stop(workspace_id: str) -> None:
        if workspace_id == child["id"]:
            raise OSError("permission denied")

    monkeypatch.setattr(provisioner, "stop", failing_stop)
    r = await h.client.delete(f"/workspaces/{root['id']}?confirm=true", headers=h.admin)
    assert r.status_code == 500
    body = r.json()
    assert body["removed_count"] == 2 and body["stop_failures"] == 1
    assert body["error"] == (
        "workspace marked removed, but 1 stop call(s) failed — please retry: "
        f"stop {child['id']}: OSError"
    )
    for ws in (root, child):  # rows are removed first, whatever the stops did
        assert (await h.row(ws["id"]) or {})["status"] == "removed"
