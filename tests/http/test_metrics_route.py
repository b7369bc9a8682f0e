"""GET /metrics over real HTTP: who may read it, and that its series follow real traffic.

- the auth matrix: no credential, a wrong bearer and a workspace token are refused (401, the
  database unchanged); the admin token, an org token and the session cookie read it; with
  MOLECULE_METRICS_OPEN=1 anyone does;
- after real A2A traffic (answered, queued for a busy agent, stored for a poll-mode agent,
  refused, unreachable), heartbeats, a queue drain and a restart whose agent comes online,
  each series moved by exactly what happened;
- with the database stopped the scrape still answers: `molecule_database_up 0`, the outage
  counted, the database figures left out.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from molecule.models import WorkspaceStatus
from molecule.observability.metrics import A2A_OUTCOMES
from molecule.provision.local import LocalProcessProvisioner
from molecule.store.embedded import EmbeddedPostgres
from molecule.store.migrate import migrate
from molecule.store.pool import Store
from molecule.store.workspaces import NewWorkspace
from tests.a2a.agents import ScriptedAgent, free_port, serve_dropping_agent
from tests.a2a.test_proxy_e2e import E2E, v03
from tests.conftest import ADMIN_TOKEN, Harness, make_settings, start_platform
from tests.http.test_auth import bearer, session_cookie

ADMIN = bearer(ADMIN_TOKEN)
SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition text, by (name, sorted labels)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


async def scrape(h: Harness) -> dict[Any, float]:
    r = await h.client.get("/metrics", headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return samples(r.text)


@pytest.fixture
async def h(aio_loop: object, dsn: str, tmp_path: Path) -> AsyncIterator[E2E]:
    """Development URL mode (loopback agents), ADMIN_TOKEN set: every route checks auth."""
    settings = make_settings(tmp_path, dsn, dev_mode=True)
    async with trio.open_nursery() as nursery:
        svc, base, stop = await start_platform(settings, dsn, nursery)
        async with trio.open_nursery() as agents:
            async with httpx.AsyncClient(base_url=base, timeout=15) as client:
                yield E2E(svc, base, client, agents)
            agents.cancel_scope.cancel()
        stop.set()


# -- who may read it ---------------------------------------------------------------------------


async def _rows(h: Harness) -> tuple[Any, ...]:
    store = h.svc.store
    return (
        [tuple(r.values()) for r in await store.fetch("SELECT * FROM workspaces ORDER BY id")],
        await store.fetchval("SELECT count(*) FROM org_api_tokens"),
        await store.fetchval("SELECT count(*) FROM workspace_auth_tokens"),
    )


async def test_who_may_read_the_metrics(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("metrics-reader")
    token = ws["connection"]["auth_token"]  # type: ignore[index]
    r = await h.client.post("/org/tokens", json={"name": "scraper"}, headers=ADMIN)
    assert r.status_code == 200, r.text
    org = r.json()["auth_token"]
    cookie = await session_cookie(h)
    before = await _rows(h)

    refusals = [
        ({}, "admin auth required"),
        (bearer("not-a-real-token-0000000000000000000000000"), "invalid admin auth token"),
        (bearer(token), "invalid admin auth token"),  # a workspace token is not enough
    ]
    for headers, message in refusals:
        r = await h.client.get("/metrics", headers=headers)
        assert r.status_code == 401 and r.json() == {"error": message}, (headers, r.text)
        assert "molecule_" not in r.text
    assert await _rows(h) == before

    for headers in (ADMIN, bearer(org)):
        r = await h.client.get("/metrics", headers=headers)
        assert r.status_code == 200 and "molecule_database_up 1.0" in r.text
    async with httpx.AsyncClient(base_url=h.base_url, timeout=10) as browser:
        r = await browser.get("/metrics", headers={"Cookie": cookie})
        assert r.status_code == 200 and "# TYPE molecule_a2a_requests_total counter" in r.text
    # OpenMetrics for a scraper that asks for it.
    r = await h.client.get(
        "/metrics", headers={**ADMIN, "Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert r.headers["content-type"].startswith("application/openmetrics-text")
    assert r.text.rstrip().endswith("# EOF")
    # An Accept header the library cannot parse gets the classic format, not a 500.
    for accept in ("application/openmetrics-text; version=abc", "text/plain; version=x.y"):
        r = await h.client.get("/metrics", headers={**ADMIN, "Accept": accept})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")


async def test_metrics_open_when_the_operator_says_so(
    aio_loop: object, dsn: str, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, dsn, metrics_open=True)
    async with trio.open_nursery() as nursery:
        _svc, base, stop = await start_platform(settings, dsn, nursery)
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            r = await client.get("/metrics")
            assert r.status_code == 200, r.text
            assert "molecule_workspaces" in r.text
            # Opening the metrics opens nothing else.
            r = await client.get("/workspaces")
            assert r.status_code == 401
        stop.set()


# -- the series follow the traffic ---------------------------------------------------------------


def a2a_counts(found: dict[Any, float]) -> dict[str, float]:
    return {o: value(found, "molecule_a2a_requests_total", outcome=o) for o in A2A_OUTCOMES}


async def test_series_move_with_real_traffic(h: E2E) -> None:
    start = await scrape(h)
    assert a2a_counts(start) == dict.fromkeys(A2A_OUTCOMES, 0.0)

    # Answered by an agent.
    url = await h.serve(ScriptedAgent())
    wid, token = await h.agent_workspace("answers", url)
    r = await h.send(wid, v03("hello"))
    assert r.status_code == 200, r.text
    # Busy (the agent hangs up): queued durably.
    dropped: list[bytes] = []
    port = await serve_dropping_agent(h.agents, dropped)
    busy_wid, busy_token = await h.agent_workspace("hangs-up", f"http://localhost:{port}")
    r = await h.send(busy_wid, v03("are you there?"))
    assert r.status_code == 202 and r.json()["queued"] is True
    # A poll-mode agent: stored for it.
    poll_wid, poll_token = await h.workspace("poller")
    await h.register(poll_wid, poll_token, None, delivery_mode="poll")
    assert (await h.send(poll_wid, v03("later"))).status_code == 200
    # Refused (no credential), and nobody at the address.
    assert (await h.send(wid, v03("anon"), headers={})).status_code == 401
    gone_wid, _ = await h.agent_workspace("nobody", f"http://localhost:{free_port()}")
    assert (await h.send(gone_wid, v03("hello?"))).status_code == 502
    for _ in range(3):
        await h.heartbeat(wid, token)

    mid = await scrape(h)
    assert a2a_counts(mid) == {
        **dict.fromkeys(A2A_OUTCOMES, 0.0),
        "ok": 1.0,
        "queued": 1.0,
        "poll": 1.0,
        "refused": 1.0,
        "unreachable": 1.0,
    }
    latency = (
        value(mid, "molecule_a2a_request_duration_seconds_count", outcome="ok"),
        value(mid, "molecule_a2a_request_duration_seconds_sum", outcome="ok"),
    )
    assert latency[0] == 1.0 and 0 < latency[1] < 15
    assert value(mid, "molecule_heartbeats_total") == 3.0
    assert value(mid, "molecule_a2a_queue_depth") == 1.0
    assert value(mid, "molecule_a2a_queue_oldest_age_seconds") >= 0.0
    rows = await h.svc.store.fetch("SELECT status::text, count(*) FROM workspaces GROUP BY 1")
    by_status = {r["status"]: r["count"] for r in rows}
    for status in WorkspaceStatus:
        expected = by_status.get(str(status), 0)
        assert value(mid, "molecule_workspaces", status=str(status)) == expected
    assert value(mid, "molecule_workspaces", status="online") == 4.0
    assert value(mid, "molecule_actors") >= 4.0
    assert value(mid, "molecule_db_pool_max_connections") == 10.0
    assert value(mid, "molecule_events_published_total") > 0

    # The busy agent's replacement answers: a heartbeat with spare capacity drains the queue.
    await h.register(busy_wid, busy_token, await h.serve(ScriptedAgent()))
    await h.heartbeat(busy_wid, busy_token)
    with trio.fail_after(10):
        while (await h.queue_rows(busy_wid))[0]["status"] != "completed":
            await trio.sleep(0.02)
    end = await scrape(h)
    assert value(end, "molecule_a2a_queue_drains_total") == 1.0
    assert value(end, "molecule_a2a_queue_drained_items_total", result="delivered") == 1.0
    assert value(end, "molecule_a2a_queue_drained_items_total", result="failed") == 0.0
    assert value(end, "molecule_a2a_queue_depth") == 0.0
    assert value(end, "molecule_a2a_queue_oldest_age_seconds") == 0.0
    assert value(end, "molecule_heartbeats_total") == 4.0


async def test_a_restart_is_counted_by_cause_and_timed_until_online(h: E2E) -> None:
    provisioner = h.svc.pipeline.provisioner
    assert isinstance(provisioner, LocalProcessProvisioner)
    provisioner.command = SLEEPER  # an agent process that never registers by itself
    created = await h.svc.workspaces.insert(
        NewWorkspace(
            name="restarts", role=None, tier=3, runtime="echo", status=WorkspaceStatus.OFFLINE
        )
    )
    wid = str(created["id"])
    before = await scrape(h)
    assert value(before, "molecule_workspace_restarts_total", cause="manual") == 0.0
    assert value(before, "molecule_provision_duration_seconds_count") == 0.0

    r = await h.client.post(f"/workspaces/{wid}/restart", headers=ADMIN)
    assert r.status_code == 200, r.text
    token_file = provisioner.workspace_dir(wid) / "configs" / ".auth_token"
    with trio.fail_after(15):
        while not token_file.exists() or not await provisioner.is_running(wid):
            await trio.sleep(0.02)
    # The agent registers: online, so the cycle's provision time is observed once.
    await h.register(wid, token_file.read_text(), await h.serve(ScriptedAgent()))
    after = await scrape(h)
    assert value(after, "molecule_workspace_restarts_total", cause="manual") == 1.0
    assert value(after, "molecule_workspace_restarts_total", cause="other") == 0.0
    assert value(after, "molecule_provision_duration_seconds_count") == 1.0
    assert 0 < value(after, "molecule_provision_duration_seconds_sum") < 15
    # A heartbeat of the online agent observes nothing more.
    await h.heartbeat(wid, token_file.read_text())
    again = await scrape(h)
    assert value(again, "molecule_provision_duration_seconds_count") == 1.0


# -- a database outage -------------------------------------------------------------------------


@pytest.fixture
def own_server() -> Iterator[EmbeddedPostgres]:
    home = Path(tempfile.mkdtemp(prefix="molecule-metrics-"))
    home.chmod(0o755)
    pg = EmbeddedPostgres(home, durable=False).start()
    try:
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(pg.base, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


async def test_a_scrape_during_an_outage_still_answers(
    aio_loop: object, own_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    dsn = own_server.dsn()
    store = await Store.open(dsn, min_size=1, max_size=1)
    await migrate(store)
    await store.close()
    async with trio.open_nursery() as nursery:
        _svc, base, stop = await start_platform(make_settings(tmp_path, dsn), dsn, nursery)
        async with httpx.AsyncClient(base_url=base, timeout=15) as client:
            r = await client.get("/metrics", headers=ADMIN)
            assert "molecule_database_up 1.0" in r.text
            assert value(samples(r.text), "molecule_db_errors_total", kind="unavailable") == 0
            own_server.stop()
            # A request that needs the database: the outage's 503, counted.
            r = await client.get("/workspaces", headers=ADMIN)
            assert r.status_code == 503, r.text
            r = await client.get("/metrics", headers=ADMIN)
            assert r.status_code == 200, r.text
            found = samples(r.text)
            assert value(found, "molecule_database_up") == 0.0
            assert value(found, "molecule_db_errors_total", kind="unavailable") >= 2
            assert not any(name == "molecule_workspaces" for name, _ in found)
            assert value(found, "molecule_heartbeats_total") == 0.0  # the rest is there
        stop.set()
