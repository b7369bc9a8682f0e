"""A workspace's budget: read with the workspace's credential, changed by an admin only; the
new ceiling reaches the actor at once (the proxy's 402); refusals change nothing."""

from __future__ import annotations

from typing import Any

from tests.conftest import Harness
from tests.http.footprint import rows

MESSAGE = {"method": "message/send", "params": {"message": {"role": "user", "content": "hi"}}}
UNKNOWN = "00000000-0000-0000-0000-000000000001"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_budget_read_set_and_clear(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("b")
    wid, token = str(ws["id"]), ws["connection"]["auth_token"]  # type: ignore[index]
    url = f"/workspaces/{wid}/budget"
    r = await h.client.get(url, headers=auth(token))
    assert r.status_code == 200
    assert r.json() == {"budget_limit": None, "monthly_spend": 0, "budget_remaining": None}

    r = await h.client.patch(url, json={"budget_limit": 500}, headers=h.admin)
    assert r.status_code == 200
    assert r.json() == {"budget_limit": 500, "monthly_spend": 0, "budget_remaining": 500}

    # The agent reports its spend in heartbeats (written behind; the read sees it).
    await h.client.post(
        "/registry/register",
        json={"id": wid, "url": None, "delivery_mode": "poll", "agent_card": {"name": "b"}},
        headers=auth(token),
    )
    r = await h.client.post(
        "/registry/heartbeat",
        json={"workspace_id": wid, "monthly_spend": 650},
        headers=auth(token),
    )
    assert r.status_code == 200
    r = await h.client.get(url, headers=auth(token))
    assert r.json() == {"budget_limit": 500, "monthly_spend": 650, "budget_remaining": -150}

    r = await h.client.patch(url, json={"budget_limit": None}, headers=h.admin)
    assert r.json() == {"budget_limit": None, "monthly_spend": 650, "budget_remaining": None}
    assert (
        await h.svc.store.fetchval("SELECT budget_limit FROM workspaces WHERE id = $1", wid) is None
    )


async def test_a_new_ceiling_applies_to_the_next_message(platform: Harness) -> None:
    h = platform
    r = await h.client.post("/workspaces", json={"name": "m", "runtime": "mock"}, headers=h.admin)
    wid = r.json()["id"]
    send = f"/workspaces/{wid}/a2a"
    assert (await h.client.post(send, json=MESSAGE, headers=h.admin)).status_code == 200
    r = await h.client.patch(f"/workspaces/{wid}/budget", json={"budget_limit": 0}, headers=h.admin)
    assert r.status_code == 200
    r = await h.client.post(send, json=MESSAGE, headers=h.admin)
    assert r.status_code == 402 and r.json() == {"error": "workspace budget limit exceeded"}
    r = await h.client.patch(
        f"/workspaces/{wid}/budget", json={"budget_limit": None}, headers=h.admin
    )
    assert (await h.client.post(send, json=MESSAGE, headers=h.admin)).status_code == 200


async def test_budget_refusals_change_nothing(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("b")
    other = await h.create_external("o")
    wid, token = str(ws["id"]), ws["connection"]["auth_token"]  # type: ignore[index]
    other_token = other["connection"]["auth_token"]  # type: ignore[index]
    url = f"/workspaces/{wid}/budget"
    await h.client.patch(url, json={"budget_limit": 100}, headers=h.admin)
    before = await rows(h)
    cases: list[tuple[Any, str]] = [
        ({}, "budget_limit field is required"),
        ({"other": 1}, "budget_limit field is required"),
        ({"budget_limit": -1}, "budget_limit must be >= 0 (USD cents)"),
        ({"budget_limit": "100"}, "budget_limit must be an integer (USD cents) or null"),
        ({"budget_limit": 1.5}, "budget_limit must be an integer (USD cents) or null"),
        ({"budget_limit": True}, "budget_limit must be an integer (USD cents) or null"),
        ({"budget_limit": 10**30}, "budget_limit must be an integer (USD cents) or null"),
        ([1], "invalid request body"),
    ]
    for body, error in cases:
        r = await h.client.patch(url, json=body, headers=h.admin)
        assert r.status_code == 400 and r.json() == {"error": error}, body
    r = await h.client.patch(url, content=b"{", headers=h.admin)
    assert r.status_code == 400
    # Only an admin may change it: the workspace's own token is refused like any other.
    r = await h.client.patch(url, json={"budget_limit": 10**9}, headers=auth(token))
    assert r.status_code == 401 and r.json() == {"error": "invalid admin auth token"}
    r = await h.client.patch(url, json={"budget_limit": 10**9})
    assert r.status_code == 401 and r.json() == {"error": "admin auth required"}
    assert (await h.client.get(url)).status_code == 401
    assert (await h.client.get(url, headers=auth(other_token))).status_code == 401
    r = await h.client.patch(
        f"/workspaces/{UNKNOWN}/budget", json={"budget_limit": 1}, headers=h.admin
    )
    assert r.status_code == 404 and r.json() == {"error": "workspace not found"}
    assert (await h.client.get(f"/workspaces/{UNKNOWN}/budget", headers=h.admin)).status_code == 404
    r = await h.client.patch("/workspaces/x/budget", json={"budget_limit": 1}, headers=h.admin)
    assert r.status_code == 400 and r.json() == {"error": "invalid workspace ID"}
    assert await rows(h) == before

    assert (await h.client.delete(f"/workspaces/{wid}", headers=h.admin)).status_code == 200
    removed = await rows(h)
    r = await h.client.patch(url, json={"budget_limit": 1}, headers=h.admin)
    assert r.status_code == 404
    assert (await h.client.get(url, headers=h.admin)).status_code == 404
    assert await rows(h) == removed
