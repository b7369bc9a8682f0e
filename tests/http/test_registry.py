"""Registry over real HTTP: register, heartbeat transitions, update-card, discovery."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import trio

from molecule.events import Subscription
from tests.conftest import Harness
from tests.conftest import drain as drain_events

CARD = {"name": "agent", "description": "test agent", "version": "1.0.0"}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(h: Harness, wid: str, token: str | None = None, **body: Any) -> Any:
    payload: dict[str, Any] = {"id": wid, "url": "http://localhost:9000", "agent_card": CARD}
    payload.update(body)
    return await h.client.post(
        "/registry/register", json=payload, headers=auth(token) if token else {}
    )


async def heartbeat(h: Harness, wid: str, token: str | None, **body: Any) -> Any:
    return await h.client.post(
        "/registry/heartbeat",
        json={"workspace_id": wid, **body},
        headers=auth(token) if token else {},
    )


async def token_count(h: Harness, wid: str) -> int:
    value: int = await h.svc.store.fetchval(
        "SELECT count(*) FROM workspace_auth_tokens WHERE workspace_id = $1", wid
    )
    return value


async def online_external(h: Harness) -> tuple[str, str]:
    created = await h.create_external("ext-" + uuid.uuid4().hex[:6])
    wid, token = created["id"], created["connection"]["auth_token"]
    r = await register(h, wid, token)
    assert r.status_code == 200, r.text
    return wid, token


async def test_unknown_or_tokenless_workspaces_cannot_be_registered(platform: Harness) -> None:
    """Outside development, register and heartbeat always need the workspace's own valid
    bearer (docs/compatibility.md#d13). Nobody mints a token for an unknown id, for a
    workspace whose tokens were revoked, or for one created with a url or as a mock."""
    h = platform
    wid = str(uuid.uuid4())
    for token in (None, "not-a-token", h.admin["Authorization"].split()[1]):
        r = await register(h, wid, token)
        assert r.status_code == 401, r.text
        r = await heartbeat(h, wid, token)
        assert r.status_code == 401, r.text
    assert await h.svc.workspaces.get(wid) is None
    assert await token_count(h, wid) == 0

    revoked, _ = await online_external(h)
    await h.svc.tokens.revoke_all(revoked)
    with_url = await h.client.post(
        "/workspaces",
        json={"name": "has url", "runtime": "external", "url": "https://8.8.8.8:9443"},
        headers=h.admin,
    )
    mock = await h.client.post(
        "/workspaces", json={"name": "m", "runtime": "mock"}, headers=h.admin
    )
    for target in (revoked, with_url.json()["id"], mock.json()["id"]):
        before = await token_count(h, target)
        r = await register(h, target)
        assert (r.status_code, r.json()) == (401, {"error": "missing workspace auth token"})
        r = await heartbeat(h, target, None)
        assert r.status_code == 401
        assert await token_count(h, target) == before
    # A workspace created with a url got its token at creation, in its connection block.
    token = with_url.json()["connection"]["auth_token"]
    r = await register(h, with_url.json()["id"], token, url="https://8.8.8.8:9443")
    assert r.status_code == 200, r.text


async def test_development_mode_keeps_the_registry_bootstrap(dev_platform: Harness) -> None:
    h = dev_platform
    wid = str(uuid.uuid4())
    r = await register(h, wid)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "registered" and body["delivery_mode"] == "push"
    assert len(body["auth_token"]) == 43
    assert body["platform_inbound_secret"]
    row = await h.row(wid)
    assert row is not None and row["status"] == "online" and row["name"] == wid
    assert row["url"] == "http://localhost:9000"
    assert row["runtime"] == "external"  # its agent runs elsewhere: never restarted or failed

    # Now the workspace has a live token: the bootstrap door is closed.
    r = await register(h, wid)
    assert r.status_code == 401 and r.json() == {"error": "missing workspace auth token"}
    r = await register(h, wid, "not-the-token")
    assert r.status_code == 401 and r.json() == {"error": "invalid workspace auth token"}
    r = await register(h, wid, body["auth_token"])
    assert r.status_code == 200
    again = r.json()
    assert "auth_token" not in again  # only minted when there was none
    assert again["platform_inbound_secret"] == body["platform_inbound_secret"]
    assert await token_count(h, wid) == 1


async def test_a_refused_bootstrap_register_leaves_no_row(dev_platform: Harness) -> None:
    h = dev_platform
    for body in (
        {"url": "remote://agent:1"},
        {"url": "http://169.254.169.254/"},
        {"url": ""},
        {"agent_card": {"name": "bad\x00card"}},  # sent as \u0000
        {"agent_card": {"name": "bad\ud800card"}},  # an unpaired surrogate
    ):
        wid = str(uuid.uuid4())
        payload = {"id": wid, "url": "http://localhost:9000", "agent_card": CARD, **body}
        r = await h.client.post(
            "/registry/register",
            content=json.dumps(payload),
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 400, (body, r.text)
        assert await h.svc.workspaces.get(wid) is None, body
        assert await token_count(h, wid) == 0


async def test_register_refusals_write_nothing(platform: Harness) -> None:
    h = platform
    wid = str(uuid.uuid4())
    cases = [
        ({"id": wid, "url": "http://localhost:1"}, "invalid request body"),  # no agent_card
        (
            {"id": "not-a-uuid", "url": "http://localhost:1", "agent_card": {}},
            "invalid request body",
        ),
        ({"id": 5, "agent_card": {}}, "invalid request body"),
        (
            {"id": wid, "agent_card": {}, "delivery_mode": "carrier-pigeon"},
            "delivery_mode must be 'push' or 'poll'",
        ),
    ]
    for body, message in cases:
        r = await h.client.post("/registry/register", json=body)
        assert r.status_code == 400, body
        assert r.json()["error"] == message
    r = await h.client.post(
        "/registry/register", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid request body"
    assert await h.svc.workspaces.get(wid) is None


async def test_push_register_url_rules(platform: Harness) -> None:
    h = platform
    created = await h.create_external("urls")
    wid, token = created["id"], created["connection"]["auth_token"]
    r = await register(h, wid, token, url="")
    assert r.status_code == 400
    assert r.json()["error"] == "url is required for push-mode workspaces"
    r = await register(h, wid, token, url="http://10.1.2.3:8000")
    assert r.status_code == 400
    assert r.json()["error"].startswith("url targets a blocked address")
    r = await register(h, wid, token, url="ftp://localhost/x")
    assert r.status_code == 400 and "scheme" in r.json()["error"]
    row = await h.row(wid)
    assert row is not None and row["status"] == "awaiting_agent" and row["url"] is None

    # Poll mode neither needs nor validates a URL.
    r = await register(h, wid, token, url="", delivery_mode="poll")
    assert r.status_code == 200 and r.json()["delivery_mode"] == "poll"
    row = await h.row(wid)
    assert row is not None and row["status"] == "online" and row["delivery_mode"] == "poll"


async def test_register_on_removed_workspace_is_gone_and_mints_nothing(platform: Harness) -> None:
    h = platform
    created = await h.create_external("doomed")
    wid = created["id"]
    r = await h.client.delete(f"/workspaces/{wid}", headers=h.admin)
    assert r.status_code == 200
    before = await token_count(h, wid)
    token = created["connection"]["auth_token"]  # revoked with the workspace
    with h.svc.bus.subscribe() as sub:
        for presented in (None, token):
            r = await register(h, wid, presented)
            assert r.status_code == 410
            assert r.json()["error"] == "workspace removed" and r.json()["id"] == wid
            r = await heartbeat(h, wid, presented)
            assert r.status_code == 410
        assert len(sub.receive) == 0
    assert await token_count(h, wid) == before


async def test_heartbeat_transitions_and_events(platform: Harness) -> None:
    h = platform
    created = await h.create_external("beats")
    wid, token = created["id"], created["connection"]["auth_token"]
    with h.svc.bus.subscribe(wid) as sub:
        # awaiting_agent -> online on the first heartbeat (no register needed).
        r = await heartbeat(h, wid, token, current_task="t1", active_tasks=1)
        assert r.status_code == 200
        assert r.json()["status"] == "ok" and r.json()["platform_inbound_secret"]
        events = drain(sub)
        assert ("WORKSPACE_ONLINE", {"recovered_from": "awaiting_agent"}) in events
        assert ("TASK_UPDATED", {"current_task": "t1", "active_tasks": 1}) in events
        assert ("WORKSPACE_HEARTBEAT", {"active_tasks": 1, "uptime_seconds": 0}) in events

        # error rate >= 0.5 degrades; < 0.1 recovers.
        await heartbeat(h, wid, token, error_rate=0.7, sample_error="boom", current_task="t1")
        assert (await h.row(wid) or {})["status"] == "degraded"
        events = drain(sub)
        assert ("WORKSPACE_DEGRADED", {"error_rate": 0.7, "sample_error": "boom"}) in events
        assert not any(e[0] == "TASK_UPDATED" for e in events)  # task unchanged
        await heartbeat(h, wid, token, error_rate=0.05)
        assert (await h.row(wid) or {})["status"] == "online"
        assert ("WORKSPACE_ONLINE", {}) in drain(sub)

        # wedged always degrades, even with status_mgmt declared.
        caps = {"capabilities": {"status_mgmt": True}}
        await heartbeat(h, wid, token, runtime_metadata=caps)
        await heartbeat(h, wid, token, error_rate=0.9, runtime_metadata=caps)
        assert (await h.row(wid) or {})["status"] == "online"  # native status management
        await heartbeat(h, wid, token, runtime_state="wedged", sample_error="stuck")
        assert (await h.row(wid) or {})["status"] == "degraded"
        assert (
            "WORKSPACE_DEGRADED",
            {"runtime_state": "wedged", "sample_error": "stuck"},
        ) in drain(sub)

    row = await h.row(wid)
    assert row is not None
    assert row["last_sample_error"] == "stuck" and row["last_heartbeat_at"] is not None


async def test_heartbeat_stores_capabilities_and_idle_override(platform: Harness) -> None:
    h = platform
    wid, token = await online_external(h)
    meta = {"capabilities": {"session": True, "scheduler": False}, "idle_timeout_seconds": 600}
    await heartbeat(h, wid, token, runtime_metadata=meta)
    snap = await snapshot(h, wid)
    assert snap["capabilities"] == {"session": True, "scheduler": False}
    assert snap["idle_timeout_override"] == 600
    await heartbeat(h, wid, token)  # absent block clears
    snap = await snapshot(h, wid)
    assert snap["capabilities"] == {} and snap["idle_timeout_override"] is None


async def test_heartbeat_refusals(platform: Harness) -> None:
    h = platform
    wid, token = await online_external(h)
    r = await h.client.post("/registry/heartbeat", json={"workspace_id": wid})
    assert r.status_code == 401 and r.json()["error"] == "missing workspace auth token"
    r = await h.client.post("/registry/heartbeat", json={"active_tasks": 1}, headers=auth(token))
    assert r.status_code == 400 and r.json()["error"] == "invalid request body"
    r = await heartbeat(h, wid, token, active_tasks="many")
    assert r.status_code == 400
    row = await h.row(wid)
    assert row is not None and row["active_tasks"] == 0
    # Minimal bodies from the original's clients are accepted.
    r = await heartbeat(h, wid, token, runtime_state="ok", uptime_seconds=0)
    assert r.status_code == 200


async def test_update_card(platform: Harness) -> None:
    h = platform
    wid, token = await online_external(h)
    card = {"name": "renamed", "skills": [{"id": "s"}]}
    with h.svc.bus.subscribe(wid) as sub:
        r = await h.client.post(
            "/registry/update-card",
            json={"workspace_id": wid, "agent_card": card},
            headers=auth(token),
        )
        assert r.status_code == 200 and r.json() == {"status": "updated"}
        assert ("AGENT_CARD_UPDATED", {"agent_card": card}) in drain(sub)
    assert (await h.row(wid) or {})["agent_card"] == card
    r = await h.client.post(
        "/registry/update-card", json={"workspace_id": wid}, headers=auth(token)
    )
    assert r.status_code == 400


async def test_discovery_peers_and_check_access_follow_hierarchy(platform: Harness) -> None:
    h = platform
    made = {}
    for name, parent in [("root", None), ("a", "root"), ("b", "root"), ("a1", "a"), ("b1", "b")]:
        extra = {"parent_id": made[parent]["id"]} if parent else {}
        made[name] = await h.create_external(name, **extra)
    root, a, b, a1, b1 = (made[n]["id"] for n in ("root", "a", "b", "a1", "b1"))
    tok = {n: made[n]["connection"]["auth_token"] for n in made}

    async def allowed(caller: str, target: str) -> bool:
        r = await h.client.post(
            "/registry/check-access",
            json={"caller_id": caller, "target_id": target},
            headers=h.admin,
        )
        assert r.status_code == 200
        return bool(r.json()["allowed"])

    assert await allowed(a, b)  # siblings
    assert await allowed(root, a1) and await allowed(a1, root)  # ancestor line
    assert await allowed(a, a1) and await allowed(a1, a)  # parent/child
    assert not await allowed(a1, b1)  # cousins
    assert not await allowed(a1, b)  # nephew -> uncle
    assert not await allowed(a, str(uuid.uuid4()))  # unknown
    body = {"caller_id": "x", "target_id": a}
    r = await h.client.post("/registry/check-access", json=body, headers=h.admin)
    assert r.status_code == 400
    # Anyone was answered before; now a credential is needed, and a workspace token asks
    # only about itself.
    body = {"caller_id": a, "target_id": b}
    r = await h.client.post("/registry/check-access", json=body)
    assert r.status_code == 401
    r = await h.client.post("/registry/check-access", json=body, headers=auth("nope"))
    assert r.status_code == 401
    r = await h.client.post("/registry/check-access", json=body, headers=auth(tok["b"]))
    assert r.status_code == 403
    r = await h.client.post("/registry/check-access", json=body, headers=auth(tok["a"]))
    assert r.json() == {"allowed": True}

    # Discovery needs the caller header and honours the same rules.
    r = await h.client.get(f"/registry/discover/{b}")
    assert r.status_code == 400 and r.json()["error"] == "X-Workspace-ID header is required"
    r = await h.client.get(f"/registry/discover/{b1}", headers={"X-Workspace-ID": a1})
    assert r.status_code == 401  # a1 has a live token: the bearer is required
    as_a1 = {"X-Workspace-ID": a1, **auth(tok["a1"])}
    r = await h.client.get(f"/registry/discover/{b1}", headers=as_a1)
    assert r.status_code == 403
    as_b = {"X-Workspace-ID": b, **auth(tok["b"])}
    r = await h.client.get(f"/registry/discover/{a}", headers=as_b)
    assert r.status_code == 503 and r.json()["status"] == "awaiting_agent"
    await register(h, a, tok["a"], url="http://localhost:9100")
    r = await h.client.get(f"/registry/discover/{a}", headers=as_b)
    assert r.status_code == 200
    assert r.json() == {"id": a, "url": "http://localhost:9100", "name": "a"}

    peers = await h.client.get(
        f"/registry/{a}/peers", headers={"X-Workspace-ID": a, **auth(tok["a"])}
    )
    assert peers.status_code == 200
    assert {p["id"] for p in peers.json()} == {root, b, a1}


def drain(sub: Subscription) -> list[tuple[str, dict[str, Any]]]:
    return [(event.type, event.payload) for event in drain_events(sub)]


async def snapshot(h: Harness, wid: str) -> dict[str, Any]:
    from molecule.actors.messages import Snapshot

    ref = await h.svc.directory.get(wid)
    assert ref is not None
    result: dict[str, Any] = await ref.ask(Snapshot(), 5)
    return result


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


async def test_a_register_for_a_paused_platform_run_workspace_is_refused(
    platform: Harness,
) -> None:
    """D53 over HTTP: the platform stopped this agent on purpose; a late register (its own
    valid token) is 409 and writes nothing: no status, URL, card, heartbeat time or event."""
    h = platform
    r = await h.client.post(
        "/workspaces", json={"name": "sleeper", "runtime": "echo"}, headers=h.admin
    )
    assert r.status_code == 201, r.text
    wid = r.json()["id"]
    with trio.fail_after(60):  # its start finished: nothing else writes the row after the pause
        while await h.svc.workspaces.status_of(wid) != "online":  # noqa: ASYNC110
            await trio.sleep(0.05)
    r = await h.client.post(f"/workspaces/{wid}/pause", headers=h.admin)
    assert r.status_code == 200, r.text
    token = (await h.client.post(f"/workspaces/{wid}/tokens", headers=h.admin)).json()["auth_token"]
    # What a register writes (a heartbeat the agent sent before it stopped is flushed first).
    await h.svc.heartbeats.flush()
    columns = "status::text, url, agent_card, delivery_mode, last_heartbeat_at"
    row = f"SELECT {columns} FROM workspaces WHERE id = $1"
    before = await h.svc.store.fetchrow(row, wid)
    assert before["status"] == "paused"
    with h.svc.bus.subscribe(wid) as sub:
        r = await register(h, wid, token)
        assert r.status_code == 409, r.text
        assert r.json()["error"] == "workspace is paused: its agent was stopped by the platform"
        assert len(sub.receive) == 0
    assert await h.svc.store.fetchrow(row, wid) == before
