"""Platform instructions: admin CRUD with the original's messages, and a workspace's resolved
markdown (global rules, then its own, by priority)."""

from __future__ import annotations

from typing import Any

from tests.conftest import Harness

ROWS = (
    "SELECT id, scope, scope_target, title, content, priority, enabled FROM platform_instructions"
)


def bearer(ws: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {ws['connection']['auth_token']}"}


async def create(h: Harness, **body: Any) -> str:
    r = await h.client.post("/instructions", json=body, headers=h.admin)
    assert r.status_code == 201, r.text
    assert set(r.json()) == {"id"}
    return r.json()["id"]  # type: ignore[no-any-return]


async def snapshot(h: Harness) -> set[tuple[Any, ...]]:
    return {tuple(r) for r in await h.svc.store.fetch(ROWS)}


async def test_resolve_orders_global_then_workspace_by_priority(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("agent")
    other = await h.create_external("other")
    await create(h, scope="global", title="Be kind", content="Always.", priority=1)
    await create(h, scope="global", title="Be brief", content="Short answers.", priority=5)
    await create(h, scope="workspace", scope_target=ws["id"], title="Role", content="You test.")
    await create(h, scope="workspace", scope_target=other["id"], title="Not mine", content="x")
    off = await create(h, scope="global", title="Disabled", content="hidden", priority=9)
    r = await h.client.put(f"/instructions/{off}", json={"enabled": False}, headers=h.admin)
    assert r.status_code == 200 and r.json() == {"status": "updated"}

    r = await h.client.get(f"/workspaces/{ws['id']}/instructions/resolve", headers=bearer(ws))
    assert r.status_code == 200
    assert r.json() == {
        "workspace_id": ws["id"],
        "instructions": "\n## Platform-Wide Rules\n\n"
        "### Be brief\nShort answers.\n\n"
        "### Be kind\nAlways.\n\n"
        "\n## Role-Specific Rules\n\n"
        "### Role\nYou test.\n\n",
    }
    r = await h.client.get(f"/workspaces/{other['id']}/instructions/resolve", headers=bearer(ws))
    assert r.status_code == 401
    r = await h.client.get(f"/workspaces/{ws['id']}/instructions/resolve")
    assert r.status_code == 401
    unknown = "00000000-0000-4000-8000-000000000000"
    r = await h.client.get(f"/workspaces/{unknown}/instructions/resolve", headers=h.admin)
    assert r.status_code == 404

    r = await h.client.get("/instructions", params={"workspace_id": ws["id"]}, headers=h.admin)
    assert [i["title"] for i in r.json()] == ["Be brief", "Be kind", "Role"]
    r = await h.client.get("/instructions", params={"scope": "workspace"}, headers=h.admin)
    assert {i["title"] for i in r.json()} == {"Role", "Not mine"}
    r = await h.client.get("/instructions", headers=h.admin)
    assert len(r.json()) == 5
    first = r.json()[0]
    assert set(first) == {
        "id", "scope", "scope_target", "title", "content", "priority", "enabled",
        "created_at", "updated_at",
    }  # fmt: skip


async def test_update_and_delete(platform: Harness) -> None:
    h = platform
    iid = await create(h, scope="global", title="Old", content="old text", priority=2)
    r = await h.client.put(f"/instructions/{iid}", json={"title": "New"}, headers=h.admin)
    assert r.status_code == 200
    row = await h.svc.store.fetchrow(
        "SELECT title, content, priority, enabled FROM platform_instructions WHERE id = $1", iid
    )
    assert tuple(row) == ("New", "old text", 2, True)  # type: ignore[arg-type]
    r = await h.client.put(
        f"/instructions/{iid}", json={"content": "c", "priority": -3}, headers=h.admin
    )
    assert r.status_code == 200

    r = await h.client.delete(f"/instructions/{iid}", headers=h.admin)
    assert r.status_code == 200 and r.json() == {"status": "deleted"}
    r = await h.client.delete(f"/instructions/{iid}", headers=h.admin)
    assert r.status_code == 404 and r.json() == {"error": "instruction not found"}
    r = await h.client.put(f"/instructions/{iid}", json={"title": "x"}, headers=h.admin)
    assert r.status_code == 404 and r.json() == {"error": "instruction not found"}


async def test_refusals_change_nothing(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("agent")
    iid = await create(h, scope="global", title="Keep", content="kept", priority=1)
    before = await snapshot(h)
    good = {"scope": "global", "title": "t", "content": "c"}

    for method, path in (
        ("GET", "/instructions"),
        ("POST", "/instructions"),
        ("PUT", f"/instructions/{iid}"),
        ("DELETE", f"/instructions/{iid}"),
    ):
        r = await h.client.request(method, path, json=good)
        assert r.status_code == 401 and r.json()["error"] == "admin auth required", path
        r = await h.client.request(method, path, json=good, headers=bearer(ws))
        assert r.status_code == 401 and r.json()["error"] == "invalid admin auth token", path

    for body, error in (
        ({"scope": "global", "title": "t"}, "scope, title, and content are required"),
        ({"title": "t", "content": "c"}, "scope, title, and content are required"),
        ({**good, "title": ""}, "scope, title, and content are required"),
        ({**good, "priority": "high"}, "scope, title, and content are required"),
        ({**good, "scope": "team"},
         "scope must be global or workspace (team scope not yet supported)"),
        ({**good, "scope": "workspace"}, "scope_target required for workspace scope"),
        ({**good, "scope": "workspace", "scope_target": "abc"},
         "scope_target must be a workspace ID"),
        ({**good, "title": "t" * 201}, "title exceeds 200 chars"),
        ({**good, "content": "c" * 8193}, "content exceeds 8192 chars"),
        ({**good, "priority": 10**10}, "priority must be between -1000000 and 1000000"),
        ([good], "scope, title, and content are required"),
    ):  # fmt: skip
        r = await h.client.post("/instructions", json=body, headers=h.admin)
        assert r.status_code == 400, body
        assert r.json()["error"] == error, body
    for body in (
        {"title": 5},
        {"enabled": "yes"},
        {"priority": True},
        {"content": "c" * 8193},
        {"title": "t" * 201},
        "x",
    ):
        r = await h.client.put(f"/instructions/{iid}", json=body, headers=h.admin)
        assert r.status_code == 400, body
    r = await h.client.put("/instructions/nope", json={"title": "x"}, headers=h.admin)
    assert r.status_code == 400 and r.json()["error"] == "invalid instruction ID"
    r = await h.client.delete("/instructions/nope", headers=h.admin)
    assert r.status_code == 400
    r = await h.client.get("/instructions", params={"workspace_id": "nope"}, headers=h.admin)
    assert r.status_code == 400
    assert await snapshot(h) == before


async def test_instruction_count_bound(platform: Harness, monkeypatch: Any) -> None:
    from molecule.http import instructions

    h = platform
    monkeypatch.setattr(instructions, "MAX_INSTRUCTIONS", 1)
    await create(h, scope="global", title="one", content="c")
    r = await h.client.post(
        "/instructions", json={"scope": "global", "title": "two", "content": "c"}, headers=h.admin
    )
    assert r.status_code == 429 and r.json() == {"error": "maximum 1 instructions"}
    assert await h.svc.store.fetchval("SELECT count(*) FROM platform_instructions") == 1
