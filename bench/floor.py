"""The server stack's own floor for the fan-out workload: hypercorn with nothing behind it.

    .venv/bin/python bench/floor.py [--clients 100] [--rate 500] [--duration 5] [--rounds 3]

bench/fanout.py measures the platform. This script measures what the HTTP server the platform
runs on (hypercorn's trio worker on the platform's transport, molecule.http.server, configured
as `molecule serve` configures it) costs for the same traffic when the application does
nothing: a raw ASGI app answers every `POST /workspaces/:id/activity` with `{"status":
"logged"}` and, every 20 ms (the platform's batch tick), sends one fixed JSON array of 10
activity events (500 events/s, the same size as the platform's) to every connected WebSocket
client. No Quart, no database, no event bus.

Per round, three phases of `--duration` seconds on one server process: the publisher alone
(bench/fanout.py's paced publisher, 64 keep-alive connections), the WebSocket ticks alone to
`--clients` clients, and both together. It prints the server's CPU (% of one core) in each,
and the cost per request and per WebSocket message. When "both" approaches 100%, no
application on this server can deliver the fan-out targets on this machine at that moment:
compare with the server CPU bench/fanout.py reports.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

THIS = Path(__file__).resolve()
sys.path.insert(0, str(THIS.parent))

TICK = 0.02  # molecule.events.bus.BATCH_TICK
EVENTS_PER_TICK = 10  # 500 events/s
_EVENT = {
    "event": "ACTIVITY_LOGGED",
    "workspace_id": "5f0c8a1e-2d7b-4c3a-9e61-0b8f4d2a7c10",
    "timestamp": "2026-11-24T18:00:00.000000Z",
    "payload": {
        "id": "a3c1e2f4-5b6d-4e7f-8a9b-0c1d2e3f4a5b",
        "activity_type": "agent_log",
        "source_id": "5f0c8a1e-2d7b-4c3a-9e61-0b8f4d2a7c10",
        "target_id": None,
        "method": None,
        "summary": "bench 123456 1795000000000000000",
        "status": "ok",
        "duration_ms": None,
        "error_detail": None,
        "created_at": "2026-11-24T18:00:00.000000Z",
    },
}
TICK_TEXT = json.dumps([_EVENT] * EVENTS_PER_TICK)


# --------------------------------------------------------------------------------------------
# Child process: the bare server (trio + hypercorn only)
# --------------------------------------------------------------------------------------------


def _serve(port: int) -> None:
    import trio
    from _loadgen import asgi_body, asgi_reply, serve_bare

    from molecule.asgi import answer_lifespan

    sockets: set[Any] = set()  # the connected WebSockets' ASGI send callables
    ticking = {"on": False, "sent": 0}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return await answer_lifespan(receive, send)
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.accept"})
            sockets.add(send)
            try:
                while (await receive())["type"] != "websocket.disconnect":
                    pass
            finally:
                sockets.discard(send)
            return
        answer = b'{"status": "logged"}'
        if scope["path"] == "/tick":  # the driver's controls: ticks on/off, messages sent
            if scope["method"] != "GET":
                ticking["on"] = scope["method"] == "POST"
            answer = b"%d" % ticking["sent"]
        await asgi_body(receive)
        await asgi_reply(send, 200, answer)

    async def ticker() -> None:
        while True:
            await trio.sleep(TICK)
            if not ticking["on"]:
                continue
            for index, send in enumerate(list(sockets), 1):
                try:
                    await send({"type": "websocket.send", "text": TICK_TEXT})
                    ticking["sent"] += 1
                except Exception:
                    sockets.discard(send)
                if index % 8 == 0:  # as molecule.events.run_batches wakes feeds
                    await trio.lowlevel.checkpoint()

    serve_bare(app, port, keep_alive_timeout=75, background=ticker, lean=True)  # as molecule serve


# --------------------------------------------------------------------------------------------
# Child process: WebSocket clients that read and discard
# --------------------------------------------------------------------------------------------


class _Sink(asyncio.Protocol):
    def __init__(self, port: int, ready: asyncio.Future[None]) -> None:
        self.port = port
        self.ready = ready
        self.head = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(
            b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n" % self.port
        )

    def data_received(self, data: bytes) -> None:
        if not self.ready.done():
            self.head += data
            if b"\r\n\r\n" in self.head:
                self.ready.set_result(None)


async def _sinks(port: int, n: int) -> None:
    loop = asyncio.get_running_loop()
    readies = []
    for _ in range(n):
        ready: asyncio.Future[None] = loop.create_future()
        await loop.create_connection(lambda r=ready: _Sink(port, r), "127.0.0.1", port)
        readies.append(ready)
    await asyncio.gather(*readies)
    print("ready", flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # until the driver closes stdin


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def _ticks(port: int, method: str) -> int:
    """POST: ticks on, DELETE: off, GET: nothing; answers the WebSocket messages sent so far."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request(method, "/tick")
    sent = int(conn.getresponse().read())
    conn.close()
    return sent


def _published_cpu(server: int, port: int, rate: float, seconds: float) -> float:
    """The server's CPU (% of one core) over `seconds` while fanout.py's paced publisher
    sends `rate` POST/s to it."""
    from _loadgen import BenchError
    from fanout import _spawn

    start = time.time_ns() + int(1.5e9)
    job = {
        "host": "127.0.0.1",
        "port": port,
        "mode": "activity",
        "admin_token": "unused",
        "workspaces": [
            {"id": f"00000000-0000-4000-8000-00000000000{i}", "token": ""} for i in range(10)
        ],
        "rate": rate,
        "connections": 64,
        "start_ns": start,
        "window_ns": [start, start + int((seconds + 1) * 1e9)],
    }
    publisher = _spawn("--role-publisher", job)
    time.sleep(max(0.0, (start - time.time_ns()) / 1e9) + 0.5)
    cpu = _measure(server, seconds)
    assert publisher.stdout is not None
    result = json.loads(publisher.stdout.read() or "{}")
    if publisher.wait() != 0 or set(result.get("status", {})) != {"200"}:
        raise BenchError(f"publisher failed: {result.get('status')} {result.get('error_samples')}")
    return cpu


def _measure(pid: int, seconds: float) -> float:
    from _loadgen import cpu_seconds

    c0, t0 = cpu_seconds(pid), time.time()
    time.sleep(seconds)
    return 100 * (cpu_seconds(pid) - c0) / (time.time() - t0)


def main() -> int:
    from _loadgen import BenchError, free_port

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--clients", type=int, default=100, help="WebSocket clients (100)")
    ap.add_argument("--rate", type=float, default=500.0, help="POSTs/s published (500)")
    ap.add_argument("--duration", type=float, default=5.0, help="measured seconds per phase (5)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the three phases (3)")
    args = ap.parse_args()
    if args.clients < 1 or args.rate <= 0 or args.duration <= 0 or args.rounds < 1:
        ap.error("--clients and --rounds must be >= 1, --rate and --duration > 0")

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(THIS), "--role-server", str(port)], stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    if not server.stdout.readline().startswith("listening"):
        raise BenchError("bare server did not start")
    time.sleep(0.5)
    sinks = subprocess.Popen(
        [sys.executable, "-I", str(THIS), "--role-sinks", str(port), str(args.clients)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sinks.stdout is not None
    try:
        if sinks.stdout.readline().strip() != "ready":
            raise BenchError("WebSocket clients did not connect")
        sends = args.clients / TICK
        print(
            f"bare server (lean hypercorn), raw ASGI: {args.rate:g} POST/s from 64 keep-alive "
            f"connections; {len(TICK_TEXT)}-byte array every {TICK * 1000:g} ms to "
            f"{args.clients} WebSockets (up to {sends:.0f} messages/s); {args.duration:g} s per "
            "phase"
        )
        figures: dict[str, list[float]] = {"publish": [], "ticks": [], "both": []}
        rates: list[float] = []  # WebSocket messages/s actually sent in the ticks phase
        for number in range(1, args.rounds + 1):
            figures["publish"].append(_published_cpu(server.pid, port, args.rate, args.duration))
            _ticks(port, "POST")
            time.sleep(0.5)
            sent = _ticks(port, "GET")
            figures["ticks"].append(_measure(server.pid, args.duration))
            rates.append((_ticks(port, "GET") - sent) / args.duration)
            figures["both"].append(_published_cpu(server.pid, port, args.rate, args.duration))
            _ticks(port, "DELETE")
            print(
                f"  round {number}: server CPU  publish {figures['publish'][-1]:5.1f}%   "
                f"ticks {figures['ticks'][-1]:5.1f}% ({rates[-1]:.0f} messages/s)   "
                f"both {figures['both'][-1]:5.1f}%",
                flush=True,
            )
        publish = statistics.median(figures["publish"])
        ticks = statistics.median(figures["ticks"])
        both = statistics.median(figures["both"])
        per_message = statistics.median(
            10_000 * t / r for t, r in zip(figures["ticks"], rates, strict=True)
        )
        print(
            f"medians: publish {publish:.1f}% ({10_000 * publish / args.rate:.0f} us of CPU per "
            f"request), ticks {ticks:.1f}% ({per_message:.0f} us per WebSocket message), "
            f"both {both:.1f}% of one core"
        )
    finally:
        if sinks.stdin is not None:
            sinks.stdin.close()
        sinks.wait(10)
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--role-server"]:
        _serve(int(sys.argv[2]))
    elif sys.argv[1:2] == ["--role-sinks"]:
        asyncio.run(_sinks(int(sys.argv[2]), int(sys.argv[3])))
    else:
        try:
            sys.exit(main())
        except Exception as exc:
            if type(exc).__name__ != "BenchError":
                raise
            print(f"bench failed: {exc}", file=sys.stderr)
            sys.exit(2)
