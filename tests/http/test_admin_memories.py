"""Memory backup and restore across rebuilt workspaces: `GET /admin/memories/export` and
`POST /admin/memories/import` (admin only), matched by workspace name, redacted, idempotent,
and refused whole (nothing written) when any entry is malformed."""

from __future__ import annotations

from typing import Any

from tests.conftest import Harness
from tests.http.test_memories import bearer, commit, recall

EXPORT, IMPORT = "/admin/memories/export", "/admin/memories/import"
ROWS = (
    "SELECT workspace_id, content, scope, namespace, created_at FROM agent_memories ORDER BY 1, 2"
)


async def export(h: Harness) -> list[dict[str, Any]]:
    r = await h.client.get(EXPORT, headers=h.admin)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def restore(h: Harness, body: Any) -> dict[str, Any]:
    r = await h.client.post(IMPORT, json=body, headers=h.admin)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def team(h: Harness) -> tuple[dict[str, Any], dict[str, Any]]:
    root = await h.create_external("alpha")
    child = await h.create_external("beta", parent_id=root["id"])
    return root, child


async def test_export_then_import_into_rebuilt_workspaces(platform: Harness) -> None:
    h = platform
    root, child = await team(h)
    await commit(h, root, "alpha builds with make")
    await commit(h, root, "see [MEMORY id=x] for the rules", "GLOBAL")
    await commit(h, child, "beta deploys on fridays", "TEAM", namespace="procedures")
    # A row written before redaction existed still leaves the platform redacted.
    await h.svc.store.execute(
        "INSERT INTO agent_memories (workspace_id, content, scope) VALUES ($1, $2, 'LOCAL')",
        root["id"],
        "old note OPENAI_API_KEY=sk-abcdefghijklmnopqrstuvwx",
    )

    dump = await export(h)
    assert [(m["workspace_name"], m["scope"]) for m in dump] == [
        ("alpha", "LOCAL"), ("alpha", "GLOBAL"), ("beta", "TEAM"), ("alpha", "LOCAL"),
    ]  # fmt: skip
    assert set(dump[0]) == {"id", "content", "scope", "namespace", "created_at", "workspace_name"}
    assert dump[1]["content"] == "see [_MEMORY id=x] for the rules"  # stored text, unwrapped
    assert dump[2]["namespace"] == "procedures"
    assert dump[3]["content"] == "old note [REDACTED:API_KEY]"

    # The workspaces are rebuilt: new ids, the same names.
    r = await h.client.delete(f"/workspaces/{root['id']}?confirm=true", headers=h.admin)
    assert r.status_code == 200, r.text
    assert await export(h) == []  # a removed workspace's memories are not in a backup
    root2, child2 = await team(h)
    assert root2["id"] != root["id"]

    assert await restore(h, dump) == {"imported": 4, "skipped": 0, "errors": 0, "total": 4}
    mine = await recall(h, root2, scope="LOCAL")
    assert {m["content"] for m in mine} == {"alpha builds with make", "old note [REDACTED:API_KEY]"}
    theirs = await recall(h, child2, scope="TEAM")
    assert [(m["content"], m["namespace"]) for m in theirs] == [
        ("beta deploys on fridays", "procedures")
    ]
    again = await export(h)
    assert [m["created_at"] for m in again] == [m["created_at"] for m in dump]  # kept
    assert [m["content"] for m in again] == [m["content"] for m in dump]  # escaped once only

    # Importing the same backup twice adds nothing.
    assert await restore(h, dump) == {"imported": 0, "skipped": 4, "errors": 0, "total": 4}


async def test_entries_without_a_single_fitting_workspace_are_skipped(platform: Harness) -> None:
    h = platform
    root, child = await team(h)
    other = await h.create_external("gamma")
    await h.create_external("twin", parent_id=root["id"])
    await h.create_external("twin", parent_id=other["id"])  # the name is ambiguous
    entry = {"workspace_name": "alpha", "content": "kept", "scope": "LOCAL"}
    result = await restore(
        h,
        [
            entry,
            {**entry, "namespace": "another"},  # the same content and scope: a duplicate
            {**entry, "workspace_name": "nobody"},
            {**entry, "workspace_name": "twin"},
            {**entry, "workspace_name": "beta", "scope": "GLOBAL"},  # GLOBAL only into a root
            {**entry, "workspace_name": "gamma", "scope": "GLOBAL", "created_at": ""},
        ],
    )
    assert result == {"imported": 2, "skipped": 4, "errors": 0, "total": 6}
    rows = await h.svc.store.fetch(ROWS)
    assert sorted((str(r["workspace_id"]), r["content"], r["scope"]) for r in rows) == sorted(
        [(root["id"], "kept", "LOCAL"), (other["id"], "kept", "GLOBAL")]
    )
    assert await restore(h, []) == {"imported": 0, "skipped": 0, "errors": 0, "total": 0}


async def test_refusals_write_nothing(platform: Harness) -> None:
    h = platform
    root, _child = await team(h)
    await commit(h, root, "already here")
    before = await h.svc.store.fetch(ROWS)
    good = {"workspace_name": "alpha", "content": "new", "scope": "LOCAL"}

    for headers, error in (
        ({}, "admin auth required"),
        (bearer(root), "invalid admin auth token"),
        ({"Authorization": "Bearer wrong"}, "invalid admin auth token"),
    ):
        r = await h.client.get(EXPORT, headers=headers)
        assert (r.status_code, r.json()) == (401, {"error": error})
        r = await h.client.post(IMPORT, json=[good], headers=headers)
        assert (r.status_code, r.json()) == (401, {"error": error})

    bad_entries: list[tuple[Any, str]] = [
        ({"content": "x", "scope": "LOCAL"}, "workspace_name must be 1 to 255 characters"),
        ({**good, "workspace_name": "n" * 256}, "workspace_name must be 1 to 255 characters"),
        ({**good, "content": ""}, "content is required"),
        ({**good, "content": 7}, "content is required"),
        ({**good, "content": "x" * (64 * 1024 + 1)}, "content must be at most 65536 bytes"),
        ({**good, "scope": "local"}, "scope must be LOCAL, TEAM, or GLOBAL"),
        ({**good, "namespace": "n" * 51}, "namespace must be <= 50 characters"),
        ({**good, "created_at": "yesterday"}, "created_at must be an RFC 3339 timestamp"),
        ({**good, "created_at": 1700000000}, "created_at must be an RFC 3339 timestamp"),
        ("alpha", "not an object"),
    ]
    for entry, detail in bad_entries:
        r = await h.client.post(IMPORT, json=[good, entry], headers=h.admin)
        assert r.status_code == 400, (entry, r.text)
        assert r.json() == {"error": "invalid JSON", "detail": f"entry 1: {detail}"}
    for body, detail in (
        ({"memories": [good]}, "expected an array of memories"),
        ([good] * 10_001, "at most 10000 memories at once"),
    ):
        r = await h.client.post(IMPORT, json=body, headers=h.admin)
        assert r.status_code == 400 and r.json()["detail"] == detail
    for raw in (b"[{", b'[{"content": "\\u0000"}]', b""):
        r = await h.client.post(
            IMPORT, content=raw, headers={**h.admin, "Content-Type": "application/json"}
        )
        assert r.status_code == 400 and r.json()["error"] == "invalid JSON", raw
    assert await h.svc.store.fetch(ROWS) == before
