"""Shared fixtures: one private PostgreSQL cluster per test session, a fresh database per
test (cloned from a migrated template), and a real platform on a loopback port."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import trio
import trio_asyncio

from molecule.config import Settings
from molecule.events import Event, Subscription
from molecule.http.app import create_app
from molecule.http.server import serve
from molecule.platform import hypercorn_config, running_platform
from molecule.services import Services
from molecule.store.embedded import EmbeddedPostgres, find_pg_bindir
from molecule.store.migrate import migrate
from molecule.store.pool import Store

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"
TEMPLATE_DB = "molecule_template"


def _with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + database))


def _psql(dsn: str, sql: str) -> None:
    psql = find_pg_bindir() / "psql"
    exe = str(psql) if psql.exists() else (shutil.which("psql") or "psql")
    subprocess.run([exe, dsn, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True, capture_output=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """DSN of the server's maintenance database (the embedded cluster unless DATABASE_URL)."""
    external = os.environ.get("DATABASE_URL")
    if external:
        yield _with_database(external, "postgres")
        return
    home = Path(tempfile.mkdtemp(prefix="molecule-test-"))
    os.chmod(home, 0o755)
    pg = EmbeddedPostgres(home, database="postgres", durable=False).start()
    try:
        yield pg.dsn("postgres")
    finally:
        pg.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def template_db(pg_server: str) -> str:
    """A migrated database every test clones (CREATE DATABASE ... TEMPLATE is fast)."""
    _psql(pg_server, f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}"')
    _psql(pg_server, f'CREATE DATABASE "{TEMPLATE_DB}"')

    async def run() -> None:
        async with trio_asyncio.open_loop():
            store = await Store.open(_with_database(pg_server, TEMPLATE_DB), min_size=1, max_size=1)
            try:
                await migrate(store)
            finally:
                await store.close()

    trio.run(run)
    return TEMPLATE_DB


@pytest.fixture
def dsn(pg_server: str, template_db: str) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:16]}"
    _psql(pg_server, f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    yield _with_database(pg_server, name)
    _psql(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def aio_loop() -> AsyncIterator[object]:
    async with trio_asyncio.open_loop() as loop:
        yield loop


@pytest.fixture
async def store(aio_loop: object, dsn: str) -> AsyncIterator[Store]:
    s = await Store.open(dsn, min_size=1, max_size=4)
    try:
        yield s
    finally:
        await s.close()


def make_settings(tmp_path: Path, dsn: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "home": tmp_path / "home",
        "database_url": dsn,
        "host": "127.0.0.1",
        "port": 0,
        "admin_token_env": ADMIN_TOKEN,
        # Tests send hundreds of requests a minute with one token; the limit has its own
        # tests (tests/http/test_edge_limits.py).
        "rate_limit": 0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@dataclass
class Harness:
    svc: Services
    base_url: str
    client: httpx.AsyncClient

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    async def create_external(self, name: str = "ext", **extra: object) -> dict[str, object]:
        r = await self.client.post(
            "/workspaces", json={"name": name, "runtime": "external", **extra}, headers=self.admin
        )
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    async def row(self, workspace_id: str) -> dict[str, object] | None:
        await self.svc.heartbeats.flush()
        return await self.svc.workspaces.get(workspace_id)


async def start_platform(
    settings: Settings, dsn: str, nursery: trio.Nursery
) -> tuple[Services, str, trio.Event]:
    """Run the platform (actors + real hypercorn on an ephemeral loopback port)."""
    ready: trio.MemorySendChannel[tuple[Services, str]]
    ready, ready_recv = trio.open_memory_channel[tuple[Services, str]](1)
    stop = trio.Event()

    async def run() -> None:
        async with running_platform(settings, dsn) as svc:
            app = create_app(svc)
            async with trio.open_nursery() as inner:
                binds = await inner.start(
                    lambda task_status: serve(
                        app,
                        hypercorn_config(settings),
                        shutdown_trigger=stop.wait,
                        task_status=task_status,
                    )
                )
                svc.pipeline.platform_url = binds[0].rstrip("/")
                await ready.send((svc, binds[0]))

    nursery.start_soon(run)
    svc, base = await ready_recv.receive()
    return svc, base, stop


@pytest.fixture
async def platform(aio_loop: object, dsn: str, tmp_path: Path) -> AsyncIterator[Harness]:
    settings = make_settings(tmp_path, dsn)
    async with trio.open_nursery() as nursery:
        svc, base, stop = await start_platform(settings, dsn, nursery)
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            yield Harness(svc, base, client)
        stop.set()


@pytest.fixture
async def dev_platform(aio_loop: object, dsn: str, tmp_path: Path) -> AsyncIterator[Harness]:
    """The platform in development mode (MOLECULE_ENV=development), ADMIN_TOKEN still set:
    the original's registry bootstrap and loopback agent URLs."""
    settings = make_settings(tmp_path, dsn, dev_mode=True)
    async with trio.open_nursery() as nursery:
        svc, base, stop = await start_platform(settings, dsn, nursery)
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            yield Harness(svc, base, client)
        stop.set()


def drain(sub: Subscription) -> list[Event]:
    """Every event already delivered to this subscription, without waiting for more."""
    events = []
    while True:
        try:
            events.append(sub.receive.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            return events
