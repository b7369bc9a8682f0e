"""A throwaway PostgreSQL server started apart from the platform, like compose.yaml's: its own
cluster (Debian's binaries, found as the embedded cluster finds them), a loopback TCP port,
password authentication, and a database owned by an ordinary role that is not a superuser.

It runs as the `postgres` OS user when we are root (the server refuses root), is our direct
child with PDEATHSIG (a killed test run does not leave it behind) in its own session, and is
stopped with SIGINT (fast shutdown) and removed at the end.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from molecule.store.embedded import find_pg_bindir, pdeathsig_preexec

ROLE = "molecule"
PASSWORD = "s3cret-Pw"
DATABASE = "molecule"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class ExternalServer:
    base: Path
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def dsn(self) -> str:
        return f"postgresql://{ROLE}:{PASSWORD}@127.0.0.1:{self.port}/{DATABASE}"

    def psql(self, sql: str, database: str = DATABASE) -> str:
        """Run SQL as the superuser over the unix socket; its output, unaligned."""
        psql = find_pg_bindir() / "psql"
        exe = str(psql) if psql.exists() else (shutil.which("psql") or "psql")
        run = subprocess.run(
            [exe, "-h", str(self.base), "-p", str(self.port), "-U", "postgres", "-d", database]
            + ["-v", "ON_ERROR_STOP=1", "-Atqc", sql],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert run.returncode == 0, run.stderr
        return run.stdout.strip()

    def log_tail(self) -> str:
        path = self.base / "server.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.base, ignore_errors=True)


def start_server(timeout: float = 30.0) -> ExternalServer:
    """Start one (from the main thread: PDEATHSIG belongs to the forking thread)."""
    bindir = find_pg_bindir()
    base = Path(tempfile.mkdtemp(prefix="molecule-external-pg-"))
    as_user: dict[str, object] = {}
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(base, user.pw_uid, user.pw_gid)
        as_user = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    os.chmod(base, 0o755)
    initdb = subprocess.run(
        [str(bindir / "initdb"), "-D", str(base / "data"), "-U", "postgres"]
        + ["--auth-local=trust", "--auth-host=scram-sha-256"]
        + ["-E", "UTF8", "--no-locale", "--no-sync"],
        capture_output=True,
        text=True,
        timeout=120,
        **as_user,  # type: ignore[call-overload]
    )
    if initdb.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {initdb.stderr[-2000:]}")
    port = free_port()
    with open(base / "server.log", "wb") as log:
        if as_user:
            os.chown(base / "server.log", as_user["user"], as_user["group"])  # type: ignore[arg-type]
        proc = subprocess.Popen(
            [str(bindir / "postgres"), "-D", str(base / "data"), "-k", str(base), "-p", str(port)]
            + ["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"]
            + ["-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=pdeathsig_preexec(signal.SIGINT),
            start_new_session=True,
            **as_user,  # type: ignore[call-overload]
        )
    server = ExternalServer(base, port, proc)
    deadline = time.monotonic() + timeout
    pidfile = base / "data" / "postmaster.pid"
    while True:
        if proc.poll() is not None:
            tail = server.log_tail()
            server.stop()
            raise RuntimeError(f"postgres exited with {proc.returncode}: {tail}")
        try:
            lines = pidfile.read_text().splitlines()
        except OSError:
            lines = []
        if len(lines) >= 8 and lines[7].strip() == "ready":
            break
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError("postgres did not become ready")
        time.sleep(0.02)
    try:
        server.psql(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'", database="postgres")
        server.psql(f"CREATE DATABASE {DATABASE} OWNER {ROLE}", database="postgres")
    except BaseException:
        server.stop()
        raise
    return server
