"""Soak: platform-run echo agents stay up for minutes under steady A2A traffic.

    .venv/bin/python bench/soak.py [--workspaces 50] [--minutes 10] [--rate 20]
                                   [--sample 15] [--online-timeout 180] [--keep]

Starts the platform (fresh MOLECULE_HOME, embedded Postgres, a random ADMIN_TOKEN), creates
N `echo` workspaces at once through `POST /workspaces`, and waits until every one has been
seen `online`. The agents are local processes of the built-in runtime, children of the
platform: a /proc scan every second finds them (command line `molecule.runtime.main`, cwd
`$MOLECULE_HOME/workspaces/<id>/workspace`) and records each workspace's pid from its first
start on. For `--minutes` it then sends `message/send` through `POST /workspaces/<id>/a2a`
(admin bearer) at `--rate` messages/s in total, round-robin over the workspaces, open loop
(each message leaves at its scheduled time whatever the previous ones are doing), and
checks that every answer is a 200 carrying `echo: hi`. Every `--sample` seconds it prints a
line: the statuses of all workspaces (`GET /workspaces/<id>`), agent exits and restarts so
far, the A2A counts and p99 of the interval, the platform's RSS and the sum of the agents'.
Statuses are also watched every 2 s (`GET /workspaces`) to catch a re-provisioning between
samples.

At the end it prints the summary, stops the platform with SIGTERM and checks that no agent
process is left. An agent whose pid vanished or changed is an unexpected exit/restart (the
platform log's `runtime started` / `exited on its own` lines are shown as a cross-check).
Exit status: 0 when everything held; 1 when any check failed (an agent exited or restarted,
a workspace is not online at the end, an A2A message failed, the platform did not exit
cleanly, an agent process outlived it); 2 when the soak could not run. Not part of
`make bench` (it takes 10 minutes): `make soak`. A smoke run: `--workspaces 10 --minutes 1`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _loadgen import BenchError, Platform, platform_root, response_head, rss_kb  # noqa: E402

AGENT_MARK = b"molecule.runtime.main"
PID_SCAN_INTERVAL = 1.0
STATUS_WATCH_INTERVAL = 2.0
A2A_TIMEOUT = 30.0
A2A_MAX_IN_FLIGHT = 256
A2A_POOL = 32
CONTROL_POOL = 8
LEFTOVER_GRACE = 10.0
EXPECTED_ECHO = b"echo: hi"


# --------------------------------------------------------------------------------------------
# A small keep-alive HTTP/1.1 client (asyncio streams, hand-built requests)
# --------------------------------------------------------------------------------------------


class HttpError(Exception):
    """A request that got no usable response; the message is the failure's label."""


class Client:
    """At most `size` connections, each with one request in flight; idle ones are reused.
    A reused connection that the server closed while idle (keep-alive timeout) fails before
    any byte of the answer arrives: the request is then sent once more on a new connection,
    as HTTP clients do; `retries` counts those."""

    def __init__(self, host: str, port: int, token: str, size: int) -> None:
        self.host, self.port = host, port
        self.head = (
            f"Host: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\n"
        )
        self.slots = asyncio.Semaphore(size)
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.retries = 0

    async def request(
        self, method: str, path: str, body: Any = None, timeout: float = 30.0
    ) -> tuple[int, bytes, float]:
        """(status, body, seconds from writing the request to the end of the answer)."""
        data = b"" if body is None else json.dumps(body).encode()
        raw = (
            f"{method} {path} HTTP/1.1\r\n{self.head}Content-Length: {len(data)}\r\n\r\n"
        ).encode() + data
        async with self.slots:
            try:
                return await asyncio.wait_for(self._exchange(raw), timeout)
            except TimeoutError:
                raise HttpError("timeout") from None
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                raise HttpError(f"connection error ({type(exc).__name__})") from None

    async def _exchange(self, raw: bytes) -> tuple[int, bytes, float]:
        for attempt in (0, 1):
            reused = bool(self.idle)
            if reused:
                reader, writer = self.idle.pop()
            else:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            try:
                t0 = time.perf_counter()
                writer.write(raw)
                try:
                    head_bytes = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError) as exc:
                    nothing = not isinstance(exc, asyncio.IncompleteReadError) or not exc.partial
                    if reused and attempt == 0 and nothing:
                        writer.close()
                        self.retries += 1
                        continue
                    raise
                head = response_head(head_bytes)
                if head is None or head.status == 0 or head.total < 0:
                    raise HttpError("unreadable response (no status or no Content-Length)")
                payload = await reader.readexactly(head.total - len(head_bytes))
                elapsed = time.perf_counter() - t0
            except BaseException:
                writer.close()
                raise
            if head.close:
                writer.close()
            else:
                self.idle.append((reader, writer))
            return head.status, payload, elapsed
        raise AssertionError("unreachable")

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


# --------------------------------------------------------------------------------------------
# Agent processes, from /proc
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentProc:
    pid: int
    workspace_id: str
    ppid: int


def _ppid(pid: int) -> int:
    raw = Path(f"/proc/{pid}/stat").read_text()
    return int(raw[raw.rindex(")") + 2 :].split()[1])


def _workspace_of(pid: int, workspaces_dir: Path) -> str | None:
    """The workspace an agent runs for: its cwd is `<workspaces_dir>/<id>/workspace`; else
    its WORKSPACE_ID, if it runs under our MOLECULE_HOME at all."""
    try:
        cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
        if cwd.parent.parent == workspaces_dir and cwd.name == "workspace":
            return cwd.parent.name
    except OSError:
        pass
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    values = dict(e.split(b"=", 1) for e in env if b"=" in e)
    if values.get(b"MOLECULE_WORKSPACE_ROOT", b"").startswith(bytes(workspaces_dir) + b"/"):
        wid = values.get(b"WORKSPACE_ID")
        return wid.decode() if wid else None
    return None


def agent_processes(workspaces_dir: Path) -> list[AgentProc]:
    """Every live agent runtime of this MOLECULE_HOME, whoever its parent is now."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            if AGENT_MARK not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            ppid = _ppid(pid)
        except (OSError, ValueError, IndexError):
            continue
        wid = _workspace_of(pid, workspaces_dir)
        if wid is not None:
            found.append(AgentProc(pid, wid, ppid))
    return found


def rss_mb(pid: int) -> float | None:
    try:
        return rss_kb(pid) / 1024
    except (OSError, RuntimeError, ValueError):
        return None  # gone, or a zombie


# --------------------------------------------------------------------------------------------
# The soak
# --------------------------------------------------------------------------------------------


@dataclass
class Sample:
    t: float
    statuses: Counter[str]
    exits: int
    restarts: int
    platform_mb: float | None
    agents_mb: float
    agents: int


@dataclass
class Soak:
    platform: Platform
    n: int
    minutes: float
    rate: float
    sample_every: float
    online_timeout: float
    control: Client = field(init=False)
    a2a: Client = field(init=False)
    workspaces_dir: Path = field(init=False)
    ids: list[str] = field(default_factory=list)
    # agents, per workspace
    pids: dict[str, list[int]] = field(default_factory=dict)  # every pid seen, in order
    alive: dict[int, str] = field(default_factory=dict)  # pid -> workspace, last scan
    exits: dict[str, int] = field(default_factory=dict)  # pids seen, then gone
    scan_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    foreign_parent: set[int] = field(default_factory=set)  # processes agents forked
    # statuses, per workspace: the sequence of distinct statuses observed
    history: dict[str, list[str]] = field(default_factory=dict)
    last_status: dict[str, str] = field(default_factory=dict)
    # A2A
    sent: int = 0
    ok: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    failed_by_ws: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    not_sent: int = 0  # skipped: A2A_MAX_IN_FLIGHT messages already waiting
    in_flight: int = 0
    samples: list[Sample] = field(default_factory=list)
    interval_lat: list[float] = field(default_factory=list)
    interval_ok: int = 0
    interval_failed: int = 0

    def __post_init__(self) -> None:
        p = self.platform
        self.control = Client("127.0.0.1", p.port, p.admin_token, CONTROL_POOL)
        self.a2a = Client("127.0.0.1", p.port, p.admin_token, A2A_POOL)
        self.workspaces_dir = p.home / "workspaces"

    # -- agents ---------------------------------------------------------------------------

    async def scan_agents(self) -> list[AgentProc]:
        """Read /proc (in a thread), then update the books here, one scan at a time."""
        async with self.scan_lock:
            procs = await asyncio.to_thread(agent_processes, self.workspaces_dir)
            now: dict[int, str] = {}
            for proc in procs:
                if proc.workspace_id not in self.pids:
                    continue
                if proc.ppid != self.platform.pid:
                    # Not an agent: a process an agent forked (a child shows the agent's
                    # command line and directory until it execs). Agents are the
                    # platform's own children.
                    self.foreign_parent.add(proc.pid)
                    continue
                now[proc.pid] = proc.workspace_id
                if proc.pid not in self.pids[proc.workspace_id]:
                    self.pids[proc.workspace_id].append(proc.pid)
            for pid, wid in self.alive.items():
                if pid not in now:
                    self.exits[wid] = self.exits.get(wid, 0) + 1
            self.alive = now
            return [p for p in procs if p.pid in now]

    def restarts(self) -> int:
        return sum(max(0, len(seen) - 1) for seen in self.pids.values())

    def total_exits(self) -> int:
        return sum(self.exits.values())

    async def watch_agents(self) -> None:
        while True:
            await self.scan_agents()
            await asyncio.sleep(PID_SCAN_INTERVAL)

    # -- statuses -------------------------------------------------------------------------

    def observe(self, wid: str, status: str) -> None:
        if self.last_status.get(wid) != status:
            self.history.setdefault(wid, []).append(status)
            self.last_status[wid] = status

    async def statuses_by_id(self) -> dict[str, str]:
        """GET /workspaces/<id> for each workspace (the sample's authoritative read)."""

        async def one(wid: str) -> tuple[str, str]:
            try:
                code, body, _ = await self.control.request("GET", f"/workspaces/{wid}")
            except HttpError as exc:
                return wid, f"<{exc}>"
            if code != 200:
                return wid, f"<HTTP {code}>"
            return wid, str(json.loads(body).get("status"))

        found = dict(await asyncio.gather(*(one(w) for w in self.ids)))
        for wid, status in found.items():
            if not status.startswith("<"):
                self.observe(wid, status)
        return found

    async def watch_statuses(self) -> None:
        """GET /workspaces every 2 s: one request, catches transitions between samples."""
        while True:
            try:
                code, body, _ = await self.control.request("GET", "/workspaces")
                if code == 200:
                    for row in json.loads(body):
                        if row.get("id") in self.pids:
                            self.observe(row["id"], str(row.get("status")))
            except HttpError:
                pass
            await asyncio.sleep(STATUS_WATCH_INTERVAL)

    def reprovisions(self) -> int:
        """`provisioning` seen again after the workspace had been `online`."""
        count = 0
        for seq in self.history.values():
            if "online" in seq:
                count += seq[seq.index("online") :].count("provisioning")
        return count

    # -- setup ----------------------------------------------------------------------------

    async def create(self) -> None:
        async def one(i: int) -> str:
            body = {"name": f"soak-echo-{i}", "runtime": "echo"}
            try:
                code, raw, _ = await self.control.request("POST", "/workspaces", body)
            except HttpError as exc:
                raise BenchError(f"POST /workspaces failed: {exc}") from None
            if code != 201:
                raise BenchError(f"POST /workspaces answered {code}: {raw[:300]!r}")
            return str(json.loads(raw)["id"])

        t0 = time.perf_counter()
        self.ids = list(await asyncio.gather(*(one(i) for i in range(self.n))))
        for wid in self.ids:
            self.pids[wid] = []
        print(f"created {self.n} echo workspaces in {time.perf_counter() - t0:.1f} s", flush=True)

    async def wait_online(self) -> None:
        t0 = time.perf_counter()
        deadline = t0 + self.online_timeout
        while True:
            statuses = await self.statuses_by_id()
            waiting = [w for w in self.ids if "online" not in self.history.get(w, [])]
            if not waiting:
                break
            if time.perf_counter() > deadline:
                left = Counter(statuses[w] for w in waiting)
                raise BenchError(
                    f"{len(waiting)} of {self.n} workspaces never reported online within "
                    f"{self.online_timeout:.0f} s; their statuses: {dict(left)}"
                )
            await asyncio.sleep(0.5)
        await self.scan_agents()
        missing = [w for w in self.ids if not self.pids[w]]
        print(
            f"all {self.n} seen online after {time.perf_counter() - t0:.1f} s; "
            f"{self.n - len(missing)} agent processes found"
            + (f" (none for {len(missing)} workspaces)" if missing else ""),
            flush=True,
        )

    # -- A2A traffic ----------------------------------------------------------------------

    async def send_one(self, wid: str) -> None:
        body = {
            "jsonrpc": "2.0",
            "id": "1",
            "method": "message/send",
            "params": {
                "message": {
                    "role": "user",
                    "messageId": str(uuid.uuid4()),
                    "parts": [{"kind": "text", "text": "hi"}],
                }
            },
        }
        self.sent += 1
        self.in_flight += 1
        try:
            code, raw, elapsed = await self.a2a.request(
                "POST", f"/workspaces/{wid}/a2a", body, A2A_TIMEOUT
            )
        except HttpError as exc:
            label = str(exc)
        else:
            if code == 200 and EXPECTED_ECHO in raw:
                self.ok += 1
                self.interval_ok += 1
                self.latencies.append(elapsed)
                self.interval_lat.append(elapsed)
                return
            label = f"HTTP {code}" if code != 200 else "HTTP 200 without 'echo: hi'"
        finally:
            self.in_flight -= 1
        self.failures[label] += 1
        self.failed_by_ws[wid] += 1
        self.interval_failed += 1

    async def traffic(self, until: float) -> None:
        order = list(self.ids)
        random.shuffle(order)
        tasks: set[asyncio.Task[None]] = set()
        t0 = time.perf_counter()
        k = 0
        while True:
            at = t0 + k / self.rate
            if at >= until:
                break
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            if self.in_flight >= A2A_MAX_IN_FLIGHT:
                self.not_sent += 1
            else:
                task = asyncio.create_task(self.send_one(order[k % len(order)]))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            k += 1
        if tasks:
            await asyncio.wait(tasks)  # each is bounded by A2A_TIMEOUT

    # -- samples --------------------------------------------------------------------------

    async def sample(self, t: float) -> Sample:
        statuses = await self.statuses_by_id()
        procs = await self.scan_agents()
        agent_rss = [rss_mb(p.pid) for p in procs]
        s = Sample(
            t=t,
            statuses=Counter(statuses.values()),
            exits=self.total_exits(),
            restarts=self.restarts(),
            platform_mb=rss_mb(self.platform.pid),
            agents_mb=sum(x for x in agent_rss if x is not None),
            agents=len(agent_rss),
        )
        self.samples.append(s)
        lat = sorted(self.interval_lat)
        p99 = f"{percentile(lat, 0.99) * 1000:7.1f}" if lat else "      -"
        others = ", ".join(f"{k} {v}" for k, v in sorted(s.statuses.items()) if k != "online")
        platform = f"{s.platform_mb:8.1f}" if s.platform_mb is not None else "       ?"
        print(
            f"{t:6.0f}s  {s.statuses.get('online', 0):4d}/{self.n:<4d} {others or '-':22s} "
            f"{s.exits:5d} {s.restarts:8d}  {self.interval_ok:6d} {self.interval_failed:6d} "
            f"{p99}  {platform} {s.agents_mb:9.1f} ({s.agents})",
            flush=True,
        )
        self.interval_lat, self.interval_ok, self.interval_failed = [], 0, 0
        return s

    async def run(self) -> None:
        watchers = [asyncio.create_task(self.watch_agents())]
        try:
            await self.create()
            await self.wait_online()
            watchers.append(asyncio.create_task(self.watch_statuses()))
            print(
                f"\nsoak: {self.minutes:g} min, {self.rate:g} A2A msg/s over {self.n} "
                f"workspaces, a sample every {self.sample_every:g} s\n"
                "     t  online     other statuses       exits restarts      ok failed"
                "  p99 ms  platform MB  agents MB (n)",
                flush=True,
            )
            t0 = time.perf_counter()
            until = t0 + self.minutes * 60
            await self.sample(0.0)
            sender = asyncio.create_task(self.traffic(until))
            while True:
                nxt = t0 + (len(self.samples)) * self.sample_every
                if nxt >= until:
                    break
                await asyncio.sleep(max(0.0, nxt - time.perf_counter()))
                await self.sample(time.perf_counter() - t0)
            await sender
            await self.sample(time.perf_counter() - t0)
        finally:
            for task in watchers:
                task.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
            self.control.close()
            self.a2a.close()


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def drift(start: float | None, end: float | None) -> str:
    if start is None or end is None:
        return "? (process not readable)"
    pct = (end - start) / start * 100 if start else float("nan")
    return f"{start:.1f} MB -> {end:.1f} MB ({end - start:+.1f} MB, {pct:+.1f}%)"


_STARTED = re.compile(r"workspace (\S+): runtime started \(pid (\d+)")
_EXITED = re.compile(r"workspace (\S+): runtime exited on its own \(code (-?\d+|None)\)")


def log_crosscheck(text: str, ids: list[str]) -> tuple[int, int, Counter[str]]:
    """(runtime starts, starts beyond the first per workspace, exit codes) from the log."""
    wanted = set(ids)
    starts = Counter(m.group(1) for m in _STARTED.finditer(text) if m.group(1) in wanted)
    codes = Counter(m.group(2) for m in _EXITED.finditer(text) if m.group(1) in wanted)
    extra = sum(c - 1 for c in starts.values() if c > 1)
    return sum(starts.values()), extra, codes


def leftovers(workspaces_dir: Path) -> list[AgentProc]:
    """Agent processes still alive after the platform exited, after a short grace."""
    deadline = time.perf_counter() + LEFTOVER_GRACE
    while True:
        left = agent_processes(workspaces_dir)
        if not left or time.perf_counter() > deadline:
            return left
        time.sleep(0.2)


def report(soak: Soak, stop_s: float, code: int | None, left: list[AgentProc]) -> int:
    p = soak.platform
    n = soak.n
    first, last = soak.samples[0], soak.samples[-1]
    failed_checks = []

    def check(name: str, ok: bool, detail: str) -> None:
        print(f"{name:34s} {detail}  [{'PASS' if ok else 'FAIL'}]")
        if not ok:
            failed_checks.append(name)

    print(
        f"\n== soak summary: {n} echo workspaces, {soak.minutes:g} min, {soak.rate:g} A2A msg/s =="
    )
    exits, restarts = soak.total_exits(), soak.restarts()
    hit = [w for w in soak.ids if soak.exits.get(w) or len(soak.pids[w]) > 1]
    check(
        "unexpected agent exits / restarts",
        exits == 0 and restarts == 0,
        f"{exits} exits, {restarts} restarts (new pid), on {len(hit)} of {n} workspaces",
    )
    for wid in sorted(hit, key=lambda w: -len(soak.pids[w]))[:5]:
        seq = soak.history.get(wid, [])
        shown = " > ".join(seq if len(seq) <= 8 else [*seq[:4], "...", *seq[-3:]])
        print(f"    {wid}: pids {soak.pids[wid]}, exits {soak.exits.get(wid, 0)}, statuses {shown}")
    if len(hit) > 5:
        print(f"    ... and {len(hit) - 5} more workspaces")
    starts, extra, codes = log_crosscheck(p.log_text(), soak.ids)
    code_text = ", ".join(f"code {k} x{v}" for k, v in codes.most_common()) or "none"
    print(
        f"{'  platform log (cross-check)':34s} {starts} runtime starts, {extra} beyond the "
        f"first per workspace; exited on their own: {code_text}"
    )
    print(
        f"{'  re-provisioning observed':34s} {soak.reprovisions()} times (`provisioning` after "
        "`online`, statuses polled every 2 s)"
    )
    if soak.foreign_parent:
        print(f"    (not counted) processes forked by agents: {sorted(soak.foreign_parent)}")
    end_statuses = last.statuses
    not_online = n - end_statuses.get("online", 0)
    check(
        "workspaces not online at the end",
        not_online == 0,
        f"{not_online} ({', '.join(f'{k} {v}' for k, v in sorted(end_statuses.items()))})",
    )
    lat = sorted(soak.latencies)
    failed = sum(soak.failures.values())
    fail_text = ", ".join(f"{k} x{v}" for k, v in soak.failures.most_common())
    check(
        "A2A messages",
        failed == 0 and soak.not_sent == 0,
        f"sent {soak.sent}, ok {soak.ok}, failed {failed}"
        + (f" ({fail_text})" if fail_text else "")
        + (f", not sent (client backlog) {soak.not_sent}" if soak.not_sent else ""),
    )
    if lat:
        print(
            f"{'  A2A latency (ok answers)':34s} p50 {percentile(lat, 0.5) * 1000:.1f} ms, "
            f"p99 {percentile(lat, 0.99) * 1000:.1f} ms, max {lat[-1] * 1000:.1f} ms"
        )
    if soak.failed_by_ws:
        top = ", ".join(f"{w[:8]} x{c}" for w, c in soak.failed_by_ws.most_common(5))
        print(f"{'  failures by workspace (top 5)':34s} {top}")
    peak = max((s.platform_mb for s in soak.samples if s.platform_mb is not None), default=None)
    print(
        f"{'platform RSS':34s} {drift(first.platform_mb, last.platform_mb)}"
        + (f", peak {peak:.1f} MB" if peak is not None else "")
    )
    print(
        f"{'agents RSS (sum)':34s} {drift(first.agents_mb, last.agents_mb)}, "
        f"{first.agents} -> {last.agents} processes"
    )
    check(
        "platform stop (SIGTERM)",
        code == 0,
        f"exited with code {code} in {stop_s:.1f} s",
    )
    check(
        "agent processes left after the stop",
        not left,
        f"{len(left)}" + (f" (pids {[a.pid for a in left]}, now SIGKILLed)" if left else ""),
    )
    resent = soak.a2a.retries + soak.control.retries
    if resent:
        print(f"(requests re-sent after an idle keep-alive close: {resent})")
    if failed_checks:
        print(f"\nverdict: FAIL ({'; '.join(failed_checks)})")
        return 1
    print("\nverdict: PASS")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workspaces", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=20.0, help="A2A messages/s in total")
    parser.add_argument("--sample", type=float, default=15.0, help="seconds between samples")
    parser.add_argument("--online-timeout", type=float, default=180.0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    if args.workspaces < 1 or args.minutes <= 0 or args.rate <= 0 or args.sample <= 0:
        parser.error("--workspaces, --minutes, --rate and --sample must be positive")
    try:
        with platform_root(keep=args.keep) as platform:
            # Started from the main thread, which lives as long as the platform should: the
            # platform's PR_SET_PDEATHSIG is tied to the thread that spawned it.
            boot = platform.start()
            print(
                f"platform up on {platform.base_url} in {boot.ready_s:.1f} s "
                f"(pid {platform.pid}, home {platform.home})",
                flush=True,
            )
            soak = Soak(
                platform,
                n=args.workspaces,
                minutes=args.minutes,
                rate=args.rate,
                sample_every=args.sample,
                online_timeout=args.online_timeout,
            )
            asyncio.run(soak.run())
            stop_s, code = platform.stop()
            left = leftovers(soak.workspaces_dir)
            for agent in left:
                try:
                    os.kill(agent.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            return report(soak, stop_s, code, left)
    except BenchError as exc:
        print(f"soak could not run: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
