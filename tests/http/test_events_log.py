"""`GET /events` and `GET /events/:workspaceId`: the newest recorded events, for admins only."""

from __future__ import annotations

from molecule.events import WORKSPACE_ONLINE
from tests.conftest import Harness
from tests.http.test_registry import auth

ZERO = "00000000-0000-0000-0000-000000000000"


async def test_recorded_events_newest_first(platform: Harness) -> None:
    h = platform
    a = await h.create_external("a")
    b = await h.create_external("b")
    await h.svc.bus.record(WORKSPACE_ONLINE, a["id"], {"n": 1, "text": "é"})
    await h.svc.bus.record("CUSTOM", None, {"n": 2})
    h.svc.bus.broadcast("EPHEMERAL", a["id"], {})  # not recorded: never listed

    r = await h.client.get("/events", headers=h.admin)
    assert r.status_code == 200
    events = r.json()
    assert [e["event_type"] for e in events[:2]] == ["CUSTOM", WORKSPACE_ONLINE]
    assert events[0] == {
        "id": events[0]["id"],
        "event_type": "CUSTOM",
        "workspace_id": None,
        "payload": {"n": 2},
        "created_at": events[0]["created_at"],
    }
    assert events[1]["payload"] == {"n": 1, "text": "é"} and events[1]["workspace_id"] == a["id"]
    assert events[0]["created_at"].endswith("Z") and "T" in events[0]["created_at"]
    assert "EPHEMERAL" not in {e["event_type"] for e in events}
    stamps = [e["created_at"] for e in events]
    assert stamps == sorted(stamps, reverse=True)

    r = await h.client.get(f"/events/{a['id']}", headers=h.admin)
    mine = r.json()
    assert mine and all(e["workspace_id"] == a["id"] for e in mine)
    assert mine[0]["event_type"] == WORKSPACE_ONLINE
    assert all(
        e["workspace_id"] == b["id"]
        for e in (await h.client.get(f"/events/{b['id']}", headers=h.admin)).json()
    )
    r = await h.client.get(f"/events/{ZERO}", headers=h.admin)
    assert r.status_code == 200 and r.json() == []


async def test_at_most_100(platform: Harness) -> None:
    h = platform
    await h.svc.store.execute(
        "INSERT INTO structure_events (event_type, workspace_id, payload, created_at)"
        " SELECT 'BULK', NULL, jsonb_build_object('i', i), now() - make_interval(secs => i)"
        " FROM generate_series(1, 150) AS i"
    )
    events = (await h.client.get("/events", headers=h.admin)).json()
    assert len(events) == 100
    bulk = [e["payload"]["i"] for e in events if e["event_type"] == "BULK"]
    assert bulk == sorted(bulk) and bulk[0] == 1  # the newest ones


async def test_refusals(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("w")
    for path in ("/events", f"/events/{ws['id']}"):
        r = await h.client.get(path)
        assert r.status_code == 401 and r.json()["error"] == "admin auth required"
        r = await h.client.get(path, headers=auth(ws["connection"]["auth_token"]))
        assert r.status_code == 401 and r.json()["error"] == "invalid admin auth token"
    r = await h.client.get("/events/not-a-uuid", headers=h.admin)
    assert r.status_code == 400 and r.json()["error"] == "invalid workspace ID"
