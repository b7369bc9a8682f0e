"""Key/value memory: versions, optimistic concurrency (409), TTL expiry, bounds, refusals that
change nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trio

from molecule.http import kv_memory
from tests.conftest import Harness

ROWS = "SELECT key, value, version, expires_at FROM workspace_memory ORDER BY workspace_id, key"


def bearer(ws: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {ws['connection']['auth_token']}"}


async def put(h: Harness, ws: dict[str, Any], body: Any) -> Any:
    return await h.client.post(f"/workspaces/{ws['id']}/memory", json=body, headers=bearer(ws))


async def snapshot(h: Harness) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await h.svc.store.fetch(ROWS)]


async def test_write_read_list_delete(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("kv")
    url = f"/workspaces/{ws['id']}/memory"

    r = await put(h, ws, {"key": "plan", "value": {"steps": [1, 2], "done": False}})
    assert r.status_code == 200 and r.json() == {"status": "ok", "key": "plan", "version": 1}
    r = await put(h, ws, {"key": "plan", "value": {"steps": [1, 2, 3]}})
    assert r.json()["version"] == 2
    for value in (None, "text", 7, [1, "a"]):  # any JSON value, null included
        assert (await put(h, ws, {"key": f"k-{value}", "value": value})).status_code == 200
    r = await put(h, ws, {"key": "nested/path key", "value": 1})
    assert r.status_code == 200

    r = await h.client.get(f"{url}/plan", headers=bearer(ws))
    body = r.json()
    assert body["key"] == "plan" and body["value"] == {"steps": [1, 2, 3]}
    assert body["version"] == 2 and "expires_at" not in body
    assert body["updated_at"].endswith("Z")
    r = await h.client.get(f"{url}/k-None", headers=bearer(ws))
    assert r.status_code == 200 and r.json()["value"] is None
    r = await h.client.get(f"{url}/nested/path key", headers=bearer(ws))
    assert r.status_code == 200 and r.json()["value"] == 1

    r = await h.client.get(url, headers=bearer(ws))
    assert [e["key"] for e in r.json()] == sorted(
        ["plan", "k-None", "k-text", "k-7", "k-[1, 'a']", "nested/path key"]
    )

    r = await h.client.delete(f"{url}/plan", headers=bearer(ws))
    assert r.status_code == 200 and r.json() == {"status": "deleted"}
    r = await h.client.get(f"{url}/plan", headers=bearer(ws))
    assert r.status_code == 404 and r.json() == {"error": "key not found"}
    r = await h.client.delete(f"{url}/plan", headers=bearer(ws))
    assert r.status_code == 200  # deleting an absent key is not an error, as in the original


async def test_if_match_version(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("occ")

    r = await put(h, ws, {"key": "ledger", "value": [], "if_match_version": 0})
    assert r.status_code == 200 and r.json()["version"] == 1  # 0: create only
    r = await put(h, ws, {"key": "ledger", "value": ["a"], "if_match_version": 1})
    assert r.status_code == 200 and r.json()["version"] == 2
    before = await snapshot(h)

    r = await put(h, ws, {"key": "ledger", "value": ["stale"], "if_match_version": 1})
    assert r.status_code == 409
    assert r.json() == {
        "error": "if_match_version mismatch",
        "expected_version": 1,
        "current_version": 2,
    }
    r = await put(h, ws, {"key": "ledger", "value": ["again"], "if_match_version": 0})
    assert r.status_code == 409 and r.json()["current_version"] == 2
    r = await put(h, ws, {"key": "ghost", "value": 1, "if_match_version": 3})
    assert r.status_code == 409
    assert r.json() == {
        "error": "if_match_version mismatch: key does not exist",
        "expected_version": 3,
        "current_version": None,
    }
    assert await snapshot(h) == before


async def test_ttl_expiry(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("ttl")
    url = f"/workspaces/{ws['id']}/memory"

    r = await put(h, ws, {"key": "soon", "value": "x", "ttl_seconds": 1})
    assert r.status_code == 200
    await put(h, ws, {"key": "later", "value": "y", "ttl_seconds": 3600})
    r = await h.client.get(f"{url}/later", headers=bearer(ws))
    expires = datetime.fromisoformat(r.json()["expires_at"])
    assert timedelta(seconds=3590) < expires - datetime.now(UTC) <= timedelta(seconds=3600)
    r = await h.client.get(f"{url}/soon", headers=bearer(ws))
    assert r.status_code == 200

    await trio.sleep(1.2)  # real time: the database's clock decides
    r = await h.client.get(f"{url}/soon", headers=bearer(ws))
    assert r.status_code == 404
    assert [e["key"] for e in (await h.client.get(url, headers=bearer(ws))).json()] == ["later"]

    # An expired key counts as absent for if_match_version, but its version carries on.
    r = await put(h, ws, {"key": "soon", "value": "new", "if_match_version": 0})
    assert r.status_code == 200 and r.json()["version"] == 2
    r = await h.client.get(f"{url}/soon", headers=bearer(ws))
    assert r.json()["value"] == "new" and "expires_at" not in r.json()

    # Expired rows do not pile up: a successful write clears the workspace's others.
    await h.svc.store.execute(
        "UPDATE workspace_memory SET expires_at = now() - interval '1 second' WHERE key = 'later'"
    )
    await put(h, ws, {"key": "other", "value": 1})
    keys = [r["key"] for r in await h.svc.store.fetch("SELECT key FROM workspace_memory")]
    assert sorted(keys) == ["other", "soon"]


async def test_live_key_bound(platform: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    h = platform
    monkeypatch.setattr(kv_memory, "MAX_KEYS", 2)
    ws = await h.create_external("bounded")
    other = await h.create_external("other")
    assert (await put(h, ws, {"key": "a", "value": 1})).status_code == 200
    assert (await put(h, ws, {"key": "b", "value": 1})).status_code == 200
    before = await snapshot(h)
    r = await put(h, ws, {"key": "c", "value": 1})
    assert r.status_code == 429 and r.json() == {"error": "maximum 2 keys per workspace"}
    assert await snapshot(h) == before
    assert (await put(h, ws, {"key": "a", "value": 2})).status_code == 200  # not a new key
    assert (await put(h, other, {"key": "c", "value": 1})).status_code == 200  # per workspace
    await h.svc.store.execute(
        "UPDATE workspace_memory SET expires_at = now() - interval '1 second' WHERE key = 'b'"
    )
    assert (await put(h, ws, {"key": "c", "value": 1})).status_code == 200  # b expired


async def test_refusals_change_nothing(platform: Harness) -> None:
    h = platform
    a = await h.create_external("a")
    b = await h.create_external("b")
    await put(h, a, {"key": "k", "value": 1})
    before = await snapshot(h)
    url = f"/workspaces/{a['id']}/memory"

    assert (await h.client.post(url, json={"key": "k", "value": 2})).status_code == 401
    r = await h.client.post(url, json={"key": "k", "value": 2}, headers=bearer(b))
    assert r.status_code == 401 and r.json()["error"] == "invalid workspace auth token"
    assert (await h.client.get(f"{url}/k", headers=bearer(b))).status_code == 401
    assert (await h.client.get(url, headers=bearer(b))).status_code == 401
    assert (await h.client.delete(f"{url}/k", headers=bearer(b))).status_code == 401
    assert (await h.client.delete(f"{url}/k")).status_code == 401
    for body, error in (
        ({"value": 1}, "key is required"),
        ({"key": "", "value": 1}, "key is required"),
        ({"key": 5, "value": 1}, "key is required"),
        ({"key": "k" * 257, "value": 1}, "key must be at most 256 characters"),
        ({"key": "k"}, "value is required"),
        ({"key": "k", "value": "v" * (64 * 1024)}, "value must be at most 65536 bytes of JSON"),
        ({"key": "k", "value": 2, "ttl_seconds": 0}, None),
        ({"key": "k", "value": 2, "ttl_seconds": -5}, None),
        ({"key": "k", "value": 2, "ttl_seconds": True}, None),
        ({"key": "k", "value": 2, "ttl_seconds": "60"}, None),
        ({"key": "k", "value": 2, "ttl_seconds": 10**12}, None),
        ({"key": "k", "value": 2, "if_match_version": -1}, None),
        ({"key": "k", "value": 2, "if_match_version": 1.5}, None),
        ("not an object", "invalid request body"),
    ):
        r = await h.client.post(url, json=body, headers=bearer(a))
        assert r.status_code == 400, body
        if error is not None:
            assert r.json()["error"] == error, body
    unknown = "00000000-0000-4000-8000-000000000000"
    r = await h.client.post(
        f"/workspaces/{unknown}/memory", json={"key": "k", "value": 1}, headers=h.admin
    )
    assert r.status_code == 404 and r.json()["error"] == "workspace not found"
    r = await h.client.get(f"/workspaces/{unknown}/memory", headers=h.admin)
    assert r.status_code == 404
    r = await h.client.get("/workspaces/xyz/memory", headers=h.admin)
    assert r.status_code == 400
    assert await snapshot(h) == before

    r = await h.client.post(url, json={"key": "k", "value": 3}, headers=h.admin)
    assert r.status_code == 200 and r.json()["version"] == 2
