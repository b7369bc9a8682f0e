"""Bench support: the platform under test as a subprocess, and an HTTP/1.1 load generator.

Nothing here imports molecule or trio_asyncio (importing trio_asyncio hijacks
`asyncio.run`), so the load generator runs on the stock asyncio selector loop.

The load generator is run as its own process (`python bench/_loadgen.py`, a JSON job on
stdin, a JSON result on stdout) so that it never shares an interpreter with the driver or the
server. It keeps `concurrency` keep-alive connections open, each with exactly one request in
flight; requests are hand-built bytes and responses are parsed by Content-Length in an
`asyncio.Protocol` callback, with no per-request task or future. When the server ends a
connection on purpose (`Connection: close`, hypercorn's keep_alive_max_requests), the slot
reconnects and the request is not counted as an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import json
import math
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"
THIS = Path(__file__).resolve()

# --------------------------------------------------------------------------------------------
# The load generator (runs in its own process)
# --------------------------------------------------------------------------------------------


class _Run:
    """One load phase in one process: warm-up, then a measured window."""

    def __init__(self, job: dict[str, Any]) -> None:
        self.loop = asyncio.get_running_loop()
        self.host: str = job["host"]
        self.port: int = job["port"]
        self.concurrency: int = job["concurrency"]
        now_wall, now_perf = time.time(), time.perf_counter()
        self.t_start = now_perf + max(0.0, job["start_at"] - now_wall)
        self.t_measure = self.t_start + job["warmup"]
        self.t_end = self.t_measure + job["duration"]
        self.next_request = self._request_factory(job)
        self.latencies: list[float] = []
        self.window_status: dict[int, int] = {}
        self.total_status: dict[int, int] = {}
        self.requests = 0
        self.reconnects = 0
        self.unexpected_closes = 0
        self.connect_errors = 0
        self.bad_responses = 0
        self.active = 0
        self.done: asyncio.Future[None] = self.loop.create_future()

    def _request_factory(self, job: dict[str, Any]) -> Callable[[], bytes]:
        host_header = f"Host: {self.host}:{self.port}\r\n"
        if job["mode"] == "health":
            raw = f"GET /health HTTP/1.1\r\n{host_header}\r\n".encode()
            return lambda: raw
        if job["mode"] != "heartbeat":
            raise ValueError(f"unknown mode {job['mode']!r}")
        heads: list[bytes] = []
        bodies: list[tuple[bytes, bytes]] = []
        for agent in job["agents"]:
            heads.append(
                (
                    f"POST /registry/heartbeat HTTP/1.1\r\n{host_header}"
                    f"Authorization: Bearer {agent['token']}\r\n"
                    "Content-Type: application/json\r\n"
                ).encode()
            )
            bodies.append(
                (
                    f'{{"workspace_id":"{agent["id"]}","active_tasks":0,"uptime_seconds":'.encode(),
                    b',"current_task":""}',
                )
            )
        n = len(heads)
        counter = [job.get("offset", 0)]
        t0 = time.perf_counter()
        base_uptime = 1000  # an agent's uptime_seconds: grows with the bench's clock

        def heartbeat() -> bytes:
            i = counter[0] % n
            counter[0] += 1
            pre, post = bodies[i]
            body = b"%s%d%s" % (pre, base_uptime + int(time.perf_counter() - t0), post)
            return b"%sContent-Length: %d\r\n\r\n%s" % (heads[i], len(body), body)

        return heartbeat

    async def connect(self) -> None:
        try:
            await self.loop.create_connection(lambda: _Conn(self), self.host, self.port)
        except OSError:
            self.connect_errors += 1
            self.active -= 1
            if self.active <= 0 and not self.done.done():
                self.done.set_result(None)

    def slot_finished(self) -> None:
        self.active -= 1
        if self.active <= 0 and not self.done.done():
            self.done.set_result(None)

    async def run(self) -> dict[str, Any]:
        await asyncio.sleep(max(0.0, self.t_start - time.perf_counter()))
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        self.active = self.concurrency
        for _ in range(self.concurrency):
            self.loop.create_task(self.connect())
        # Safety net: never hang on a stuck server (a response may be slow, not lost).
        timeout = self.t_end - time.perf_counter() + 15.0
        try:
            await asyncio.wait_for(asyncio.shield(self.done), timeout)
            hung = False
        except TimeoutError:
            hung = True
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        wall = time.perf_counter() - self.t_start
        return {
            "count": len(self.latencies),
            "latencies_us": [round(x * 1e6) for x in self.latencies],
            "window_status": {str(k): v for k, v in self.window_status.items()},
            "total_status": {str(k): v for k, v in self.total_status.items()},
            "requests": self.requests,
            "reconnects": self.reconnects,
            "unexpected_closes": self.unexpected_closes,
            "connect_errors": self.connect_errors,
            "bad_responses": self.bad_responses,
            "hung": hung,
            "cpu_s": cpu,
            "wall_s": wall,
        }


_CL = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_CLOSE = re.compile(rb"\r\nconnection:[ \t]*close", re.IGNORECASE)


@dataclass(frozen=True)
class ResponseHead:
    status: int  # 0 when the status line is unreadable
    total: int  # head plus Content-Length body; -1 without a Content-Length
    close: bool  # the server said Connection: close


def response_head(buf: bytes) -> ResponseHead | None:
    """The head of the response at the start of `buf`, None until it is complete."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buf[: end + 2]
    m = _CL.search(head)
    try:
        status = int(head[9:12])
    except ValueError:
        status = 0
    total = -1 if m is None else end + 4 + int(m.group(1))
    return ResponseHead(status, total, _CLOSE.search(head) is not None)


class _Conn(asyncio.Protocol):
    def __init__(self, run: _Run) -> None:
        self.run = run
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.need = -1  # total bytes of the current response, once its head is parsed
        self.status = 0
        self.close_after = False
        self.sent_at = 0.0
        self.finished = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        data = self.run.next_request()
        self.sent_at = time.perf_counter()
        self.run.requests += 1
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.need < 0:
            head = response_head(self.buf)
            if head is None:
                return
            self.status = head.status
            if head.total < 0 or head.status == 0:
                self.run.bad_responses += 1
                self._finish()
                return
            self.need, self.close_after = head.total, head.close
        if len(self.buf) < self.need:
            return
        if len(self.buf) > self.need:  # one request in flight: nothing may follow
            self.run.bad_responses += 1
        now = time.perf_counter()
        run = self.run
        status = self.status
        run.total_status[status] = run.total_status.get(status, 0) + 1
        if self.sent_at >= run.t_measure and now <= run.t_end:
            run.latencies.append(now - self.sent_at)
            run.window_status[status] = run.window_status.get(status, 0) + 1
        self.buf, self.need = b"", -1
        if now >= run.t_end:
            self._finish()
        elif self.close_after:
            self.finished = True
            assert self.transport is not None
            self.transport.close()
            run.reconnects += 1
            run.loop.create_task(run.connect())
        else:
            self._send()

    def _finish(self) -> None:
        if not self.finished:
            self.finished = True
            if self.transport is not None:
                self.transport.close()
            self.run.slot_finished()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.finished:
            self.run.unexpected_closes += 1
            self._finish()


async def _loadgen_main(job: dict[str, Any]) -> dict[str, Any]:
    return await _Run(job).run()


# --------------------------------------------------------------------------------------------
# Driver side: run load phases in 1..n generator processes and merge their results
# --------------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    mode: str
    duration: float
    count: int
    latencies_us: list[int]
    window_status: dict[str, int]
    total_status: dict[str, int]
    requests: int
    reconnects: int
    unexpected_closes: int
    connect_errors: int
    bad_responses: int
    hung: bool
    loadgen_cpu_pct: float  # summed over the generator processes, % of one core
    server_cpu_pct: float = 0.0  # measured window only
    postgres_cpu_pct: float = 0.0

    @property
    def rate(self) -> float:
        return self.count / self.duration

    def pct(self, q: float) -> float:
        """Latency percentile in milliseconds."""
        if not self.latencies_us:
            return float("nan")
        xs = self.latencies_us
        i = min(len(xs) - 1, max(0, math.ceil(q / 100 * len(xs)) - 1))  # nearest rank
        return xs[i] / 1000

    @property
    def non_200(self) -> int:
        return sum(v for k, v in self.total_status.items() if k != "200")

    @property
    def failures(self) -> int:
        return (
            self.non_200
            + self.unexpected_closes
            + self.connect_errors
            + self.bad_responses
            + int(self.hung)
        )


def run_load(
    *,
    mode: str,
    port: int,
    concurrency: int,
    warmup: float,
    duration: float,
    procs: int = 1,
    agents: list[dict[str, str]] | None = None,
    server_pid: int | None = None,
) -> LoadResult:
    """Run one phase with `procs` generator processes sharing `concurrency` connections."""
    procs = max(1, min(procs, concurrency))
    start_at = time.time() + 0.5  # let every generator process import and get ready
    children = []
    for i in range(procs):
        share = concurrency // procs + (1 if i < concurrency % procs else 0)
        job = {
            "mode": mode,
            "host": "127.0.0.1",
            "port": port,
            "concurrency": share,
            "warmup": warmup,
            "duration": duration,
            "start_at": start_at,
            "agents": agents or [],
            "offset": (len(agents or []) * i) // procs,
        }
        child = subprocess.Popen(
            [sys.executable, "-I", str(THIS), "--loadgen"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdin is not None
        child.stdin.write(json.dumps(job))
        child.stdin.close()
        children.append(child)
    # Sample the server's and Postgres's CPU over the measured window only.
    server_cpu = pg_cpu = 0.0
    if server_pid is not None:
        _sleep_until(start_at + warmup)
        s0, p0, t0 = cpu_seconds(server_pid), postgres_cpu_seconds(server_pid), time.time()
        _sleep_until(start_at + warmup + duration)
        s1, p1, t1 = cpu_seconds(server_pid), postgres_cpu_seconds(server_pid), time.time()
        server_cpu = 100 * (s1 - s0) / (t1 - t0)
        pg_cpu = 100 * (p1 - p0) / (t1 - t0)
    outs = []
    for child in children:
        assert child.stdout is not None
        out = child.stdout.read()
        if child.wait() != 0 or not out:
            raise RuntimeError(f"load generator process failed (exit {child.returncode})")
        outs.append(json.loads(out))
    lat = sorted(x for o in outs for x in o["latencies_us"])

    def merged(key: str) -> dict[str, int]:
        total: dict[str, int] = {}
        for o in outs:
            for k, v in o[key].items():
                total[k] = total.get(k, 0) + v
        return total

    return LoadResult(
        mode=mode,
        duration=duration,
        count=sum(o["count"] for o in outs),
        latencies_us=lat,
        window_status=merged("window_status"),
        total_status=merged("total_status"),
        requests=sum(o["requests"] for o in outs),
        reconnects=sum(o["reconnects"] for o in outs),
        unexpected_closes=sum(o["unexpected_closes"] for o in outs),
        connect_errors=sum(o["connect_errors"] for o in outs),
        bad_responses=sum(o["bad_responses"] for o in outs),
        hung=any(o["hung"] for o in outs),
        loadgen_cpu_pct=sum(100 * o["cpu_s"] / o["wall_s"] for o in outs if o["wall_s"] > 0),
        server_cpu_pct=server_cpu,
        postgres_cpu_pct=pg_cpu,
    )


def _sleep_until(t: float) -> None:
    delay = t - time.time()
    if delay > 0:
        time.sleep(delay)


# --------------------------------------------------------------------------------------------
# /proc helpers
# --------------------------------------------------------------------------------------------

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw[raw.rindex(")") + 2 :].split()  # fields from #3 (state) on


def cpu_seconds(pid: int) -> float:
    try:
        f = _stat_fields(pid)
    except (OSError, ValueError):
        return 0.0
    return (int(f[11]) + int(f[12])) / _CLK_TCK  # utime, stime


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat_fields(int(entry.name))[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                pass
    return found


def postgres_cpu_seconds(server_pid: int) -> float:
    """CPU of the embedded postmaster and all its backends (children of the postmaster)."""
    total = 0.0
    for child in children_of(server_pid):
        total += cpu_seconds(child)
        total += sum(cpu_seconds(g) for g in children_of(child))
    return total


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


# --------------------------------------------------------------------------------------------
# Bare ASGI servers (echo agent, reference forwarders): hypercorn's trio worker, no framework
# --------------------------------------------------------------------------------------------


async def asgi_body(receive: Any) -> bytes:
    chunks, more = [], True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


async def asgi_reply(send: Any, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def serve_bare(
    app: Any,
    port: int,
    *,
    keep_alive_timeout: float | None = None,
    background: Callable[[], Any] | None = None,
    lean: bool = False,
) -> None:
    """Serve `app` on 127.0.0.1:port until SIGTERM/SIGINT, printing `listening <port>` first
    (the bind follows at once; drivers poll the port). `background` runs alongside. `lean`:
    on the platform's own transport (molecule.http.server) instead of stock hypercorn."""
    import trio
    from hypercorn.config import Config

    if lean:
        from molecule.http.server import serve
    else:
        from hypercorn.trio import serve

    async def main() -> None:
        config = Config()
        config.bind = [f"127.0.0.1:{port}"]
        config.accesslog = None
        config.errorlog = None
        config.graceful_timeout = 2
        if keep_alive_timeout is not None:
            config.keep_alive_timeout = keep_alive_timeout

        async def stop() -> None:
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for _ in signals:
                    return

        async with trio.open_nursery() as nursery:
            if background is not None:
                nursery.start_soon(background)
            print(f"listening {port}", flush=True)
            await serve(app, config, shutdown_trigger=stop)
            nursery.cancel_scope.cancel()

    trio.run(main)


# --------------------------------------------------------------------------------------------
# The platform under test
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _parent_death_sigterm() -> Callable[[], None]:
    # If this bench dies without cleaning up, the platform gets SIGTERM (and its Postgres
    # follows through its own PDEATHSIG). Resolved in the parent, called in the child.
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    prctl = libc.prctl

    def preexec() -> None:
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    return preexec


class BenchError(Exception):
    """The bench could not run; the message says why."""


@dataclass
class Boot:
    ready_s: float  # process start until GET /health answered 200
    activated_s: float | None  # process start until "activated N workspace actors"
    activated: int | None
    serving_s: float | None  # process start until "Molecule is serving on"


@dataclass
class Platform:
    """One MOLECULE_HOME; `start()`/`stop()` may be called several times on it."""

    root: Path
    admin_token: str = field(default_factory=lambda: "bench-" + os.urandom(16).hex())
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)
    _reader: threading.Thread | None = None
    _marks: dict[str, float] = field(default_factory=dict)
    _activated: int | None = None
    _t0: float = 0.0
    boots: int = 0

    def __post_init__(self) -> None:
        self.home = self.root / "home"
        self.log_path = self.root / "server.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def socket_dir(self) -> Path:
        """Where the embedded cluster's unix socket lives (see molecule.store.embedded)."""
        note = self.home / "postgres.location"
        if note.exists():
            return Path(note.read_text().splitlines()[0].strip())
        return self.home / "postgres"

    def dsn(self) -> str:
        return f"postgresql://postgres@/molecule?host={self.socket_dir()}"

    def start(self, timeout: float = 60.0) -> Boot:
        if self.proc is not None:
            raise BenchError("platform already running")
        self.port = free_port()
        env = dict(os.environ)
        env.pop("DATABASE_URL", None)  # the embedded cluster, in our own home
        env.update(MOLECULE_HOME=str(self.home), ADMIN_TOKEN=self.admin_token)
        # Thousands of requests a second with one token: the rate limit runs (its cost is
        # part of every figure) but never refuses, unless the caller set RATE_LIMIT.
        env.setdefault("RATE_LIMIT", "1000000000")
        self._marks = {}
        self._activated = None
        self.boots += 1
        with open(self.log_path, "ab") as log:
            log.write(f"===== boot {self.boots} (port {self.port}) =====\n".encode())
        self._t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "molecule"), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=self.root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=_parent_death_sigterm(),
        )
        self._reader = threading.Thread(target=self._read_log, args=(self.proc,), daemon=True)
        self._reader.start()
        deadline = time.perf_counter() + timeout
        while True:
            if self.proc.poll() is not None:
                self._reader.join(2)
                raise BenchError(
                    f"platform exited with code {self.proc.returncode} before it was ready:\n"
                    + self.log_tail()
                )
            if _health_ok(self.port):
                ready = time.perf_counter() - self._t0
                break
            if time.perf_counter() > deadline:
                raise BenchError(f"platform not ready after {timeout:.0f} s:\n" + self.log_tail())
            time.sleep(0.01)
        for _ in range(100):  # the "serving" line follows the bind by a hair
            if "serving" in self._marks:
                break
            time.sleep(0.01)
        return Boot(
            ready_s=ready,
            activated_s=self._marks.get("activated"),
            activated=self._activated,
            serving_s=self._marks.get("serving"),
        )

    def _read_log(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        pat = re.compile(rb"activated (\d+) workspace actors")
        with open(self.log_path, "ab", buffering=0) as log:
            for line in proc.stdout:
                now = time.perf_counter() - self._t0
                log.write(line)
                if "activated" not in self._marks:
                    m = pat.search(line)
                    if m:
                        self._activated = int(m.group(1))
                        self._marks["activated"] = now
                if "serving" not in self._marks and line.startswith(b"Molecule is serving on"):
                    self._marks["serving"] = now

    def stop(self, timeout: float = 30.0) -> tuple[float, int | None]:
        """SIGTERM, wait; returns (seconds to exit, exit code). SIGKILL if it hangs."""
        proc, self.proc = self.proc, None
        if proc is None:
            return 0.0, None
        t = time.perf_counter()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                with open(self.log_path, "ab") as log:
                    log.write(b"===== bench: SIGKILLed after SIGTERM timeout =====\n")
        if self._reader is not None:
            self._reader.join(5)
        return time.perf_counter() - t, proc.returncode

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def log_problems(self) -> list[str]:
        """Log lines at WARNING or worse, and traceback headers."""
        keys = (" WARNING ", " ERROR ", " CRITICAL ", "Traceback (most recent call last)")
        return [ln for ln in self.log_text().splitlines() if any(k in ln for k in keys)]

    # -- HTTP (setup and checks only; the load goes through the generator) ----------------

    def request(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {token or self.admin_token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw)
            except ValueError:
                return exc.code, raw.decode(errors="replace")

    def psql(self, sql: str) -> str:
        psql = shutil.which("psql")
        for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"), reverse=True):
            psql = str(candidate)
            break
        if psql is None:
            raise BenchError("psql not found")
        result = subprocess.run(
            [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-tA", self.dsn(), "-c", sql],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise BenchError(f"psql failed: {result.stderr.strip()}")
        return result.stdout

    def cleanup(self) -> None:
        """Remove the cluster directory (it may live outside our temp dir) and the root."""
        base = self.socket_dir()
        if base.parent == Path("/var/lib/molecule") and base.name.startswith("pg-"):
            shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)


def _health_ok(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            return data.startswith(b"HTTP/1.1 200")
    except OSError:
        return False


@contextlib.contextmanager
def platform_root(keep: bool = False) -> Iterator[Platform]:
    """A Platform in a fresh temporary directory; always stopped and (unless kept) removed."""
    root = Path(tempfile.mkdtemp(prefix="molecule-bench-"))
    p = Platform(root)

    def on_sigterm(signum: int, frame: object) -> None:
        raise SystemExit(143)

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield p
    except BaseException:
        p.stop()
        kept = root.parent / f"{root.name}.server.log"
        with contextlib.suppress(OSError):
            shutil.copyfile(p.log_path, kept)
        print(f"\n--- server log tail (full log kept in {kept}) ---", file=sys.stderr)
        print(p.log_tail(), file=sys.stderr)
        raise
    finally:
        p.stop()
        signal.signal(signal.SIGTERM, previous)
        if keep:
            print(f"(kept {root}; cluster in {p.socket_dir()})")
        else:
            p.cleanup()


if __name__ == "__main__" and sys.argv[1:] == ["--loadgen"]:
    assert "trio_asyncio" not in sys.modules and "molecule" not in sys.modules
    result = asyncio.run(_loadgen_main(json.loads(sys.stdin.read())))
    sys.stdout.write(json.dumps(result))
