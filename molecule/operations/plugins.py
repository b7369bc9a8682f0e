"""Plugins in workspaces: resolve a source, stage and check the tree, deliver it, restart.

The original's pipeline (`resolveAndStage`, then the org allowlist, then delivery), with its
bodies and messages (docs/compatibility.md#d51):

1. the source: `'source' is required …` / `invalid plugin source` / `failed to resolve plugin
   source` (+`available_schemes`) / `invalid plugin name` (400); an unpinned `github://` spec
   422 unless PLUGIN_ALLOW_UNPINNED=true;
2. the fetch (molecule.provision.plugins_registry for `local://`, plugins_github for
   `github://`) into memory, every path, type and bound checked
   (molecule.provision.plugins_staging): 404 / 502 / 504 `failed to fetch plugin from
   <scheme>` with no detail, 413 `staged plugin exceeds size limit`, 422 for an unsafe tree,
   a failed `manifest.json` integrity check or a `sha256` pin that does not match the SHA-256
   of `plugin.yaml`; each with `source`;
3. the org allowlist of the workspace's root: 403 `plugin "<name>" is not in the org
   allowlist`;
4. the `workspace_plugins` row, then delivery into the workspace's `/plugins/<name>/`
   through the provisioner (the local backend's link-refusing writer, or the Docker
   backend's volume files), the previous files of that name removed first; only then the
   answer, and a restart through the workspace actor (coalescing, docs/compatibility.md#d11).

Nothing is written before every check has passed. The writes (files, row, restart request)
run as a platform task, so a client that hangs up cannot leave half a plugin behind; a
database outage stops it before any file changes (503), and a delivery that fails midway
removes what it wrote and forgets the install (500 `failed to copy plugin to container`).
Installs and uninstalls of one workspace take turns; at most MAX_STAGED trees are held in
memory at once (503 past SLOT_WAIT).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

from molecule.actors.directory import Directory
from molecule.actors.supervision import Tasks
from molecule.errors import (
    BadGateway,
    BadRequest,
    Forbidden,
    MoleculeError,
    NoBackend,
    NotFound,
    ServiceUnavailable,
    Unprocessable,
)
from molecule.operations.plugin_seeds import UNREADABLE, installed_row, not_allowed, write_tree
from molecule.operations.workspace_settings import request_restart
from molecule.provision.pipeline import Pipeline
from molecule.provision.plugins_github import (
    UNPINNED,
    GithubResolver,
    GithubSpec,
    unpinned_allowed,
)
from molecule.provision.plugins_registry import (
    PluginRegistry,
    Source,
    check_name,
    describe,
    parse_source,
    supports_runtime,
    valid_name,
)
from molecule.provision.plugins_staging import Limits, StagedPlugin
from molecule.provision.runtimes import platform_runs
from molecule.store.plugins import PluginRows
from molecule.store.pool import Store
from molecule.store.workspaces import Workspaces

log = logging.getLogger("molecule.operations.plugins")

SCHEMES = ("github", "local")
SOURCE_REQUIRED = """'source' is required (e.g. "local://my-plugin" or "github://owner/repo")"""
UNRESOLVED = "failed to resolve plugin source"
BAD_NAME_FROM_SOURCE = "resolver returned invalid plugin name"
COPY_FAILED = "failed to copy plugin to container"
REMOVE_FAILED = "failed to remove plugin"
NOT_INSTALLED = "plugin not installed"
NO_MANIFEST = "sha256 check failed: plugin.yaml not found in staged plugin"
SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
SHA256_FORMAT = "sha256 must be 64 hexadecimal characters (the SHA-256 of plugin.yaml)"
MAX_STAGED = 4
SLOT_WAIT = 30.0
WRITE_TIMEOUT = 600.0


class PluginSupport:
    """What every request shares: the `github://` resolver (tests point its base URL at a
    local git server), the slots bounding staged trees in memory, one lock per workspace."""

    def __init__(self) -> None:
        self.github = GithubResolver()
        self._slots = trio.Semaphore(MAX_STAGED)
        self._locks: dict[str, tuple[trio.Lock, list[int]]] = {}

    async def take_slot(self) -> Callable[[], None]:
        """One of the slots; the function that gives it back may be called from any task,
        and more than once (an import hands it to the task that finishes the work)."""
        with trio.move_on_after(SLOT_WAIT) as waiting:
            await self._slots.acquire()
        if waiting.cancelled_caught:
            raise ServiceUnavailable("platform busy — retry shortly", retry_after=5)
        held = True

        def release() -> None:
            nonlocal held
            if held:
                held = False
                self._slots.release()

        return release

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        release = await self.take_slot()
        try:
            yield
        finally:
            release()

    @asynccontextmanager
    async def turn(self, workspace_id: str) -> AsyncIterator[None]:
        lock, users = self._locks.setdefault(workspace_id, (trio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._locks[workspace_id]


def plugin_view(record: dict[str, Any], runtime: str | None = None) -> dict[str, Any]:
    """An installed plugin as the API shows it (`supported_on_runtime` given a runtime)."""
    manifest = record.get("manifest") or {}
    info = describe(record["plugin_name"], None)
    info.update({k: manifest[k] for k in info if k != "name" and k in manifest})
    if runtime:
        info["supported_on_runtime"] = supports_runtime(info, runtime)
    info["source"] = record["source_raw"]
    if record.get("manifest_sha256"):
        info["sha256"] = record["manifest_sha256"]
    info["installed_at"] = record["installed_at"]
    return info


class Plugins:
    def __init__(
        self,
        store: Store,
        workspaces: Workspaces,
        directory: Directory,
        pipeline: Pipeline,
        tasks: Tasks,
        home: Path,
        support: PluginSupport,
    ) -> None:
        self.rows = PluginRows(store)
        self.workspaces = workspaces
        self.directory = directory
        self.pipeline = pipeline
        self.tasks = tasks
        self.registry = PluginRegistry.for_home(home)
        self.support = support

    async def workspace(self, workspace_id: str) -> dict[str, Any]:
        return await self.workspaces.live(workspace_id)

    # -- resolve and stage ---------------------------------------------------------------------

    def plan(self, source_text: str, sha256: str | None) -> Source:
        """Every check of the request itself, before anything is fetched."""
        if not source_text.strip():
            raise BadRequest(SOURCE_REQUIRED)
        source = parse_source(source_text)
        if source.scheme not in SCHEMES:
            raise BadRequest(UNRESOLVED, extra={"available_schemes": list(SCHEMES)})
        if source.scheme == "local":
            check_name(source.spec, local=True)
        else:
            spec = GithubSpec.parse(source.spec)
            if spec.ref is None and not unpinned_allowed():
                raise Unprocessable(UNPINNED, extra={"source": source.raw})
        if sha256 is not None and not SHA256.match(sha256):
            raise BadRequest(SHA256_FORMAT)
        return source

    async def stage(self, source: Source, sha256: str | None) -> StagedPlugin:
        """Fetch and check the tree (every refusal carries `source`)."""
        limits = Limits.from_env()
        try:
            if source.scheme == "local":
                try:
                    staged = await trio.to_thread.run_sync(self.registry.stage, source.spec, limits)
                except OSError as exc:  # the operator's directory could not be read
                    log.error("plugin %s: reading the registry failed: %r", source.raw, exc)
                    raise BadGateway(UNREADABLE) from None
            else:
                staged = await self.support.github.fetch(GithubSpec.parse(source.spec), limits)
            if not valid_name(staged.name):
                raise BadRequest(BAD_NAME_FROM_SOURCE)
            staged.verify_integrity()
            if sha256 is not None:
                got = staged.manifest_sha256()
                if got is None:
                    raise Unprocessable(NO_MANIFEST)
                if got != sha256.lower():
                    raise Unprocessable(f"sha256 mismatch: expected {sha256}, got {got}")
        except MoleculeError as exc:
            if exc.status < 500 or exc.status in (502, 504):
                exc.extra.setdefault("source", source.raw)
            raise
        return staged

    async def check_allowlist(self, workspace_id: str, name: str) -> None:
        org = await self.rows.org_of(workspace_id)
        if org is not None and await self.rows.blocked(org, name):
            raise Forbidden(not_allowed(name))

    # -- install and uninstall -----------------------------------------------------------------

    def _deliverable(self, row: dict[str, Any]) -> None:
        provisioner = self.pipeline.provisioner
        if provisioner is None:
            raise NoBackend()
        runtime = str(row["runtime"] or "")
        if not (platform_runs(runtime) and provisioner.can_run(runtime)):
            raise Unprocessable(
                f"plugins are installed only into workspaces whose agent this platform runs; "
                f'runtime "{runtime}" runs elsewhere (its agent can download a plugin: '
                "GET /workspaces/:id/plugins/:name/download)"
            )

    async def install(
        self, workspace_id: str, source_text: str, sha256: str | None
    ) -> dict[str, Any]:
        row = await self.workspace(workspace_id)
        source = self.plan(source_text, sha256)
        self._deliverable(row)
        async with self.support.slot():
            staged = await self.stage(source, sha256)
            await self.check_allowlist(workspace_id, staged.name)

            async def deliver() -> None:
                async with self.support.turn(workspace_id):
                    await self._deliver(workspace_id, staged, source)
                await request_restart(
                    self.directory, workspace_id, f"plugin {staged.name} installed"
                )

            try:
                await self.tasks.run("plugin install", deliver, timeout=WRITE_TIMEOUT)
            except trio.TooSlowError:
                raise MoleculeError(COPY_FAILED) from None
        log.info("plugin %s installed into %s from %s", staged.name, workspace_id, source.raw)
        return {"status": "installed", "plugin": staged.name, "source": source.raw}

    async def _deliver(self, workspace_id: str, staged: StagedPlugin, source: Source) -> None:
        """The row first (a database outage then changes nothing), then the files; a write
        that fails removes what it wrote and the row."""
        provisioner = self.pipeline.provisioner
        assert provisioner is not None
        await self.rows.record(installed_row(workspace_id, staged, source.raw))
        target = f"/plugins/{staged.name}"
        try:
            await self._remove_tree(workspace_id, target)
            await write_tree(provisioner, workspace_id, staged)
        except (OSError, MoleculeError) as exc:
            log.error("plugin %s: delivery to %s failed: %r", staged.name, workspace_id, exc)
            try:
                await self._remove_tree(workspace_id, target)
            except (OSError, MoleculeError) as again:
                log.error("plugin %s: cleanup in %s failed: %r", staged.name, workspace_id, again)
            await self.rows.forget(workspace_id, staged.name)
            raise MoleculeError(COPY_FAILED) from None

    async def _remove_tree(self, workspace_id: str, target: str) -> None:
        provisioner = self.pipeline.provisioner
        assert provisioner is not None
        try:
            await provisioner.delete_file(workspace_id, target)
        except FileNotFoundError:
            pass

    async def uninstall(self, workspace_id: str, name: str) -> dict[str, Any]:
        check_name(name)
        row = await self.workspace(workspace_id)
        if await self.rows.get(workspace_id, name) is None:
            raise NotFound(NOT_INSTALLED)
        provisioner = self.pipeline.provisioner
        runtime = str(row["runtime"] or "")
        has_files = provisioner is not None and platform_runs(runtime)

        async def remove() -> None:
            async with self.support.turn(workspace_id):
                if has_files:
                    try:
                        await self._remove_tree(workspace_id, f"/plugins/{name}")
                    except (OSError, MoleculeError) as exc:
                        log.error("plugin %s: removal from %s failed: %r", name, workspace_id, exc)
                        raise MoleculeError(REMOVE_FAILED) from None
                await self.rows.forget(workspace_id, name)
            await request_restart(self.directory, workspace_id, f"plugin {name} uninstalled")

        try:
            await self.tasks.run("plugin uninstall", remove, timeout=WRITE_TIMEOUT)
        except trio.TooSlowError:
            raise MoleculeError(REMOVE_FAILED) from None
        return {"status": "uninstalled", "plugin": name}

    # -- reads ---------------------------------------------------------------------------------

    async def installed(self, workspace_id: str) -> list[dict[str, Any]]:
        row = await self.workspace(workspace_id)
        records = await self.rows.installed(workspace_id)
        return [plugin_view(r, str(row["runtime"] or "")) for r in records]

    async def available(self, workspace_id: str) -> list[dict[str, Any]]:
        row = await self.workspace(workspace_id)
        return await trio.to_thread.run_sync(self.registry.listing, str(row["runtime"] or ""))

    async def compatibility(self, workspace_id: str, runtime: str) -> dict[str, Any]:
        await self.workspace(workspace_id)
        compatible: list[dict[str, Any]] = []
        incompatible: list[dict[str, Any]] = []
        for record in await self.rows.installed(workspace_id):
            info = plugin_view(record)
            (compatible if supports_runtime(info, runtime) else incompatible).append(info)
        return {
            "target_runtime": runtime,
            "compatible": compatible,
            "incompatible": incompatible,
            "all_compatible": not incompatible,
        }

    async def download(
        self, workspace_id: str, name: str, source_text: str | None, sha256: str | None
    ) -> tuple[StagedPlugin, Source]:
        """The plugin `name` from `source` (default `local://<name>`), staged and checked."""
        check_name(name)
        await self.workspace(workspace_id)
        source = self.plan(source_text or f"local://{name}", sha256)
        async with self.support.slot():
            staged = await self.stage(source, sha256)
        if staged.name != name:
            raise BadRequest(
                f'source resolved to plugin "{staged.name}" but URL requested "{name}"',
                extra={"resolved_name": staged.name, "requested_name": name},
            )
        await self.check_allowlist(workspace_id, name)
        return staged, source
