"""Registry plugins an import seeds into the workspaces it creates (org import, bundles), and
the pieces a seed shares with an install (molecule/operations/plugins.py).

Each named plugin is read from the plugin registry (GET /plugins) and checked as an install
checks it, once per import however many workspaces name it; a plugin that cannot be read is
remembered too, so naming it again costs nothing. An import holds its trees in memory until
its workspaces are created, so all of them together stay within one install's bound
(PLUGIN_INSTALL_MAX_DIR_BYTES), and the import holds one of the installs' staging slots from
its first read to its last write (`staged_import`), so concurrent imports and installs
together hold at most MAX_STAGED such amounts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from molecule.actors.supervision import Tasks
from molecule.errors import BadGateway, MoleculeError, NotFound, PayloadTooLarge
from molecule.provision.base import Provisioner
from molecule.provision.plugins_registry import NOT_FOUND, PluginRegistry, describe
from molecule.provision.plugins_staging import Limits, StagedPlugin
from molecule.store.plugins import Installed

T = TypeVar("T")
P = TypeVar("P")
NOT_IN_REGISTRY = "not in the plugin registry (GET /plugins)"
RUNS_ELSEWHERE = "its agent runs elsewhere: plugins are installed only where this platform runs"
UNREADABLE = NOT_FOUND  # the install route's 502 says no more than its 404


def not_allowed(name: str) -> str:
    """Why a plugin is refused or left out: the install route's 403 message."""
    return f'plugin "{name}" is not in the org allowlist'


def installed_row(workspace_id: str, staged: StagedPlugin, source_raw: str) -> Installed:
    """The `workspace_plugins` row of a staged tree delivered into a workspace."""
    manifest = describe(staged.name, staged.manifest)
    del manifest["name"]
    return Installed(
        workspace_id,
        staged.name,
        source_raw,
        staged.commit,
        staged.manifest_sha256(),
        staged.tree_sha256(),
        manifest,
    )


async def write_tree(provisioner: Provisioner, workspace_id: str, staged: StagedPlugin) -> None:
    """Every file of the tree, under the workspace's /plugins/<name>/."""
    for rel in sorted(staged.files):
        path = f"/plugins/{staged.name}/{rel}"
        await provisioner.write_file(workspace_id, path, staged.files[rel])


class PluginSeeds:
    """The registry reader of one import (blocking: run it in a worker thread)."""

    def __init__(self, registry: PluginRegistry) -> None:
        self.registry = registry
        self.limits = Limits.from_env()
        self._staged: dict[str, StagedPlugin] = {}
        self._refused: dict[str, MoleculeError] = {}
        self._bytes = 0

    def get(self, name: str) -> StagedPlugin:
        """The registry's `name`, checked; else a MoleculeError whose message says why (a
        5xx when the registry itself could not be read)."""
        if name in self._staged:
            return self._staged[name]
        if name not in self._refused:
            try:
                self._staged[name] = self._read(name)
                return self._staged[name]
            except MoleculeError as exc:
                self._refused[name] = exc
        raise self._refused[name]

    def _read(self, name: str) -> StagedPlugin:
        try:
            plugin = self.registry.stage(name, self.limits)
            plugin.verify_integrity()
        except NotFound:
            raise NotFound(NOT_IN_REGISTRY) from None
        except OSError:
            raise BadGateway(UNREADABLE) from None
        size = sum(len(b) for b in plugin.files.values())
        if self._bytes + size > self.limits.max_bytes:
            raise PayloadTooLarge(f"the plugins of one import exceed {self.limits.max_bytes} bytes")
        self._bytes += size
        return plugin


async def staged_import(
    take_slot: Callable[[], Awaitable[Callable[[], None]]],
    tasks: Tasks,
    what: str,
    plan: Callable[[], Awaitable[P]],
    run: Callable[[P], Awaitable[T]],
    timeout: float,
) -> T:
    """`plan` here (its refusals are the caller's answer), then `run` as a platform task that
    goes on if the caller hangs up; one staging slot is held from before the plan until the
    run ends, and released by whichever of the two ends last holds it."""
    release = await take_slot()
    try:
        planned = await plan()
    except BaseException:
        release()
        raise

    async def work() -> T:
        try:
            return await run(planned)
        finally:
            release()

    try:
        return await tasks.run(what, work, timeout=timeout)
    except Exception:
        release()  # refused before it started (the task limit); after, a no-op
        raise
