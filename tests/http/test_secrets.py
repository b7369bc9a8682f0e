"""Secrets API: sealed at rest, values only to the workspace, refusals write nothing."""

from __future__ import annotations

from tests.conftest import Harness


async def test_workspace_and_global_secrets(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("s")
    wid, token = ws["id"], ws["connection"]["auth_token"]
    as_ws = {"Authorization": f"Bearer {token}"}

    r = await h.client.post(
        "/settings/secrets", json={"key": "SHARED", "value": "g"}, headers=h.admin
    )
    assert r.json() == {"status": "saved", "key": "SHARED", "scope": "global"}
    r = await h.client.post(
        "/settings/secrets", json={"key": "API_KEY", "value": "g2"}, headers=h.admin
    )
    r = await h.client.put(
        f"/workspaces/{wid}/secrets", json={"key": "API_KEY", "value": "mine"}, headers=as_ws
    )
    assert r.json() == {"status": "saved", "key": "API_KEY"}

    r = await h.client.get(f"/workspaces/{wid}/secrets", headers=as_ws)
    listed = {s["key"]: s["scope"] for s in r.json()}
    assert listed == {"API_KEY": "workspace", "SHARED": "global"}
    assert all("value" not in s for s in r.json())
    r = await h.client.get(f"/workspaces/{wid}/secrets/values", headers=as_ws)
    assert r.json() == {"API_KEY": "mine", "SHARED": "g"}

    raw = await h.svc.store.fetchval(
        "SELECT encrypted_value FROM workspace_secrets WHERE workspace_id = $1", wid
    )
    assert raw == b"mine"  # no SECRETS_ENCRYPTION_KEY in this platform: version 0

    r = await h.client.delete(f"/workspaces/{wid}/secrets/API_KEY", headers=as_ws)
    assert r.json() == {"status": "deleted", "key": "API_KEY"}
    r = await h.client.get(f"/workspaces/{wid}/secrets/values", headers=as_ws)
    assert r.json() == {"API_KEY": "g2", "SHARED": "g"}
    r = await h.client.delete(f"/workspaces/{wid}/secrets/API_KEY", headers=as_ws)
    assert r.status_code == 404


async def test_secret_refusals(platform: Harness) -> None:
    h = platform
    a = await h.create_external("a")
    b = await h.create_external("b")
    as_a = {"Authorization": f"Bearer {a['connection']['auth_token']}"}
    for body in ({"key": "1BAD", "value": "x"}, {"key": "OK"}, {"value": "x"}, [1]):
        r = await h.client.post(f"/workspaces/{a['id']}/secrets", json=body, headers=as_a)
        assert r.status_code == 400, body
    r = await h.client.post(
        f"/workspaces/{b['id']}/secrets", json={"key": "K", "value": "v"}, headers=as_a
    )
    assert r.status_code == 401
    r = await h.client.get(f"/workspaces/{b['id']}/secrets/values", headers=as_a)
    assert r.status_code == 401
    r = await h.client.post("/settings/secrets", json={"key": "K", "value": "v"}, headers=as_a)
    assert r.status_code == 401
    count = await h.svc.store.fetchval(
        "SELECT (SELECT count(*) FROM workspace_secrets) + (SELECT count(*) FROM global_secrets)"
    )
    assert count == 0


async def test_encrypted_at_rest_with_a_key(platform: Harness) -> None:
    from molecule.security.crypto import SecretBox

    h = platform
    h.svc.secrets.box = SecretBox(b"k" * 32)
    await h.client.post(
        "/settings/secrets", json={"key": "TOKEN", "value": "s3cret"}, headers=h.admin
    )
    row = await h.svc.store.fetchrow(
        "SELECT encrypted_value, encryption_version FROM global_secrets WHERE key = 'TOKEN'"
    )
    assert row is not None and row["encryption_version"] == 1
    assert b"s3cret" not in row["encrypted_value"]
    loaded = await h.svc.secrets.load((await h.create_external("x"))["id"])
    assert loaded.values["TOKEN"] == "s3cret"
    h.svc.secrets.box = SecretBox(b"j" * 32)  # wrong key: reported, never garbage
    loaded = await h.svc.secrets.load((await h.create_external("y"))["id"])
    assert loaded.failed_global == ["TOKEN"] and "TOKEN" not in loaded.values
