"""The knowledge routes during a database outage: a 503 with Retry-After, never a 500, and
what was acknowledged before is still there when the server is back."""

from __future__ import annotations

import httpx
import trio

from molecule.store.embedded import EmbeddedPostgres
from molecule.store.pool import Store
from tests.store.test_outage import (  # noqa: F401 - fixtures
    ADMIN,
    assert_unavailable,
    client,
    own_server,
    restart,
)


async def test_knowledge_routes_answer_503_in_an_outage(
    client: httpx.AsyncClient,  # noqa: F811
    own_server: EmbeddedPostgres,  # noqa: F811
) -> None:
    r = await client.post("/workspaces", json={"name": "k", "runtime": "external"}, headers=ADMIN)
    wid = r.json()["id"]
    base = f"/workspaces/{wid}"
    r = await client.post(
        f"{base}/memories", json={"content": "kept", "scope": "GLOBAL"}, headers=ADMIN
    )
    assert r.status_code == 201, r.text
    r = await client.post(f"{base}/memory", json={"key": "k", "value": 1}, headers=ADMIN)
    assert r.status_code == 200, r.text

    own_server.stop()
    for method, path, body in (
        ("POST", f"{base}/memories", {"content": "x", "scope": "GLOBAL"}),
        ("GET", f"{base}/memories", None),
        ("DELETE", f"{base}/memories/{wid}", None),
        ("POST", f"{base}/memory", {"key": "k", "value": 2}),
        ("GET", f"{base}/memory/k", None),
        ("POST", "/instructions", {"scope": "global", "title": "t", "content": "c"}),
        ("GET", f"{base}/instructions/resolve", None),
        ("POST", f"{base}/checkpoints", {"workflow_id": "w", "step_name": "s"}),
        ("GET", f"{base}/checkpoints/latest", None),
        ("GET", f"{base}/shared-context", None),
        ("GET", "/admin/memories/export", None),
        (
            "POST",
            "/admin/memories/import",
            [{"workspace_name": "k", "content": "x", "scope": "LOCAL"}],
        ),
    ):
        r = await client.request(method, path, json=body, headers=ADMIN)
        assert_unavailable(r)

    back = restart(own_server)
    try:
        with trio.fail_after(20):
            while (await client.get(f"{base}/memory/k", headers=ADMIN)).status_code != 200:
                await trio.sleep(0.1)
        r = await client.get(f"{base}/memories", headers=ADMIN)
        assert [m["content"].rsplit(": ", 1)[-1] for m in r.json()] == ["kept"]
        store = await Store.open(back.dsn(), min_size=1, max_size=1)
        try:
            audited = await store.fetchval(
                "SELECT count(*) FROM activity_logs WHERE activity_type = 'memory_write_global'"
            )
        finally:
            await store.close()
        assert audited == 1
    finally:
        back.stop()
