"""A property-based fuzz of the whole API, driven by its own description (/openapi.json).

Schemathesis generates requests from every operation's declared path, query and body
schemas (valid and invalid ones alike) against a real `molecule serve` with the embedded
PostgreSQL, as the admin. For every request: never a 5xx, and a refusal (4xx) leaves the
database unchanged. At least MIN_REQUESTS requests are sent in all.

"Unchanged" is checked on every table whose rows requests write synchronously (the row count
and the newest row version of each), from a state at rest (`settled`); the activity log and
the recorded events are left out, because their writers work in the background and a
background write from an earlier request would look like the refusal's. Their refusal paths
are covered route by route. A refusal that seems to have written is sent once more from
rest, and counts only if it writes again: a late background write (a restart's backoff) can
land during any request.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

TOKEN = "fuzz-admin-token-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
EXAMPLES_PER_OPERATION = 40
MIN_REQUESTS = 2000
ASYNC_WRITTEN = {"activity_logs", "structure_events", "schema_migrations"}


SETTLE_STEP = 0.02
SETTLE_LIMIT = 3.0


@dataclass
class Served:
    url: str
    dsn: str
    tables: list[str] = field(default_factory=list)
    requests: int = 0
    refusals: int = 0
    last_ok: bool = True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cluster_dir(home: Path) -> Path:
    pointer = home / "postgres.location"
    if pointer.exists():
        return Path(pointer.read_text().splitlines()[0].strip())
    return home / "postgres"


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    home = Path(tempfile.mkdtemp(prefix="molecule-fuzz-"))
    port = _free_port()
    env = {**os.environ, "MOLECULE_HOME": str(home), "ADMIN_TOKEN": TOKEN}
    env.pop("DATABASE_URL", None)
    log = open(home.parent / f"{home.name}.log", "w+")  # noqa: SIM115 - the child's output
    proc = subprocess.Popen(
        [sys.executable, "-m", "molecule.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, Path(log.name).read_text()[-3000:]
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "platform did not come up"
            time.sleep(0.1)
        dsn = f"postgresql://postgres@/molecule?host={_cluster_dir(home)}"
        with psycopg.connect(dsn, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
                " ORDER BY table_name"
            ).fetchall()
        tables = [r[0] for r in rows if r[0] not in ASYNC_WRITTEN]
        yield Served(url, dsn, tables)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def database(served: Served) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(served.dsn, autocommit=True) as conn:
        yield conn


def fingerprint(conn: psycopg.Connection[Any], tables: list[str]) -> tuple[Any, ...]:
    parts = ", ".join(
        f"(SELECT count(*) || ':' || coalesce(max(xmin::text::bigint), 0) FROM \"{t}\")"
        for t in tables
    )
    row = conn.execute(f"SELECT {parts}").fetchone()
    assert row is not None
    return tuple(row)


def settled(conn: psycopg.Connection[Any], tables: list[str]) -> tuple[Any, ...]:
    """The fingerprint once background work of earlier requests has come to rest (a created
    workspace's start, for one, writes its row a moment after the 201)."""
    current = fingerprint(conn, tables)
    deadline = time.monotonic() + SETTLE_LIMIT
    while time.monotonic() < deadline:
        time.sleep(SETTLE_STEP)
        again = fingerprint(conn, tables)
        if again == current:
            return current
        current = again
    return current


def test_no_server_errors_and_refusals_change_nothing(
    served: Served, database: psycopg.Connection[Any]
) -> None:
    """Every operation of the description, EXAMPLES_PER_OPERATION generated cases each."""
    api = schemathesis.openapi.from_url(f"{served.url}/openapi.json", headers=ADMIN)
    failures: list[str] = []

    def changed_by(case: Any, before: tuple[Any, ...]) -> tuple[Any, list[str]]:
        response = case.call(base_url=served.url, headers=ADMIN, timeout=30)
        served.requests += 1
        after = fingerprint(database, served.tables)
        return response, [t for t, a, b in zip(served.tables, before, after, strict=True) if a != b]

    def check(case: Any) -> None:
        # A success starts background work (a workspace's start, a delegation): wait for
        # it to come to rest before the next request.
        if served.last_ok:
            before = settled(database, served.tables)
        else:
            before = fingerprint(database, served.tables)
        response, changed = changed_by(case, before)
        served.last_ok = response.status_code < 400
        described = f"{case.method} {case.formatted_path} -> {response.status_code}"
        if response.status_code >= 500:
            failures.append(f"{described}: {response.text[:300]}")
        elif 400 <= response.status_code < 500:
            served.refusals += 1
            if changed:
                # Some background writes come later than any settling waits for (a failed
                # start's retry after its backoff, a heartbeat flush of a running agent);
                # a refusal that writes does it again when it is sent again.
                again, changed = changed_by(case, settled(database, served.tables))
                if not 400 <= again.status_code < 500:
                    changed = []  # the state moved on: this case proves nothing either way
            if changed:
                failures.append(f"{described} refused but changed {changed}, twice")

    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) > 50
    for operation in operations:
        run = settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )(given(case=operation.as_strategy())(check))
        run()
    assert failures == [], "\n".join(failures[:40])
    assert served.requests >= MIN_REQUESTS, served.requests
    assert served.refusals > 0
