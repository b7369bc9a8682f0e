"""The token usage write-behind: counts add up per workspace and day, an outage keeps them
for the next write, and a workspace deleted meanwhile is skipped without failing the batch."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from molecule.errors import DatastoreUnavailable
from molecule.models import WorkspaceStatus
from molecule.store.pool import Store
from molecule.store.token_usage import DayUsage, TokenUsageRows, UsageBuffer, utc_day
from molecule.store.workspaces import NewWorkspace, Workspaces

USAGE = {"result": {"usage": {"input_tokens": 100, "output_tokens": 10}}}


async def workspace(store: Store, name: str) -> str:
    row = await Workspaces(store).insert(
        NewWorkspace(
            name=name, role=None, tier=3, runtime="external", status=WorkspaceStatus.ONLINE
        )
    )
    return str(row["id"])


class Unreachable(TokenUsageRows):
    async def add(self, batch: dict[tuple[str, datetime], DayUsage]) -> None:
        raise DatastoreUnavailable()


async def test_counts_add_up_and_survive_an_outage(store: Store) -> None:
    rows = TokenUsageRows(store)
    wid = await workspace(store, "a")
    buffer = UsageBuffer(Unreachable(store))
    buffer.record(wid, USAGE)
    buffer.record(wid, USAGE)
    buffer.record(wid, {"result": {"parts": []}})  # reports nothing: not a call that counts
    with pytest.raises(DatastoreUnavailable):
        await buffer.flush()
    assert buffer.pending == 1  # kept for the next write
    buffer.rows = rows
    await buffer.flush()
    assert buffer.pending == 0
    day = await rows.day(wid, utc_day())
    assert (day.input_tokens, day.output_tokens, day.calls) == (200, 20, 2)
    assert day.cost == Decimal("0.000900")
    buffer.record(wid, USAGE)
    await buffer.flush()
    assert (await rows.day(wid, utc_day())).calls == 3


async def test_a_deleted_workspace_is_skipped(store: Store) -> None:
    rows = TokenUsageRows(store)
    kept, gone = await workspace(store, "kept"), await workspace(store, "gone")
    buffer = UsageBuffer(rows)
    buffer.record(kept, USAGE)
    buffer.record(gone, USAGE)
    await Workspaces(store).purge([gone])
    await buffer.flush()
    assert (await rows.day(kept, utc_day())).calls == 1
    assert await store.fetchval("SELECT count(*) FROM workspace_token_usage") == 1


def test_an_unwired_buffer_counts_nothing() -> None:
    buffer = UsageBuffer()
    buffer.record("w", USAGE)
    assert buffer.pending == 0
