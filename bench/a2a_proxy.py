"""A2A proxy throughput and latency, against the same echo agent called directly, same run.

    .venv/bin/python bench/a2a_proxy.py [--concurrency 1,8,32] [--rounds 5] [--duration 3]
                                        [--warmup 1] [--agent hypercorn|asyncio] [--floor]

Starts an echo agent in its own process, then the platform (fresh MOLECULE_HOME, embedded
Postgres, `MOLECULE_ENV=development` so the outbound SSRF check lets a loopback agent through,
and an ADMIN_TOKEN, so auth is still enforced). Creates one external workspace through
`POST /workspaces` and registers it with its own token at `http://localhost:<agent port>`.
Then, for each concurrency, the load generator of bench/_loadgen.py (a separate
plain-asyncio process, keep-alive connections, one request in flight each) sends the same
JSON-RPC `message/send` body straight to the agent, then to `POST /workspaces/<id>/a2a` with
the admin bearer, and repeats that pair `--rounds` times. Every response must be a 200 whose
body carries `echo: <the text of that very request>`; anything else makes the run invalid.
The verdicts use the median over the rounds of each pair's ratio: on this machine a pure CPU
loop runs up to 2x faster or slower from one second to the next, so a single long window per
side compared two different machines.

The agent (`--agent`, default `hypercorn`) is a raw ASGI app on `hypercorn.trio.serve`, the
agent of the early measurement in which a plain Quart+httpx proxy reached ~0.27x of its direct
throughput; `asyncio` is a hand-rolled asyncio.Protocol server, several times faster, which
shows what the proxy costs against an agent that costs almost nothing.

`--floor` adds a third side to every round: a bare forwarder (a raw ASGI app on the platform's
HTTP server, molecule.http.server, that passes the body to the agent with the platform's own
agent client: no auth, actor, activity row or events). Its ratio is the ceiling of any proxy
built on this stack at that moment, so the distance between it and the platform is what the
platform itself costs.

Targets: proxy req/s >= 0.6 x direct req/s at concurrency 32, and proxy p50 - direct p50
<= 3 ms at concurrency 1. Loopback only; everything started here gets SIGTERM at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the generator runs with -I

import _loadgen  # noqa: E402
from _loadgen import (  # noqa: E402
    BenchError,
    LoadResult,
    Platform,
    asgi_body,
    asgi_reply,
    cpu_seconds,
    free_port,
    platform_root,
    run_load,
    serve_bare,
)

THIS = Path(__file__).resolve()
RATIO_TARGET = 0.6
ADDED_P50_TARGET_MS = 3.0
AGENT_STARTUP_TIMEOUT = 20.0


# --------------------------------------------------------------------------------------------
# The echo agent (its own process: `a2a_proxy.py --agent-serve KIND PORT`)
# --------------------------------------------------------------------------------------------


def echo_reply(body: bytes) -> tuple[int, bytes]:
    """A JSON-RPC answer to `message/send`: a Message whose text is `echo: <first text>`."""
    try:
        req = json.loads(body)
    except ValueError:
        return 400, b'{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}'
    rid = req.get("id") if isinstance(req, dict) else None
    if not isinstance(req, dict) or req.get("method") != "message/send":
        err = {"code": -32601, "message": "method not found"}
        return 200, json.dumps({"jsonrpc": "2.0", "id": rid, "error": err}).encode()
    text = ""
    message = (req.get("params") or {}).get("message") or {}
    for part in message.get("parts") or []:
        if isinstance(part, dict) and part.get("kind") == "text":
            text = str(part.get("text", ""))
            break
    result = {
        "kind": "message",
        "role": "agent",
        "messageId": uuid.uuid4().hex,
        "parts": [{"kind": "text", "text": f"echo: {text}"}],
    }
    return 200, json.dumps({"jsonrpc": "2.0", "id": rid, "result": result}).encode()


async def _echo_asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        from molecule.asgi import answer_lifespan  # server side only

        return await answer_lifespan(receive, send)
    if scope["type"] != "http":
        raise RuntimeError(f"unsupported scope {scope['type']}")
    await asgi_reply(send, *echo_reply(await asgi_body(receive)))


def _serve_forwarder(port: int, agent_port: int) -> None:
    """`--floor`: the platform's HTTP server and agent client, nothing else (no auth, no
    actor, no activity row): what any proxy on this stack pays per message."""
    from molecule.a2a.client import AgentClient
    from molecule.asgi import answer_lifespan

    client = AgentClient()
    url = f"http://localhost:{agent_port}/"

    async def forward(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return await answer_lifespan(receive, send)
        response = await client.post(url, await asgi_body(receive), {})
        try:
            body = await response.read()
        finally:
            await response.aclose()
        await asgi_reply(send, response.status, body)

    serve_bare(forward, port, keep_alive_timeout=75, lean=True)  # as molecule.platform


class _EchoProtocol(asyncio.Protocol):
    """HTTP/1.1 keep-alive with Content-Length request bodies: enough for the bench."""

    def __init__(self) -> None:
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].decode("latin-1").split("\r\n")
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
                elif name.strip().lower() == "transfer-encoding":
                    self.transport.write(b"HTTP/1.1 411 Length Required\r\n\r\n")
                    self.transport.close()
                    return
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4 : end + 4 + length]
            self.buf = self.buf[end + 4 + length :]
            status, payload = echo_reply(body)
            reason = b"OK" if status == 200 else b"Bad Request"
            self.transport.write(
                b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                % (status, reason, len(payload), payload)
            )


def _serve_asyncio(port: int) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_EchoProtocol, "127.0.0.1", port)
        stopped = loop.create_future()

        def stop() -> None:
            if not stopped.done():
                stopped.set_result(None)

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop)
        print(f"listening {port}", flush=True)
        await stopped
        server.close()

    asyncio.run(main())


class EchoAgent:
    """The agent subprocess; `stop()` sends SIGTERM (SIGKILL if it does not exit)."""

    def __init__(self, kind: str, *extra: str) -> None:
        self.kind = kind
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, str(THIS), "--agent-serve", kind, str(self.port), *extra],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=_loadgen._parent_death_sigterm(),
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("listening"):
            self.stop()
            raise BenchError(f"echo agent did not start (said {line!r})")
        deadline = time.perf_counter() + AGENT_STARTUP_TIMEOUT
        while not _accepts(self.port):
            if self.proc.poll() is not None or time.perf_counter() > deadline:
                self.stop()
                raise BenchError("echo agent is not accepting connections")
            time.sleep(0.02)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def _accepts(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------------------------
# The load generator, extended with an "a2a" mode (runs as `a2a_proxy.py --loadgen`)
# --------------------------------------------------------------------------------------------


def a2a_body(text: str) -> bytes:
    return json.dumps(
        {
            "jsonrpc": "2.0",
            "id": text,
            "method": "message/send",
            "params": {
                "message": {
                    "role": "user",
                    "messageId": text,
                    "parts": [{"kind": "text", "text": text}],
                }
            },
        },
        separators=(",", ":"),
    ).encode()


class _A2ARun(_loadgen._Run):
    """`mode: "a2a"`: POST the JSON-RPC body to agents[0]["path"], bearer agents[0]["token"].

    Each request carries its own text (`bench-<pid>-<n>`); the connection remembers what the
    echo must say and a 200 without it counts as a bad response.
    """

    def _request_factory(self, job: dict[str, Any]) -> Any:
        if job["mode"] != "a2a":
            return super()._request_factory(job)
        spec = job["agents"][0]
        auth = f"Authorization: Bearer {spec['token']}\r\n" if spec.get("token") else ""
        head = (
            f"POST {spec['path']} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{auth}"
            "Content-Type: application/json\r\n"
        ).encode()
        counter = [0]
        prefix = f"bench-{os.getpid()}-"
        self.expect = b""

        def request() -> bytes:
            counter[0] += 1
            text = f"{prefix}{counter[0]}"
            body = a2a_body(text)
            self.expect = f'"text":"echo: {text}"'.encode()
            return b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body)

        return request

    async def connect(self) -> None:
        try:
            await self.loop.create_connection(lambda: _EchoConn(self), self.host, self.port)
        except OSError:
            self.connect_errors += 1
            self.active -= 1
            if self.active <= 0 and not self.done.done():
                self.done.set_result(None)


class _EchoConn(_loadgen._Conn):
    run: _A2ARun

    def _send(self) -> None:
        super()._send()
        self.expect = self.run.expect

    def data_received(self, data: bytes) -> None:
        whole, expect = self.buf + data, self.expect  # super() may send the next request
        super().data_received(data)
        if self.need < 0 and not self.buf and self.status == 200:
            # A whole response was consumed by this call: it must echo this request's text.
            body = whole[whole.find(b"\r\n\r\n") + 4 :]
            if expect not in body.replace(b'": "', b'":"'):
                self.run.bad_responses += 1


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def setup_workspace(p: Platform, agent_port: int) -> str:
    status, body = p.request("POST", "/workspaces", {"name": "bench-echo", "runtime": "external"})
    if status != 201:
        raise BenchError(f"POST /workspaces -> {status}: {body}")
    wid, token = body["id"], body["connection"]["auth_token"]
    card = {"name": "bench-echo", "description": "echo agent", "version": "1.0.0", "skills": []}
    reg = {"id": wid, "url": f"http://localhost:{agent_port}", "agent_card": card}
    status, body = p.request("POST", "/registry/register", reg, token=token)
    if status != 200:
        raise BenchError(f"POST /registry/register -> {status}: {body}")
    # One request through the proxy before the load: it must come back as the echo.
    status, body = p_request_raw(p, f"/workspaces/{wid}/a2a", a2a_body("bench-probe"))
    if status != 200 or "echo: bench-probe" not in json.dumps(body):
        raise BenchError(f"probe through the proxy -> {status}: {body}")
    return str(wid)


def p_request_raw(p: Platform, path: str, data: bytes) -> tuple[int, Any]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(p.base_url + path, data=data, method="POST")
    req.add_header("Authorization", f"Bearer {p.admin_token}")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


@dataclass(frozen=True)
class Round:
    """One back-to-back pair: the agent straight, then through the proxy."""

    direct: LoadResult
    proxied: LoadResult
    agent_cpu: float
    floor: LoadResult | None = None  # --floor: the bare forwarder, same round

    @property
    def ratio(self) -> float:
        return self.proxied.rate / self.direct.rate if self.direct.rate else 0.0

    @property
    def floor_ratio(self) -> float:
        if self.floor is None or not self.direct.rate:
            return float("nan")
        return self.floor.rate / self.direct.rate

    @property
    def added_p50(self) -> float:
        return self.proxied.pct(50) - self.direct.pct(50)


def describe(r: LoadResult, agent_cpu_pct: float | None = None) -> list[str]:
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(r.total_status.items()))
    cpu = f"server {r.server_cpu_pct:5.1f}   postgres {r.postgres_cpu_pct:5.1f}   "
    if agent_cpu_pct is not None:
        cpu += f"agent {agent_cpu_pct:5.1f}   "
    return [
        f"    requests/s   {r.rate:9.1f}   ({r.count} in {r.duration:g} s)"
        f"   p50 {r.pct(50):7.2f} ms   p90 {r.pct(90):7.2f} ms   p99 {r.pct(99):7.2f} ms"
        f"   max {r.pct(100):7.2f} ms",
        f"    responses    {statuses}   (warm-up included; non-200 {r.non_200}, "
        f"bad/unechoed {r.bad_responses}, unexpected closes {r.unexpected_closes}, "
        f"connect errors {r.connect_errors}, reconnects {r.reconnects}"
        + (", GENERATOR TIMED OUT" if r.hung else "")
        + ")",
        f"    CPU % of one core (measured window)   {cpu}load generator {r.loadgen_cpu_pct:5.1f}",
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--concurrency", default="1,8,32", help="comma-separated (default 1,8,32)")
    ap.add_argument("--duration", type=float, default=3.0, help="measured seconds per phase (3)")
    ap.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per phase (1)")
    ap.add_argument("--rounds", type=int, default=5, help="direct/proxy pairs per level (5)")
    ap.add_argument("--agent", choices=("hypercorn", "asyncio"), default="hypercorn")
    ap.add_argument(
        "--floor",
        action="store_true",
        help="each round also measures a bare forwarder (hypercorn + the platform's agent "
        "client, nothing else): the ceiling of any proxy on this stack, same moment",
    )
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    levels = [int(x) for x in args.concurrency.split(",") if x.strip()]
    if not levels or min(levels) < 1 or args.duration <= 0 or args.warmup < 0 or args.rounds < 1:
        ap.error("--concurrency must list ints >= 1, --duration > 0, --warmup >= 0, --rounds >= 1")
    sides = 3 if args.floor else 2
    phases = sides * len(levels) * args.rounds * (args.warmup + args.duration + 0.6)
    if phases > 170 * sides / 2:
        ap.error(f"the load phases alone would take ~{phases:.0f} s; shorten the run")

    t_begin = time.perf_counter()
    one, five, fifteen = os.getloadavg()
    print(f"load average before: {one:.2f} {five:.2f} {fifteen:.2f}, {os.cpu_count()} CPUs")
    os.environ["MOLECULE_ENV"] = "development"  # the platform inherits it (Platform.start)
    _loadgen.THIS = THIS  # run_load spawns this file with --loadgen: the a2a mode lives here
    agent = EchoAgent(args.agent)
    forwarder = EchoAgent("forwarder", str(agent.port)) if args.floor else None
    rounds: dict[int, list[Round]] = {c: [] for c in levels}
    try:
        with platform_root(args.keep) as p:
            boot = p.start()
            print(
                f"platform up on {p.base_url} in {boot.ready_s:.2f} s (pid {p.pid}), "
                f"MOLECULE_ENV=development, ADMIN_TOKEN set"
            )
            print(f"echo agent ({args.agent}) on http://localhost:{agent.port} (pid {agent.pid})")
            wid = setup_workspace(p, agent.port)
            print(f"external workspace {wid} registered at http://localhost:{agent.port}")
            for c in levels:
                common: dict[str, Any] = {
                    "mode": "a2a",
                    "concurrency": c,
                    "warmup": args.warmup,
                    "duration": args.duration,
                }
                for r in range(args.rounds):
                    direct = run_load(
                        port=agent.port, agents=[{"path": "/"}], server_pid=agent.pid, **common
                    )
                    a0, t0 = cpu_seconds(agent.pid), time.perf_counter()
                    proxied = run_load(
                        port=p.port,
                        agents=[{"path": f"/workspaces/{wid}/a2a", "token": p.admin_token}],
                        server_pid=p.pid,
                        **common,
                    )
                    agent_cpu = 100 * (cpu_seconds(agent.pid) - a0) / (time.perf_counter() - t0)
                    floor = None
                    if forwarder is not None:
                        floor = run_load(
                            port=forwarder.port,
                            agents=[{"path": "/"}],
                            server_pid=forwarder.pid,
                            **common,
                        )
                    one = Round(direct, proxied, agent_cpu, floor)
                    rounds[c].append(one)
                    print(
                        f"  c={c:<3} round {r + 1}: direct {direct.rate:7.1f} req/s   proxy "
                        f"{proxied.rate:7.1f} req/s   ratio {one.ratio:.3f}   added p50 "
                        f"{one.added_p50:+.2f} ms"
                        + (
                            f"   bare forwarder {floor.rate:7.1f} req/s ({one.floor_ratio:.3f})"
                            if floor is not None
                            else ""
                        ),
                        flush=True,
                    )
            shutdown_s, code = p.stop()
            problems = p.log_problems()
    finally:
        agent_code = agent.stop()
        if forwarder is not None:
            forwarder.stop()

    print()
    print(
        f"load: keep-alive HTTP/1.1 connections, one request in flight each; per level "
        f"{args.rounds} rounds of direct then proxy, {args.warmup:g} s warm-up + "
        f"{args.duration:g} s measured each; agent: {args.agent}. Figures are medians over "
        "the rounds: this machine's CPU speed swings up to 2x within seconds, so only "
        "back-to-back pairs compare fairly."
    )
    failures = 0
    summary: dict[int, tuple[float, float]] = {}
    for c in levels:
        pairs = rounds[c]
        mid = sorted(pairs, key=lambda one: one.ratio)[len(pairs) // 2]
        ratio = statistics.median(one.ratio for one in pairs)
        added = statistics.median(one.added_p50 for one in pairs)
        summary[c] = (ratio, added)
        print(f"concurrency {c} (the median round shown in full)")
        print("  direct  POST http://localhost:<agent>/")
        print("\n".join(describe(mid.direct)))
        print("  proxy   POST /workspaces/<id>/a2a (admin bearer)")
        print("\n".join(describe(mid.proxied, mid.agent_cpu)))
        spread = ", ".join(f"{one.ratio:.3f}" for one in pairs)
        print(
            f"  median throughput ratio proxy/direct {ratio:.3f} (rounds: {spread})   "
            f"median added p50 {added:+.2f} ms"
        )
        if forwarder is not None:
            floors = ", ".join(f"{one.floor_ratio:.3f}" for one in pairs)
            print(
                "  median throughput ratio bare forwarder/direct "
                f"{statistics.median(one.floor_ratio for one in pairs):.3f} (rounds: {floors})"
            )
        failures += sum(one.direct.failures + one.proxied.failures for one in pairs)
        failures += sum(one.floor.failures for one in pairs if one.floor is not None)
    print()
    verdict = {True: "PASS", False: "FAIL"}
    if 32 in summary:
        ratio = summary[32][0]
        print(
            f"target throughput ratio at c=32 >= {RATIO_TARGET:g}:  "
            f"{verdict[ratio >= RATIO_TARGET]} ({ratio:.3f})"
        )
    if 1 in summary:
        added = summary[1][1]
        print(
            f"target added p50 at c=1 <= {ADDED_P50_TARGET_MS:g} ms:    "
            f"{verdict[added <= ADDED_P50_TARGET_MS]} ({added:.2f} ms)"
        )
    print(
        f"platform stopped by SIGTERM in {shutdown_s:.2f} s, exit code {code}; "
        f"echo agent exit code {agent_code}"
    )
    if problems:
        print(f"server log: {len(problems)} warning/error line(s), last ones:")
        for line in problems[-10:]:
            print("  " + line)
    else:
        print("server log: no warnings or errors")
    one, five, fifteen = os.getloadavg()
    print(f"load average after: {one:.2f} {five:.2f} {fifteen:.2f}")
    print(f"bench wall time {time.perf_counter() - t_begin:.1f} s")
    if failures or code not in (0, None):
        print(
            f"INVALID RUN: {failures} failed request(s)/connection(s), platform exit {code}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__" and sys.argv[1:2] == ["--loadgen"]:
    assert "trio_asyncio" not in sys.modules and "molecule" not in sys.modules

    async def _loadgen_main(job: dict[str, Any]) -> dict[str, Any]:
        return await _A2ARun(job).run()

    _out = asyncio.run(_loadgen_main(json.loads(sys.stdin.read())))
    sys.stdout.write(json.dumps(_out))
elif __name__ == "__main__" and sys.argv[1:2] == ["--agent-serve"]:
    if sys.argv[2] == "forwarder":
        _serve_forwarder(int(sys.argv[3]), int(sys.argv[4]))
    elif sys.argv[2] == "hypercorn":
        serve_bare(_echo_asgi, int(sys.argv[3]))
    else:
        _serve_asyncio(int(sys.argv[3]))
elif __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        sys.exit(2)
