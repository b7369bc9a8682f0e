"""LLM token usage per workspace per UTC day (`workspace_token_usage`), written behind.

Agents report what a call cost them in their A2A replies, as the original read it: `usage`
inside the JSON-RPC `result`, else at the top level, with `input_tokens` and `output_tokens`
(upstream-may §3.2 m). The proxy hands every buffered reply body to `UsageBuffer.record`,
which only adds numbers to a dict: no I/O on the reply's path. One statement writes what
gathered every `interval` seconds, and before any read that must see it (`GET
/workspaces/:id/metrics`) and at shutdown, so a crash loses at most the last interval's counts.
A workspace purged meanwhile is skipped by the write, never an error.

Cost: the original priced every token at one flat rate, Claude Sonnet's list price ($3 per
million input tokens, $15 per million output tokens), whatever the model; no per-model table
existed, so the estimate here is that same flat rate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import trio

from molecule.store.pool import Store, is_outage

log = logging.getLogger("molecule.store.token_usage")

INPUT_USD_PER_TOKEN = Decimal("0.000003")
OUTPUT_USD_PER_TOKEN = Decimal("0.000015")
MAX_TOKENS_PER_CALL = 10_000_000  # a larger count is clamped, as in the original
FLUSH_INTERVAL = 1.0


def utc_day(now: datetime | None = None) -> datetime:
    """Midnight UTC of `now`'s day: the period a call counts in."""
    now = now or datetime.now(UTC)
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return min(max(value, 0), MAX_TOKENS_PER_CALL)


def _usage_of(container: Any) -> tuple[int, int] | None:
    usage = container.get("usage") if isinstance(container, dict) else None
    if not isinstance(usage, dict):
        return None
    counts = (_count(usage.get("input_tokens")), _count(usage.get("output_tokens")))
    return counts if any(counts) else None


def usage_from_reply(reply: Any) -> tuple[int, int] | None:
    """(input, output) tokens reported in a parsed A2A reply, or None when it reports none:
    `result.usage` first, else a top-level `usage`; non-integer counts count as 0."""
    if not isinstance(reply, dict):
        return None
    return _usage_of(reply.get("result")) or _usage_of(reply)


def estimated_cost(input_tokens: int, output_tokens: int) -> Decimal:
    return input_tokens * INPUT_USD_PER_TOKEN + output_tokens * OUTPUT_USD_PER_TOKEN


@dataclass
class DayUsage:
    input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0
    cost: Decimal = Decimal(0)

    def add(self, other: DayUsage) -> None:
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.calls += other.calls
        self.cost += other.cost


class TokenUsageRows:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def add(self, batch: dict[tuple[str, datetime], DayUsage]) -> None:
        """Add every (workspace, day) delta in one statement; unknown workspaces are skipped."""
        keys = list(batch)
        await self.store.execute(
            "INSERT INTO workspace_token_usage AS t (workspace_id, period_start, input_tokens,"
            " output_tokens, call_count, estimated_cost_usd, updated_at)"
            " SELECT u.wid, u.day, u.inp, u.outp, u.calls, u.cost, now()"
            " FROM unnest($1::uuid[], $2::timestamptz[], $3::bigint[], $4::bigint[],"
            " $5::bigint[], $6::numeric[]) AS u(wid, day, inp, outp, calls, cost)"
            " JOIN workspaces w ON w.id = u.wid"
            " ON CONFLICT (workspace_id, period_start) DO UPDATE SET"
            " input_tokens = t.input_tokens + EXCLUDED.input_tokens,"
            " output_tokens = t.output_tokens + EXCLUDED.output_tokens,"
            " call_count = t.call_count + EXCLUDED.call_count,"
            " estimated_cost_usd = t.estimated_cost_usd + EXCLUDED.estimated_cost_usd,"
            " updated_at = now()",
            [wid for wid, _ in keys],
            [day for _, day in keys],
            [batch[k].input_tokens for k in keys],
            [batch[k].output_tokens for k in keys],
            [batch[k].calls for k in keys],
            [batch[k].cost for k in keys],
        )

    async def day(self, workspace_id: str, day: datetime) -> DayUsage:
        row = await self.store.fetchrow(
            "SELECT input_tokens, output_tokens, call_count, estimated_cost_usd"
            " FROM workspace_token_usage WHERE workspace_id = $1 AND period_start = $2",
            workspace_id,
            day,
        )
        if row is None:
            return DayUsage()
        return DayUsage(
            row["input_tokens"], row["output_tokens"], row["call_count"], row["estimated_cost_usd"]
        )


class UsageBuffer:
    """Counts staged off the reply's path, written in batches (see the module docstring)."""

    def __init__(
        self, rows: TokenUsageRows | None = None, interval: float = FLUSH_INTERVAL
    ) -> None:
        self.rows = rows
        self.interval = interval
        self._pending: dict[tuple[str, datetime], DayUsage] = {}
        self._lock = trio.Lock()

    def record(self, workspace_id: str, reply: Any) -> None:
        """Count the usage a parsed reply reports, if any. Never blocks, never raises. A
        buffer without rows (not wired to a store) counts nothing."""
        counts = usage_from_reply(reply) if self.rows is not None else None
        if counts is None:
            return
        inp, outp = counts
        delta = DayUsage(inp, outp, 1, estimated_cost(inp, outp))
        self._pending.setdefault((workspace_id, utc_day()), DayUsage()).add(delta)

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flush(self) -> None:
        """Write what gathered. An outage (or a cancel) keeps the counts for the next try and
        raises; a batch the database refuses for any other reason is logged and dropped, so
        it cannot block every later one."""
        async with self._lock:
            batch, self._pending = self._pending, {}
            if not batch or self.rows is None:
                return
            try:
                await self.rows.add(batch)
            except Exception as exc:
                if not is_outage(exc):
                    log.error(
                        "token usage of %d workspace-days refused, dropped: %r", len(batch), exc
                    )
                    return
                self._put_back(batch)
                raise
            except BaseException:
                self._put_back(batch)
                raise

    def _put_back(self, batch: dict[tuple[str, datetime], DayUsage]) -> None:
        for key, usage in batch.items():
            self._pending.setdefault(key, DayUsage()).add(usage)

    async def run(self) -> None:
        while True:
            await trio.sleep(self.interval)
            try:
                await self.flush()
            except Exception:  # an outage: the counts wait in the buffer
                log.warning("token usage of %d workspace-days waits for the database", self.pending)


def period(day: datetime) -> tuple[str, str]:
    """RFC 3339 start and end of the UTC day that starts at `day`."""
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return day.strftime(fmt), (day + timedelta(days=1)).strftime(fmt)
