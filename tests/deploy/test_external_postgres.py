"""The production path without containers: `molecule serve` against a separately started
PostgreSQL server (tests/deploy/pg_server.py, shaped like compose.yaml's: TCP on loopback, a
password, a database owned by an ordinary role), never the embedded cluster.

Both boots run in production mode, as compose.yaml runs the platform. Boot 1 applies the
migrations, creates a workspace and prints a login line without the admin token; boot 2,
after a clean SIGTERM, serves HTTPS (`--certfile/--keyfile`, a self-signed certificate the
client trusts) and still has the workspace; neither boot starts a cluster of its own. A
platform whose server is down does not start, and says why.
"""

from __future__ import annotations

import base64
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from molecule.errors import EmbeddedPostgresError
from molecule.store.embedded import find_pg_bindir
from tests.deploy.pg_server import ExternalServer, free_port, start_server
from tests.http.edge_certs import self_signed

MOLECULE = Path(sys.executable).parent / "molecule"
ADMIN_TOKEN = "deploy-admin-token-0123456789abcdef"


@pytest.fixture(scope="module")
def server() -> Iterator[ExternalServer]:
    try:
        find_pg_bindir()
    except EmbeddedPostgresError as exc:  # `make test` installs them unless DATABASE_URL is set
        pytest.skip(str(exc))
    s = start_server()
    try:
        yield s
    finally:
        s.stop()


class Serving:
    """`molecule serve` as a child process, its output in a file."""

    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        self.port = free_port()
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [str(MOLECULE), "serve", "--port", str(self.port), *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_serving(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while "Molecule is serving on" not in self.output():
            assert self.proc.poll() is None, f"serve exited early:\n{self.output()[-3000:]}"
            assert time.monotonic() < deadline, f"not serving:\n{self.output()[-3000:]}"
            time.sleep(0.05)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise


def platform_env(home: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOLECULE_", "PG"))}
    env.update(
        MOLECULE_HOME=str(home),
        DATABASE_URL=database_url,
        ADMIN_TOKEN=ADMIN_TOKEN,
        MOLECULE_BACKEND="local",
        # As compose.yaml runs it.
        MOLECULE_ENV="production",
        SECRETS_ENCRYPTION_KEY=base64.b64encode(b"k" * 32).decode(),
    )
    return env


def test_the_platform_keeps_its_data_on_a_separate_server(
    server: ExternalServer, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    env = platform_env(home, server.dsn)
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    first = Serving(env, tmp_path / "boot1.log")
    try:
        first.wait_serving()
        base = f"http://127.0.0.1:{first.port}"
        created = httpx.post(
            base + "/workspaces",
            json={"name": "kept across restarts", "runtime": "external"},
            headers=admin,
            timeout=30,
        )
        assert created.status_code == 201, created.text
        workspace_id = created.json()["id"]
        assert created.headers["x-frame-options"] == "DENY"
    finally:
        assert first.stop() == 0, first.output()[-3000:]
    assert "initialising the private PostgreSQL cluster" not in first.output()
    # Production logs are often shipped elsewhere: the login line leaves the token out.
    assert f"Open: http://127.0.0.1:{first.port}/\n" in first.output()
    assert ADMIN_TOKEN not in first.output()
    assert not (home / "postgres").exists()  # no embedded cluster
    row = server.psql(f"SELECT name FROM workspaces WHERE id = '{workspace_id}'")
    assert row == "kept across restarts"
    migrations = int(server.psql("SELECT count(*) FROM schema_migrations"))
    assert migrations == len(list(Path("migrations").glob("*.up.sql")))

    certs = self_signed(tmp_path)
    second = Serving(
        env, tmp_path / "boot2.log", "--certfile", str(certs.cert), "--keyfile", str(certs.key)
    )
    try:
        second.wait_serving()
        assert f"Open: https://127.0.0.1:{second.port}/\n" in second.output()
        trusted = ssl.create_default_context(cafile=str(certs.cert))
        with httpx.Client(verify=trusted, timeout=30) as client:
            got = client.get(
                f"https://127.0.0.1:{second.port}/workspaces/{workspace_id}", headers=admin
            )
        assert got.status_code == 200, got.text
        assert got.json()["name"] == "kept across restarts"
        assert got.headers["strict-transport-security"] == "max-age=31536000"
    finally:
        assert second.stop() == 0, second.output()[-3000:]
    assert int(server.psql("SELECT count(*) FROM schema_migrations")) == migrations


def test_a_platform_whose_server_is_down_does_not_start(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    env = platform_env(tmp_path / "home", f"postgresql://molecule:x@127.0.0.1:{port}/molecule")
    run = subprocess.run(
        [str(MOLECULE), "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1
    assert "Molecule is serving" not in run.stdout
    assert run.stderr.startswith("molecule: cannot serve: ConnectionRefusedError"), run.stderr
    assert f"'127.0.0.1', {port})" in run.stderr and "Traceback" not in run.stderr
