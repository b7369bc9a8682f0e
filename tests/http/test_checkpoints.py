"""Workflow checkpoints: upsert per (workflow, step), latest, per-workflow lists, delete, and
refusals that change nothing."""

from __future__ import annotations

from typing import Any

from tests.conftest import Harness

ROWS = (
    "SELECT workspace_id, workflow_id, step_name, step_index, payload, completed_at"
    " FROM workflow_checkpoints ORDER BY id"
)


def bearer(ws: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {ws['connection']['auth_token']}"}


async def save(h: Harness, ws: dict[str, Any], **body: Any) -> dict[str, Any]:
    r = await h.client.post(f"/workspaces/{ws['id']}/checkpoints", json=body, headers=bearer(ws))
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def snapshot(h: Harness) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await h.svc.store.fetch(ROWS)]


async def test_save_list_latest_delete(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("wf")
    url = f"/workspaces/{ws['id']}/checkpoints"

    first = await save(h, ws, workflow_id="task-1", step_name="task_receive", step_index=0)
    assert first == {
        "id": first["id"],
        "workspace_id": ws["id"],
        "workflow_id": "task-1",
        "step_name": "task_receive",
    }
    await save(h, ws, workflow_id="task-1", step_name="llm_call", step_index=1,
               payload={"success": True})  # fmt: skip
    again = await save(h, ws, workflow_id="task-1", step_name="task_receive", step_index=2,
                       payload=["moved"])  # fmt: skip
    assert again["id"] == first["id"]  # the same step is updated, not added
    await save(h, ws, workflow_id="task-2", step_name="task_receive")

    r = await h.client.get(f"{url}/latest", headers=bearer(ws))
    latest = r.json()
    assert r.status_code == 200 and latest["workflow_id"] == "task-2"
    assert latest["step_index"] == 0 and latest["payload"] is None
    assert latest["completed_at"].endswith("Z")
    r = await h.client.get(f"{url}/latest", params={"workflow_id": "task-1"}, headers=bearer(ws))
    assert r.json()["step_name"] == "task_receive" and r.json()["payload"] == ["moved"]

    r = await h.client.get(f"{url}/task-1", headers=bearer(ws))
    assert [(c["step_name"], c["step_index"]) for c in r.json()] == [
        ("task_receive", 2),
        ("llm_call", 1),
    ]
    r = await h.client.get(url, headers=bearer(ws))
    assert [c["workflow_id"] for c in r.json()] == ["task-2", "task-1", "task-1"]
    assert len((await h.client.get(url, params={"limit": 1}, headers=bearer(ws))).json()) == 1
    r = await h.client.get(url, params={"workflow_id": "task-2"}, headers=bearer(ws))
    assert len(r.json()) == 1

    r = await h.client.delete(f"{url}/task-1", headers=bearer(ws))
    assert r.status_code == 200 and r.json() == {"deleted": 2, "workflow_id": "task-1"}
    r = await h.client.delete(f"{url}/task-1", headers=bearer(ws))
    assert r.status_code == 404 and r.json() == {"error": "no checkpoints found for workflow"}
    r = await h.client.get(f"{url}/task-1", headers=bearer(ws))
    assert r.status_code == 404 and r.json() == {"error": "no checkpoints found for workflow"}
    r = await h.client.get(f"{url}/latest", params={"workflow_id": "task-1"}, headers=bearer(ws))
    assert r.status_code == 404


async def test_latest_without_any(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("fresh")
    r = await h.client.get(f"/workspaces/{ws['id']}/checkpoints/latest", headers=bearer(ws))
    assert r.status_code == 404 and r.json() == {"error": "no checkpoints found for workspace"}
    r = await h.client.get(f"/workspaces/{ws['id']}/checkpoints", headers=bearer(ws))
    assert r.status_code == 200 and r.json() == []


async def test_refusals_change_nothing(platform: Harness) -> None:
    h = platform
    a = await h.create_external("a")
    b = await h.create_external("b")
    await save(h, a, workflow_id="w", step_name="s", step_index=1)
    before = await snapshot(h)
    url = f"/workspaces/{a['id']}/checkpoints"
    good = {"workflow_id": "w", "step_name": "s", "step_index": 5}

    assert (await h.client.post(url, json=good)).status_code == 401
    r = await h.client.post(url, json=good, headers=bearer(b))
    assert r.status_code == 401 and r.json()["error"] == "invalid workspace auth token"
    for path in ("", "/latest", "/w"):
        assert (await h.client.get(url + path, headers=bearer(b))).status_code == 401
    assert (await h.client.delete(f"{url}/w", headers=bearer(b))).status_code == 401
    for body in (
        {"step_name": "s"},
        {"workflow_id": "w"},
        {"workflow_id": "", "step_name": "s"},
        {"workflow_id": 1, "step_name": "s"},
        {"workflow_id": "w" * 257, "step_name": "s"},
        {**good, "step_index": "1"},
        {**good, "step_index": True},
        {**good, "step_index": -1},
        {**good, "step_index": 10**9},
        {**good, "payload": "p" * (256 * 1024)},
        [good],
    ):
        r = await h.client.post(url, json=body, headers=bearer(a))
        assert r.status_code == 400, body
    r = await h.client.get(url, params={"workflow_id": "w" * 257}, headers=bearer(a))
    assert r.status_code == 400
    unknown = "00000000-0000-4000-8000-000000000000"
    r = await h.client.post(f"/workspaces/{unknown}/checkpoints", json=good, headers=h.admin)
    assert r.status_code == 404 and r.json()["error"] == "workspace not found"
    r = await h.client.delete(f"/workspaces/{unknown}/checkpoints/w", headers=h.admin)
    assert r.status_code == 404 and r.json()["error"] == "workspace not found"
    assert await snapshot(h) == before
