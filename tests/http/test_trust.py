"""Refusals found by probing the platform as an attacker and by fuzzing it: each is a 4xx,
and the database is unchanged after it."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import trio

from molecule.store.heartbeats import HeartbeatBuffer
from molecule.store.workspaces import HeartbeatColumns
from tests.conftest import Harness, make_settings, start_platform

CARD = {"name": "agent"}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def table_counts(h: Harness) -> dict[str, int]:
    counts = {}
    for table in (
        "workspaces",
        "workspace_auth_tokens",
        "org_api_tokens",
        "global_secrets",
        "workspace_secrets",
        "activity_logs",
        "structure_events",
    ):
        counts[table] = await h.svc.store.fetchval(f"SELECT count(*) FROM {table}")
    return counts


# -- who may change what ----------------------------------------------------------------------


async def test_a_workspace_cannot_move_itself_in_the_hierarchy(platform: Harness) -> None:
    h = platform
    a = await h.create_external("a")
    b = await h.create_external("b")
    wid, token = a["id"], a["connection"]["auth_token"]
    before = await h.row(wid)
    for body in (
        {"parent_id": b["id"]},
        {"runtime": "echo"},
        {"tier": 1},
        {"workspace_dir": "/tmp/elsewhere"},
        {"hibernation_idle_minutes": 5},
        {"name": "sneaky", "parent_id": b["id"]},  # one forbidden field refuses all
    ):
        r = await h.client.patch(f"/workspaces/{wid}", json=body, headers=auth(token))
        assert r.status_code == 403, (body, r.text)
        assert "only an admin may change" in r.json()["error"]
    assert await h.row(wid) == before
    # What it may change about itself: how it is called and shown.
    r = await h.client.patch(
        f"/workspaces/{wid}", json={"name": "renamed", "role": "r", "x": 5}, headers=auth(token)
    )
    assert r.status_code == 200, r.text
    row = await h.row(wid)
    assert row is not None and (row["name"], row["role"], row["x"]) == ("renamed", "r", 5)
    # The admin may move it.
    r = await h.client.patch(f"/workspaces/{wid}", json={"parent_id": b["id"]}, headers=h.admin)
    assert r.status_code == 200
    assert (await h.row(wid) or {})["parent_id"] == b["id"]


async def test_hibernation_idle_minutes_can_be_set(platform: Harness) -> None:
    h = platform
    wid = (await h.create_external("sleepy"))["id"]
    r = await h.client.patch(
        f"/workspaces/{wid}", json={"hibernation_idle_minutes": 30}, headers=h.admin
    )
    assert r.status_code == 200, r.text
    r = await h.client.get(f"/workspaces/{wid}", headers=h.admin)
    assert r.json()["hibernation_idle_minutes"] == 30
    for bad in (-1, 10_081, "5", 1.5, True):
        r = await h.client.patch(
            f"/workspaces/{wid}", json={"hibernation_idle_minutes": bad}, headers=h.admin
        )
        assert r.status_code == 400, bad
    assert (await h.row(wid) or {})["hibernation_idle_minutes"] == 30
    r = await h.client.patch(
        f"/workspaces/{wid}", json={"hibernation_idle_minutes": None}, headers=h.admin
    )
    assert r.status_code == 200
    assert (await h.row(wid) or {})["hibernation_idle_minutes"] is None


async def test_a_removed_workspace_answers_410_to_anyone_who_names_it(platform: Harness) -> None:
    h = platform
    made = await h.create_external("gone")
    wid, token = made["id"], made["connection"]["auth_token"]
    r = await h.client.delete(f"/workspaces/{wid}", headers=h.admin)
    assert r.status_code == 200
    for headers in ({}, auth(token), auth("garbage"), h.admin):
        r = await h.client.get(f"/workspaces/{wid}", headers=headers)
        assert r.status_code == 410, headers
        body = r.json()
        assert body["error"] == "workspace removed" and body["id"] == wid
    # The removed row itself is still only for credentials.
    r = await h.client.get(f"/workspaces/{wid}?include_removed=true")
    assert r.status_code == 401
    r = await h.client.get(f"/workspaces/{wid}?include_removed=true", headers=h.admin)
    assert r.status_code == 200 and r.json()["status"] == "removed"
    # An unknown id is no 410: credentials first.
    r = await h.client.get(f"/workspaces/{uuid.uuid4()}")
    assert r.status_code == 401


async def test_nobody_acts_as_a_workspace_without_its_token(platform: Harness) -> None:
    h = platform
    r = await h.client.post("/workspaces", json={"name": "m", "runtime": "mock"}, headers=h.admin)
    mock = r.json()["id"]
    target = (await h.create_external("target"))["id"]
    message = {"method": "message/send", "params": {"message": {"role": "user", "content": "x"}}}
    for headers in ({"X-Workspace-ID": mock}, {"X-Workspace-ID": mock, **auth("nope")}):
        r = await h.client.post(f"/workspaces/{target}/a2a", json=message, headers=headers)
        assert r.status_code == 401, r.text
    assert await h.svc.store.fetchval("SELECT count(*) FROM activity_logs") == 0


# -- bad input is a 400, never a 500 ----------------------------------------------------------

DEEP = "[" * 1000 + "]" * 1000
DEEP_OBJECT = '{"a":' * 1000 + "1" + "}" * 1000


async def test_deeply_nested_json_is_400_on_every_json_route(platform: Harness) -> None:
    h = platform
    made = await h.create_external("target")
    wid, token = made["id"], made["connection"]["auth_token"]
    routes: list[tuple[str, str, dict[str, str]]] = [
        ("POST", "/workspaces", h.admin),
        ("PATCH", f"/workspaces/{wid}", h.admin),
        ("POST", "/registry/register", {}),
        ("POST", "/registry/heartbeat", {}),
        ("POST", "/registry/update-card", {}),
        ("POST", "/registry/check-access", h.admin),
        ("POST", f"/workspaces/{wid}/activity", auth(token)),
        ("POST", f"/workspaces/{wid}/a2a", h.admin),
        ("POST", f"/workspaces/{wid}/notify", auth(token)),
        ("POST", f"/workspaces/{wid}/delegate", auth(token)),
        ("POST", "/settings/secrets", h.admin),
        ("POST", f"/workspaces/{wid}/secrets", h.admin),
        ("POST", "/org/tokens", h.admin),
    ]
    before = await table_counts(h)
    for method, path, headers in routes:
        for body in (DEEP, DEEP_OBJECT):
            r = await h.client.request(
                method,
                path,
                content=body.encode(),
                headers={**headers, "Content-Type": "application/json"},
            )
            assert r.status_code == 400, (method, path, r.status_code, r.text)
    assert await table_counts(h) == before


async def test_text_that_cannot_be_stored_is_refused(platform: Harness) -> None:
    h = platform
    made = await h.create_external("named")
    wid, token = made["id"], made["connection"]["auth_token"]
    before_counts = await table_counts(h)
    before_row = await h.row(wid)
    for bad in ("nul\x00here", "lone\ud800surrogate"):
        # json.dumps writes them as \u0000 / \ud800 escapes, as a client would send them
        cases = [
            ("POST", "/workspaces", {"name": bad, "runtime": "external"}, h.admin),
            ("PATCH", f"/workspaces/{wid}", {"name": bad}, h.admin),
            ("POST", "/org/tokens", {"name": bad}, h.admin),
            ("POST", "/settings/secrets", {"key": "K", "value": bad}, h.admin),
            ("POST", f"/workspaces/{wid}/secrets", {"key": "K", "value": bad}, h.admin),
            (
                "POST",
                "/registry/heartbeat",
                {"workspace_id": wid, "current_task": bad},
                auth(token),
            ),
            (
                "POST",
                f"/workspaces/{wid}/activity",
                {"activity_type": "agent_log", "summary": bad},
                auth(token),
            ),
        ]
        for method, path, body, headers in cases:
            r = await h.client.request(
                method,
                path,
                content=json.dumps(body).encode(),
                headers={**headers, "Content-Type": "application/json"},
            )
            assert r.status_code == 400, (path, bad, r.text)
    assert await table_counts(h) == before_counts
    assert await h.row(wid) == before_row
    # The heartbeat path keeps working for everyone (it was blocked for all before).
    r = await h.client.post(
        "/registry/heartbeat", json={"workspace_id": wid, "current_task": "ok"}, headers=auth(token)
    )
    assert r.status_code == 200
    r = await h.client.get("/workspaces", headers=h.admin)
    assert r.status_code == 200


async def test_a_poisoned_heartbeat_batch_never_blocks_other_rows(platform: Harness) -> None:
    """Defence in depth behind the edge check: a row the database refuses is dropped, the
    others of its batch are written, and the next flush is clean."""
    h = platform
    good = (await h.create_external("good"))["id"]
    bad = (await h.create_external("bad"))["id"]
    buffer = HeartbeatBuffer(h.svc.workspaces)

    def columns(task: str) -> HeartbeatColumns:
        return HeartbeatColumns(datetime.now(UTC), 0.0, "", 1, 5, task, 0)

    buffer.stage(good, columns("fine"))
    buffer.stage(bad, columns("poison\x00"))
    await buffer.flush()
    assert buffer.pending == 0
    assert (await h.svc.workspaces.get(good) or {})["current_task"] == "fine"
    assert not (await h.svc.workspaces.get(bad) or {})["current_task"]
    buffer.stage(good, columns("next"))
    await buffer.flush()
    assert (await h.svc.workspaces.get(good) or {})["current_task"] == "next"


async def test_out_of_range_and_nul_parameters_are_400(platform: Harness) -> None:
    h = platform
    wid = (await h.create_external("q"))["id"]
    for value in ("2147483648", "0", "-5", "ten", "1e3"):
        r = await h.client.post(
            f"/admin/a2a-queue/drop-stale?max_age_minutes={value}", headers=h.admin
        )
        assert r.status_code == 400, value
    r = await h.client.post("/admin/a2a-queue/drop-stale?max_age_minutes=60", headers=h.admin)
    assert r.status_code == 200
    for method, path in (
        ("DELETE", "/settings/secrets/%00"),
        ("DELETE", f"/workspaces/{wid}/secrets/K%00"),
        ("GET", f"/workspaces/{wid}/activity?type=%00"),
        ("GET", f"/registry/{wid}/peers?q=a%00b"),
    ):
        r = await h.client.request(method, path, headers=h.admin)
        assert r.status_code == 400, (path, r.text)


# -- wire fidelity ----------------------------------------------------------------------------


async def test_bodies_are_compact_json(platform: Harness) -> None:
    h = platform
    made = await h.create_external("poller")
    wid, token = made["id"], made["connection"]["auth_token"]
    r = await h.client.post(
        "/registry/register",
        json={"id": wid, "url": "", "delivery_mode": "poll", "agent_card": CARD},
        headers=auth(token),
    )
    assert r.status_code == 200
    message = {"method": "message/send", "params": {"message": {"role": "user", "content": "x"}}}
    r = await h.client.post(f"/workspaces/{wid}/a2a", json=message, headers=h.admin)
    # The original's shell clients grep for exactly this.
    assert '"status":"queued"' in r.text, r.text
    r = await h.client.get("/health")
    assert r.content == b'{"status":"ok"}'
    r = await h.client.get(f"/workspaces/{wid}", headers=h.admin)
    assert ", " not in r.text.replace(", ", "") and '": ' not in r.text


@pytest.fixture
async def fail_open(aio_loop: object, dsn: str, tmp_path: Path) -> AsyncIterator[Harness]:
    """Development mode without ADMIN_TOKEN: the original's fail-open."""
    settings = make_settings(tmp_path, dsn, dev_mode=True, admin_token_env=None)
    async with trio.open_nursery() as nursery:
        svc, base, stop = await start_platform(settings, dsn, nursery)
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            yield Harness(svc, base, client)
        stop.set()


async def test_development_discovery_needs_no_bearer(fail_open: Harness) -> None:
    """The original CLI's `agent peers` sends no bearer; in development it is let through."""
    h = fail_open
    parent = (await h.create_external("lead"))["id"]
    child = (await h.create_external("member", parent_id=parent))["id"]
    r = await h.client.get(f"/registry/{child}/peers")
    assert r.status_code == 200, r.text
    assert [p["id"] for p in r.json()] == [parent]
    r = await h.client.get(f"/registry/discover/{parent}", headers={"X-Workspace-ID": child})
    assert r.status_code == 503 and r.json()["status"] == "awaiting_agent"  # not a 401
    # A wrong bearer is still refused.
    r = await h.client.get(f"/registry/{child}/peers", headers=auth("wrong"))
    assert r.status_code == 401
