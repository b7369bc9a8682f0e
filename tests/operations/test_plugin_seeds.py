"""PluginSeeds and staged_import without a platform: one read per name (refusals included),
the registry's own failure as a 502, the import-wide byte bound, and the staging slot an
import holds from its plan to the end of its run, whoever ends first."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from molecule.actors.supervision import Tasks
from molecule.errors import BadGateway, NotFound, PayloadTooLarge, ServiceUnavailable
from molecule.operations.plugin_seeds import NOT_IN_REGISTRY, PluginSeeds, staged_import
from molecule.operations.plugins import PluginSupport
from molecule.provision.plugins_registry import PluginRegistry
from molecule.provision.plugins_staging import Limits, StagedPlugin


class CountingRegistry(PluginRegistry):
    def __init__(self, trees: dict[str, dict[str, bytes]], broken: bool = False) -> None:
        super().__init__([])
        self.trees, self.broken, self.reads = trees, broken, 0

    def stage(self, name: str, limits: Limits) -> StagedPlugin:
        self.reads += 1
        if self.broken:
            raise PermissionError("unreadable")
        if name not in self.trees:
            raise NotFound("failed to fetch plugin from local")
        return StagedPlugin(name, dict(self.trees[name]))


def test_each_name_is_read_once_whether_it_was_found_or_not() -> None:
    registry = CountingRegistry({"a": {"x.md": b"x"}})
    seeds = PluginSeeds(registry)
    assert seeds.get("a") is seeds.get("a")
    for _ in range(3):
        with pytest.raises(NotFound) as caught:
            seeds.get("missing")
        assert caught.value.message == NOT_IN_REGISTRY
    assert registry.reads == 2


def test_an_unreadable_registry_is_the_platforms_502() -> None:
    seeds = PluginSeeds(CountingRegistry({}, broken=True))
    with pytest.raises(BadGateway):
        seeds.get("a")


def test_the_trees_of_one_import_share_one_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUGIN_INSTALL_MAX_DIR_BYTES", "10")
    seeds = PluginSeeds(CountingRegistry({"a": {"f": b"123456"}, "b": {"f": b"123456"}}))
    seeds.get("a")
    with pytest.raises(PayloadTooLarge) as caught:
        seeds.get("b")
    assert caught.value.message == "the plugins of one import exceed 10 bytes"
    assert seeds.get("a").files == {"f": b"123456"}  # what fitted stays


async def test_the_slot_is_held_from_the_plan_to_the_end_of_the_run(
    autojump_clock: trio.testing.MockClock,
) -> None:
    support = PluginSupport()
    full = support._slots.value
    async with trio.open_nursery() as nursery:
        tasks = Tasks(nursery)
        let_run_end = trio.Event()

        async def plan() -> str:
            assert support._slots.value == full - 1
            return "planned"

        async def run(planned: str) -> str:
            await let_run_end.wait()
            return planned + " and run"

        # The caller hangs up (in virtual time) while the run goes on: the slot stays taken
        # until the run ends.
        with trio.move_on_after(1) as caller:
            await staged_import(support.take_slot, tasks, "import", plan, run, 60)
        assert caller.cancelled_caught
        assert support._slots.value == full - 1
        let_run_end.set()
        await trio.testing.wait_all_tasks_blocked()
        assert support._slots.value == full

        async def refused_plan() -> str:
            raise NotFound("no")

        with pytest.raises(NotFound):
            await staged_import(support.take_slot, tasks, "import", refused_plan, run, 60)
        assert support._slots.value == full

        busy = Tasks(nursery, limit=0)
        with pytest.raises(ServiceUnavailable):
            await staged_import(support.take_slot, busy, "import", plan, run, 60)
        assert support._slots.value == full
        assert await staged_import(support.take_slot, tasks, "import", plan, run, 60) == (
            "planned and run"
        )
        assert support._slots.value == full
