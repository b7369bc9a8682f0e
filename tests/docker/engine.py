"""A real Docker Engine for the tests: the one that answers already, or a private dockerd.

Without DOCKER_HOST or a live default socket, the session starts its own dockerd
(scripts/ensure-docker.sh installs Debian's docker.io) with its own data root, exec root,
unix socket and pid file, `--bridge=none --iptables=false` (no default bridge, no firewall
rules: every test container uses the host network and talks over loopback only), and stops
it by its pid at the end.

The data root is kept in a fixed directory (DATA_HOME) between runs, so the images built
once (the Debian base, the built-in runtime image) are there the next time and a second run
skips the builds. A session that finds that directory locked by another running session uses
a scratch data root instead (importing the cached base tarball, so it builds in seconds too).
An orphaned dockerd of a killed session (its pid file, the lock free) is stopped first.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DATA_HOME = Path(os.environ.get("MOLECULE_TEST_DOCKER_HOME", "/var/lib/molecule-test-docker"))
CACHE = DATA_HOME / "cache"
START_TIMEOUT = 60.0


def answers(url: str, timeout: float = 2.0) -> bool:
    """Does a Docker Engine answer `GET /_ping` at this unix:// URL?"""
    if not url.startswith("unix://"):
        return True  # tcp engines are the operator's: trust DOCKER_HOST
    path = url.removeprefix("unix://")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(path)
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return b" 200 " in s.recv(256)
    except OSError:
        return False


def existing_engine() -> str | None:
    url = os.environ.get("DOCKER_HOST")
    if url:
        return url
    default = "unix:///var/run/docker.sock"
    return default if Path("/var/run/docker.sock").is_socket() and answers(default) else None


def _stop_pid(pid: int, timeout: float = 20.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _stop_orphan(pidfile: Path) -> None:
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if b"dockerd" in cmdline:
        _stop_pid(pid)


@contextmanager
def private_dockerd() -> Iterator[str]:
    dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
    if not Path(dockerd).exists():
        raise RuntimeError("no Docker Engine and no dockerd: run scripts/ensure-docker.sh")
    DATA_HOME.mkdir(parents=True, exist_ok=True)
    lock = (DATA_HOME / "lock").open("w")
    scratch: Path | None = None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        data_root, exec_root = DATA_HOME / "data", Path("/run/molecule-test-docker")
        _stop_orphan(exec_root / "dockerd.pid")
    except BlockingIOError:  # another session runs the shared engine
        scratch = Path(tempfile.mkdtemp(prefix="scratch-", dir=DATA_HOME))
        data_root, exec_root = scratch / "data", Path(f"/run/molecule-test-docker-{os.getpid()}")
    exec_root.mkdir(parents=True, exist_ok=True)
    sock, pidfile = exec_root / "docker.sock", exec_root / "dockerd.pid"
    log = (exec_root / "dockerd.log").open("wb")
    proc = subprocess.Popen(
        [
            dockerd, "--data-root", str(data_root), "--exec-root", str(exec_root / "exec"),
            "--host", f"unix://{sock}", "--pidfile", str(pidfile),
            "--bridge=none", "--iptables=false", "--ip-masq=false",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    url = f"unix://{sock}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not answers(url, 1.0):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (exec_root / "dockerd.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"dockerd did not start:\n{tail}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()  # by its pid; dockerd stops its containerd too
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        log.close()
        lock.close()
        if scratch is not None:
            # dockerd leaves its network namespace bind-mounted in the exec root
            subprocess.run(["umount", str(exec_root / "exec" / "netns" / "default")],
                           capture_output=True, check=False)  # fmt: skip
            shutil.rmtree(scratch, ignore_errors=True)
            shutil.rmtree(exec_root, ignore_errors=True)


@contextmanager
def test_engine() -> Iterator[str]:
    """The URL of a Docker Engine for this session."""
    url = existing_engine()
    if url is not None:
        yield url
        return
    with private_dockerd() as url:
        yield url
