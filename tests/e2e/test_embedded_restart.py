"""The embedded PostgreSQL is the platform's child: killed, it is restarted, and the platform
recovers without a restart of its own. Through the real `molecule serve`."""

from __future__ import annotations

import os
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

TOKEN = "embedded-restart-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served() -> Iterator[tuple[str, Path, subprocess.Popen[str]]]:
    home = Path(tempfile.mkdtemp(prefix="molecule-serve-"))
    port = _free_port()
    env = {**os.environ, "MOLECULE_HOME": str(home), "ADMIN_TOKEN": TOKEN}
    env.pop("DATABASE_URL", None)
    log = open(home.parent / f"{home.name}.log", "w+")  # noqa: SIM115 - the child's output
    proc = subprocess.Popen(
        [sys.executable, "-m", "molecule.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, Path(log.name).read_text()
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "platform did not come up"
            time.sleep(0.1)
        yield base, home, proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        print(Path(log.name).read_text()[-4000:])
        log.close()


def _postmaster(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def _cluster_dir(home: Path) -> Path:
    pointer = home / "postgres.location"
    if pointer.exists():
        return Path(pointer.read_text().splitlines()[0].strip())
    return home / "postgres"


def test_a_killed_embedded_database_is_restarted_and_served_again(
    served: tuple[str, Path, subprocess.Popen[str]],
) -> None:
    base, home, proc = served
    with httpx.Client(base_url=base, timeout=10) as client:
        r = client.post("/workspaces", json={"name": "kept", "runtime": "external"}, headers=ADMIN)
        assert r.status_code == 201, r.text
        wid = r.json()["id"]
        pidfile = _cluster_dir(home) / "data" / "postmaster.pid"
        postmaster = int(pidfile.read_text().splitlines()[0])
        os.kill(postmaster, signal.SIGKILL)

        # Until the keeper has started a new postmaster and the platform answers again:
        # every answer meanwhile is a 200 (a backend that had not noticed yet) or a 503
        # with Retry-After, never a 500.
        answers: list[int] = []
        deadline = time.monotonic() + 60
        while True:
            r = client.get("/workspaces", headers=ADMIN)
            answers.append(r.status_code)
            if r.status_code != 200:
                assert r.status_code == 503, r.text
                assert r.headers["Retry-After"] == "5"
            elif _postmaster(pidfile) not in (None, postmaster):
                break
            assert time.monotonic() < deadline, f"not back after 60 s: {answers[-5:]}"
            time.sleep(0.05)
        assert [w["id"] for w in r.json()] == [wid]
        assert proc.poll() is None  # the platform itself never went down
        # Writes work again too.
        r = client.post("/workspaces", json={"name": "after", "runtime": "external"}, headers=ADMIN)
        assert r.status_code == 201, r.text
