"""`GET /workspaces/:id/chat-history` and `GET /workspaces/:id/session-search`, over rows the
real routes write (a canvas message to a poll-mode agent, notify, a peer's message) and rows
in the shapes push agents leave."""

from __future__ import annotations

from typing import Any

from molecule.store.activity_rows import ActivityEntry
from tests.conftest import Harness
from tests.http.test_registry import auth, register

ZERO = "00000000-0000-0000-0000-000000000000"


def envelope(*parts: dict[str, Any]) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": "1",
        "method": "message/send",
        "params": {"message": {"role": "user", "messageId": "m", "parts": list(parts)}},
    }


def text(value: str) -> dict[str, Any]:
    return {"kind": "text", "text": value}


async def poll_workspace(h: Harness, name: str = "agent") -> tuple[str, dict[str, str]]:
    ws = await h.create_external(name)
    wid, token = ws["id"], ws["connection"]["auth_token"]
    r = await register(h, wid, token, url="", delivery_mode="poll")
    assert r.status_code == 200, r.text
    return wid, auth(token)


async def add(h: Harness, wid: str, **fields: Any) -> None:
    await h.svc.activity.rows.insert(
        ActivityEntry(workspace_id=wid, activity_type="a2a_receive", **fields)
    )


async def test_chat_history_rebuilds_the_conversation(platform: Harness) -> None:
    h = platform
    wid, own = await poll_workspace(h)
    peer = await h.create_external("peer")
    file = {"uri": "workspace:/workspace/report.pdf", "name": "report.pdf", "mimeType": "x/y"}
    # The user writes from the canvas (a poll-mode agent: the row is its inbox).
    r = await h.client.post(
        f"/workspaces/{wid}/a2a",
        json=envelope(text("hello"), {"kind": "file", "file": file}),
        headers=h.admin,
    )
    assert r.status_code == 200, r.text
    # The agent answers the user through notify, with a file.
    r = await h.client.post(
        f"/workspaces/{wid}/notify",
        json={
            "message": "hi there",
            "attachments": [{"uri": "workspace:/o/a.txt", "name": "a.txt"}],
        },
        headers=own,
    )
    assert r.status_code == 200
    # A peer's message is agent-to-agent traffic, not the user's chat.
    r = await h.client.post(
        f"/workspaces/{wid}/a2a",
        json=envelope(text("peer stuff")),
        headers={**auth(peer["connection"]["auth_token"]), "X-Workspace-ID": peer["id"]},
    )
    assert r.status_code == 200
    # Rows as a push agent's answers leave them.
    task = {
        "kind": "task",
        "parts": [text("part one")],
        "artifacts": [
            {"parts": [text("artifact"), {"kind": "file", "file": {"uri": "https://h/x/y.png"}}]}
        ],
    }
    await add(h, wid, request_body=envelope(text("q2")), response_body={"result": task})
    await add(
        h,
        wid,
        request_body=envelope(text("q3")),
        response_body={"error": {"code": -32000, "message": "model down"}},
        status="error",
    )
    await add(
        h,
        wid,
        request_body=envelope(
            text("Delegation results are ready. Review them and take appropriate action:\n- x")
        ),
    )

    r = await h.client.get(f"/workspaces/{wid}/chat-history", headers=own)
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["reached_end"] is True
    got = [(m["role"], m["content"], m.get("attachments")) for m in page["messages"]]
    assert got == [
        ("user", "hello", [file]),
        ("agent", "hi there", [{"uri": "workspace:/o/a.txt", "name": "a.txt"}]),
        ("user", "q2", None),
        ("agent", "part one\nartifact", [{"uri": "https://h/x/y.png", "name": "y.png"}]),
        ("user", "q3", None),
        ("system", "agent error: model down", None),
    ]
    first = page["messages"][0]
    assert first["id"] == f"{first['activity_id']}:user" and first["timestamp"].endswith("Z")
    stamps = [m["timestamp"] for m in page["messages"]]
    assert stamps == sorted(stamps)

    # Paging back: the newest two rows, then what came before them.
    r = await h.client.get(f"/workspaces/{wid}/chat-history?limit=2", headers=h.admin)
    newest = r.json()
    assert newest["reached_end"] is False
    assert [m["content"] for m in newest["messages"]] == ["q3", "agent error: model down"]
    r = await h.client.get(
        f"/workspaces/{wid}/chat-history",
        params={"limit": 2, "before_ts": newest["next_before_ts"]},
        headers=h.admin,
    )
    older = r.json()
    assert [m["content"] for m in older["messages"]] == ["hi there", "q2", "part one\nartifact"]


async def test_session_search_matches_literal_text(platform: Harness) -> None:
    h = platform
    wid, own = await poll_workspace(h)
    await add(h, wid, summary="progress 100% done", method="note")
    await add(h, wid, summary="x1000y", method="note")
    await add(h, wid, summary="plain", request_body={"note": "needle_in here"})
    await add(h, wid, summary="other", response_body={"text": "needleXin"})

    async def search(**params: Any) -> list[dict[str, Any]]:
        r = await h.client.get(f"/workspaces/{wid}/session-search", params=params, headers=own)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    assert [hit["content"] for hit in await search(q="100%")] == ["progress 100% done"]
    hits = await search(q="needle_in")
    assert [hit["content"] for hit in hits] == ["plain"]  # `_` is a character, not a wildcard
    hit = hits[0]
    assert hit["kind"] == "activity" and hit["label"] == "a2a_receive"
    assert hit["request_body"] == {"note": "needle_in here"} and "response_body" not in hit
    assert hit["workspace_id"] == wid and hit["method"] == "" and hit["status"] == "ok"
    assert [h["content"] for h in await search(q="NEEDLEX")] == ["other"]  # any case
    everything = await search()
    assert len(everything) >= 4 and everything[0]["content"] == "other"  # newest first
    assert len(await search(limit=1)) == 1
    assert len(await search(limit="junk")) == len(everything)
    assert await search(q="nothing like this") == []


async def test_session_search_finds_the_workspaces_own_memories(platform: Harness) -> None:
    h = platform
    wid, own = await poll_workspace(h)
    other, _ = await poll_workspace(h, "other")
    await add(h, wid, summary="deploy went fine")
    for workspace, content in ((wid, "the deploy key rotates monthly"), (other, "deploy: theirs")):
        r = await h.client.post(
            f"/workspaces/{workspace}/memories",
            json={"content": content, "scope": "LOCAL"},
            headers=h.admin,
        )
        assert r.status_code == 201, r.text

    r = await h.client.get(f"/workspaces/{wid}/session-search", params={"q": "DEPLOY"}, headers=own)
    assert r.status_code == 200, r.text
    hits = r.json()
    assert [(hit["kind"], hit["content"]) for hit in hits] == [
        ("memory", "the deploy key rotates monthly"),  # newest first, its own only
        ("activity", "deploy went fine"),
    ]
    memory = hits[0]
    assert memory["label"] == "LOCAL" and memory["workspace_id"] == wid
    assert memory["method"] == "" and memory["status"] == ""
    assert "request_body" not in memory and "response_body" not in memory
    r = await h.client.get(f"/workspaces/{wid}/session-search", params={"q": "local"}, headers=own)
    assert [hit["kind"] for hit in r.json()] == ["memory"]  # the scope is searched too
    r = await h.client.get(f"/workspaces/{wid}/session-search", params={"limit": 1}, headers=own)
    assert [hit["kind"] for hit in r.json()] == ["memory"]


async def test_conversation_refusals(platform: Harness) -> None:
    h = platform
    wid, own = await poll_workspace(h)
    other = await h.create_external("other")
    for route in ("chat-history", "session-search"):
        url = f"/workspaces/{wid}/{route}"
        r = await h.client.get(url)
        assert r.status_code == 401 and r.json()["error"] == "missing workspace auth token"
        r = await h.client.get(url, headers=auth(other["connection"]["auth_token"]))
        assert r.status_code == 401 and r.json()["error"] == "invalid workspace auth token"
        r = await h.client.get(f"/workspaces/nope/{route}", headers=h.admin)
        assert r.status_code == 400 and r.json()["error"] == "invalid workspace ID"
        r = await h.client.get(f"/workspaces/{ZERO}/{route}", headers=h.admin)
        assert r.status_code == 404 and r.json()["error"] == "workspace not found"
    r = await h.client.get(f"/workspaces/{wid}/chat-history?before_ts=yesterday", headers=own)
    assert r.status_code == 400 and r.json()["error"].startswith("before_ts must be")
    r = await h.client.get(
        f"/workspaces/{wid}/session-search", params={"q": "q" * 501}, headers=own
    )
    assert r.status_code == 400 and r.json()["error"] == "q must be at most 500 characters"
