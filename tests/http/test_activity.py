"""GET/POST /workspaces/:id/activity and POST /workspaces/:id/notify (docs/compatibility.md
§1.1, #d4, #d8), and the activity retention sweep."""

from __future__ import annotations

import uuid
from typing import Any

from molecule.actors.sweepers import sweep_activity_retention
from molecule.http.activity_feed import parse_rfc3339
from tests.conftest import Harness, drain

ROW_KEYS = {
    "id", "workspace_id", "activity_type", "source_id", "target_id", "method", "summary",
    "duration_ms", "status", "error_detail", "created_at",
}  # fmt: skip
CURSOR_GONE = (
    "since_id cursor not found (row may have been pruned or belongs to a different "
    "workspace); omit since_id to reset"
)
TYPES_MESSAGE = (
    "invalid activity_type, must be one of: a2a_send, a2a_receive, task_update, agent_log, "
    "skill_promotion, memory_write, error"
)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def workspace(h: Harness, name: str) -> tuple[str, str]:
    ws: Any = await h.create_external(name)
    return ws["id"], ws["connection"]["auth_token"]


async def report(h: Harness, wid: str, token: str, **body: Any) -> Any:
    return await h.client.post(
        f"/workspaces/{wid}/activity",
        json={"activity_type": "agent_log", **body},
        headers=bearer(token),
    )


async def feed(h: Harness, wid: str, token: str, query: str = "") -> Any:
    return await h.client.get(f"/workspaces/{wid}/activity{query}", headers=bearer(token))


async def summaries(h: Harness, wid: str, token: str, query: str = "") -> list[str]:
    r = await feed(h, wid, token, query)
    assert r.status_code == 200, (query, r.text)
    return [row["summary"] for row in r.json()]


async def insert(
    h: Harness,
    wid: str,
    summary: str,
    *,
    kind: str = "agent_log",
    source: str | None = None,
    target: str | None = None,
    age: str = "0 seconds",
) -> str:
    row_id: str = await h.svc.store.fetchval(
        "INSERT INTO activity_logs (workspace_id, activity_type, source_id, target_id, summary,"
        " created_at) VALUES ($1, $2, $3, $4, $5, clock_timestamp() - $6::text::interval)"
        " RETURNING id",
        wid,
        kind,
        source,
        target,
        summary,
        age,
    )
    return row_id


async def count(h: Harness) -> int:
    await h.svc.activity.flush()
    n: int = await h.svc.store.fetchval("SELECT count(*) FROM activity_logs")
    return n


# --- GET: shape, order, filters ------------------------------------------------------------


async def test_feed_row_shape_newest_first(platform: Harness) -> None:
    h = platform
    wid, token = await workspace(h, "shape")
    await report(h, wid, token, summary="plain")
    await report(
        h, wid, token, summary="bodies", request_body={"q": 1}, response_body=[1, 2], duration_ms=5
    )
    rows = (await feed(h, wid, token)).json()
    assert [r["summary"] for r in rows] == ["bodies", "plain"]
    assert set(rows[1]) == ROW_KEYS  # NULL bodies are omitted, NULL scalars are null
    assert rows[1]["target_id"] is None and rows[1]["error_detail"] is None
    assert rows[1]["method"] is None and rows[1]["duration_ms"] is None
    assert set(rows[0]) == ROW_KEYS | {"request_body", "response_body"}
    assert rows[0]["request_body"] == {"q": 1} and rows[0]["response_body"] == [1, 2]
    assert rows[0]["duration_ms"] == 5 and rows[0]["status"] == "ok"
    assert rows[0]["workspace_id"] == wid and rows[0]["source_id"] == wid
    assert rows[0]["created_at"].endswith("Z") and parse_rfc3339(rows[0]["created_at"])
    # admin sees the same feed; uppercase path ids are accepted
    r = await h.client.get(f"/workspaces/{wid.upper()}/activity", headers=h.admin)
    assert r.status_code == 200 and [x["id"] for x in r.json()] == [x["id"] for x in rows]


async def test_feed_filters(platform: Harness) -> None:
    h = platform
    wid, token = await workspace(h, "filters")
    peer, other = str(uuid.uuid4()), str(uuid.uuid4())
    await insert(h, wid, "canvas-old", kind="a2a_receive", age="2 hours")
    await insert(h, wid, "from-peer", kind="a2a_receive", source=peer, age="1 hour")
    await insert(h, wid, "to-peer", kind="a2a_send", source=wid, target=peer, age="30 minutes")
    await insert(h, wid, "to-other", kind="a2a_send", source=wid, target=other, age="1 minute")
    assert await summaries(h, wid, token, "?type=a2a_send") == ["to-other", "to-peer"]
    assert await summaries(h, wid, token, "?type=nothing") == []
    assert await summaries(h, wid, token, "?source=canvas") == ["canvas-old"]
    assert await summaries(h, wid, token, "?source=agent") == ["to-other", "to-peer", "from-peer"]
    assert await summaries(h, wid, token, f"?peer_id={peer}") == ["to-peer", "from-peer"]
    assert await summaries(h, wid, token, f"?peer_id={peer.upper()}") == ["to-peer", "from-peer"]
    assert await summaries(h, wid, token, f"?peer_id={peer}&type=a2a_receive") == ["from-peer"]
    assert await summaries(h, wid, token, "?since_secs=600") == ["to-other"]
    assert await summaries(h, wid, token, "?since_secs=5400&source=agent") == [
        "to-other",
        "to-peer",
        "from-peer",
    ]
    rows = (await feed(h, wid, token)).json()
    cut = rows[1]["created_at"]  # "to-peer"
    assert await summaries(h, wid, token, f"?before_ts={cut}") == ["from-peer", "canvas-old"]
    # fractions of any length and numeric offsets are RFC 3339 too
    assert await summaries(h, wid, token, "?before_ts=2000-01-01T00:00:00.123456789Z") == []
    assert len(await summaries(h, wid, token, "?before_ts=2999-01-01T00:00:00%2B02:00")) == 4
    # empty parameters count as absent
    assert len(await summaries(h, wid, token, "?type=&source=&peer_id=&before_ts=&since_id=")) == 4


async def test_since_secs_is_clamped_to_30_days(platform: Harness) -> None:
    h = platform
    wid, token = await workspace(h, "clamp")
    await insert(h, wid, "29 days", age="29 days")
    await insert(h, wid, "31 days", age="31 days")
    assert await summaries(h, wid, token, "?since_secs=999999999") == ["29 days"]
    assert await summaries(h, wid, token, "?since_secs=2592000") == ["29 days"]
    assert await summaries(h, wid, token, "?since_secs=%2B86400") == []  # Atoi accepts "+n"
    assert await summaries(h, wid, token) == ["29 days", "31 days"]


async def test_limit_default_and_clamps(platform: Harness) -> None:
    h = platform
    wid, token = await workspace(h, "limits")
    await h.svc.store.execute(
        "INSERT INTO activity_logs (workspace_id, activity_type, summary)"
        " SELECT $1, 'agent_log', 'r' || g FROM generate_series(1, 510) g",
        wid,
    )
    expected = {
        "": 100,
        "?limit=7": 7,
        "?limit=0": 100,
        "?limit=-3": 100,
        "?limit=junk": 100,
        "?limit=1.5": 100,
        "?limit=1_0": 100,
        "?limit=99999999999999999999999": 100,  # not an int64: junk, as in the original
        "?limit=500": 500,
        "?limit=501": 500,
        "?limit=100000": 500,
    }
    for query, n in expected.items():
        assert len((await feed(h, wid, token, query)).json()) == n, query


async def test_refusals_have_exact_messages_and_order(platform: Harness) -> None:
    h = platform
    wid, token = await workspace(h, "refuse")
    await report(h, wid, token, summary="only")
    before = await count(h)
    unknown = str(uuid.uuid4())
    cases = {
        "?peer_id=x": (400, "peer_id must be a UUID"),
        "?source=robot": (400, "source must be 'canvas' or 'agent'"),
        "?source=CANVAS": (400, "source must be 'canvas' or 'agent'"),
        "?since_secs=0": (400, "since_secs must be a positive integer"),
        "?since_secs=-5": (400, "since_secs must be a positive integer"),
        "?since_secs=1.5": (400, "since_secs must be a positive integer"),
        "?since_secs=1e3": (400, "since_secs must be a positive integer"),
        "?since_secs=x": (400, "since_secs must be a positive integer"),
        "?since_id=nope": (400, "since_id must be a UUID (an activity row id)"),
        f"?since_id={unknown}": (410, CURSOR_GONE),
        # order: peer_id, before_ts, limit, since_secs, since_id lookup, source
        "?source=robot&peer_id=x": (400, "peer_id must be a UUID"),
        "?peer_id=x&before_ts=bad": (400, "peer_id must be a UUID"),
        "?since_secs=0&before_ts=bad": (400, "before_ts"),
        "?limit=junk&since_secs=0": (400, "since_secs must be a positive integer"),
        f"?since_id={unknown}&since_secs=0": (400, "since_secs must be a positive integer"),
        f"?source=robot&since_id={unknown}": (410, CURSOR_GONE),
        "?source=robot&since_id=nope": (400, "since_id must be a UUID (an activity row id)"),
    }
    for stamp in (
        "yesterday",
        "2026-05-01",
        "2026-05-01T00:00:00",  # no zone
        "2026-05-01 00:00:00Z",
        "2026-05-01t00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-05-01T24:00:00Z",
        "2026-05-01T00:00:00%2B25:00",
        "20260501T000000Z",
    ):
        cases[f"?before_ts={stamp}"] = (400, "before_ts")
    for query, (status, message) in cases.items():
        r = await feed(h, wid, token, query)
        assert r.status_code == status, (query, r.text)
        error = r.json()["error"]
        if message == "before_ts":
            assert error == "before_ts must be an RFC3339 timestamp (e.g. 2026-05-01T00:00:00Z)"
        else:
            assert error == message, query
    assert (await feed(h, wid, token, f"?since_id={unknown}")).json() == {"error": CURSOR_GONE}
    r = await h.client.get("/workspaces/not-a-uuid/activity", headers=h.admin)
    assert r.status_code == 400 and r.json()["error"] == "invalid workspace ID"
    assert await count(h) == before
    assert await summaries(h, wid, token) == ["only"]


async def test_since_id_cursor_rules(platform: Harness) -> None:
    h = platform
    wid, token = await workspace(h, "cursor")
    other, other_token = await workspace(h, "elsewhere")
    for i in range(5):
        assert (await report(h, wid, token, summary=f"row {i}")).json() == {"status": "logged"}
    ids = {r["summary"]: r["id"] for r in (await feed(h, wid, token)).json()}
    # strictly after, oldest first
    assert await summaries(h, wid, token, f"?since_id={ids['row 1']}") == [
        "row 2",
        "row 3",
        "row 4",
    ]
    assert await summaries(h, wid, token, f"?since_id={ids['row 4']}") == []
    assert await summaries(h, wid, token, f"?since_id={ids['row 0']}&limit=2") == ["row 1", "row 2"]
    assert await summaries(h, wid, token, f"?since_id={ids['row 1'].upper()}") == [
        "row 2",
        "row 3",
        "row 4",
    ]
    # combined with other filters
    assert await summaries(h, wid, token, f"?since_id={ids['row 1']}&source=canvas") == []
    # a row sharing the cursor's timestamp is skipped (strict >)
    await h.svc.store.execute(
        "UPDATE activity_logs SET created_at = (SELECT created_at FROM activity_logs"
        " WHERE id = $1) WHERE id = $2",
        ids["row 1"],
        ids["row 2"],
    )
    assert await summaries(h, wid, token, f"?since_id={ids['row 1']}") == ["row 3", "row 4"]
    # another workspace's row, an unknown id and a pruned cursor are 410
    await report(h, other, other_token, summary="theirs")
    foreign = (await feed(h, other, other_token)).json()[0]["id"]
    await h.svc.store.execute("DELETE FROM activity_logs WHERE id = $1", ids["row 0"])
    for gone in (foreign, str(uuid.uuid4()), ids["row 0"]):
        r = await feed(h, wid, token, f"?since_id={gone}")
        assert r.status_code == 410 and r.json() == {"error": CURSOR_GONE}
    # the owner of that row can use it (as the admin can for that workspace)
    r = await h.client.get(f"/workspaces/{other}/activity?since_id={foreign}", headers=h.admin)
    assert r.status_code == 200 and r.json() == []
    # malformed cursors are 400 (docs/compatibility.md#d8), not a database error
    for bad in ("nope", "1", "%27%3B--", ids["row 3"][:-1], "{" + ids["row 3"] + "}"):
        r = await feed(h, wid, token, f"?since_id={bad}")
        assert r.status_code == 400, bad
        assert r.json()["error"] == "since_id must be a UUID (an activity row id)"


async def test_feed_auth(platform: Harness) -> None:
    h = platform
    wid, token = await workspace(h, "mine")
    other, other_token = await workspace(h, "theirs")
    await report(h, wid, token, summary="secret")
    assert (await h.client.get(f"/workspaces/{wid}/activity")).status_code == 401
    assert (await feed(h, wid, other_token)).status_code == 401
    assert (await feed(h, wid, "not-a-token")).status_code == 401
    r = await h.client.post(
        f"/workspaces/{wid}/activity",
        json={"activity_type": "agent_log"},
        headers=bearer(other_token),
    )
    assert r.status_code == 401
    r = await h.client.post(f"/workspaces/{wid}/activity", json={"activity_type": "agent_log"})
    assert r.status_code == 401
    for headers in ({}, bearer(other_token)):
        r = await h.client.post(f"/workspaces/{wid}/notify", json={"message": "x"}, headers=headers)
        assert r.status_code == 401
    assert await summaries(h, wid, token) == ["secret"]
    assert await summaries(h, other, other_token) == []


# --- POST activity ---------------------------------------------------------------------------


async def test_post_activity_logs_and_broadcasts(platform: Harness) -> None:
    h = platform
    wid, token = await workspace(h, "poster")
    target = str(uuid.uuid4())
    secret = "token sk-abcdefghijklmnopqrstuvwxyz123"
    with h.svc.bus.subscribe(wid) as sub:
        r = await report(
            h,
            wid,
            token,
            activity_type="a2a_send",
            source_id="",
            target_id=target.upper(),
            method="message/send",
            summary="sent",
            metadata={"k": 1},
            status="error",
            error_detail=secret,
            duration_ms=12,
        )
        assert r.status_code == 200 and r.json() == {"status": "logged"}
        events = drain(sub)
    assert [e.type for e in events] == ["ACTIVITY_LOGGED"]
    assert events[0].payload == {
        "activity_type": "a2a_send",
        "status": "error",
        "method": "message/send",
        "summary": "sent",
        "source_id": wid,
        "target_id": target,
        "duration_ms": 12,
        "request_body": {"k": 1},  # metadata stands in for an absent request_body
        "error_detail": "token [REDACTED]",
    }
    row = (await feed(h, wid, token)).json()[0]
    assert row["source_id"] == wid and row["target_id"] == target
    assert row["request_body"] == {"k": 1} and "response_body" not in row
    assert row["error_detail"] == secret  # the database keeps the raw value
    assert row["status"] == "error" and row["duration_ms"] == 12

    # request_body wins over metadata; a null request_body falls back; status defaults to ok;
    # the workspace's own id in any case is accepted as source_id
    await report(h, wid, token, summary="a", request_body={"r": 1}, metadata={"m": 1})
    await report(h, wid, token, summary="b", request_body=None, metadata={"m": 2})
    await report(h, wid, token, summary="c", source_id=wid.upper(), response_body={"ok": True})
    rows = {r["summary"]: r for r in (await feed(h, wid, token)).json()}
    assert rows["a"]["request_body"] == {"r": 1} and rows["b"]["request_body"] == {"m": 2}
    assert rows["c"]["response_body"] == {"ok": True} and "request_body" not in rows["c"]
    assert rows["c"]["source_id"] == wid
    assert {r["status"] for k, r in rows.items() if k != "sent"} == {"ok"}
    # the admin may post for a workspace too
    r = await h.client.post(
        f"/workspaces/{wid}/activity", json={"activity_type": "task_update"}, headers=h.admin
    )
    assert r.status_code == 200


async def test_post_activity_refusals(platform: Harness) -> None:
    h = platform
    wid, token = await workspace(h, "strict")
    await report(h, wid, token, summary="kept")
    before = await count(h)
    with h.svc.bus.subscribe(wid) as sub:
        cases: list[tuple[Any, int, str]] = [
            ({"activity_type": "gossip"}, 400, TYPES_MESSAGE),
            ({"activity_type": "AGENT_LOG"}, 400, TYPES_MESSAGE),
            ({}, 400, "invalid request body"),
            ({"activity_type": ""}, 400, "invalid request body"),
            ({"activity_type": 5}, 400, "invalid request body"),
            ({"activity_type": "agent_log", "duration_ms": "slow"}, 400, "invalid request body"),
            ({"activity_type": "agent_log", "duration_ms": 1.5}, 400, "invalid request body"),
            ({"activity_type": "agent_log", "duration_ms": True}, 400, "invalid request body"),
            ({"activity_type": "agent_log", "summary": {"x": 1}}, 400, "invalid request body"),
            ({"activity_type": "agent_log", "source_id": 7}, 400, "invalid request body"),
            ([1, 2], 400, "invalid request body"),
            ({"activity_type": "agent_log", "target_id": "bob"}, 400, "target_id must be a UUID"),
            (
                {"activity_type": "agent_log", "source_id": str(uuid.uuid4())},
                403,
                "source_id must match authenticated workspace",
            ),
            (
                {"activity_type": "agent_log", "source_id": "not-me"},
                403,
                "source_id must match authenticated workspace",
            ),
        ]
        for body, status, message in cases:
            r = await h.client.post(f"/workspaces/{wid}/activity", json=body, headers=bearer(token))
            assert (r.status_code, r.json()) == (status, {"error": message}), body
        r = await h.client.post(
            f"/workspaces/{wid}/activity", content=b"{not json", headers=bearer(token)
        )
        assert (r.status_code, r.json()) == (400, {"error": "invalid request body"})
        assert drain(sub) == []
    assert await count(h) == before
    assert await summaries(h, wid, token) == ["kept"]


# --- notify ----------------------------------------------------------------------------------


async def notify(h: Harness, wid: str, token: str, body: Any) -> Any:
    return await h.client.post(f"/workspaces/{wid}/notify", json=body, headers=bearer(token))


async def test_notify_with_attachments(platform: Harness) -> None:
    h = platform
    wid, token = await workspace(h, "talker")
    attachments = [
        {"uri": "workspace:/workspace/a.txt", "name": "a.txt", "mimeType": "text/plain", "size": 3},
        {"URI": "workspace:/workspace/b.bin", "Name": "b.bin", "MimeType": "", "Size": 0},
        {"uri": "https://example.com/c", "name": "c", "size": -1},
    ]
    with h.svc.bus.subscribe(wid) as sub:
        r = await notify(h, wid, token, {"message": "done!", "attachments": attachments})
        assert r.status_code == 200 and r.json() == {"status": "sent"}
        events = drain(sub)
    clean = [
        {"uri": "workspace:/workspace/a.txt", "name": "a.txt", "mimeType": "text/plain", "size": 3},
        {"uri": "workspace:/workspace/b.bin", "name": "b.bin"},
        {"uri": "https://example.com/c", "name": "c"},
    ]
    # AGENT_MESSAGE only (no ACTIVITY_LOGGED, as the original), lowercase keys
    # (docs/compatibility.md#d4)
    assert [e.type for e in events] == ["AGENT_MESSAGE"]
    assert events[0].payload == {
        "message": "done!",
        "workspace_id": wid,
        "name": "talker",
        "attachments": clean,
    }
    rows = (await feed(h, wid, token, "?type=a2a_receive")).json()
    assert len(rows) == 1
    row = rows[0]
    assert row["method"] == "notify" and row["summary"] == "Agent message: done!"
    assert row["source_id"] is None and row["target_id"] is None and row["status"] == "ok"
    assert "request_body" not in row
    # a reloaded chat rebuilds the chips from these parts
    assert row["response_body"] == {
        "result": "done!",
        "parts": [{"kind": "file", "file": f} for f in clean],
    }
    assert await summaries(h, wid, token, "?source=canvas") == ["Agent message: done!"]


async def test_notify_without_attachments_and_long_summary(platform: Harness) -> None:
    h = platform
    wid, token = await workspace(h, "plain")
    long = "é" * 80 + "xyz"
    with h.svc.bus.subscribe(wid) as sub:
        assert (
            await notify(h, wid, token, {"message": "hi", "attachments": []})
        ).status_code == 200
        assert (await notify(h, wid, token, {"message": long})).status_code == 200
        events = drain(sub)
    assert [e.payload for e in events] == [
        {"message": "hi", "workspace_id": wid, "name": "plain"},  # no attachments key
        {"message": long, "workspace_id": wid, "name": "plain"},
    ]
    rows = (await feed(h, wid, token)).json()
    assert rows[0]["summary"] == "Agent message: " + "é" * 80 + "…"  # 80 runes, then …
    assert rows[0]["response_body"] == {"result": long}
    assert rows[1]["summary"] == "Agent message: hi"
    assert rows[1]["response_body"] == {"result": "hi"}
    exact = "x" * 80
    await notify(h, wid, token, {"message": exact})
    assert (await summaries(h, wid, token))[0] == "Agent message: " + exact  # no … when not cut


async def test_notify_refusals(platform: Harness) -> None:
    h = platform
    wid, token = await workspace(h, "refuser")
    required = "message is required"
    cases: list[tuple[Any, int, str]] = [
        ({}, 400, required),
        ({"message": ""}, 400, required),
        ({"message": 5}, 400, required),
        ([1], 400, required),
        ({"message": "x", "attachments": "a.txt"}, 400, required),
        ({"message": "x", "attachments": ["a.txt"]}, 400, required),
        ({"message": "x", "attachments": [{"uri": 1, "name": "n"}]}, 400, required),
        ({"message": "x", "attachments": [{"uri": "u", "name": "n", "size": "3"}]}, 400, required),
        (
            {"message": "x", "attachments": [{"uri": "u", "name": "n"}, {"uri": "u"}]},
            400,
            "attachment[1]: uri and name are required",
        ),
        (
            {"message": "x", "attachments": [{"name": "n", "uri": ""}]},
            400,
            "attachment[0]: uri and name are required",
        ),
    ]
    with h.svc.bus.subscribe(wid) as sub:
        for body, status, message in cases:
            r = await notify(h, wid, token, body)
            assert (r.status_code, r.json()) == (status, {"error": message}), body
        r = await h.client.post(f"/workspaces/{wid}/notify", content=b"nope", headers=bearer(token))
        assert (r.status_code, r.json()) == (400, {"error": required})
        assert drain(sub) == []
    assert await count(h) == 0


async def test_notify_talk_to_user_disabled_and_removed(platform: Harness) -> None:
    h = platform
    wid, token = await workspace(h, "muted")
    await h.svc.store.execute(
        "UPDATE workspaces SET talk_to_user_enabled = false WHERE id = $1", wid
    )
    with h.svc.bus.subscribe(wid) as sub:
        r = await notify(h, wid, token, {"message": "hi"})
        assert r.status_code == 403
        body = r.json()
        assert set(body) == {"error", "hint"} and body["error"] == "talk_to_user_disabled"
        assert "delegate_task" in body["hint"]
        assert drain(sub) == []
    assert await count(h) == 0

    gone, _ = await workspace(h, "gone")
    await h.svc.store.execute("UPDATE workspaces SET status = 'removed' WHERE id = $1", gone)
    r = await h.client.post(f"/workspaces/{gone}/notify", json={"message": "hi"}, headers=h.admin)
    assert (r.status_code, r.json()) == (404, {"error": "workspace not found"})
    r = await h.client.post(
        f"/workspaces/{uuid.uuid4()}/notify", json={"message": "hi"}, headers=h.admin
    )
    assert (r.status_code, r.json()) == (404, {"error": "workspace not found"})
    r = await h.client.post("/workspaces/bad-id/notify", json={"message": "hi"}, headers=h.admin)
    assert (r.status_code, r.json()) == (400, {"error": "invalid workspace ID"})
    assert await count(h) == 0


# --- retention -------------------------------------------------------------------------------


async def test_retention_sweep(platform: Harness) -> None:
    h = platform
    wid, token = await workspace(h, "keeper")
    other, other_token = await workspace(h, "other")
    await insert(h, wid, "fresh")
    await insert(h, wid, "six days", age="6 days")
    await insert(h, wid, "eight days", age="8 days")
    await insert(h, other, "theirs, old", age="30 days")
    assert h.svc.settings.activity_retention_days == 7
    assert (
        await sweep_activity_retention(h.svc.activity.rows, h.svc.settings.activity_retention_days)
        == 2
    )
    assert await summaries(h, wid, token) == ["fresh", "six days"]
    assert await summaries(h, other, other_token) == []
    assert await sweep_activity_retention(h.svc.activity.rows, 7) == 0
    assert await sweep_activity_retention(h.svc.activity.rows, 1) == 1
    assert await summaries(h, wid, token) == ["fresh"]


def test_parse_rfc3339() -> None:
    assert parse_rfc3339("2026-05-01T00:00:00Z") is not None
    a = parse_rfc3339("2026-05-01T02:00:00.5+02:00")
    b = parse_rfc3339("2026-05-01T00:00:00.500000999Z")
    assert a is not None and a == b
    assert parse_rfc3339("2026-05-01T00:00:00-00:30") == parse_rfc3339("2026-05-01T00:30:00Z")
    for bad in ("2026-02-30T00:00:00Z", "2026-05-01T00:00:60Z", "2026-05-01T00:00:00+01:60"):
        assert parse_rfc3339(bad) is None, bad
