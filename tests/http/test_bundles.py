"""Bundles over real HTTP: export, import (as a root or under a parent) and export again
gives the same document but for the ids; secret values never leave; the original's bundle
shape imports; every refusal creates nothing; a partial failure is a 207."""

from __future__ import annotations

import copy
from typing import Any

from molecule.jsontext import dumps
from tests.conftest import Harness
from tests.e2e.test_org_team import without_ids
from tests.http.test_org_import import snapshot, trigger_failure

SECRET_VALUE = "never-leaves-0123456789abcdef"
TREE = {
    "name": "Bundled",
    "global_memories": [{"content": "for everyone"}],
    "workspaces": [
        {
            "name": "Root",
            "runtime": "mock",
            "role": "the top",
            "schedules": [
                {"name": "daily", "cron_expr": "0 9 * * *", "timezone": "Europe/Paris",
                 "prompt": "report"},
                {"name": "off", "cron_expr": "*/5 * * * *", "prompt": "poll", "enabled": False},
            ],
            "initial_memories": [{"content": "mine"}, {"content": "ours", "scope": "TEAM"}],
            "children": [
                {"name": "Helper", "runtime": "mock", "max_concurrent_tasks": 4},
                {"name": "Remote", "external": True, "url": "http://localhost:7000"},
            ],
        }
    ],
}  # fmt: skip


async def export(h: Harness, wid: str) -> Any:
    r = await h.client.get(f"/bundles/export/{wid}", headers=h.admin)
    assert r.status_code == 200, r.text
    return r.json()


async def import_bundle(h: Harness, bundle: Any, parent: str | None = None) -> Any:
    query = f"?parent_id={parent}" if parent else ""
    return await h.client.post(
        f"/bundles/import{query}",
        content=dumps(bundle),
        headers={**h.admin, "Content-Type": "application/json"},
    )


async def test_round_trip_modulo_ids(platform: Harness) -> None:
    h = platform
    r = await h.client.post("/org/import", json={"template": TREE}, headers=h.admin)
    assert r.status_code == 201, r.text
    root, helper, remote = (w["id"] for w in r.json()["workspaces"])
    r = await h.client.post(
        f"/workspaces/{helper}/memory", json={"key": "k", "value": {"n": [1, 2]}}, headers=h.admin
    )
    assert r.status_code == 200, r.text
    r = await h.client.put(
        f"/workspaces/{root}/secrets",
        json={"key": "ROOT_KEY", "value": SECRET_VALUE},
        headers=h.admin,
    )
    assert r.status_code == 200

    r = await h.client.get(f"/bundles/export/{root}", headers=h.admin)
    assert SECRET_VALUE not in r.text
    first = r.json()
    assert first["secrets"] == ["ROOT_KEY"] and first["role"] == "the top"
    assert [s["name"] for s in first["schedules"]] == ["daily", "off"]
    assert first["schedules"][0]["timezone"] == "Europe/Paris"
    assert [(m["content"], m["scope"]) for m in first["memories"]] == [
        ("mine", "LOCAL"),
        ("ours", "TEAM"),
        ("for everyone", "GLOBAL"),
    ]
    helper_node, remote_node = first["sub_workspaces"]
    assert helper_node["kv"] == [{"key": "k", "value": {"n": [1, 2]}}]
    assert helper_node["max_concurrent_tasks"] == 4
    assert remote_node["external"] is True and remote_node["url"] == "http://localhost:7000"

    # Under another parent: a GLOBAL memory cannot follow (only roots hold them).
    r = await h.client.post("/workspaces", json={"name": "Home", "runtime": "mock"},
                            headers=h.admin)  # fmt: skip
    home = r.json()["id"]
    before = await snapshot(h)
    r = await import_bundle(h, first, home)
    assert r.status_code == 400 and "GLOBAL" in r.json()["detail"]
    assert await snapshot(h) == before
    local_only = copy.deepcopy(first)
    local_only["memories"] = local_only["memories"][:2]
    r = await import_bundle(h, local_only, home)
    assert r.status_code == 201, r.text
    answer = r.json()
    assert answer["count"] == 3 and answer["secrets_to_set"] == ["ROOT_KEY"]
    assert [c["name"] for c in answer["children"]] == ["Helper", "Remote"]
    assert (await h.row(answer["workspace_id"]) or {})["parent_id"] == home
    again = await export(h, answer["workspace_id"])
    assert again["secrets"] == []
    assert without_ids({**again, "secrets": ["ROOT_KEY"]}) == without_ids(local_only)

    # As a root, once the original is gone (names are unique among roots).
    r = await h.client.delete(f"/workspaces/{root}?confirm=true", headers=h.admin)
    assert r.status_code == 200
    r = await import_bundle(h, first)
    assert r.status_code == 201, r.text
    again = await export(h, r.json()["workspace_id"])
    assert without_ids({**again, "secrets": ["ROOT_KEY"]}) == without_ids(first)
    new_ids = {r.json()["workspace_id"], *(c["workspace_id"] for c in r.json()["children"])}
    assert not new_ids & {root, helper, remote}


async def test_the_original_bundle_shape_imports(platform: Harness) -> None:
    h = platform
    legacy = {
        "schema": "1.0",
        "id": "ws-from-elsewhere",
        "name": "Legacy",
        "description": "an old role",
        "tier": 2,
        "agent_card": {"name": "Legacy"},
        "prompts": {
            "config.yaml": "name: Legacy\nruntime: echo\nruntime_config:\n  adapter: echo\n"
        },
        "system_prompt": "be brief",
        "skills": [{"id": "notes", "files": {"SKILL.md": "# Notes\ntake notes"}}],
        "sub_workspaces": [{"name": "Kid", "prompts": {"config.yaml": "runtime: mock\n"}}],
    }  # fmt: skip
    r = await import_bundle(h, legacy)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["name"] == "Legacy" and body["status"] == "provisioning"
    assert body["children"][0]["status"] == "online"
    row = await h.row(body["workspace_id"])
    assert row is not None and row["role"] == "an old role" and row["runtime"] == "echo"
    p = h.svc.pipeline.provisioner
    assert p is not None
    assert await p.read_file(body["workspace_id"], "/configs/system-prompt.md") == b"be brief"
    skill = await p.read_file(body["workspace_id"], "/configs/skills/notes/SKILL.md")
    assert skill.startswith(b"# Notes")


async def test_207_when_some_cannot_be_created(platform: Harness) -> None:
    h = platform
    await trigger_failure(h, "Broken")
    bundle = {
        "name": "Top",
        "runtime": "mock",
        "sub_workspaces": [
            {
                "name": "Broken",
                "runtime": "mock",
                "sub_workspaces": [{"name": "Under", "runtime": "mock"}],
            },
            {"name": "Fine", "runtime": "mock"},
        ],
    }
    r = await import_bundle(h, bundle)
    assert r.status_code == 207, r.text
    body = r.json()
    broken, fine = body["children"]
    assert broken["workspace_id"] is None and broken["status"] == "failed"
    assert broken["children"][0]["error"] == "not created: its parent could not be created"
    assert fine["status"] == "online" and body["count"] == 2 and body["failed_count"] == 2
    names = {r["name"] for r in await h.svc.store.fetch("SELECT name FROM workspaces")}
    assert names == {"Top", "Fine"}


def nested(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {"name": f"L{levels}", "runtime": "mock"}
    for i in range(levels - 1, -1, -1):
        node = {"name": f"L{i}", "runtime": "mock", "sub_workspaces": [node]}
    return node


def one(**fields: Any) -> dict[str, Any]:
    return {"name": "B", "runtime": "mock", **fields}


async def test_refusals_create_nothing(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("someone")
    token = {"Authorization": f"Bearer {ws['connection']['auth_token']}"}
    before = await snapshot(h)
    for path, headers, status, error in (
        (f"/bundles/export/{ws['id']}", {}, 401, "admin auth required"),
        (f"/bundles/export/{ws['id']}", token, 401, "invalid admin auth token"),
        ("/bundles/export/not-a-uuid", h.admin, 400, "invalid workspace ID"),
        ("/bundles/export/00000000-0000-0000-0000-000000000000", h.admin, 404, "bundle not found"),
    ):
        r = await h.client.get(path, headers=headers)
        assert (r.status_code, r.json()["error"]) == (status, error), path
    for headers, error in (({}, "admin auth required"), (token, "invalid admin auth token")):
        r = await h.client.post("/bundles/import", json=one(), headers=headers)
        assert (r.status_code, r.json()["error"]) == (401, error)

    cases: list[tuple[Any, str, int, str]] = [
        (b"{", "", 400, "invalid bundle"),
        ([one()], "", 400, "invalid bundle"),
        ({"runtime": "mock"}, "", 400, "invalid bundle"),
        (one(name="a|b"), "", 400, "invalid bundle"),
        (one(runtime="claude-code"), "", 400, "invalid bundle"),
        ({"name": "B", "files": {"config.yaml": "[" * 5000}}, "", 400, "invalid bundle"),
        (one(files={"../escape": "x"}), "", 400, "invalid bundle"),
        (one(files={".auth_token": "x"}), "", 400, "invalid bundle"),
        (one(files={"sub/.env": "x"}), "", 400, "invalid bundle"),
        (one(schedules=[{"name": "s", "cron_expr": "61 * * * *", "prompt": "p"}]), "", 400,
         "invalid bundle"),
        (one(kv=[{"key": "k", "value": "x" * 70_000}]), "", 400, "invalid bundle"),
        (one(sub_workspaces=[one(memories=[{"content": "c", "scope": "GLOBAL"}])]), "", 400,
         "invalid bundle"),
        (one(sub_workspaces=[one(), one()]), "", 400, "invalid bundle"),
        (nested(11), "", 400, "invalid bundle"),
        (one(), "?parent_id=nope", 400, "parent_id must be a UUID"),
        (one(), "?parent_id=00000000-0000-0000-0000-000000000000", 400,
         "parent_id must reference an existing workspace"),
        ({**one(), "files": {"big.md": "x" * (9 * 1024 * 1024)}}, "", 413,
         "request body too large"),
    ]  # fmt: skip
    for body, query, status, error in cases:
        raw = body if isinstance(body, bytes) else dumps(body).encode()
        r = await h.client.post(
            f"/bundles/import{query}",
            content=raw,
            headers={**h.admin, "Content-Type": "application/json"},
        )
        assert (r.status_code, r.json().get("error")) == (status, error), (query, r.text[:300])
        assert await snapshot(h) == before
