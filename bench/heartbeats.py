"""Heartbeat throughput and latency, against the bare GET /health rate in the same run.

    .venv/bin/python bench/heartbeats.py [--agents 200] [--concurrency 16] [--duration 8]

Starts its own platform (fresh MOLECULE_HOME, embedded Postgres), creates N external
workspaces through the API (each gets its own token), then drives the same load generator
(bench/_loadgen.py, a separate plain-asyncio process) twice: GET /health, then
POST /registry/heartbeat round-robin over the agents, each beat with that agent's bearer.
Finally checks through GET /workspaces that the beats landed (every agent online, with a
fresh last_heartbeat_at). Targets: heartbeat rate >= 0.7 x health rate, heartbeat p99 <= 50 ms.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from _loadgen import BenchError, LoadResult, Platform, platform_root, run_load

RATIO_TARGET = 0.7
P99_TARGET_MS = 50.0


def create_agents(p: Platform, n: int, threads: int = 8) -> list[dict[str, str]]:
    def create(i: int) -> dict[str, str]:
        status, body = p.request(
            "POST", "/workspaces", {"name": f"bench-agent-{i:05d}", "runtime": "external"}
        )
        if status != 201:
            raise BenchError(f"POST /workspaces -> {status}: {body}")
        return {"id": body["id"], "token": body["connection"]["auth_token"]}

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(create, range(n)))


def verify(p: Platform, agents: list[dict[str, str]], since: float) -> tuple[bool, list[str]]:
    """Every agent online with a last_heartbeat_at from this run; one sample in detail."""
    lines: list[str] = []
    status, rows = p.request("GET", "/workspaces")
    if status != 200:
        return False, [f"GET /workspaces -> {status}: {rows}"]
    mine = {a["id"] for a in agents}
    now = time.time()
    online = 0
    ages: list[float] = []
    for row in rows:
        if row["id"] not in mine:
            continue
        if row["status"] == "online":
            online += 1
        if row.get("last_heartbeat_at"):
            ages.append(now - datetime.fromisoformat(row["last_heartbeat_at"]).timestamp())
    fresh = sum(1 for age in ages if age <= now - since)
    lines.append(
        f"agents online: {online}/{len(agents)}; last_heartbeat_at from this run: "
        f"{fresh}/{len(agents)}"
        + (f" (newest {min(ages):.2f} s ago, oldest {max(ages):.2f} s ago)" if ages else "")
    )
    sample = agents[len(agents) // 2]
    status, row = p.request("GET", f"/workspaces/{sample['id']}")
    ok_sample = False
    if status == 200:
        beat = row.get("last_heartbeat_at")
        age = now - datetime.fromisoformat(beat).timestamp() if beat else float("inf")
        ok_sample = row["status"] == "online" and age <= now - since
        lines.append(
            f"sample GET /workspaces/{sample['id']}: status={row['status']}, "
            f"last_heartbeat_at={beat} ({age:.2f} s ago), uptime_seconds={row['uptime_seconds']}"
        )
    else:
        lines.append(f"sample GET /workspaces/{sample['id']} -> {status}: {row}")
    return online == len(agents) and fresh == len(agents) and ok_sample, lines


def describe(r: LoadResult) -> list[str]:
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(r.total_status.items()))
    return [
        f"  requests/s      {r.rate:10.1f}   ({r.count} in {r.duration:.0f} s)",
        f"  latency p50     {r.pct(50):10.2f} ms",
        f"  latency p90     {r.pct(90):10.2f} ms",
        f"  latency p99     {r.pct(99):10.2f} ms",
        f"  latency max     {r.pct(100):10.2f} ms",
        f"  responses       {statuses}   (warm-up included; non-200: {r.non_200})",
        f"  transport       reconnects on Connection: close {r.reconnects}, "
        f"unexpected closes {r.unexpected_closes}, connect errors {r.connect_errors}, "
        f"unparseable {r.bad_responses}" + (", GENERATOR TIMED OUT" if r.hung else ""),
        f"  CPU (% of one core, measured window)   server {r.server_cpu_pct:5.1f}   "
        f"postgres {r.postgres_cpu_pct:5.1f}   load generator {r.loadgen_cpu_pct:5.1f}",
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--agents", type=int, default=200, help="external workspaces (default 200)")
    # 16 by default: at 32 connections on a 2-core machine the bare /health reference alone
    # has a p99 above 50 ms (Little's law: 32 in flight at ~1000/s is already ~32 ms each).
    ap.add_argument("--concurrency", type=int, default=16, help="keep-alive connections (16)")
    ap.add_argument("--duration", type=float, default=8.0, help="measured seconds per phase (8)")
    ap.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per phase (2)")
    ap.add_argument(
        "--loadgen-procs", type=int, default=1, help="load generator processes (default 1)"
    )
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    if args.agents < 1 or args.concurrency < 1 or args.duration <= 0 or args.warmup < 0:
        ap.error("--agents and --concurrency must be >= 1, --duration > 0, --warmup >= 0")

    t_begin = time.perf_counter()
    with platform_root(args.keep) as p:
        boot = p.start()
        print(f"platform up on {p.base_url} in {boot.ready_s:.2f} s (pid {p.pid})")
        print(f"server log: {p.log_path}")

        t = time.perf_counter()
        agents = create_agents(p, args.agents)
        dt = time.perf_counter() - t
        print(f"created {len(agents)} external workspaces in {dt:.2f} s ({len(agents) / dt:.0f}/s)")

        load = functools.partial(
            run_load,
            port=p.port,
            concurrency=args.concurrency,
            warmup=args.warmup,
            duration=args.duration,
            procs=args.loadgen_procs,
            server_pid=p.pid,
        )
        health = load(mode="health")
        beats_started = time.time()
        beats = load(mode="heartbeat", agents=agents)
        verified, vlines = verify(p, agents, beats_started)
        shutdown_s, code = p.stop()
        problems = p.log_problems()
        tail = p.log_tail()

    print()
    print(
        f"load: {args.concurrency} keep-alive HTTP/1.1 connections, {args.loadgen_procs} "
        f"generator process(es), {args.warmup:g} s warm-up + {args.duration:g} s measured "
        f"per phase, {args.agents} agents"
    )
    print("GET /health")
    print("\n".join(describe(health)))
    print("POST /registry/heartbeat (round-robin over agents, each with its own token)")
    print("\n".join(describe(beats)))
    ratio = beats.rate / health.rate if health.rate else 0.0
    p99 = beats.pct(99)
    print()
    print(f"heartbeat_rate / health_rate = {ratio:.3f}")
    ok_ratio, ok_p99 = ratio >= RATIO_TARGET, p99 <= P99_TARGET_MS
    verdict = {True: "PASS", False: "FAIL"}
    print(f"target ratio >= {RATIO_TARGET:g}:          {verdict[ok_ratio]} ({ratio:.3f})")
    print(f"target heartbeat p99 <= {P99_TARGET_MS:g} ms: {verdict[ok_p99]} ({p99:.2f} ms)")
    print()
    print("verification (admin GET after the run):")
    for line in vlines:
        print("  " + line)
    print(f"platform stopped by SIGTERM in {shutdown_s:.2f} s, exit code {code}")
    if problems:
        print(f"server log: {len(problems)} warning/error line(s), last ones:")
        for line in problems[-10:]:
            print("  " + line)
    else:
        print("server log: no warnings or errors")
    print(f"bench wall time {time.perf_counter() - t_begin:.1f} s")

    failures = health.failures + beats.failures
    if failures or not verified or code not in (0, None):
        print(
            "INVALID RUN: "
            + "; ".join(
                s
                for s in (
                    f"{failures} failed request(s)/connection(s)" if failures else "",
                    "the heartbeats did not show up in the workspace rows" if not verified else "",
                    f"platform exit code {code}" if code not in (0, None) else "",
                )
                if s
            ),
            file=sys.stderr,
        )
        print(f"server log tail:\n{tail}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        sys.exit(2)
