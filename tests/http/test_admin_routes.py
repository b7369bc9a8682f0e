"""`/admin` routes: the test-token minter and its truth table (upstream-may §8.4), the legacy
`/admin/secrets` alias, and the delegations across every workspace."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from molecule.config import Settings
from molecule.http.auth import SESSION_COOKIE, make_session
from tests.conftest import ADMIN_TOKEN, Harness, make_settings, start_platform
from tests.http.test_registry import auth, heartbeat

ZERO = "00000000-0000-0000-0000-000000000000"
KEY = base64.b64encode(b"k" * 32).decode()


async def live_tokens(h: Harness, wid: str) -> int:
    value: int = await h.svc.store.fetchval(
        "SELECT count(*) FROM workspace_auth_tokens WHERE workspace_id = $1 AND revoked_at IS NULL",
        wid,
    )
    return value


async def all_tokens(h: Harness) -> int:
    value: int = await h.svc.store.fetchval("SELECT count(*) FROM workspace_auth_tokens")
    return value


def test_token_switch_follows_the_original_table() -> None:
    def enabled(**env: str) -> bool:
        return Settings.from_env({"MOLECULE_HOME": "/tmp/x", **env}).test_tokens_enabled

    assert enabled()  # MOLECULE_ENV unset
    assert enabled(MOLECULE_ENV="development") and enabled(MOLECULE_ENV="staging")
    assert enabled(MOLECULE_ENV="prod", SECRETS_ENCRYPTION_KEY=KEY)  # only "production" hides
    assert not enabled(MOLECULE_ENV="production", SECRETS_ENCRYPTION_KEY=KEY)
    assert enabled(
        MOLECULE_ENV="production", SECRETS_ENCRYPTION_KEY=KEY, MOLECULE_ENABLE_TEST_TOKENS="1"
    )
    assert not enabled(
        MOLECULE_ENV="production", SECRETS_ENCRYPTION_KEY=KEY, MOLECULE_ENABLE_TEST_TOKENS="true"
    )


async def test_the_admin_token_mints_a_working_token(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("w")
    wid = ws["id"]
    before = await live_tokens(h, wid)
    for headers in (h.admin, {"Authorization": ADMIN_TOKEN}):  # one `Bearer ` stripped, or none
        r = await h.client.get(f"/admin/workspaces/{wid}/test-token", headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"auth_token", "workspace_id"} and body["workspace_id"] == wid
        r = await heartbeat(h, wid, body["auth_token"])
        assert r.status_code == 200  # the minted token is the workspace's own
    assert await live_tokens(h, wid) == before + 2


async def test_test_token_refusals_mint_nothing(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("w")
    wid, url = ws["id"], f"/admin/workspaces/{ws['id']}/test-token"
    r = await h.client.post("/org/tokens", json={"name": "ops"}, headers=h.admin)
    org = r.json()["auth_token"]
    session = {"Cookie": f"{SESSION_COOKIE}={make_session(ADMIN_TOKEN)}"}
    before = await all_tokens(h)
    refused: list[dict[str, str]] = [
        {},
        auth("wrong"),
        auth(org),  # org tokens never mint workspace tokens (the original's #112)
        session,
        token_of(ws),
        {"Authorization": "Bearer"},
        {"Authorization": f"bearer {ADMIN_TOKEN}"},
        {"Authorization": f"Bearer Bearer {ADMIN_TOKEN}"},
    ]
    for headers in refused:
        r = await h.client.get(url, headers=headers)
        assert r.status_code == 401 and r.json() == {"error": "admin auth required"}, headers
    r = await h.client.get("/admin/workspaces/nope/test-token", headers=h.admin)
    assert r.status_code == 400 and r.json()["error"] == "invalid workspace ID"
    r = await h.client.get(f"/admin/workspaces/{ZERO}/test-token", headers=h.admin)
    assert r.status_code == 404 and r.json()["error"] == "workspace not found"
    await h.client.delete(f"/workspaces/{wid}", headers=h.admin)
    before = await all_tokens(h)
    r = await h.client.get(url, headers=h.admin)
    assert r.status_code == 404 and r.json()["error"] == "workspace not found"
    assert await all_tokens(h) == before


def token_of(ws: dict[str, Any]) -> dict[str, str]:
    return auth(ws["connection"]["auth_token"])


async def test_test_tokens_are_bounded(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("w")
    wid = ws["id"]
    await h.svc.store.execute(
        "INSERT INTO workspace_auth_tokens (workspace_id, token_hash, prefix)"
        " SELECT $1, decode(md5(i::text), 'hex'), 'p' FROM generate_series(1, 49) AS i",
        wid,
    )
    assert await live_tokens(h, wid) == 50
    r = await h.client.get(f"/admin/workspaces/{wid}/test-token", headers=h.admin)
    assert r.status_code == 429
    assert await live_tokens(h, wid) == 50


async def _platform(tmp_path: Path, dsn: str, **settings: Any) -> AsyncIterator[Harness]:
    values = make_settings(tmp_path, dsn, **settings)
    async with trio.open_nursery() as nursery:
        svc, base, stop = await start_platform(values, dsn, nursery)
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            yield Harness(svc, base, client)
        stop.set()


@pytest.fixture
async def production(aio_loop: object, dsn: str, tmp_path: Path) -> AsyncIterator[Harness]:
    async for h in _platform(tmp_path, dsn, test_tokens_enabled=False):
        yield h


@pytest.fixture
async def fail_open(aio_loop: object, dsn: str, tmp_path: Path) -> AsyncIterator[Harness]:
    async for h in _platform(tmp_path, dsn, dev_mode=True, admin_token_env=None):
        yield h


async def test_hidden_in_production(production: Harness) -> None:
    h = production
    ws = await h.create_external("w")
    before = await all_tokens(h)
    for headers in ({}, h.admin):
        r = await h.client.get(f"/admin/workspaces/{ws['id']}/test-token", headers=headers)
        assert r.status_code == 404 and r.json() == {"error": "not found"}
    assert await all_tokens(h) == before


async def test_development_fail_open_needs_no_credential(fail_open: Harness) -> None:
    h = fail_open
    r = await h.client.post("/workspaces", json={"name": "w", "runtime": "external"})
    wid = r.json()["id"]
    r = await h.client.get(f"/admin/workspaces/{wid}/test-token")
    assert r.status_code == 200 and r.json()["workspace_id"] == wid


# -- /admin/secrets ---------------------------------------------------------------------------


async def test_admin_secrets_is_the_global_secrets_alias(platform: Harness) -> None:
    h = platform
    r = await h.client.post("/admin/secrets", json={"key": "API", "value": "v"}, headers=h.admin)
    assert r.status_code == 200
    assert r.json() == {"status": "saved", "key": "API", "scope": "global"}
    listed = (await h.client.get("/admin/secrets", headers=h.admin)).json()
    assert [s["key"] for s in listed] == ["API"] and listed[0]["scope"] == "global"
    assert (await h.client.get("/settings/secrets", headers=h.admin)).json() == listed
    r = await h.client.delete("/admin/secrets/API", headers=h.admin)
    assert r.json() == {"status": "deleted", "key": "API", "scope": "global"}
    r = await h.client.delete("/admin/secrets/API", headers=h.admin)
    assert r.status_code == 404

    ws = await h.create_external("w")
    for headers, error in (({}, "admin auth required"), (token_of(ws), "invalid admin auth token")):
        r = await h.client.post("/admin/secrets", json={"key": "K", "value": "v"}, headers=headers)
        assert r.status_code == 401 and r.json()["error"] == error
        r = await h.client.get("/admin/secrets", headers=headers)
        assert r.status_code == 401
    r = await h.client.post("/admin/secrets", json={"key": "1BAD", "value": "v"}, headers=h.admin)
    assert r.status_code == 400
    assert await h.svc.store.fetchval("SELECT count(*) FROM global_secrets") == 0


# -- /admin/delegations -----------------------------------------------------------------------


async def test_delegations_across_workspaces(platform: Harness) -> None:
    h = platform
    a = await h.create_external("a")
    b = await h.create_external("b")
    target = await h.create_external("t")
    ids = {}
    for name, ws in (("done", a), ("broke", a), ("busy", b), ("old", b)):
        ids[name] = f"d-{name}"
        r = await h.client.post(
            f"/workspaces/{ws['id']}/delegations/record",
            json={"target_id": target["id"], "task": f"task {name}", "delegation_id": ids[name]},
            headers=token_of(ws),
        )
        assert r.status_code == 202, r.text
    update = f"/workspaces/{a['id']}/delegations"
    await h.client.post(
        f"{update}/d-done/update",
        json={"status": "completed", "response_preview": "all good"},
        headers=token_of(a),
    )
    await h.client.post(
        f"{update}/d-broke/update", json={"status": "failed", "error": "boom"}, headers=token_of(a)
    )
    await h.svc.activity.flush()
    await h.svc.store.execute(
        "UPDATE activity_logs SET created_at = now() - interval '7 hours'"
        " WHERE method = 'delegate' AND request_body->>'delegation_id' = 'd-old'"
    )

    async def page(query: str = "") -> dict[str, Any]:
        r = await h.client.get(f"/admin/delegations{query}", headers=h.admin)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    flying = await page()
    assert flying["status"] == "in_flight" and flying["limit"] == 100 and flying["count"] == 1
    [busy] = flying["delegations"]
    assert busy["delegation_id"] == "d-busy" and busy["caller_id"] == b["id"]
    assert busy["callee_id"] == target["id"] and busy["task_preview"] == "task busy"
    assert busy["status"] == "dispatched" and busy["retry_count"] == 0
    assert busy["deadline"] > busy["created_at"] and "result_preview" not in busy
    stuck = await page("?status=stuck")
    assert [d["delegation_id"] for d in stuck["delegations"]] == ["d-old"]
    done = (await page("?status=completed"))["delegations"]
    assert [(d["delegation_id"], d["result_preview"]) for d in done] == [("d-done", "all good")]
    assert done[0]["updated_at"] >= done[0]["created_at"]
    failed = (await page("?status=failed&limit=5"))["delegations"]
    assert [(d["delegation_id"], d["error_detail"]) for d in failed] == [("d-broke", "boom")]
    assert (await page("?status=&limit="))["status"] == "in_flight"  # empty counts as absent

    r = await h.client.get("/admin/delegations/stats", headers=h.admin)
    assert r.json() == {
        "queued": 0,
        "dispatched": 1,
        "in_progress": 0,
        "completed": 1,
        "failed": 1,
        "stuck": 1,
        "pending": 0,
    }


async def test_delegation_views_refusals(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("w")
    for path in ("/admin/delegations", "/admin/delegations/stats"):
        r = await h.client.get(path)
        assert r.status_code == 401 and r.json()["error"] == "admin auth required"
        r = await h.client.get(path, headers=token_of(ws))
        assert r.status_code == 401 and r.json()["error"] == "invalid admin auth token"
    r = await h.client.get("/admin/delegations?status=all", headers=h.admin)
    assert r.status_code == 400
    assert r.json() == {
        "error": "unknown status filter",
        "allowed": ["in_flight", "stuck", "failed", "completed"],
        "requested_status": "all",
    }
    for raw in ("0", "1001", "ten", "-1", "99999999999999999999999"):
        r = await h.client.get(f"/admin/delegations?limit={raw}", headers=h.admin)
        assert r.status_code == 400, raw
        assert r.json() == {"error": "limit must be 1..1000", "requested": raw}
    r = await h.client.get("/admin/delegations/stats", headers=h.admin)
    assert set(r.json().values()) == {0}
