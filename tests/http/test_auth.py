"""Who may call what, over real HTTP (docs/compatibility.md §3 and #d5).

- the credential matrix for WorkspaceAuth and AdminAuth routes;
- browser login (`/?token=`) and its session cookie;
- org API tokens and per-workspace tokens (docs/compatibility.md §3.1);
- the development fail-open, and its absence everywhere else;
- refused writes leave the database as it was.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from molecule.http import token_routes as tokens_routes
from molecule.http.auth import SESSION_COOKIE, SESSION_TTL, make_session
from tests.conftest import ADMIN_TOKEN, Harness, make_settings, start_platform

WRONG = "not-a-real-token-0000000000000000000000000"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(base_url: str, token: str = ADMIN_TOKEN) -> httpx.Response:
    """GET /?token=... from a client of its own, so no cookie leaks into `h.client`'s jar."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        return await client.get("/", params={"token": token}, follow_redirects=False)


async def session_cookie(h: Harness) -> str:
    r = await login(h.base_url)
    assert r.status_code == 302, r.text
    return r.headers["set-cookie"].split(";", 1)[0]


@dataclass
class World:
    """Two workspaces with their connection tokens, an org token and a session cookie."""

    a: str
    a_token: str
    b: str
    b_token: str
    org_token_id: str
    org_token: str
    cookie: str

    def headers(self, kind: str) -> dict[str, str]:
        return {
            "none": {},
            "wrong": bearer(WRONG),
            "other workspace": bearer(self.b_token),
            "own workspace": bearer(self.a_token),
            "org": bearer(self.org_token),
            "admin": bearer(ADMIN_TOKEN),
            "session cookie": {"Cookie": self.cookie},
        }[kind]


@pytest.fixture
async def world(platform: Harness) -> World:
    h = platform
    a = await h.create_external("a")
    b = await h.create_external("b")
    r = await h.client.post("/org/tokens", json={"name": "matrix"}, headers=h.admin)
    assert r.status_code == 200, r.text
    return World(
        a=a["id"],
        a_token=a["connection"]["auth_token"],
        b=b["id"],
        b_token=b["connection"]["auth_token"],
        org_token_id=r.json()["id"],
        org_token=r.json()["auth_token"],
        cookie=await session_cookie(h),
    )


async def db_state(h: Harness) -> tuple[Any, ...]:
    """Everything a refused write could have touched."""
    store = h.svc.store
    await h.svc.heartbeats.flush()
    workspaces = await store.fetch("SELECT id, name, status, parent_id FROM workspaces ORDER BY id")
    ws_tokens = await store.fetch(
        "SELECT id, workspace_id, revoked_at FROM workspace_auth_tokens ORDER BY id"
    )
    org_tokens = await store.fetch("SELECT id, name, revoked_at FROM org_api_tokens ORDER BY id")
    events = await store.fetchval("SELECT count(*) FROM structure_events")
    return (
        [tuple(r.values()) for r in workspaces],
        [tuple(r.values()) for r in ws_tokens],
        [tuple(r.values()) for r in org_tokens],
        events,
    )


async def token_ids(h: Harness, wid: str) -> list[str]:
    r = await h.client.get(f"/workspaces/{wid}/tokens", headers=h.admin)
    assert r.status_code == 200, r.text
    return [t["id"] for t in r.json()["tokens"]]


async def revoked_at(h: Harness, table: str, token_id: str) -> Any:
    return await h.svc.store.fetchval(f"SELECT revoked_at FROM {table} WHERE id = $1", token_id)


# --- the credential matrix -----------------------------------------------------------------

OK = (200, None)
WORKSPACE_AUTH = {
    "none": (401, "missing workspace auth token"),
    "wrong": (401, "invalid workspace auth token"),
    "other workspace": (401, "invalid workspace auth token"),
    "own workspace": OK,
    "org": OK,
    "admin": OK,
    "session cookie": OK,
}
ADMIN_AUTH = {
    "none": (401, "admin auth required"),
    "wrong": (401, "invalid admin auth token"),
    "other workspace": (401, "invalid admin auth token"),
    "own workspace": (401, "invalid admin auth token"),  # a workspace token is never admin
    "org": OK,
    "admin": OK,
    "session cookie": OK,
}


async def check_matrix(
    h: Harness, w: World, path: str, matrix: dict[str, tuple[int, str | None]]
) -> list[httpx.Response]:
    """Call `path` with every credential; return the successful responses."""
    wrong: list[str] = []
    allowed = []
    for kind, (status, error) in matrix.items():
        r = await h.client.get(path, headers=w.headers(kind))
        got = (r.status_code, r.json().get("error") if isinstance(r.json(), dict) else None)
        if got != (status, error):
            wrong.append(f"{path} with {kind}: expected {(status, error)}, got {got}")
        if r.status_code == 200:
            allowed.append(r)
    assert not wrong, "\n".join(wrong)
    return allowed


async def test_workspace_auth_matrix(platform: Harness, world: World) -> None:
    h, w = platform, world
    for r in await check_matrix(h, w, f"/workspaces/{w.a}/state", WORKSPACE_AUTH):
        assert r.json() == {
            "workspace_id": w.a,
            "status": "awaiting_agent",
            "paused": False,
            "deleted": False,
        }
    for r in await check_matrix(h, w, f"/workspaces/{w.a}/tokens", WORKSPACE_AUTH):
        assert r.json()["count"] == 1
        assert r.json()["tokens"][0]["prefix"] == w.a_token[:8]


async def test_admin_auth_matrix(platform: Harness, world: World) -> None:
    h, w = platform, world
    for r in await check_matrix(h, w, "/workspaces", ADMIN_AUTH):
        assert {ws["id"] for ws in r.json()} == {w.a, w.b}
    for r in await check_matrix(h, w, "/org/tokens", ADMIN_AUTH):
        assert [t["id"] for t in r.json()["tokens"]] == [w.org_token_id]


async def test_credential_edge_cases(platform: Harness, world: World) -> None:
    h, w = platform, world
    state, listing = f"/workspaces/{w.a}/state", "/workspaces"

    async def refused(path: str, headers: dict[str, str], error: str) -> None:
        r = await h.client.get(path, headers=headers)
        assert (r.status_code, r.json()) == (401, {"error": error}), headers

    # The scheme is exactly "Bearer ": anything else is no bearer at all.
    for value in (f"bearer {ADMIN_TOKEN}", f"Basic {ADMIN_TOKEN}", ADMIN_TOKEN, "Bearer"):
        await refused(state, {"Authorization": value}, "missing workspace auth token")
        await refused(listing, {"Authorization": value}, "admin auth required")
    # Extra blanks around the token are trimmed.
    r = await h.client.get(listing, headers={"Authorization": f"Bearer  {ADMIN_TOKEN}"})
    assert r.status_code == 200

    # Forged, expired and malformed cookies are no credential.
    forged = make_session("some-other-admin-token")
    expired = make_session(ADMIN_TOKEN, now=time.time() - SESSION_TTL - 60)
    for value in (forged, expired, "garbage", "v1.99999999999.00", w.cookie.split("=", 1)[1][:-1]):
        cookie = {"Cookie": f"{SESSION_COOKIE}={value}"}
        await refused(state, cookie, "missing workspace auth token")
        await refused(listing, cookie, "admin auth required")

    # A wrong bearer is judged as such even when a valid cookie rides along.
    await refused(state, {**bearer(WRONG), "Cookie": w.cookie}, "invalid workspace auth token")
    await refused(listing, {**bearer(WRONG), "Cookie": w.cookie}, "invalid admin auth token")

    # A token is valid only for its own workspace, in both directions.
    r = await h.client.get(f"/workspaces/{w.b}/state", headers=bearer(w.b_token))
    assert r.status_code == 200
    await refused(f"/workspaces/{w.b}/state", bearer(w.a_token), "invalid workspace auth token")


async def test_refused_writes_leave_database_unchanged(platform: Harness, world: World) -> None:
    h, w = platform, world
    (a_token_id,) = await token_ids(h, w.a)
    before = await db_state(h)
    anon, wrong, other, own = {}, bearer(WRONG), bearer(w.b_token), bearer(w.a_token)
    rename = {"name": "hijacked"}
    attempts: list[tuple[str, str, Any, dict[str, str], str]] = [
        ("POST", "/workspaces", {"name": "intruder"}, anon, "admin auth required"),
        ("POST", "/workspaces", {"name": "intruder"}, wrong, "invalid admin auth token"),
        ("POST", "/workspaces", {"name": "intruder"}, own, "invalid admin auth token"),
        ("DELETE", f"/workspaces/{w.a}", None, own, "invalid admin auth token"),
        ("DELETE", f"/workspaces/{w.a}", None, anon, "admin auth required"),
        ("PATCH", f"/workspaces/{w.a}", rename, anon, "missing workspace auth token"),
        ("PATCH", f"/workspaces/{w.a}", rename, other, "invalid workspace auth token"),
        ("POST", f"/workspaces/{w.a}/tokens", None, anon, "missing workspace auth token"),
        ("POST", f"/workspaces/{w.a}/tokens", None, wrong, "invalid workspace auth token"),
        ("POST", f"/workspaces/{w.a}/tokens", None, other, "invalid workspace auth token"),
        ("DELETE", f"/workspaces/{w.a}/tokens/{a_token_id}", None, anon,
         "missing workspace auth token"),
        ("DELETE", f"/workspaces/{w.a}/tokens/{a_token_id}", None, other,
         "invalid workspace auth token"),
        ("POST", "/org/tokens", {"name": "mine"}, anon, "admin auth required"),
        ("POST", "/org/tokens", {"name": "mine"}, own, "invalid admin auth token"),
        ("DELETE", f"/org/tokens/{w.org_token_id}", None, anon, "admin auth required"),
        ("DELETE", f"/org/tokens/{w.org_token_id}", None, own, "invalid admin auth token"),
    ]  # fmt: skip
    for method, path, body, headers, error in attempts:
        r = await h.client.request(method, path, json=body, headers=headers)
        assert (r.status_code, r.json()) == (401, {"error": error}), (method, path, headers)
        assert await db_state(h) == before, (method, path, headers)
    # And the credentials those requests aimed at still work.
    for token in (w.a_token, w.org_token):
        r = await h.client.get(f"/workspaces/{w.a}/state", headers=bearer(token))
        assert r.status_code == 200


async def test_no_fresh_install_fail_open(platform: Harness) -> None:
    """ADMIN_TOKEN set and not one workspace token anywhere: still no way in
    (docs/compatibility.md#d5)."""
    h = platform
    assert await h.svc.store.fetchval("SELECT count(*) FROM workspace_auth_tokens") == 0
    before = await db_state(h)
    r = await h.client.get("/workspaces")
    assert (r.status_code, r.json()) == (401, {"error": "admin auth required"})
    r = await h.client.get("/org/tokens")
    assert (r.status_code, r.json()) == (401, {"error": "admin auth required"})
    r = await h.client.post("/workspaces", json={"name": "first", "runtime": "external"})
    assert (r.status_code, r.json()) == (401, {"error": "admin auth required"})
    r = await h.client.post("/org/tokens", json={"name": "first"})
    assert (r.status_code, r.json()) == (401, {"error": "admin auth required"})
    r = await h.client.get(f"/workspaces/{uuid.uuid4()}/state")
    assert (r.status_code, r.json()) == (401, {"error": "missing workspace auth token"})
    assert await db_state(h) == before


# --- session login -------------------------------------------------------------------------


async def test_login_sets_http_only_strict_session_cookie(platform: Harness) -> None:
    h = platform
    r = await login(h.base_url)
    assert r.status_code == 302 and r.headers["location"] == "/"
    cookies = r.headers.get_list("set-cookie")
    assert len(cookies) == 1
    name_value, *attrs = [part.strip() for part in cookies[0].split(";")]
    name, value = name_value.split("=", 1)
    assert name == SESSION_COOKIE and value
    flags = {a.split("=", 1)[0].lower(): (a.split("=", 1) + [""])[1] for a in attrs}
    assert "httponly" in flags
    assert flags["samesite"] == "Strict"
    assert flags["path"] == "/"
    assert flags["max-age"] == str(SESSION_TTL)
    assert "secure" not in flags  # plain-HTTP loopback; set over https
    assert ADMIN_TOKEN not in value  # the cookie is a signature, not the token

    # Signed in: the canvas (or, unbuilt, a note); anonymous: the sign-in page
    # (tests/canvas/test_canvas_serving.py has the rest).
    signed_in = await h.client.get("/", headers={"Cookie": name_value})
    assert signed_in.status_code == 200 and '<form method="post">' not in signed_in.text
    anonymous = await h.client.get("/")
    assert anonymous.status_code == 200 and '<form method="post">' in anonymous.text


async def test_login_with_wrong_token_is_refused(platform: Harness) -> None:
    h = platform
    for token in ("wrong", ADMIN_TOKEN[:-1], ADMIN_TOKEN + "x", ""):
        r = await login(h.base_url, token)
        assert (r.status_code, r.json()) == (401, {"error": "invalid admin auth token"}), token
        assert "set-cookie" not in r.headers


# --- org API tokens ------------------------------------------------------------------------


async def test_org_token_create_list_and_created_by(platform: Harness) -> None:
    h = platform
    r = await h.client.post("/org/tokens", json={"name": "ci"}, headers=h.admin)
    assert r.status_code == 200
    made = r.json()
    assert set(made) == {"id", "prefix", "name", "auth_token", "warning"}
    assert made["name"] == "ci" and len(made["auth_token"]) == 43
    assert made["prefix"] == made["auth_token"][:8]

    # Created with a session cookie, with the org token itself, and with no body at all.
    cookie = {"Cookie": await session_cookie(h)}
    by_session = (await h.client.post("/org/tokens", json={}, headers=cookie)).json()
    by_org = (await h.client.post("/org/tokens", headers=bearer(made["auth_token"]))).json()
    assert by_org["name"] is None

    r = await h.client.get("/org/tokens", headers=h.admin)
    assert r.status_code == 200 and r.json()["count"] == 3
    listed = {t["id"]: t for t in r.json()["tokens"]}
    for t in listed.values():
        assert set(t) == {"id", "prefix", "name", "org_id", "created_by", "created_at",
                          "last_used_at"}  # fmt: skip
    assert listed[made["id"]]["created_by"] == "admin-token"
    assert listed[by_session["id"]]["created_by"] == "session"
    assert listed[by_org["id"]]["created_by"] == f"org-token:{made['prefix']}"
    assert made["auth_token"] not in r.text and by_org["auth_token"] not in r.text


async def test_org_token_name_validation_writes_nothing(platform: Harness) -> None:
    h = platform
    for body in ({"name": "n" * 101}, {"name": 5}, ["list"]):
        r = await h.client.post("/org/tokens", json=body, headers=h.admin)
        assert r.status_code == 400, body
    r = await h.client.post(
        "/org/tokens", content=b"{nope", headers={**h.admin, "Content-Type": "application/json"}
    )
    assert (r.status_code, r.json()) == (400, {"error": "invalid request body"})
    assert await h.svc.store.fetchval("SELECT count(*) FROM org_api_tokens") == 0
    r = await h.client.post("/org/tokens", json={"name": "n" * 100}, headers=h.admin)
    assert r.status_code == 200


async def test_org_token_create_rate_limit(platform: Harness) -> None:
    h = platform
    for _ in range(tokens_routes.ORG_TOKEN_CREATE_LIMIT):
        r = await h.client.post("/org/tokens", headers=h.admin)
        assert r.status_code == 200
    r = await h.client.post("/org/tokens", headers=h.admin)
    assert (r.status_code, r.json()) == (429, {"error": "rate limit exceeded"})
    assert r.headers["retry-after"] == "3600"
    count = await h.svc.store.fetchval("SELECT count(*) FROM org_api_tokens")
    assert count == tokens_routes.ORG_TOKEN_CREATE_LIMIT


async def test_revoked_org_token_stops_working(platform: Harness, world: World) -> None:
    h, w = platform, world
    org = bearer(w.org_token)
    assert (await h.client.get("/workspaces", headers=org)).status_code == 200
    assert (await h.client.get(f"/workspaces/{w.a}/state", headers=org)).status_code == 200

    r = await h.client.delete(f"/org/tokens/{w.org_token_id}", headers=h.admin)
    assert (r.status_code, r.json()) == (200, {"revoked": w.org_token_id})
    assert await revoked_at(h, "org_api_tokens", w.org_token_id) is not None

    r = await h.client.get("/workspaces", headers=org)
    assert (r.status_code, r.json()) == (401, {"error": "invalid admin auth token"})
    r = await h.client.get(f"/workspaces/{w.a}/state", headers=org)
    assert (r.status_code, r.json()) == (401, {"error": "invalid workspace auth token"})
    r = await h.client.get("/org/tokens", headers=h.admin)
    assert r.json() == {"tokens": [], "count": 0}

    r = await h.client.delete(f"/org/tokens/{w.org_token_id}", headers=h.admin)
    assert (r.status_code, r.json()) == (404, {"error": "token not found or already revoked"})
    r = await h.client.delete(f"/org/tokens/{uuid.uuid4()}", headers=h.admin)
    assert (r.status_code, r.json()) == (404, {"error": "token not found or already revoked"})
    r = await h.client.delete("/org/tokens/not-a-uuid", headers=h.admin)
    assert (r.status_code, r.json()) == (400, {"error": "invalid token ID"})


async def test_org_token_can_revoke_itself(platform: Harness, world: World) -> None:
    """An org token is admin: it may revoke itself, after which it is dead at once."""
    h, w = platform, world
    r = await h.client.delete(f"/org/tokens/{w.org_token_id}", headers=bearer(w.org_token))
    assert (r.status_code, r.json()) == (200, {"revoked": w.org_token_id})
    r = await h.client.delete(f"/org/tokens/{w.org_token_id}", headers=bearer(w.org_token))
    assert (r.status_code, r.json()) == (401, {"error": "invalid admin auth token"})


# --- workspace tokens ----------------------------------------------------------------------


async def test_workspace_tokens_list_create_and_revoke(platform: Harness, world: World) -> None:
    h, w = platform, world
    own = bearer(w.a_token)
    r = await h.client.get(f"/workspaces/{w.a}/tokens", headers=own)
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 1 and len(body["tokens"]) == 1
    (first,) = body["tokens"]
    assert set(first) == {"id", "prefix", "created_at", "last_used_at"}
    assert first["prefix"] == w.a_token[:8] and w.a_token not in r.text
    assert "hash" not in r.text

    r = await h.client.post(f"/workspaces/{w.a}/tokens", headers=own)
    assert r.status_code == 201
    made = r.json()
    assert set(made) == {"auth_token", "workspace_id", "message"}
    assert made["workspace_id"] == w.a and len(made["auth_token"]) == 43
    new = bearer(made["auth_token"])
    assert (await h.client.get(f"/workspaces/{w.a}/state", headers=new)).status_code == 200
    # ... for its own workspace only.
    r = await h.client.get(f"/workspaces/{w.b}/state", headers=new)
    assert r.status_code == 401

    listed = (await h.client.get(f"/workspaces/{w.a}/tokens", headers=own)).json()
    assert listed["count"] == 2
    assert {t["prefix"] for t in listed["tokens"]} == {w.a_token[:8], made["auth_token"][:8]}
    (new_id,) = [t["id"] for t in listed["tokens"] if t["id"] != first["id"]]

    r = await h.client.delete(f"/workspaces/{w.a}/tokens/{new_id}", headers=own)
    assert (r.status_code, r.json()) == (200, {"status": "revoked"})
    assert await revoked_at(h, "workspace_auth_tokens", new_id) is not None
    r = await h.client.get(f"/workspaces/{w.a}/state", headers=new)
    assert (r.status_code, r.json()) == (401, {"error": "invalid workspace auth token"})
    assert await token_ids(h, w.a) == [first["id"]]
    r = await h.client.delete(f"/workspaces/{w.a}/tokens/{new_id}", headers=own)
    assert (r.status_code, r.json()) == (404, {"error": "token not found or already revoked"})

    # A workspace may revoke the very token it authenticates with.
    r = await h.client.delete(f"/workspaces/{w.a}/tokens/{first['id']}", headers=own)
    assert (r.status_code, r.json()) == (200, {"status": "revoked"})
    r = await h.client.get(f"/workspaces/{w.a}/tokens", headers=own)
    assert (r.status_code, r.json()) == (401, {"error": "invalid workspace auth token"})


async def test_cannot_revoke_another_workspaces_token(platform: Harness, world: World) -> None:
    h, w = platform, world
    (b_token_id,) = await token_ids(h, w.b)
    before = await db_state(h)
    for headers in (bearer(w.a_token), h.admin):
        r = await h.client.delete(f"/workspaces/{w.a}/tokens/{b_token_id}", headers=headers)
        assert (r.status_code, r.json()) == (404, {"error": "token not found or already revoked"})
    assert await db_state(h) == before
    r = await h.client.get(f"/workspaces/{w.b}/state", headers=bearer(w.b_token))
    assert r.status_code == 200


async def test_workspace_token_malformed_ids(platform: Harness, world: World) -> None:
    h, w = platform, world
    own = bearer(w.a_token)
    for method in ("GET", "POST"):
        r = await h.client.request(method, "/workspaces/not-a-uuid/tokens", headers=h.admin)
        assert (r.status_code, r.json()) == (400, {"error": "invalid workspace ID"}), method
    r = await h.client.delete(f"/workspaces/{w.a}/tokens/not-a-uuid", headers=own)
    assert (r.status_code, r.json()) == (400, {"error": "invalid token ID"})
    r = await h.client.delete(f"/workspaces/nope/tokens/{uuid.uuid4()}", headers=own)
    assert (r.status_code, r.json()) == (400, {"error": "invalid workspace ID"})
    r = await h.client.get(f"/workspaces/{uuid.uuid4()}/tokens", headers=h.admin)
    assert (r.status_code, r.json()) == (404, {"error": "workspace not found"})


async def test_workspace_token_cap(platform: Harness, world: World) -> None:
    h, w = platform, world
    own = bearer(w.a_token)
    cap = tokens_routes.MAX_LIVE_WORKSPACE_TOKENS
    (connection_token_id,) = await token_ids(h, w.a)

    async def rows() -> int:
        n: int = await h.svc.store.fetchval(
            "SELECT count(*) FROM workspace_auth_tokens WHERE workspace_id = $1", w.a
        )
        return n

    for _ in range(cap - 1):  # the connection token is the first
        r = await h.client.post(f"/workspaces/{w.a}/tokens", headers=own)
        assert r.status_code == 201
    assert await rows() == cap
    r = await h.client.post(f"/workspaces/{w.a}/tokens", headers=own)
    assert r.status_code == 429
    assert r.json() == {"error": f"maximum {cap} active tokens per workspace"}
    assert await rows() == cap
    r = await h.client.get(f"/workspaces/{w.a}/tokens", headers=own)
    assert r.json()["count"] == cap

    # Revoking one makes room for exactly one more.
    victim = next(t for t in await token_ids(h, w.a) if t != connection_token_id)
    await h.client.delete(f"/workspaces/{w.a}/tokens/{victim}", headers=own)
    assert (await h.client.post(f"/workspaces/{w.a}/tokens", headers=own)).status_code == 201
    assert (await h.client.post(f"/workspaces/{w.a}/tokens", headers=own)).status_code == 429
    assert await rows() == cap + 1
    # The cap is per workspace.
    r = await h.client.post(f"/workspaces/{w.b}/tokens", headers=bearer(w.b_token))
    assert r.status_code == 201


async def test_removed_workspace_tokens_stop_working(platform: Harness, world: World) -> None:
    h, w = platform, world
    r = await h.client.delete(f"/workspaces/{w.b}", headers=h.admin)
    assert r.status_code == 200
    r = await h.client.get(f"/workspaces/{w.b}/state", headers=bearer(w.b_token))
    assert (r.status_code, r.json()) == (401, {"error": "invalid workspace auth token"})
    r = await h.client.get(f"/workspaces/{w.b}/tokens", headers=h.admin)
    assert (r.status_code, r.json()) == (404, {"error": "workspace not found"})
    r = await h.client.post(f"/workspaces/{w.b}/tokens", headers=h.admin)
    assert (r.status_code, r.json()) == (404, {"error": "workspace not found"})
    live = await h.svc.store.fetchval(
        "SELECT count(*) FROM workspace_auth_tokens WHERE workspace_id = $1 AND revoked_at IS NULL",
        w.b,
    )
    assert live == 0


# --- development fail-open -----------------------------------------------------------------


@asynccontextmanager
async def own_platform(
    tmp_path: Path, dsn: str, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(tmp_path, dsn, **overrides)
    async with trio.open_nursery() as nursery:
        _svc, base, stop = await start_platform(settings, dsn, nursery)
        try:
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                yield client
        finally:
            stop.set()


async def test_development_fail_open_without_admin_token(
    aio_loop: object, dsn: str, tmp_path: Path
) -> None:
    async with own_platform(tmp_path, dsn, admin_token_env=None, dev_mode=True) as client:
        with trio.fail_after(20):
            r = await client.post("/workspaces", json={"name": "dev", "runtime": "external"})
            assert r.status_code == 201, r.text
            wid = r.json()["id"]
            r = await client.get("/workspaces")
            assert r.status_code == 200 and [ws["id"] for ws in r.json()] == [wid]
            r = await client.get("/org/tokens")
            assert r.status_code == 200
            r = await client.get(f"/workspaces/{wid}/state")
            assert r.status_code == 200 and r.json()["status"] == "awaiting_agent"
            r = await client.get(f"/workspaces/{wid}/tokens")
            assert r.status_code == 200 and r.json()["count"] == 1
            # Fail-open covers the absence of credentials, not a wrong one.
            r = await client.get(f"/workspaces/{wid}/state", headers=bearer(WRONG))
            assert (r.status_code, r.json()) == (401, {"error": "invalid workspace auth token"})


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"admin_token_env": None, "dev_mode": False}, id="production-generated"),
        pytest.param({"admin_token_env": ADMIN_TOKEN, "dev_mode": True}, id="dev-with-token"),
    ],
)
async def test_no_fail_open_outside_development_without_token(
    aio_loop: object, dsn: str, tmp_path: Path, overrides: dict[str, Any]
) -> None:
    async with own_platform(tmp_path, dsn, **overrides) as client:
        with trio.fail_after(20):
            if overrides["admin_token_env"] is None:
                # `molecule serve` without ADMIN_TOKEN keeps a generated one, mode 0600.
                token_file = tmp_path / "home" / "admin_token"
                assert os.stat(token_file).st_mode & 0o777 == 0o600
                admin = bearer(token_file.read_text().strip())
            else:
                admin = bearer(ADMIN_TOKEN)
            r = await client.post("/workspaces", json={"name": "x", "runtime": "external"})
            assert (r.status_code, r.json()) == (401, {"error": "admin auth required"})
            r = await client.get("/workspaces")
            assert (r.status_code, r.json()) == (401, {"error": "admin auth required"})
            r = await client.get("/workspaces", headers=admin)
            assert r.status_code == 200 and r.json() == []  # the refused create wrote nothing

            r = await client.post(
                "/workspaces", json={"name": "x", "runtime": "external"}, headers=admin
            )
            assert r.status_code == 201
            wid = r.json()["id"]
            for path in (f"/workspaces/{wid}/state", f"/workspaces/{wid}/tokens"):
                r = await client.get(path)
                assert (r.status_code, r.json()) == (
                    401,
                    {"error": "missing workspace auth token"},
                ), path
