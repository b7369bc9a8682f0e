"""The activity feed's cursor rules and refusals, POST activity, and notify."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import Harness


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def report(h: Harness, wid: str, token: str, **body: Any) -> Any:
    return await h.client.post(
        f"/workspaces/{wid}/activity",
        json={"activity_type": "agent_log", **body},
        headers=bearer(token),
    )


async def feed(h: Harness, wid: str, token: str, query: str = "") -> Any:
    return await h.client.get(f"/workspaces/{wid}/activity{query}", headers=bearer(token))


async def test_cursor_rules(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("feed")
    wid, token = ws["id"], ws["connection"]["auth_token"]
    for i in range(5):
        r = await report(h, wid, token, summary=f"row {i}")
        assert r.status_code == 200 and r.json() == {"status": "logged"}
    rows = (await feed(h, wid, token)).json()
    assert [r["summary"] for r in rows] == [f"row {i}" for i in (4, 3, 2, 1, 0)]  # newest first
    assert "request_body" not in rows[0] and rows[0]["source_id"] == wid
    cursor = rows[3]["id"]  # "row 1"
    after = (await feed(h, wid, token, f"?since_id={cursor}")).json()
    assert [r["summary"] for r in after] == ["row 2", "row 3", "row 4"]  # oldest first, strict
    assert (await feed(h, wid, token, "?limit=2")).json()[0]["summary"] == "row 4"
    assert len((await feed(h, wid, token, "?limit=0")).json()) == 5
    assert len((await feed(h, wid, token, "?since_secs=60")).json()) == 5
    assert len((await feed(h, wid, token, "?since_secs=99999999")).json()) == 5  # clamped

    other = await h.create_external("other")
    await report(h, other["id"], other["connection"]["auth_token"], summary="theirs")
    foreign = (await feed(h, other["id"], other["connection"]["auth_token"])).json()[0]["id"]
    for missing in (foreign, str(uuid.uuid4())):
        r = await feed(h, wid, token, f"?since_id={missing}")
        assert r.status_code == 410
        assert r.json()["error"].startswith("since_id cursor not found")
    refusals = {
        "?since_id=nope": 400,
        "?since_secs=0": 400,
        "?since_secs=x": 400,
        "?peer_id=x": 400,
        "?before_ts=yesterday": 400,
        "?source=robot": 400,
    }
    for query, status in refusals.items():
        assert (await feed(h, wid, token, query)).status_code == status, query
    assert (await feed(h, wid, other["connection"]["auth_token"])).status_code == 401
    assert (await h.client.get(f"/workspaces/{wid}/activity")).status_code == 401


async def test_post_activity_rules_and_broadcast(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("poster")
    wid, token = ws["id"], ws["connection"]["auth_token"]
    with h.svc.bus.subscribe(wid) as sub:
        r = await report(
            h, wid, token, metadata={"k": 1}, error_detail="token sk-abcdefghijklmnopqrstuvwxyz123"
        )
        assert r.status_code == 200
        event = sub.receive.receive_nowait()
    assert event.type == "ACTIVITY_LOGGED" and event.payload["request_body"] == {"k": 1}
    assert "[REDACTED]" in event.payload["error_detail"]
    before = await h.svc.store.fetchval("SELECT count(*) FROM activity_logs")
    assert (await report(h, wid, token, activity_type="gossip")).status_code == 400
    assert (await report(h, wid, token, source_id=str(uuid.uuid4()))).status_code == 403
    assert (await report(h, wid, token, duration_ms="slow")).status_code == 400
    assert await h.svc.store.fetchval("SELECT count(*) FROM activity_logs") == before


async def test_notify_broadcasts_lowercase_attachments_and_persists_chips(
    platform: Harness,
) -> None:
    h = platform
    ws = await h.create_external("talker")
    wid, token = ws["id"], ws["connection"]["auth_token"]
    attachment = {"uri": "workspace:/workspace/a.txt", "name": "a.txt", "mimeType": "text/plain"}
    with h.svc.bus.subscribe(wid) as sub:
        r = await h.client.post(
            f"/workspaces/{wid}/notify",
            json={"message": "done!", "attachments": [{**attachment, "size": 3}]},
            headers=bearer(token),
        )
        assert r.status_code == 200 and r.json() == {"status": "sent"}
        event = sub.receive.receive_nowait()
    assert event.type == "AGENT_MESSAGE"
    assert event.payload["attachments"] == [{**attachment, "size": 3}]  # D4: lowercase keys
    rows = (await feed(h, wid, token, "?type=a2a_receive")).json()
    assert rows[0]["method"] == "notify" and rows[0]["summary"] == "Agent message: done!"
    assert rows[0]["response_body"] == {
        "result": "done!",
        "parts": [{"kind": "file", "file": {**attachment, "size": 3}}],
    }
    bad = [{"message": 5}, {}, {"message": "x", "attachments": [{"uri": "u"}]}]
    for body in bad:
        r = await h.client.post(f"/workspaces/{wid}/notify", json=body, headers=bearer(token))
        assert r.status_code == 400
    await h.svc.store.execute(
        "UPDATE workspaces SET talk_to_user_enabled = false WHERE id = $1", wid
    )
    r = await h.client.post(
        f"/workspaces/{wid}/notify", json={"message": "hi"}, headers=bearer(token)
    )
    assert r.status_code == 403 and r.json()["error"] == "talk_to_user_disabled"
    assert len((await feed(h, wid, token, "?type=a2a_receive")).json()) == 1


async def test_retention_sweep_deletes_only_old_rows(platform: Harness) -> None:
    from molecule.actors.sweepers import sweep_activity_retention

    h = platform
    ws = await h.create_external("old")
    wid, token = ws["id"], ws["connection"]["auth_token"]
    await report(h, wid, token, summary="fresh")
    await report(h, wid, token, summary="stale")
    await h.svc.store.execute(
        "UPDATE activity_logs SET created_at = now() - interval '8 days' WHERE summary = 'stale'"
    )
    assert await sweep_activity_retention(h.svc.store, 7) == 1
    assert [r["summary"] for r in (await feed(h, wid, token)).json()] == ["fresh"]
