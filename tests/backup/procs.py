"""Running `molecule` as an operator does, for the backup tests: real processes, the embedded
cluster in homes the `postgres` user can traverse, and psql over the cluster's socket."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from molecule.store.embedded import find_pg_bindir

MOLECULE = [sys.executable, "-m", "molecule.cli"]
KEY = "k" * 32  # SECRETS_ENCRYPTION_KEY (32 raw bytes)
_CLEARED = ("DATABASE_URL", "ADMIN_TOKEN", "SECRETS_ENCRYPTION_KEY", "MOLECULE_ENV", "PG_BINDIR")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    env.update({"MOLECULE_HOME": str(home), "MOLECULE_BACKEND": "local", **extra})
    return env


def molecule(home: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MOLECULE, *args],
        env=env_for(home, **extra_env),
        capture_output=True,
        text=True,
        timeout=180,
    )


class Served:
    """`molecule serve` on a free port, until `stop()`."""

    def __init__(self, home: Path, **extra_env: str) -> None:
        self.home = home
        self.base = f"http://127.0.0.1:{free_port()}"
        port = self.base.rsplit(":", 1)[1]
        self.proc = subprocess.Popen(
            [*MOLECULE, "serve", "--port", port],
            env=env_for(home, **extra_env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(self.proc.stdout.read() if self.proc.stdout else "")
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            self.stop()
            raise AssertionError("platform did not become healthy")
        self.admin_token = (home / "admin_token").read_text().strip()
        self.http = httpx.Client(base_url=self.base, timeout=15)

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    def call(self, method: str, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.admin_token}"}
        return self.http.request(method, path, headers=headers, **kw)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=60)
        if hasattr(self, "http"):
            self.http.close()
        return out or ""


def psql(dsn_or_home: str | Path, sql: str) -> list[list[str]]:
    """Run SQL on a DSN, or on a home's running embedded cluster (over its socket)."""
    exe = find_pg_bindir() / "psql"
    target = (
        ["-h", str(dsn_or_home / "postgres"), "-U", "postgres", "-d", "molecule"]
        if isinstance(dsn_or_home, Path)
        else ["-d", dsn_or_home]
    )
    run = subprocess.run(
        [str(exe), "-X", "-qtA", "-F", "\t", "-v", "ON_ERROR_STOP=1", *target, "-c", sql],
        capture_output=True,
        text=True,
        check=True,
    )
    return [line.split("\t") for line in run.stdout.splitlines() if line]


def listing(path: Path) -> dict[str, tuple[int, float]]:
    """Every file and directory under `path` (but the cluster's) with size and mtime."""
    found: dict[str, tuple[int, float]] = {}
    if not path.exists():
        return found
    for p in sorted(path.rglob("*")):
        relative = p.relative_to(path)
        if relative.parts[0] in ("postgres", ".lock"):  # the cluster's; the lock's (empty)
            continue
        st = p.lstat()
        found[str(relative)] = (st.st_size, st.st_mtime)
    return found


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
