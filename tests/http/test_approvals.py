"""Approvals (human in the loop) over real HTTP: request, list, decide, the pending list, and
the expiry after 10 minutes, by the list and by the background sweep (the age is moved back in
SQL: the database's clock decides). Every refusal leaves the table and the event log as they
were."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from molecule import platform as platform_module
from tests.conftest import Harness, make_settings, start_platform
from tests.http.test_registry import auth, drain

ZERO = "00000000-0000-0000-0000-000000000000"


async def team(h: Harness) -> tuple[dict[str, Any], dict[str, Any]]:
    """A parent and its child, each with its own token."""
    parent = await h.create_external("boss")
    child = await h.create_external("worker", parent_id=parent["id"])
    return parent, child


def token(ws: dict[str, Any]) -> dict[str, str]:
    return auth(ws["connection"]["auth_token"])


async def ask(h: Harness, ws: dict[str, Any], **body: Any) -> httpx.Response:
    payload = {"action": "deploy", "task_id": "t-1", "reason": "ship it", **body}
    return await h.client.post(f"/workspaces/{ws['id']}/approvals", json=payload, headers=token(ws))


async def approvals_state(h: Harness) -> list[tuple[Any, ...]]:
    rows = await h.svc.store.fetch(
        "SELECT id, status, decided_by, decided_at FROM approval_requests ORDER BY id"
    )
    return [tuple(r) for r in rows]


async def recorded(h: Harness, prefix: str = "APPROVAL_") -> list[tuple[str, str, Any]]:
    rows = await h.svc.store.fetch(
        "SELECT event_type, workspace_id, payload FROM structure_events"
        " WHERE event_type LIKE $1 ORDER BY created_at",
        prefix + "%",
    )
    return [(r["event_type"], r["workspace_id"], r["payload"]) for r in rows]


async def age(h: Harness, approval_id: str, minutes: int) -> None:
    await h.svc.store.execute(
        "UPDATE approval_requests SET created_at = now() - make_interval(mins => $2) WHERE id = $1",
        approval_id,
        minutes,
    )


async def test_request_is_stored_announced_and_escalated(platform: Harness) -> None:
    h = platform
    parent, child = await team(h)
    with h.svc.bus.subscribe() as sub:
        r = await ask(h, child, context={"diff": "+1 -1"})
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["status"] == "pending" and set(body) == {"approval_id", "status"}
        aid = body["approval_id"]
        live = drain(sub)
    requested = {"approval_id": aid, "action": "deploy", "reason": "ship it", "task_id": "t-1"}
    escalated = {
        "approval_id": aid,
        "from_workspace_id": child["id"],
        "action": "deploy",
        "reason": "ship it",
    }
    assert ("APPROVAL_REQUESTED", requested) in live and ("APPROVAL_ESCALATED", escalated) in live
    assert await recorded(h) == [
        ("APPROVAL_REQUESTED", child["id"], requested),
        ("APPROVAL_ESCALATED", parent["id"], escalated),
    ]
    context = await h.svc.store.fetchval("SELECT context FROM approval_requests WHERE id = $1", aid)
    assert context == {"diff": "+1 -1"}

    r = await h.client.get(f"/workspaces/{child['id']}/approvals", headers=token(child))
    assert r.status_code == 200
    [row] = r.json()
    assert row["id"] == aid and row["status"] == "pending" and row["task_id"] == "t-1"
    assert row["decided_by"] is None and row["decided_at"] is None
    assert row["created_at"].endswith("Z")
    # A root asks: nothing to escalate to.
    r = await ask(h, parent, task_id=None, reason=None)
    assert r.status_code == 201
    assert [e[0] for e in await recorded(h)][-1] == "APPROVAL_REQUESTED"
    assert len(await recorded(h)) == 3


async def test_a_human_decides_once(platform: Harness) -> None:
    h = platform
    _, child = await team(h)
    first = (await ask(h, child)).json()["approval_id"]
    second = (await ask(h, child, action="delete")).json()["approval_id"]
    url = f"/workspaces/{child['id']}/approvals"
    with h.svc.bus.subscribe(child["id"]) as sub:
        r = await h.client.post(
            f"{url}/{first}/decide", json={"decision": "approved"}, headers=h.admin
        )
        assert r.status_code == 200 and r.json() == {"status": "approved", "approval_id": first}
        r = await h.client.post(
            f"{url}/{second}/decide",
            json={"decision": "denied", "decided_by": "alice"},
            headers=h.admin,
        )
        assert r.json() == {"status": "denied", "approval_id": second}
        live = drain(sub)
    assert (
        "APPROVAL_APPROVED",
        {"approval_id": first, "decision": "approved", "decided_by": "human"},
    ) in live
    assert (
        "APPROVAL_DENIED",
        {"approval_id": second, "decision": "denied", "decided_by": "alice"},
    ) in live
    listed = {a["id"]: a for a in (await h.client.get(url, headers=token(child))).json()}
    assert listed[first]["status"] == "approved" and listed[first]["decided_by"] == "human"
    assert listed[second]["status"] == "denied" and listed[second]["decided_at"]

    before, events = await approvals_state(h), await recorded(h)
    r = await h.client.post(f"{url}/{first}/decide", json={"decision": "denied"}, headers=h.admin)
    assert r.status_code == 404
    assert r.json() == {"error": "approval not found or already decided"}
    assert await approvals_state(h) == before and await recorded(h) == events
    # Another workspace's approval through this workspace's path: not found either.
    other = await h.create_external("other")
    theirs = (await ask(h, other)).json()["approval_id"]
    before, events = await approvals_state(h), await recorded(h)
    r = await h.client.post(
        f"{url}/{theirs}/decide", json={"decision": "approved"}, headers=h.admin
    )
    assert r.status_code == 404
    assert await approvals_state(h) == before and await recorded(h) == events


async def test_refusals_change_nothing(platform: Harness) -> None:
    h = platform
    _, child = await team(h)
    other = await h.create_external("other")
    aid = (await ask(h, child)).json()["approval_id"]
    before, events = await approvals_state(h), await recorded(h)
    url = f"/workspaces/{child['id']}/approvals"
    decide = f"{url}/{aid}/decide"

    async def expect(status: int, error: str | None, method: str, path: str, **kw: Any) -> None:
        r = await h.client.request(method, path, **kw)
        assert r.status_code == status, (method, path, kw, r.text)
        if error is not None:
            assert r.json()["error"] == error, r.text

    ok = {"action": "x"}
    for method, path, body in (
        ("POST", url, ok),
        ("GET", url, None),
        ("POST", decide, {"decision": "approved"}),
    ):
        await expect(401, "missing workspace auth token", method, path, json=body)
        await expect(
            401, "invalid workspace auth token", method, path, json=body, headers=token(other)
        )
    await expect(401, "admin auth required", "GET", "/approvals/pending")
    await expect(401, "invalid admin auth token", "GET", "/approvals/pending", headers=token(child))
    # The agent that asked cannot approve itself.
    await expect(403, None, "POST", decide, json={"decision": "approved"}, headers=token(child))

    for body in ({}, {"action": ""}, {"action": 5}, {"action": "x", "context": [1]},
                 {"action": "x", "reason": 3}, {"action": "x", "task_id": {}}, [1]):  # fmt: skip
        await expect(400, "invalid request body", "POST", url, json=body, headers=token(child))
    await expect(400, "invalid request body", "POST", url, content=b"{", headers=token(child))
    await expect(
        400,
        "action must be at most 1000 characters",
        "POST",
        url,
        json={"action": "a" * 1001},
        headers=token(child),
    )
    await expect(
        400,
        "context must be at most 65536 bytes of JSON",
        "POST",
        url,
        json={"action": "x", "context": {"k": "v" * 70_000}},
        headers=token(child),
    )
    await expect(
        400, "invalid workspace ID", "POST", "/workspaces/nope/approvals", json=ok, headers=h.admin
    )
    await expect(
        404,
        "workspace not found",
        "POST",
        f"/workspaces/{ZERO}/approvals",
        json=ok,
        headers=h.admin,
    )
    await expect(
        404, "workspace not found", "GET", f"/workspaces/{ZERO}/approvals", headers=h.admin
    )

    await expect(
        400,
        "invalid approval ID",
        "POST",
        f"{url}/nope/decide",
        json={"decision": "approved"},
        headers=h.admin,
    )
    await expect(400, "invalid request body", "POST", decide, json={}, headers=h.admin)
    await expect(
        400, "invalid request body", "POST", decide, json={"decision": True}, headers=h.admin
    )
    await expect(
        400,
        "decision must be 'approved' or 'denied'",
        "POST",
        decide,
        json={"decision": "maybe"},
        headers=h.admin,
    )
    await expect(
        400,
        "decided_by must be at most 200 characters",
        "POST",
        decide,
        json={"decision": "approved", "decided_by": "b" * 201},
        headers=h.admin,
    )
    await expect(
        404,
        "approval not found or already decided",
        "POST",
        f"{url}/{ZERO}/decide",
        json={"decision": "approved"},
        headers=h.admin,
    )
    assert await approvals_state(h) == before and await recorded(h) == events

    # A removed workspace takes no requests and has none to decide.
    r = await h.client.delete(f"/workspaces/{child['id']}", headers=h.admin)
    assert r.status_code == 200
    await expect(404, "workspace not found", "POST", url, json=ok, headers=h.admin)
    await expect(
        404, "workspace not found", "POST", decide, json={"decision": "approved"}, headers=h.admin
    )
    assert await approvals_state(h) == before and await recorded(h) == events
    r = await h.client.get("/approvals/pending", headers=h.admin)
    assert r.json() == []  # a removed workspace's requests are nobody's to decide


async def test_pending_list_denies_what_is_older_than_ten_minutes(platform: Harness) -> None:
    h = platform
    _, child = await team(h)
    stale = (await ask(h, child, action="old")).json()["approval_id"]
    fresh = (await ask(h, child, action="new")).json()["approval_id"]
    late = (await ask(h, child, action="late")).json()["approval_id"]
    await age(h, stale, 11)
    await age(h, late, 11)
    # Past its 10 minutes, a request can no longer be approved, swept or not.
    r = await h.client.post(
        f"/workspaces/{child['id']}/approvals/{late}/decide",
        json={"decision": "approved"},
        headers=h.admin,
    )
    assert r.status_code == 404

    r = await h.client.get("/approvals/pending", headers=h.admin)
    assert r.status_code == 200
    [pending] = r.json()
    assert pending["id"] == fresh and pending["workspace_name"] == "worker"
    assert pending["workspace_id"] == child["id"] and pending["status"] == "pending"
    assert set(pending) == {
        "id",
        "workspace_id",
        "workspace_name",
        "action",
        "reason",
        "status",
        "created_at",
    }
    rows = {r[0]: r for r in await approvals_state(h)}
    for aid in (stale, late):
        assert rows[aid][1:3] == ("denied", "auto-expired") and rows[aid][3] is not None
    assert rows[fresh][1] == "pending"
    denied = [e for e in await recorded(h) if e[0] == "APPROVAL_DENIED"]
    assert sorted(e[2]["approval_id"] for e in denied) == sorted([stale, late])
    assert all(e[1] == child["id"] and e[2]["decided_by"] == "auto-expired" for e in denied)
    # Expired once: listing again records nothing more.
    await h.client.get("/approvals/pending", headers=h.admin)
    assert len([e for e in await recorded(h) if e[0] == "APPROVAL_DENIED"]) == 2


@pytest.fixture
async def fast_sweep_platform(
    aio_loop: object, dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Harness]:
    monkeypatch.setattr(platform_module, "EXPIRY_SWEEP_INTERVAL", 0.05)
    settings = make_settings(tmp_path, dsn)
    async with trio.open_nursery() as nursery:
        svc, base, stop = await start_platform(settings, dsn, nursery)
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            yield Harness(svc, base, client)
        stop.set()


async def test_an_unattended_request_is_denied_by_the_sweep(fast_sweep_platform: Harness) -> None:
    h = fast_sweep_platform
    assert "approval expiry" in h.svc.background.states
    _, child = await team(h)
    aid = (await ask(h, child)).json()["approval_id"]
    await trio.sleep(0.2)
    assert (await approvals_state(h))[0][1] == "pending"  # young: the sweep leaves it
    with h.svc.bus.subscribe(child["id"]) as sub:
        await age(h, aid, 10)
        with trio.fail_after(5):
            while (await approvals_state(h))[0][1] == "pending":
                await trio.sleep(0.02)
        assert (await approvals_state(h))[0][1:3] == ("denied", "auto-expired")
        expected = {"approval_id": aid, "decision": "denied", "decided_by": "auto-expired"}
        with trio.fail_after(5):
            event = await sub.receive.receive()
        assert (event.type, event.payload) == ("APPROVAL_DENIED", expected)
    assert ("APPROVAL_DENIED", child["id"], expected) in await recorded(h)
