"""Boot time and resident memory with 10,000 workspaces, against an empty database.

    .venv/bin/python bench/scale.py [--workspaces 10000] [--idle 5] [--repeat 1]

One fresh MOLECULE_HOME (embedded Postgres). Boot 0 creates the cluster and applies the
migrations (reported, not compared). Then the reference: boot with no workspaces, measuring
process start -> GET /health 200 ("ready"), process start -> the "activated N workspace
actors" log line, and VmRSS of the platform process when ready and after `--idle` seconds.
While that server still runs, one psql transaction inserts the workspaces (plus their
canvas_layouts rows) straight into its database through the unix socket: statuses that
need watching (70% online and 5% degraded with a recent last_heartbeat_at, 10% offline,
10% awaiting_agent, 5% provisioning; half the online ones external) in a 100-root hierarchy.
Then the same boot measurement with them. Targets: ready <= 5 s, RSS <= 300 MB.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass

from _loadgen import BenchError, Platform, platform_root, rss_kb

READY_TARGET_S = 5.0
RSS_TARGET_MB = 300.0


@dataclass
class Measure:
    ready_s: float
    activated_s: float | None
    activated: int | None
    serving_s: float | None
    rss_ready_kb: int
    rss_idle_kb: int
    stop_s: float = 0.0
    exit_code: int | None = None


def measure_boot(p: Platform, idle: float) -> Measure:
    """Start, wait until ready, sample RSS now and after `idle` s. Leaves it running."""
    boot = p.start()
    rss_ready = rss_kb(p.pid)
    time.sleep(idle)
    if p.proc is None or p.proc.poll() is not None:
        raise BenchError("the platform died while idle")
    return Measure(
        boot.ready_s, boot.activated_s, boot.activated, boot.serving_s, rss_ready, rss_kb(p.pid)
    )


def insert_sql(n: int) -> str:
    """One transaction: n workspaces (ids derived from i, so parents can be named) + layouts."""
    wid = "md5('molecule-bench-' || i)::uuid"
    k = "(i % 20)"
    return f"""
BEGIN;
INSERT INTO workspaces (id, name, role, tier, status, runtime, url, agent_card, parent_id,
                        last_heartbeat_at, uptime_seconds, delivery_mode)
SELECT {wid},
       'bench-ws-' || lpad(i::text, 6, '0'),
       'worker',
       1 + i % 4,
       (CASE WHEN {k} < 14 THEN 'online' WHEN {k} = 14 THEN 'degraded'
             WHEN {k} < 17 THEN 'offline' WHEN {k} < 19 THEN 'awaiting_agent'
             ELSE 'provisioning' END)::workspace_status,
       CASE WHEN {k} IN (17, 18) OR ({k} < 15 AND i % 2 = 0) THEN 'external'
            ELSE 'langgraph' END,
       CASE WHEN {k} < 17 THEN 'http://127.0.0.1:9/agents/' || i END,
       CASE WHEN {k} < 17 THEN jsonb_build_object('name', 'bench-ws-' || i,
            'version', '1.0.0', 'skills', '[]'::jsonb) END,
       CASE WHEN i >= 100 THEN md5('molecule-bench-' || (i % 100))::uuid END,
       CASE WHEN {k} < 15 THEN now() - random() * interval '60 seconds'
            WHEN {k} < 17 THEN now() - interval '1 hour' END,
       CASE WHEN {k} < 15 THEN 3600 ELSE 0 END,
       'push'
FROM generate_series(0, {n - 1}) AS i;
INSERT INTO canvas_layouts (workspace_id, x, y, collapsed)
SELECT {wid}, (i % 100) * 260, (i / 100) * 180, i % 7 = 0
FROM generate_series(0, {n - 1}) AS i;
COMMIT;
SELECT status || '=' || count(*) FROM workspaces GROUP BY status ORDER BY status;
"""


def fmt_opt(x: float | None, unit: str = "s") -> str:
    return "-" if x is None else f"{x:.2f} {unit}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--workspaces", type=int, default=10_000, help="rows to insert (10000)")
    ap.add_argument("--idle", type=float, default=5.0, help="idle seconds before the 2nd RSS (5)")
    ap.add_argument("--repeat", type=int, default=1, help="measured boots per database (1)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    if args.workspaces < 1 or args.idle < 0 or args.repeat < 1:
        ap.error("--workspaces and --repeat must be >= 1, --idle >= 0")
    n = args.workspaces

    t_begin = time.perf_counter()
    empty: list[Measure] = []
    full: list[Measure] = []
    with platform_root(args.keep) as p:
        first = p.start()
        first_stop, _ = p.stop()
        print(
            f"boot 0 (initdb + migrations): ready in {first.ready_s:.2f} s, "
            f"stopped in {first_stop:.2f} s; cluster socket dir {p.socket_dir()}"
        )
        for r in range(args.repeat):
            m = measure_boot(p, args.idle)
            if r == args.repeat - 1:  # insert while this server runs; it never sees the rows
                t = time.perf_counter()
                counts = p.psql(insert_sql(n)).split()
                print(
                    f"inserted {n} workspaces + canvas_layouts in "
                    f"{time.perf_counter() - t:.2f} s: {', '.join(counts)}"
                )
            m.stop_s, m.exit_code = p.stop()
            empty.append(m)
        for _ in range(args.repeat):
            m = measure_boot(p, args.idle)
            m.stop_s, m.exit_code = p.stop()
            full.append(m)
        problems = p.log_problems()
        tail = p.log_tail()

    def row(label: str, m: Measure) -> str:
        return (
            f"{label:<14} {fmt_opt(m.activated_s):>9} "
            f"{m.activated if m.activated is not None else '-':>7} "
            f"{fmt_opt(m.serving_s):>9} {m.ready_s:7.2f} s "
            f"{m.rss_ready_kb / 1024:9.1f} MB {m.rss_idle_kb / 1024:9.1f} MB "
            f"{m.stop_s:7.2f} s {m.exit_code!s:>5}"
        )

    print()
    print(
        f"{'boot':<14} {'activated':>9} {'actors':>7} {'serving':>9} {'ready':>9} "
        f"{'RSS ready':>12} {'RSS +' + format(args.idle, 'g') + 's':>12} {'stop':>9} {'exit':>5}"
    )
    for i, m in enumerate(empty):
        print(row(f"empty #{i + 1}", m))
    for i, m in enumerate(full):
        print(row(f"{n} ws #{i + 1}", m))

    def med(ms: list[Measure], attr: str) -> float:
        return float(statistics.median(getattr(m, attr) for m in ms))

    ready_full, ready_empty = med(full, "ready_s"), med(empty, "ready_s")
    idle_full, idle_empty = med(full, "rss_idle_kb"), med(empty, "rss_idle_kb")
    ready_rss_full, ready_rss_empty = med(full, "rss_ready_kb"), med(empty, "rss_ready_kb")
    peak_mb = max(max(m.rss_ready_kb, m.rss_idle_kb) for m in full) / 1024
    worst_ready = max(m.ready_s for m in full)
    print()
    print(
        f"boot to ready:        {ready_full:.2f} s with {n} workspaces, {ready_empty:.2f} s empty "
        f"({ready_full - ready_empty:+.2f} s)"
    )
    acts = [m.activated_s for m in full if m.activated_s is not None]
    if acts:
        print(f"boot to activation:   {statistics.median(acts):.2f} s (the actors log line)")
    print(
        f"RSS when ready:       {ready_rss_full / 1024:.1f} MB with {n}, "
        f"{ready_rss_empty / 1024:.1f} MB empty"
    )
    print(
        f"{f'RSS after {args.idle:g} s idle:':<22}{idle_full / 1024:.1f} MB with {n}, "
        f"{idle_empty / 1024:.1f} MB empty"
    )
    print(
        f"per workspace:        {(idle_full - idle_empty) / n:.2f} KB idle "
        f"({(ready_rss_full - ready_rss_empty) / n:.2f} KB when ready)"
    )
    print(
        f"{f'target ready <= {READY_TARGET_S:g} s:':<25}"
        f"{'PASS' if worst_ready <= READY_TARGET_S else 'FAIL'} ({worst_ready:.2f} s)"
    )
    print(
        f"{f'target RSS <= {RSS_TARGET_MB:g} MB:':<25}"
        f"{'PASS' if peak_mb <= RSS_TARGET_MB else 'FAIL'} ({peak_mb:.1f} MB)"
    )
    if problems:
        print(f"server log: {len(problems)} warning/error line(s), last ones:")
        for line in problems[-10:]:
            print("  " + line)
    else:
        print("server log: no warnings or errors")
    print(f"bench wall time {time.perf_counter() - t_begin:.1f} s")

    wrong = [m.activated for m in full if m.activated != n]
    bad_exit = [m.exit_code for m in empty + full if m.exit_code != 0]
    if wrong or bad_exit:
        print(
            f"INVALID RUN: activated actors {wrong} (expected {n}); exit codes {bad_exit}; "
            f"server log tail:\n{tail}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        sys.exit(2)
