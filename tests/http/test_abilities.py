"""`PATCH /workspaces/:id/abilities` (admin) and `POST /workspaces/:id/broadcast`: a workspace
allowed to broadcast reaches its whole team, poll-mode members through their inbox and the
others through their durable queue (a real push agent receives it)."""

from __future__ import annotations

from typing import Any

import httpx
import trio

from tests.conftest import Harness
from tests.http.test_delegations import WAIT, fake_agent, poll_target, push_target
from tests.http.test_registry import auth

ZERO = "00000000-0000-0000-0000-000000000000"


def token(ws: dict[str, Any]) -> dict[str, str]:
    return auth(ws["connection"]["auth_token"])


async def abilities(h: Harness, wid: str) -> tuple[bool, bool]:
    row = await h.svc.store.fetchrow(
        "SELECT broadcast_enabled, talk_to_user_enabled FROM workspaces WHERE id = $1", wid
    )
    assert row is not None
    return row["broadcast_enabled"], row["talk_to_user_enabled"]


async def stored(h: Harness) -> tuple[int, int]:
    """(activity rows, queue items): what a broadcast would add."""
    await h.svc.activity.flush()
    row = await h.svc.store.fetchrow(
        "SELECT (SELECT count(*) FROM activity_logs) AS a, (SELECT count(*) FROM a2a_queue) AS q"
    )
    assert row is not None
    return row["a"], row["q"]


async def patch(h: Harness, wid: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    return await h.client.patch(f"/workspaces/{wid}/abilities", json=body, headers=headers)


async def test_abilities_are_switched_by_an_admin(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("w")
    wid = ws["id"]
    assert await abilities(h, wid) == (False, True)  # the defaults
    r = await patch(h, wid, {"broadcast_enabled": True}, h.admin)
    assert r.status_code == 200 and r.json() == {"status": "updated"}
    assert await abilities(h, wid) == (True, True)
    detail = (await h.client.get(f"/workspaces/{wid}", headers=h.admin)).json()
    assert detail["broadcast_enabled"] is True and detail["talk_to_user_enabled"] is True

    r = await patch(h, wid, {"broadcast_enabled": False, "talk_to_user_enabled": False}, h.admin)
    assert r.status_code == 200
    assert await abilities(h, wid) == (False, False)
    r = await h.client.post(f"/workspaces/{wid}/notify", json={"message": "hi"}, headers=token(ws))
    assert r.status_code == 403 and r.json()["error"] == "talk_to_user_disabled"
    r = await patch(h, wid, {"talk_to_user_enabled": True}, h.admin)
    assert await abilities(h, wid) == (False, True)


async def test_ability_refusals_change_nothing(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("w")
    wid = ws["id"]
    ok = {"broadcast_enabled": True}
    cases: list[tuple[str, Any, dict[str, str], int, str]] = [
        (wid, ok, {}, 401, "admin auth required"),
        (wid, ok, token(ws), 401, "invalid admin auth token"),
        (wid, {}, h.admin, 400, "at least one ability field required"),
        (wid, {"broadcast_enabled": None}, h.admin, 400, "at least one ability field required"),
        (wid, {"other": True}, h.admin, 400, "at least one ability field required"),
        (wid, {"broadcast_enabled": "yes"}, h.admin, 400, "invalid request body"),
        (wid, {"talk_to_user_enabled": 0}, h.admin, 400, "invalid request body"),
        (wid, [True], h.admin, 400, "invalid request body"),
        ("nope", ok, h.admin, 400, "invalid workspace ID"),
        (ZERO, ok, h.admin, 404, "workspace not found"),
    ]
    for target, body, headers, status, error in cases:
        r = await patch(h, target, body, headers)
        assert (r.status_code, r.json()["error"]) == (status, error), (target, body)
    r = await h.client.patch(f"/workspaces/{wid}/abilities", content=b"{", headers=h.admin)
    assert r.status_code == 400
    assert await abilities(h, wid) == (False, True)
    await h.client.delete(f"/workspaces/{wid}", headers=h.admin)
    r = await patch(h, wid, ok, h.admin)
    assert r.status_code == 404
    assert await abilities(h, wid) == (False, True)


async def test_broadcast_reaches_the_team(dev_platform: Harness) -> None:
    h = dev_platform
    async with fake_agent() as agent:
        sender = await h.create_external("sender")
        sid = sender["id"]
        push = await push_target(h, agent.url)  # another root: a sibling of the sender
        poll = await poll_target(h)
        child = await h.create_external("child", parent_id=sid)
        grandchild = await h.create_external("grandchild", parent_id=child["id"])
        r = await patch(h, sid, {"broadcast_enabled": True}, h.admin)
        assert r.status_code == 200

        r = await h.client.post(
            f"/workspaces/{sid}/broadcast", json={"message": "hello team"}, headers=token(sender)
        )
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["status"] == "queued" and body["count"] == 3
        reached = {peer["id"] for peer in body["recipients"]}
        assert reached == {push, poll, child["id"]}
        assert grandchild["id"] not in reached and sid not in reached
        broadcast_id = body["broadcast_id"]

        # The push agent gets it through its queue, at once (it is idle and online).
        with trio.fail_after(WAIT):
            while not agent.requests:
                await trio.sleep(0.02)
        message = agent.requests[0]["params"]["message"]
        assert message["parts"][0]["text"] == "hello team"
        assert message["metadata"] == {"broadcast_id": broadcast_id, "from_workspace_id": sid}

        # The poll-mode member finds it in its inbox, from the sender.
        poll_token = (
            await h.client.get(f"/admin/workspaces/{poll}/test-token", headers=h.admin)
        ).json()["auth_token"]
        feed = (
            await h.client.get(
                f"/workspaces/{poll}/activity?type=a2a_receive", headers=auth(poll_token)
            )
        ).json()
        [row] = feed
        assert row["source_id"] == sid and row["method"] == "message/send"
        assert row["request_body"]["params"]["message"]["parts"][0]["text"] == "hello team"

        # The child has no agent yet: its copy waits in its queue.
        item = await h.svc.store.fetchrow(
            "SELECT caller_id, status, body, expires_at FROM a2a_queue WHERE workspace_id = $1",
            child["id"],
        )
        assert item is not None and item["caller_id"] == sid and item["status"] == "queued"
        assert item["body"]["params"]["message"]["metadata"]["broadcast_id"] == broadcast_id
        assert item["expires_at"] is not None
        # The sender keeps a record of what it sent, and to whom.
        await h.svc.activity.flush()
        sent = await h.svc.store.fetchrow(
            "SELECT activity_type, request_body FROM activity_logs"
            " WHERE workspace_id = $1 AND method = 'broadcast'",
            sid,
        )
        assert sent is not None and sent["activity_type"] == "a2a_send"
        assert sent["request_body"]["message"] == "hello team"
        assert set(sent["request_body"]["recipients"]) == reached


async def test_broadcast_refusals_store_nothing(platform: Harness) -> None:
    h = platform
    sender = await h.create_external("sender")
    other = await h.create_external("other")
    sid, url = sender["id"], f"/workspaces/{sender['id']}/broadcast"
    before = await stored(h)
    r = await h.client.post(url, json={"message": "hi"}, headers=token(sender))
    assert r.status_code == 403 and r.json()["error"] == "broadcast_disabled"
    assert "abilities" in r.json()["hint"]
    await patch(h, sid, {"broadcast_enabled": True}, h.admin)
    cases: list[tuple[str, Any, dict[str, str], int, str]] = [
        (url, {"message": "hi"}, {}, 401, "missing workspace auth token"),
        (url, {"message": "hi"}, token(other), 401, "invalid workspace auth token"),
        (url, {}, token(sender), 400, "message is required"),
        (url, {"message": ""}, token(sender), 400, "message is required"),
        (url, {"message": "   "}, token(sender), 400, "message is required"),
        (url, {"message": 3}, token(sender), 400, "message is required"),
        (url, ["hi"], token(sender), 400, "message is required"),
        (
            url,
            {"message": "x" * 32769},
            token(sender),
            400,
            "message must be at most 32768 characters",
        ),
        ("/workspaces/nope/broadcast", {"message": "hi"}, h.admin, 400, "invalid workspace ID"),
        (f"/workspaces/{ZERO}/broadcast", {"message": "hi"}, h.admin, 404, "workspace not found"),
    ]
    for path, body, headers, status, error in cases:
        r = await h.client.post(path, json=body, headers=headers)
        assert (r.status_code, r.json()["error"]) == (status, error), (path, body)
    assert await stored(h) == before


async def test_broadcast_to_an_empty_team_is_recorded(platform: Harness) -> None:
    h = platform
    alone = await h.create_external("alone")
    await patch(h, alone["id"], {"broadcast_enabled": True}, h.admin)
    before = await stored(h)
    r = await h.client.post(
        f"/workspaces/{alone['id']}/broadcast", json={"message": "anyone?"}, headers=h.admin
    )
    assert r.status_code == 202
    assert r.json()["recipients"] == [] and r.json()["count"] == 0
    assert await stored(h) == (before[0] + 1, before[1])
