"""A database outage on the approval, broadcast, event-log and conversation routes: every
answer is the 503 with Retry-After (never a 500, never an acknowledgement), and the approval
expiry sweep survives it."""

from __future__ import annotations

import httpx
import trio

from molecule.store.embedded import EmbeddedPostgres
from tests.store.test_outage import ADMIN, assert_unavailable, client, own_server, restart

__all__ = ["client", "own_server"]  # the fixtures this module uses


async def test_an_outage_is_503_on_these_routes(
    client: httpx.AsyncClient, own_server: EmbeddedPostgres
) -> None:
    r = await client.post("/workspaces", json={"name": "w", "runtime": "external"}, headers=ADMIN)
    wid = r.json()["id"]
    r = await client.patch(
        f"/workspaces/{wid}/abilities", json={"broadcast_enabled": True}, headers=ADMIN
    )
    assert r.status_code == 200
    own_server.stop()
    calls = [
        ("POST", f"/workspaces/{wid}/approvals", {"action": "deploy"}),
        ("GET", f"/workspaces/{wid}/approvals", None),
        ("POST", f"/workspaces/{wid}/approvals/{wid}/decide", {"decision": "approved"}),
        ("GET", "/approvals/pending", None),
        ("GET", "/events", None),
        ("PATCH", f"/workspaces/{wid}/abilities", {"talk_to_user_enabled": False}),
        ("POST", f"/workspaces/{wid}/broadcast", {"message": "hi"}),
        ("GET", f"/workspaces/{wid}/chat-history", None),
        ("GET", f"/workspaces/{wid}/session-search?q=x", None),
        ("GET", "/admin/delegations", None),
        ("GET", "/admin/delegations/stats", None),
        ("GET", f"/admin/workspaces/{wid}/test-token", None),
        ("GET", "/canvas/viewport", None),
        ("PUT", "/canvas/viewport", {"x": 1}),
    ]
    for method, path, body in calls:
        r = await client.request(method, path, json=body, headers=ADMIN)
        assert_unavailable(r)
    r = await client.get("/buildinfo")  # needs no database
    assert r.status_code == 200
    back = restart(own_server)
    try:
        with trio.fail_after(20):
            while (await client.get("/approvals/pending", headers=ADMIN)).status_code != 200:
                await trio.sleep(0.1)
        r = await client.post(
            f"/workspaces/{wid}/approvals", json={"action": "deploy"}, headers=ADMIN
        )
        assert r.status_code == 201
    finally:
        back.stop()
