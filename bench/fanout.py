"""Event fan-out: delivery rate and latency to N WebSocket clients, against 1 client.

    .venv/bin/python bench/fanout.py [--clients 100] [--rate 500] [--rounds 3] [--duration 5]

Starts its own platform (fresh MOLECULE_HOME, embedded Postgres), creates a few external
workspaces and registers them, then runs `--rounds` pairs of phases against the same server:
1 canvas client on `/ws` (the reference), then N canvas clients (admin bearer, every event).
This machine's CPU speed swings up to 2x within seconds, so the verdicts use the median round
(by its N-client p99) and the median of the rounds' own p99(N)/p99(1) ratios: only phases run
back to back compare fairly. Each round prints how long a fixed pure-Python loop took just
before it (the machine's speed at that moment).
In each phase a publisher process sends events at a steady rate over keep-alive HTTP/1.1
connections: `POST /workspaces/:id/activity` (ACTIVITY_LOGGED, the send time and a sequence
number in the summary) when that route exists, else `POST /registry/heartbeat`
(WORKSPACE_HEARTBEAT; sequence number in active_tasks, the send time in microseconds mod 2^31 in
uptime_seconds). Client processes hold the WebSockets (hand-parsed frames on plain asyncio,
never importing molecule or trio_asyncio, whose import hijacks `asyncio.run`) and record, for
each event sent in the measured window, receive time - send time; the event's own `timestamp`
(set when the server built the event) splits that into the publish path (HTTP request to
broadcast) and the fan-out (broadcast to the client's socket). Dropped = events the publisher
got a 2xx for in the window that a client never received (the server drops for a connection that
falls too far behind).

By default the clients offer the `molecule.events.batch.v1` subprotocol (each message a JSON
array of events, one per server tick); `--protocol single` measures the original format,
one event per message.

Targets: p99 <= 50 ms at the given rate with N clients, and p99(N) <= 2 x p99(1).
Exit 0 for a valid run whatever the verdict, 1 for an invalid one, 2 if it could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import bisect
import json
import math
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

THIS = Path(__file__).resolve()
sys.path.insert(0, str(THIS.parent))  # the child processes run with -I

from _loadgen import response_head  # noqa: E402

P99_TARGET_MS = 50.0
RATIO_TARGET = 2.0
MOD31 = 1 << 31
BATCH_SUBPROTOCOL = "molecule.events.batch.v1"  # molecule/http/events.py

# --------------------------------------------------------------------------------------------
# Child process: N WebSocket clients
# --------------------------------------------------------------------------------------------

_TS = re.compile(rb'"timestamp": "([^"]+)"')
_MARK = {
    "activity": re.compile(rb"bench (\d+) (\d+)"),
    "heartbeat": re.compile(
        rb'"event": "WORKSPACE_HEARTBEAT".*"active_tasks": (\d+), "uptime_seconds": (\d+)'
    ),
}


class _WsClient(asyncio.Protocol):
    def __init__(self, job: dict[str, Any], stats: dict[str, Any]) -> None:
        self.job = job
        self.mode = job["mode"]
        self.mark = _MARK[self.mode]
        self.lo, self.hi = job["window_ns"]
        self.buf = bytearray()
        self.upgraded = False
        self.ready: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.frag = b""
        self.stats = stats  # this client's: counts and latency lists
        self.batch = bool(job.get("batch"))  # messages are JSON arrays of events
        self.closed_by_server = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (
                f"GET /ws HTTP/1.1\r\nHost: {self.job['host']}:{self.job['port']}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                + (f"Sec-WebSocket-Protocol: {BATCH_SUBPROTOCOL}\r\n" if self.batch else "")
                + f"Authorization: Bearer {self.job['token']}\r\n\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        now = time.time_ns()
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end])
            del buf[: end + 4]
            if not head.startswith(b"HTTP/1.1 101"):
                if not self.ready.done():
                    self.ready.set_result(False)
                self.stats["handshake_error"] = head.split(b"\r\n", 1)[0].decode(errors="replace")
                assert self.transport is not None
                self.transport.close()
                return
            self.upgraded = True
            if not self.ready.done():
                self.ready.set_result(True)
        while len(buf) >= 2:
            b0, b1 = buf[0], buf[1]
            ln = b1 & 0x7F
            hdr = 2
            if ln == 126:
                if len(buf) < 4:
                    return
                ln = int.from_bytes(buf[2:4], "big")
                hdr = 4
            elif ln == 127:
                if len(buf) < 10:
                    return
                ln = int.from_bytes(buf[2:10], "big")
                hdr = 10
            masked = b1 & 0x80
            if masked:
                hdr += 4
            if len(buf) < hdr + ln:
                return
            payload = bytes(buf[hdr : hdr + ln])
            if masked:  # servers must not mask; tolerate it anyway
                mask = buf[hdr - 4 : hdr]
                payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
            del buf[: hdr + ln]
            opcode = b0 & 0x0F
            fin = b0 & 0x80
            if opcode in (0, 1, 2):
                self.frag += payload
                if fin:
                    msg, self.frag = self.frag, b""
                    self._message(msg, now)
            elif opcode == 8:
                self.closed_by_server = True
                assert self.transport is not None
                self.transport.close()
                return
            elif opcode == 9:
                self._send_frame(0xA, payload)

    def _message(self, msg: bytes, now: int) -> None:
        self.stats["messages"] += 1
        if not self.batch:
            m = self.mark.search(msg)
            if m is not None:
                t = _TS.search(msg)
                self._event(m, None if t is None else t.group(1), now)
            return
        # A batch: each event's "timestamp" comes before its payload (and its mark).
        stamps = [(t.start(), t.group(1)) for t in _TS.finditer(msg)]
        for m in self.mark.finditer(msg):
            at = bisect.bisect_left(stamps, (m.start(), b"")) - 1
            self._event(m, stamps[at][1] if at >= 0 else None, now)

    def _event(self, m: re.Match[bytes], stamp: bytes | None, now: int) -> None:
        st = self.stats
        seq, raw = int(m.group(1)), int(m.group(2))
        if self.mode == "activity":
            sent = raw
        else:  # microseconds mod 2^31 of the send time
            now_us = now // 1000
            sent = (now_us - ((now_us - raw) % MOD31)) * 1000
        if not (self.lo <= sent < self.hi):
            st["outside"] += 1
            return
        st["seqs"].append(seq)
        st["lat_us"].append((now - sent) // 1000)
        if stamp is not None:
            ev = datetime.fromisoformat(stamp.decode()).timestamp()
            ev_ns = int(ev * 1e9)
            st["pub_us"].append((ev_ns - sent) // 1000)
            st["fan_us"].append((now - ev_ns) // 1000)

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        mask = os.urandom(4)
        body = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + body)

    def close(self) -> None:
        self._send_frame(0x8, (1000).to_bytes(2, "big"))
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_result(False)
        self.stats["lost_at"] = time.time_ns()


async def _clients_main(job: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    clients: list[_WsClient] = []
    stats: list[dict[str, Any]] = []
    for _ in range(job["n"]):
        st: dict[str, Any] = {
            "messages": 0,
            "outside": 0,
            "seqs": [],
            "lat_us": [],
            "pub_us": [],
            "fan_us": [],
        }
        stats.append(st)
        _, c = await loop.create_connection(
            lambda st=st: _WsClient(job, st), job["host"], job["port"]
        )
        clients.append(c)
    oks = await asyncio.gather(*(c.ready for c in clients))
    upgraded = sum(1 for ok in oks if ok)
    sys.stdout.write(json.dumps({"ready": upgraded}) + "\n")
    sys.stdout.flush()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.time_ns()
    await asyncio.sleep(max(0.0, (job["stop_ns"] - time.time_ns()) / 1e9))
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    wall = (time.time_ns() - t0) / 1e9
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    lost_early = sum(1 for s in stats if s.get("lost_at", job["stop_ns"]) < job["stop_ns"])
    for c in clients:
        c.close()
    await asyncio.sleep(0.1)
    return {
        "upgraded": upgraded,
        "lost_early": lost_early,
        "handshake_errors": [s["handshake_error"] for s in stats if "handshake_error" in s],
        "clients": [
            {k: s[k] for k in ("messages", "outside", "seqs", "lat_us", "pub_us", "fan_us")}
            for s in stats
        ],
        "cpu_s": cpu,
        "wall_s": wall,
    }


# --------------------------------------------------------------------------------------------
# Child process: the paced publisher
# --------------------------------------------------------------------------------------------


class _Pub(asyncio.Protocol):
    def __init__(self, run: _Publisher) -> None:
        self.run = run
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.need = -1
        self.status = 0
        self.close_after = False
        self.sent_ns = 0
        self.in_window = False
        self.body_at = 0  # where the current response's body starts in buf

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.run.idle.append(self)

    def send(self, data: bytes, sent_ns: int, in_window: bool) -> None:
        assert self.transport is not None
        self.sent_ns, self.in_window = sent_ns, in_window
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.need < 0:
            head = response_head(self.buf)
            if head is None:
                return
            self.status = head.status
            if head.total < 0:
                self.run.bad += 1
                assert self.transport is not None
                self.transport.close()
                return
            self.need, self.close_after = head.total, head.close
            self.body_at = self.buf.find(b"\r\n\r\n") + 4
        if len(self.buf) < self.need:
            return
        run = self.run
        now = time.time_ns()
        run.status[self.status] = run.status.get(self.status, 0) + 1
        if self.in_window:
            run.http_us.append((now - self.sent_ns) // 1000)
            if 200 <= self.status < 300:
                run.ok_in_window += 1
        if self.status >= 300 and len(run.error_samples) < 3:
            run.error_samples.append(self.buf[self.body_at : self.need].decode(errors="replace"))
        self.buf, self.need = b"", -1
        if self.close_after:
            assert self.transport is not None
            self.transport.close()
            run.reconnects += 1
            run.loop.create_task(run.connect())
        else:
            run.idle.append(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.need >= 0 or self.buf:
            self.run.unexpected_closes += 1
        if self in self.run.idle:
            self.run.idle.remove(self)


class _Publisher:
    def __init__(self, job: dict[str, Any]) -> None:
        self.loop = asyncio.get_running_loop()
        self.job = job
        self.idle: list[_Pub] = []
        self.status: dict[int, int] = {}
        self.http_us: list[int] = []
        self.ok_in_window = 0
        self.sent_in_window = 0
        self.reconnects = self.unexpected_closes = self.bad = self.connect_errors = 0
        self.error_samples: list[str] = []
        self.max_lag_ms = 0.0
        host = f"Host: {job['host']}:{job['port']}\r\n"
        self.heads: list[tuple[bytes, str, str]] = []
        for ws in job["workspaces"]:
            if job["mode"] == "activity":
                path = f"/workspaces/{ws['id']}/activity"
                token = job["admin_token"]
            else:
                path = "/registry/heartbeat"
                token = ws["token"]
            head = (
                f"POST {path} HTTP/1.1\r\n{host}Authorization: Bearer {token}\r\n"
                "Content-Type: application/json\r\n"
            ).encode()
            self.heads.append((head, ws["id"], ws["token"]))

    def request(self, seq: int, now_ns: int) -> bytes:
        head, wid, _ = self.heads[seq % len(self.heads)]
        if self.job["mode"] == "activity":
            body = b'{"activity_type":"agent_log","summary":"bench %d %d"}' % (seq, now_ns)
        else:
            body = (
                b'{"workspace_id":"%s","active_tasks":%d,"uptime_seconds":%d,"current_task":""}'
                % (wid.encode(), seq, (now_ns // 1000) % MOD31)
            )
        return b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body)

    async def connect(self) -> None:
        try:
            await self.loop.create_connection(
                lambda: _Pub(self), self.job["host"], self.job["port"]
            )
        except OSError:
            self.connect_errors += 1

    async def run(self) -> dict[str, Any]:
        job = self.job
        for _ in range(job["connections"]):
            await self.connect()
        start, (lo, hi) = job["start_ns"], job["window_ns"]
        await asyncio.sleep(max(0.0, (start - time.time_ns()) / 1e9))
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        interval = 1e9 / job["rate"]
        seq = 0
        late = 0
        while True:
            now = time.time_ns()
            if now >= hi:
                break
            due = int((now - start) / interval) + 1
            while seq < due and self.idle:
                conn = self.idle.pop()
                now = time.time_ns()
                lag = (now - (start + seq * interval)) / 1e6
                self.max_lag_ms = max(self.max_lag_ms, lag)
                if lag > 5:
                    late += 1
                in_window = lo <= now < hi
                if in_window:
                    self.sent_in_window += 1
                conn.send(self.request(seq, now), now, in_window)
                seq += 1
            next_at = start + seq * interval
            # behind schedule with every connection busy: wait for a response, don't spin
            await asyncio.sleep(max(0.001, (next_at - time.time_ns()) / 1e9))
        # let the last responses arrive
        deadline = time.time_ns() + 5e9
        while (
            len(self.idle) < job["connections"] - self.unexpected_closes
            and time.time_ns() < deadline
        ):
            await asyncio.sleep(0.01)
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        return {
            "sent": seq,
            "sent_in_window": self.sent_in_window,
            "ok_in_window": self.ok_in_window,
            "late": late,
            "max_lag_ms": self.max_lag_ms,
            "status": {str(k): v for k, v in self.status.items()},
            "http_us": sorted(self.http_us),
            "reconnects": self.reconnects,
            "unexpected_closes": self.unexpected_closes,
            "connect_errors": self.connect_errors,
            "bad": self.bad,
            "error_samples": self.error_samples,
            "cpu_s": cpu,
            "wall_s": (time.time_ns() - start) / 1e9,
        }


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def pct(xs: list[int], q: float) -> float:
    """Nearest-rank percentile of sorted microseconds, in milliseconds."""
    if not xs:
        return float("nan")
    i = min(len(xs) - 1, max(0, math.ceil(q / 100 * len(xs)) - 1))
    return xs[i] / 1000


def _spawn(role: str, job: dict[str, Any]) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-I", str(THIS), role],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None
    child.stdin.write(json.dumps(job))
    child.stdin.close()
    return child


def run_phase(
    p: Any,
    *,
    mode: str,
    workspaces: list[dict[str, str]],
    clients: int,
    procs: int,
    rate: float,
    warmup: float,
    duration: float,
    grace: float,
    connections: int,
    batch: bool,
) -> dict[str, Any]:
    from _loadgen import BenchError, cpu_seconds, postgres_cpu_seconds

    # The timeline is fixed up front; clients connect first (before start_ns).
    setup_s = 3.0 + clients * 0.02
    start_ns = time.time_ns() + int(setup_s * 1e9)
    lo = start_ns + int(warmup * 1e9)
    hi = lo + int(duration * 1e9)
    stop_ns = hi + int(grace * 1e9)
    procs = max(1, min(procs, clients))
    base = {
        "host": "127.0.0.1",
        "port": p.port,
        "token": p.admin_token,
        "mode": mode,
        "window_ns": [lo, hi],
        "stop_ns": stop_ns,
        "batch": batch,
    }
    kids = []
    for i in range(procs):
        n = clients // procs + (1 if i < clients % procs else 0)
        kids.append(_spawn("--role-clients", {**base, "n": n}))
    ready = 0
    for k in kids:
        assert k.stdout is not None
        line = k.stdout.readline()
        if not line:
            raise BenchError("a client process died before it was ready")
        ready += json.loads(line)["ready"]
    if time.time_ns() > start_ns:
        raise BenchError("clients took longer than the set-up budget to connect")
    pub = _spawn(
        "--role-publisher",
        {
            "host": "127.0.0.1",
            "port": p.port,
            "mode": mode,
            "admin_token": p.admin_token,
            "workspaces": workspaces,
            "rate": rate,
            "connections": connections,
            "start_ns": start_ns,
            "window_ns": [lo, hi],
        },
    )
    time.sleep(max(0.0, (lo - time.time_ns()) / 1e9))
    s0, g0, t0 = cpu_seconds(p.pid), postgres_cpu_seconds(p.pid), time.time()
    time.sleep(max(0.0, (hi - time.time_ns()) / 1e9))
    s1, g1, t1 = cpu_seconds(p.pid), postgres_cpu_seconds(p.pid), time.time()
    assert pub.stdout is not None
    pout = pub.stdout.read()
    if pub.wait() != 0 or not pout:
        raise BenchError(f"publisher failed (exit {pub.returncode})")
    pres = json.loads(pout)
    couts = []
    for k in kids:
        assert k.stdout is not None
        out = k.stdout.read()
        if k.wait() != 0 or not out:
            raise BenchError(f"client process failed (exit {k.returncode})")
        couts.append(json.loads(out))
    per_client = [c for o in couts for c in o["clients"]]
    expected = pres["ok_in_window"]
    lat = sorted(x for c in per_client for x in c["lat_us"])
    pubp = sorted(x for c in per_client for x in c["pub_us"])
    fan = sorted(x for c in per_client for x in c["fan_us"])
    received = [len(set(c["seqs"])) for c in per_client]
    per_client_p99 = sorted(pct(sorted(c["lat_us"]), 99) for c in per_client if c["lat_us"])
    return {
        "clients": clients,
        "procs": procs,
        "ready": ready,
        "publisher": pres,
        "expected": expected,
        "received": received,
        "delivered": sum(received),
        "dropped": [max(0, expected - r) for r in received],
        "lat": lat,
        "pub": pubp,
        "fan": fan,
        "per_client_p99": per_client_p99,
        "duration": duration,
        "server_cpu": 100 * (s1 - s0) / (t1 - t0),
        "pg_cpu": 100 * (g1 - g0) / (t1 - t0),
        "client_cpu": [100 * o["cpu_s"] / o["wall_s"] for o in couts],
        "lost_early": sum(o["lost_early"] for o in couts),
        "handshake_errors": [e for o in couts for e in o["handshake_errors"]],
        "messages": sum(c["messages"] for c in per_client),
    }


def cpu_probe_ms() -> float:
    """How long a fixed pure-Python loop takes right now: the machine's speed of the moment."""
    started = time.perf_counter()
    total = 0
    for i in range(500_000):
        total += i
    return (time.perf_counter() - started) * 1000


def describe(r: dict[str, Any], rate: float) -> list[str]:
    pres = r["publisher"]
    d = r["duration"]
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(pres["status"].items()))
    drops = r["dropped"]
    pcp = r["per_client_p99"]
    return [
        f"  clients            {r['clients']} upgraded {r['ready']} "
        f"({r['procs']} client process(es))",
        f"  published          {pres['sent_in_window'] / d:8.1f} events/s in the window "
        f"(target {rate:g}/s; {pres['ok_in_window']} answered 2xx; behind schedule >5 ms: "
        f"{pres['late']}, max lag {pres['max_lag_ms']:.1f} ms)",
        f"  publish HTTP       p50 {pct(pres['http_us'], 50):7.2f} ms   "
        f"p99 {pct(pres['http_us'], 99):7.2f} ms   max {pct(pres['http_us'], 100):7.2f} ms   "
        f"({statuses}; warm-up included)",
        f"  delivered          {r['delivered'] / d:8.1f} events/s total, "
        f"{r['delivered'] / d / max(1, r['clients']):8.1f} events/s per client; "
        f"{r['messages'] / max(1, r['clients']):.0f} WebSocket messages per client "
        "over the whole phase",
        f"  delivery latency   p50 {pct(r['lat'], 50):7.2f} ms   p90 {pct(r['lat'], 90):7.2f} ms"
        f"   p99 {pct(r['lat'], 99):7.2f} ms   max {pct(r['lat'], 100):7.2f} ms",
        f"    send->event      p50 {pct(r['pub'], 50):7.2f} ms   p99 {pct(r['pub'], 99):7.2f} ms"
        "   (publish path: HTTP request until the server built the event)",
        f"    event->client    p50 {pct(r['fan'], 50):7.2f} ms   p99 {pct(r['fan'], 99):7.2f} ms"
        "   (fan-out: bus, per-client task, WebSocket send, loopback, client parse)",
        f"  per-client p99     best {min(r['per_client_p99'], default=float('nan')):.2f} ms, "
        f"median {pcp[len(pcp) // 2] if pcp else float('nan'):.2f} ms, "
        f"worst {max(r['per_client_p99'], default=float('nan')):.2f} ms",
        f"  dropped            {sum(drops)} of {r['expected'] * r['clients']} "
        f"({100 * sum(drops) / max(1, r['expected'] * r['clients']):.2f}%); clients with drops "
        f"{sum(1 for x in drops if x)}, worst client {max(drops, default=0)}",
        f"  CPU (% of one core, measured window)   server {r['server_cpu']:5.1f}   "
        f"postgres {r['pg_cpu']:5.1f}   client procs "
        + " + ".join(f"{c:.1f}" for c in r["client_cpu"])
        + f"   publisher {100 * pres['cpu_s'] / max(1e-9, pres['wall_s']):.1f}",
    ]


def main() -> int:
    from _loadgen import BenchError, platform_root
    from heartbeats import create_agents

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--clients", type=int, default=100, help="WebSocket clients (100)")
    ap.add_argument("--rate", type=float, default=500.0, help="events/s published (500)")
    ap.add_argument("--rounds", type=int, default=3, help="1-client/N-client pairs (3)")
    ap.add_argument("--duration", type=float, default=5.0, help="measured seconds per phase (5)")
    ap.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per phase (2)")
    ap.add_argument("--grace", type=float, default=2.0, help="seconds to drain after (2)")
    ap.add_argument("--client-procs", type=int, default=2, help="client processes, N phase (2)")
    ap.add_argument("--workspaces", type=int, default=10, help="publishing workspaces (10)")
    ap.add_argument("--connections", type=int, default=64, help="publisher connections (64)")
    ap.add_argument("--mode", choices=("auto", "activity", "heartbeat"), default="auto")
    ap.add_argument(
        "--protocol",
        choices=("batch", "single"),
        default="batch",
        help="batch: clients offer the molecule.events.batch.v1 subprotocol (arrays of "
        "events); single: one event per message, as the original canvas (default batch)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    if args.rounds < 1 or args.duration <= 0 or args.clients < 1 or args.rate <= 0:
        ap.error("--rounds and --clients must be >= 1, --duration and --rate > 0")

    t_begin = time.perf_counter()
    with platform_root(args.keep) as p:
        boot = p.start()
        print(f"platform up on {p.base_url} in {boot.ready_s:.2f} s (pid {p.pid})")
        workspaces = create_agents(p, args.workspaces)
        for ws in workspaces:
            status, body = p.request(
                "POST",
                "/registry/register",
                {"id": ws["id"], "url": "http://localhost:9/bench", "agent_card": {"name": "b"}},
                token=ws["token"],
            )
            if status != 200:
                raise BenchError(f"POST /registry/register -> {status}: {body}")
        mode = args.mode
        status, body = p.request(
            "POST",
            f"/workspaces/{workspaces[0]['id']}/activity",
            {"activity_type": "agent_log", "summary": "bench probe"},
        )
        if mode == "auto":
            mode = "activity" if 200 <= status < 300 else "heartbeat"
        if mode == "heartbeat" and args.protocol == "batch":
            raise BenchError("heartbeat mode parses one event per message: use --protocol single")
        if mode == "activity":
            print(
                f"publishing ACTIVITY_LOGGED via POST /workspaces/:id/activity "
                f"(probe -> {status}), admin bearer, {len(workspaces)} workspaces round-robin"
            )
        else:
            print(
                f"POST /workspaces/:id/activity not available (probe -> {status}); "
                "publishing WORKSPACE_HEARTBEAT via POST /registry/heartbeat instead, "
                f"{len(workspaces)} registered external workspaces round-robin, own bearers"
            )

        common = dict(
            mode=mode,
            workspaces=workspaces,
            rate=args.rate,
            warmup=args.warmup,
            duration=args.duration,
            grace=args.grace,
            connections=args.connections,
            batch=args.protocol == "batch",
        )
        print(f"rounds: 1 client, then {args.clients} clients, back to back")
        rounds: list[tuple[float, dict[str, Any], dict[str, Any]]] = []
        for number in range(1, args.rounds + 1):
            probe = cpu_probe_ms()
            one = run_phase(p, clients=1, procs=1, **common)
            many = run_phase(p, clients=args.clients, procs=args.client_procs, **common)
            p1, pn = pct(one["lat"], 99), pct(many["lat"], 99)
            print(
                f"  round {number}: CPU probe {probe:5.1f} ms   p99 1 client {p1:7.2f} ms   "
                f"p99 {args.clients} clients {pn:7.2f} ms   ratio {pn / p1:5.2f}   "
                f"server CPU {one['server_cpu']:4.1f}% / {many['server_cpu']:4.1f}%",
                flush=True,
            )
            rounds.append((probe, one, many))
        shutdown_s, code = p.stop()
        problems = p.log_problems()
        tail = p.log_tail()

    print()
    print(
        f"publisher: {args.rate:g} events/s paced, {args.connections} keep-alive connections; "
        f"{args.warmup:g} s warm-up + {args.duration:g} s measured + {args.grace:g} s drain "
        "per phase; latency = client receive time - publisher send time (same host clock); "
        f"WebSocket protocol: {args.protocol}"
    )
    ratios = [pct(m["lat"], 99) / pct(o["lat"], 99) for _, o, m in rounds]
    by_p99 = sorted(rounds, key=lambda r: pct(r[2]["lat"], 99))
    probe, single, multi = by_p99[len(by_p99) // 2]
    print(f"the median round (by p99 with {args.clients} clients; CPU probe {probe:.1f} ms):")
    print("1 client (reference)")
    print("\n".join(describe(single, args.rate)))
    print(f"{args.clients} clients")
    print("\n".join(describe(multi, args.rate)))
    p1, pn = pct(single["lat"], 99), pct(multi["lat"], 99)
    ratio = statistics.median(ratios)
    dropped = sum(sum(m["dropped"]) for _, _, m in rounds)
    print()
    print(
        f"p99 with {args.clients} clients, by round: "
        + ", ".join(f"{pct(m['lat'], 99):.2f}" for _, _, m in rounds)
        + f" ms; median {pn:.2f} ms"
    )
    print(
        f"p99_{args.clients} / p99_1, by round: "
        + ", ".join(f"{r:.2f}" for r in ratios)
        + f"; median {ratio:.2f}"
    )
    verdict = {True: "PASS", False: "FAIL"}
    ok_p99 = pn <= P99_TARGET_MS and dropped == 0
    print(
        f"target p99 <= {P99_TARGET_MS:g} ms at {args.rate:g} events/s, {args.clients} clients, "
        f"no drops: {verdict[ok_p99]} (median p99 {pn:.2f} ms, dropped {dropped} in all rounds)"
    )
    print(
        f"target p99_{args.clients} <= {RATIO_TARGET:g} x p99_1:            "
        f"{verdict[ratio <= RATIO_TARGET]} (median {ratio:.2f})"
    )
    print(f"platform stopped by SIGTERM in {shutdown_s:.2f} s, exit code {code}")
    if problems:
        print(f"server log: {len(problems)} warning/error line(s), last ones:")
        for line in problems[-10:]:
            print("  " + line)
    else:
        print("server log: no warnings or errors")
    print(f"bench wall time {time.perf_counter() - t_begin:.1f} s")

    bad = []
    phases = [
        (f"round {i} {name}", r)
        for i, (_, o, m) in enumerate(rounds, 1)
        for name, r in (("1 client", o), (f"{args.clients} clients", m))
    ]
    for name, r in phases:
        pres = r["publisher"]
        non2xx = sum(v for k, v in pres["status"].items() if not k.startswith("2"))
        if non2xx or pres["unexpected_closes"] or pres["connect_errors"] or pres["bad"]:
            bad.append(
                f"{name}: publisher non-2xx {non2xx}, unexpected closes "
                f"{pres['unexpected_closes']}, connect errors {pres['connect_errors']} "
                f"{pres['error_samples']}"
            )
        if r["ready"] != r["clients"] or r["handshake_errors"]:
            bad.append(f"{name}: {r['ready']}/{r['clients']} upgraded {r['handshake_errors'][:3]}")
        if r["lost_early"]:
            bad.append(f"{name}: {r['lost_early']} WebSocket(s) closed by the server mid-run")
    if bad or code not in (0, None):
        print(
            "INVALID RUN: "
            + "; ".join(bad + ([f"exit code {code}"] if code not in (0, None) else [])),
            file=sys.stderr,
        )
        print(f"server log tail:\n{tail}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--role-clients"]:
        assert "trio_asyncio" not in sys.modules and "molecule" not in sys.modules
        sys.stdout.write(json.dumps(asyncio.run(_clients_main(json.loads(sys.stdin.read())))))
    elif sys.argv[1:] == ["--role-publisher"]:
        assert "trio_asyncio" not in sys.modules and "molecule" not in sys.modules

        async def _pub(job: dict[str, Any]) -> dict[str, Any]:
            return await _Publisher(job).run()

        sys.stdout.write(json.dumps(asyncio.run(_pub(json.loads(sys.stdin.read())))))
    else:
        try:
            sys.exit(main())
        except Exception as exc:
            if type(exc).__name__ != "BenchError":
                raise
            print(f"bench failed: {exc}", file=sys.stderr)
            sys.exit(2)
