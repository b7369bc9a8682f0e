"""A private PostgreSQL cluster owned by the platform process.

With no `DATABASE_URL`, the platform runs its own cluster from the system's server binaries:
data kept in the data directory across restarts, a unix socket only (no port to collide on),
started as our direct child so its lifetime is ours (PDEATHSIG: if the platform dies, even by
SIGKILL, Postgres shuts down cleanly).

Postgres refuses to run as root, so when we are root the server runs as the `postgres` OS user.
Its data directory must then be reachable by that user: when the platform's data directory sits
under a path it cannot traverse (typically `/root`), the cluster lives under
`/var/lib/molecule/` instead, keyed by the data directory, and a note in the data directory
says where.

Start this from the main thread before `trio.run`: PDEATHSIG fires when the *forking thread*
exits, and trio's worker threads come and go.

The cluster is the platform's child: `keep()` starts a thread of ours that lives as long as
the platform, waits on the postmaster, and starts it again if it dies (bounded: a cluster that
keeps dying is given up, loudly). Meanwhile every request that needs the database answers 503
with Retry-After, and the pool reconnects by itself once the server is back. Restarts are
forked from that thread, which lives as long as the process, so their PDEATHSIG holds too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import hashlib
import logging
import os
import pwd
import shutil
import signal
import stat
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from molecule.errors import EmbeddedPostgresError

log = logging.getLogger("molecule.store.embedded")

_PR_SET_PDEATHSIG = 1
_SYSTEM_ROOT = Path("/var/lib/molecule")
RESTART_LIMIT = 5  # restarts of a dying cluster ...
RESTART_WINDOW = 300.0  # ... within this many seconds, then it is given up
RESTART_BACKOFF = (0.5, 1.0, 2.0, 5.0, 10.0)


def find_pg_bindir() -> Path:
    """Locate initdb/postgres: $PG_BINDIR, Debian's versioned dirs, then PATH."""
    env = os.environ.get("PG_BINDIR")
    if env and (Path(env) / "postgres").exists():
        return Path(env)
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
    )
    for candidate in reversed(versions):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    found = shutil.which("postgres")
    if found:
        return Path(os.path.realpath(found)).parent
    raise EmbeddedPostgresError(
        "PostgreSQL server binaries not found: install them (apt-get install postgresql) "
        "or set DATABASE_URL to an existing server"
    )


def pdeathsig_preexec(sig: int = signal.SIGINT) -> Callable[[], None]:
    """A preexec_fn asking the kernel to send `sig` to the child when we die (even by
    SIGKILL). Resolved in the parent: after a uid switch the child may not be able to import
    ctypes from a root-owned prefix."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    prctl = libc.prctl

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, sig)

    return preexec


def _traversable(path: Path, uid: int, gids: set[int]) -> bool:
    """Can (uid, gids) reach `path`? Every ancestor needs the execute bit for them."""
    current = Path("/")
    for part in path.parts[1:]:
        current = current / part
        try:
            st = current.stat()
        except FileNotFoundError:
            return True  # we will create it with our own permissions
        if st.st_uid == uid:
            ok = bool(st.st_mode & stat.S_IXUSR)
        elif st.st_gid in gids:
            ok = bool(st.st_mode & stat.S_IXGRP)
        else:
            ok = bool(st.st_mode & stat.S_IXOTH)
        if not ok:
            return False
    return True


@dataclass
class EmbeddedPostgres:
    home: Path
    database: str = "molecule"
    durable: bool = True  # tests trade crash safety for speed (fsync off)
    base: Path = field(init=False)
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _stopping: threading.Event = field(default_factory=threading.Event, init=False)
    _keeper: threading.Thread | None = field(default=None, init=False)
    restarts: int = field(default=0, init=False)  # how often the keeper brought it back

    def __post_init__(self) -> None:
        self._user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                self._user = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise EmbeddedPostgresError(
                    "running as root needs the 'postgres' OS user (apt-get install postgresql)"
                ) from exc
        self.base = self._choose_base()

    # -- layout ------------------------------------------------------------------------

    def _choose_base(self) -> Path:
        preferred = self.home / "postgres"
        pointer = self.home / "postgres.location"
        if pointer.exists():  # sticky: never silently switch to a new, empty cluster
            return Path(pointer.read_text().splitlines()[0].strip())
        if self._user is None:
            return preferred
        gids = {self._user.pw_gid} | {
            g for g in os.getgrouplist(self._user.pw_name, self._user.pw_gid)
        }
        if _traversable(preferred, self._user.pw_uid, gids):
            return preferred
        key = hashlib.sha256(str(self.home).encode()).hexdigest()[:16]
        fallback = _SYSTEM_ROOT / f"pg-{key}"
        self.home.mkdir(parents=True, exist_ok=True)
        pointer.write_text(
            f"{fallback}\n(the postgres user cannot traverse {self.home}, so the cluster "
            "lives there)\n"
        )
        return fallback

    @property
    def data_dir(self) -> Path:
        return self.base / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base

    @property
    def log_file(self) -> Path:
        return self.base / "postgres.log"

    def dsn(self, database: str | None = None) -> str:
        return f"postgresql://postgres@/{database or self.database}?host={self.socket_dir}"

    # -- lifecycle ---------------------------------------------------------------------

    def _popen_kwargs(self) -> dict[str, object]:
        if self._user is None:
            return {}
        return {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}

    def _prepare_dirs(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True, mode=0o750)
        if self._user is not None:
            os.chown(self.base, self._user.pw_uid, self._user.pw_gid)
            # The connecting process (root) must reach the socket; group traversal is enough
            # for postgres itself.
            os.chmod(self.base, 0o755)

    def _initdb(self, bindir: Path) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        log.info("initialising the private PostgreSQL cluster in %s", self.data_dir)
        result = subprocess.run(
            [
                str(bindir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
            capture_output=True,
            **self._popen_kwargs(),  # type: ignore[call-overload]
        )
        if result.returncode != 0:
            raise EmbeddedPostgresError(
                "initdb failed: " + result.stderr.decode(errors="replace")[-2000:]
            )

    def start(self, timeout: float = 30.0) -> EmbeddedPostgres:
        bindir = find_pg_bindir()
        self._prepare_dirs()
        self._initdb(bindir)
        self._spawn(bindir)
        self._wait_ready(timeout)
        self._ensure_database()
        return self

    def _spawn(self, bindir: Path) -> None:
        logf = open(self.log_file, "ab")  # noqa: SIM115 - handed to the child
        if self._user is not None:
            os.chown(self.log_file, self._user.pw_uid, self._user.pw_gid)
        self._proc = subprocess.Popen(
            [
                str(bindir / "postgres"),
                "-D",
                str(self.data_dir),
                "-k",
                str(self.socket_dir),
                "-c",
                "listen_addresses=",
                "-c",
                "max_connections=200",
                "-c",
                "shared_buffers=64MB",
                *([] if self.durable else ["-c", "fsync=off", "-c", "synchronous_commit=off"]),
            ],
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=pdeathsig_preexec(signal.SIGINT),
            # Its own session: a Ctrl-C in the terminal reaches the platform, which then
            # stops Postgres after its last writes, not both at once.
            start_new_session=True,
            **self._popen_kwargs(),  # type: ignore[call-overload]
        )
        logf.close()

    def keep(self) -> None:
        """Watch the postmaster from a thread of ours and restart it when it dies."""
        if self._keeper is None:
            self._keeper = threading.Thread(
                target=self._keep, name="embedded-postgres-keeper", daemon=True
            )
            self._keeper.start()

    def _keep(self) -> None:
        recent: deque[float] = deque()
        while True:
            proc = self._proc
            if proc is None:
                return
            code = proc.wait()
            if self._stopping.is_set():
                return
            log.error(
                "the embedded PostgreSQL server exited (code %s): restarting it; requests "
                "needing the database answer 503 meanwhile. Its log: %s",
                code,
                self.log_file,
            )
            now = time.monotonic()
            while recent and recent[0] <= now - RESTART_WINDOW:
                recent.popleft()
            if len(recent) >= RESTART_LIMIT:
                log.critical(
                    "the embedded PostgreSQL server died %d times within %g s: giving up; "
                    "the platform cannot store anything until it is restarted. Last log "
                    "lines: %s",
                    RESTART_LIMIT,
                    RESTART_WINDOW,
                    self._log_tail(),
                )
                return
            recent.append(now)
            if not self._restart(len(recent) - 1):
                return

    def _restart(self, attempt: int) -> bool:
        """Start the server again (after a backoff); False once we are stopping."""
        bindir = find_pg_bindir()
        while not self._stopping.wait(RESTART_BACKOFF[min(attempt, len(RESTART_BACKOFF) - 1)]):
            try:
                self._spawn(bindir)
                self._wait_ready(30.0)
            except (EmbeddedPostgresError, OSError) as exc:
                # Typically the old server's backends still hold its shared memory for a
                # moment: try again after the next backoff.
                log.warning("restarting the embedded PostgreSQL server failed: %s", exc)
                attempt += 1
                continue
            self.restarts += 1
            log.warning("the embedded PostgreSQL server is back (pid %d)", self._proc.pid)  # type: ignore[union-attr]
            return True
        return False

    def _wait_ready(self, timeout: float) -> None:
        assert self._proc is not None
        pidfile = self.data_dir / "postmaster.pid"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise EmbeddedPostgresError(
                    f"postgres exited with code {self._proc.returncode}: {self._log_tail()}"
                )
            try:
                lines = pidfile.read_text().splitlines()
                if (
                    len(lines) >= 8
                    and lines[7].strip() == "ready"
                    and int(lines[0]) == (self._proc.pid)
                ):
                    return
            except (FileNotFoundError, ValueError):
                pass
            time.sleep(0.02)
        self._terminate(self._proc, 15.0)
        raise EmbeddedPostgresError(f"postgres did not become ready in {timeout}s")

    def _log_tail(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def _ensure_database(self) -> None:
        bindir = find_pg_bindir()
        psql = bindir / "psql"
        if not psql.exists():
            psql = Path(shutil.which("psql") or "psql")
        exists = subprocess.run(
            [
                str(psql),
                "-h",
                str(self.socket_dir),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-tAc",
                f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'",
            ],
            capture_output=True,
            text=True,
        )
        if exists.returncode != 0:
            raise EmbeddedPostgresError("cannot query the private cluster: " + exists.stderr)
        if exists.stdout.strip() != "1":
            created = subprocess.run(
                [
                    str(psql),
                    "-h",
                    str(self.socket_dir),
                    "-U",
                    "postgres",
                    "-d",
                    "postgres",
                    "-c",
                    f'CREATE DATABASE "{self.database}"',
                ],
                capture_output=True,
                text=True,
            )
            if created.returncode != 0:
                raise EmbeddedPostgresError("cannot create the database: " + created.stderr)

    def stop(self, timeout: float = 15.0) -> None:
        self._stopping.set()
        proc, self._proc = self._proc, None
        self._terminate(proc, timeout)

    @staticmethod
    def _terminate(proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)  # fast shutdown
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None
