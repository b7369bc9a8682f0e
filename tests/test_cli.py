"""The `molecule` command as a user runs it: real processes, the embedded cluster, signals."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

MOLECULE = [sys.executable, "-m", "molecule.cli"]
MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def home() -> Iterator[Path]:
    # /tmp is traversable by the postgres user, so the cluster lives inside the home.
    path = Path(tempfile.mkdtemp(prefix="molecule-cli-"))
    os.chmod(path, 0o755)
    yield path / "home"
    shutil.rmtree(path, ignore_errors=True)


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "ADMIN_TOKEN")}
    env.update({"MOLECULE_HOME": str(home), **extra})
    return env


def wait_healthy(base: str, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("platform did not become healthy")


def postgres_running(home: Path) -> bool:
    assert not (home / "postgres.location").exists()  # /tmp homes keep the cluster inside
    pidfile = home / "postgres" / "data" / "postmaster.pid"
    if not pidfile.exists():
        return False
    pid = int(pidfile.read_text().splitlines()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_serve_with_embedded_postgres_survives_restart_and_stops_on_sigterm(home: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    def serve() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*MOLECULE, "serve", "--port", str(port)],
            env=env_for(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    proc = serve()
    wait_healthy(base, proc)
    token = (home / "admin_token").read_text().strip()
    assert oct((home / "admin_token").stat().st_mode & 0o777) == "0o600"
    r = httpx.post(
        f"{base}/workspaces",
        json={"name": "kept", "runtime": "external"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 201
    wid = r.json()["id"]
    assert postgres_running(home)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert f"Open: http://127.0.0.1:{port}/?token={token}" in out
    assert not postgres_running(home)

    # The cluster and the token are kept across restarts.
    proc = serve()
    try:
        wait_healthy(base, proc)
        r = httpx.get(f"{base}/workspaces/{wid}", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json()["name"] == "kept"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_migrate_applies_once_and_token_prints(home: Path) -> None:
    run = subprocess.run(
        [*MOLECULE, "migrate"], env=env_for(home), capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    shipped = sorted(p.name for p in MIGRATIONS.glob("*.up.sql"))
    assert f"applied {len(shipped)} migration(s): {', '.join(shipped)}" in run.stdout
    again = subprocess.run(
        [*MOLECULE, "migrate"], env=env_for(home), capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0 and "applied 0 migration(s)" in again.stdout
    token = subprocess.run(
        [*MOLECULE, "token", "--url", "--port", "9999"],
        env=env_for(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    saved = (home / "admin_token").read_text().strip()
    assert token.stdout.strip() == f"http://127.0.0.1:9999/?token={saved}"
    # The same settings `molecule serve` reads (the production image sets them).
    token = subprocess.run(
        [*MOLECULE, "token", "--url"],
        env=env_for(home, MOLECULE_HOST="0.0.0.0", MOLECULE_PORT="18080"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert token.stdout.strip() == f"http://127.0.0.1:18080/?token={saved}"


def test_bad_port_is_a_clear_error(home: Path) -> None:
    run = subprocess.run(
        [*MOLECULE, "serve", "--port", "70000"],
        env=env_for(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and "port 70000 is outside 1..65535" in run.stderr
