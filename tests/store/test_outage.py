"""A database outage: every answer is a 503 with Retry-After, nothing acknowledged is lost,
and service resumes by itself when the server is back.

The platform here runs against a PostgreSQL server of its own (as with `DATABASE_URL`), which
the test stops and starts again; the embedded cluster's own keeper is tested through the real
`molecule serve` in tests/e2e/test_embedded_restart.py.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from molecule.store.embedded import EmbeddedPostgres
from molecule.store.migrate import migrate
from molecule.store.pool import Store
from tests.conftest import ADMIN_TOKEN, make_settings, start_platform

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def own_server() -> Iterator[EmbeddedPostgres]:
    home = Path(tempfile.mkdtemp(prefix="molecule-outage-"))
    home.chmod(0o755)
    pg = EmbeddedPostgres(home, durable=False).start()
    try:
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(pg.base, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
async def client(
    aio_loop: object, own_server: EmbeddedPostgres, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    dsn = own_server.dsn()
    store = await Store.open(dsn, min_size=1, max_size=1)
    await migrate(store)
    await store.close()
    settings = make_settings(tmp_path, dsn)
    async with trio.open_nursery() as nursery:
        _svc, base, stop = await start_platform(settings, dsn, nursery)
        async with httpx.AsyncClient(base_url=base, timeout=10) as c:
            yield c
        stop.set()


def restart(pg: EmbeddedPostgres) -> EmbeddedPostgres:
    """The same cluster (same data directory) started again."""
    return EmbeddedPostgres(pg.home, durable=False).start()


def assert_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.headers.get("Retry-After") == "5"
    assert r.json() == {
        "error": "platform datastore unavailable — retry shortly",
        "code": "platform_unavailable",
    }


async def test_an_outage_is_503_and_nothing_acknowledged_is_lost(
    client: httpx.AsyncClient, own_server: EmbeddedPostgres
) -> None:
    r = await client.post("/workspaces", json={"name": "ext", "runtime": "external"}, headers=ADMIN)
    assert r.status_code == 201, r.text
    wid, token = r.json()["id"], r.json()["connection"]["auth_token"]
    agent = {"Authorization": f"Bearer {token}"}
    r = await client.post(
        "/registry/register",
        json={"id": wid, "url": "", "delivery_mode": "poll", "agent_card": {"name": "p"}},
        headers=agent,
    )
    assert r.status_code == 200, r.text
    report = {"activity_type": "agent_log", "summary": "during the outage"}
    message = {"method": "message/send", "params": {"message": {"role": "user", "content": "hi"}}}

    own_server.stop()
    acknowledged: list[str] = []
    for _ in range(5):
        r = await client.post(f"/workspaces/{wid}/activity", json=report, headers=agent)
        if r.status_code == 200:
            acknowledged.append("report")
        else:
            assert_unavailable(r)
        r = await client.post(f"/workspaces/{wid}/a2a", json=message, headers=ADMIN)
        if r.status_code == 200:
            acknowledged.append("poll message")
        else:
            assert_unavailable(r)
    assert acknowledged == []  # the server is down: nothing can be stored, so nothing is acked
    for path in ("/workspaces", f"/workspaces/{wid}", f"/workspaces/{wid}/activity"):
        r = await client.get(path, headers=ADMIN)
        assert_unavailable(r)
    r = await client.post("/workspaces", json={"name": "x", "runtime": "external"}, headers=ADMIN)
    assert_unavailable(r)
    # Chat files too: not a 500 "lookup failed" nor a 404.
    files = {"files": ("a.txt", b"hello", "text/plain")}
    r = await client.post(f"/workspaces/{wid}/chat/uploads", files=files, headers=ADMIN)
    assert_unavailable(r)
    r = await client.get(f"/workspaces/{wid}/chat/download?path=/workspace/a.txt", headers=ADMIN)
    assert_unavailable(r)
    r = await client.post(f"/workspaces/{wid}/pending-uploads/{uuid.uuid4()}/ack", headers=agent)
    assert_unavailable(r)

    back = restart(own_server)
    try:
        with trio.fail_after(20):  # the pool replaces its dead connections by itself
            while (await client.get("/workspaces", headers=ADMIN)).status_code != 200:
                await trio.sleep(0.1)
        r = await client.post(f"/workspaces/{wid}/activity", json=report, headers=agent)
        assert r.status_code == 200, r.text
        r = await client.post(f"/workspaces/{wid}/a2a", json=message, headers=ADMIN)
        assert r.json() == {"status": "queued", "delivery_mode": "poll", "method": "message/send"}
        # Both acknowledged rows are there the moment they were acknowledged.
        store = await Store.open(back.dsn(), min_size=1, max_size=1)
        try:
            rows = await store.fetch(
                "SELECT activity_type, summary FROM activity_logs WHERE workspace_id = $1"
                " ORDER BY created_at",
                wid,
            )
        finally:
            await store.close()
        kinds = [r["activity_type"] for r in rows]
        assert kinds.count("agent_log") == 1 and kinds.count("a2a_receive") == 1
    finally:
        back.stop()


async def test_an_outage_mid_request_is_503_not_500(
    client: httpx.AsyncClient, own_server: EmbeddedPostgres
) -> None:
    """A connection the pool holds dies with the server (not refused at connect)."""
    r = await client.get("/workspaces", headers=ADMIN)
    assert r.status_code == 200
    own_server.stop()  # the pool's idle connection is now dead
    statuses: list[Any] = []
    for _ in range(3):
        r = await client.get(f"/workspaces/{uuid.uuid4()}", headers=ADMIN)
        statuses.append(r.status_code)
        assert_unavailable(r)
    assert statuses == [503, 503, 503]
