"""Workspace image refresh: when a runtime's image changes, its workspaces restart on it.

`refresh(runtimes)` (POST /admin/workspace-images/refresh, upstream-april §1.1): bring each
runtime's image up to date (the built-in image is rebuilt if this platform's source changed,
a template image is pulled), then, with `recreate`, restart every running workspace whose
container runs an older image than its runtime's tag now names. The restart goes through
the workspace actor's coalescing path (`Restart`), never around it: a workspace already
restarting simply gets its one extra cycle, which starts from the new image.

The watcher (IMAGE_AUTO_REFRESH=true, every 5 minutes): for each runtime image our containers
use, it observes the image the tag names (a template image is pulled first, so a new
release in the registry moves the tag). The first observation only seeds; a change triggers
`refresh`; a refresh that fails puts the old observation back, so the next tick retries.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from molecule.actors.directory import Directory
from molecule.actors.messages import Restart
from molecule.errors import EngineError
from molecule.provision.docker.naming import RUNTIME_LABEL, workspace_of
from molecule.provision.docker.provisioner import DockerProvisioner
from molecule.provision.runtimes import BUILTIN_IMAGE, refreshable_runtimes

log = logging.getLogger("molecule.actors.image_refresh")

WATCH_INTERVAL = 300.0
REFRESH_REASON = "workspace image refreshed"


@dataclass
class RefreshResult:
    pulled: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    recreated: list[str] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        return {"pulled": self.pulled, "failed": self.failed, "recreated": self.recreated}


class ImageRefresh:
    def __init__(self, provisioner: DockerProvisioner, directory: Directory) -> None:
        self.provisioner = provisioner
        self.directory = directory
        self.seen: dict[str, str] = {}  # image reference -> the image id last observed

    def images_of(self, runtimes: list[str]) -> list[str]:
        refs = {self.provisioner.images.image_for(r) for r in runtimes}
        return sorted(refs)

    async def update(self, ref: str) -> None:
        if ref == BUILTIN_IMAGE:
            await self.provisioner.images.ensure_builtin()
        else:
            await self.provisioner.images.pull(ref)

    async def refresh(
        self, runtimes: list[str] | None, recreate: bool = True, into: RefreshResult | None = None
    ) -> RefreshResult:
        """Update the images of `runtimes` (all when None), then restart outdated workspaces.
        EngineError only when the containers cannot be listed (`into` then holds what was
        done so far)."""
        result = into if into is not None else RefreshResult()
        refs = self.images_of(list(runtimes or refreshable_runtimes()))
        for ref in refs:
            try:
                await self.update(ref)
                result.pulled.append(ref)
            except EngineError as exc:
                log.warning("image refresh: %s not updated: %s", ref, exc)
                result.failed.append(ref)
        if recreate:
            await self.restart_outdated(set(refs), result)
        return result

    async def restart_outdated(self, refs: set[str], result: RefreshResult) -> None:
        current = {ref: await self.provisioner.images.image_id(ref) for ref in refs}
        for container in await self.provisioner.managed_containers():
            workspace_id = workspace_of(container)
            runtime = (container.get("Labels") or {}).get(RUNTIME_LABEL, "")
            if workspace_id is None or container.get("State") != "running":
                continue
            ref = self.provisioner.images.image_for(runtime)
            if ref not in refs or current.get(ref) in (None, container.get("ImageID")):
                continue
            ref_actor = await self.directory.get(workspace_id)
            if ref_actor is None:
                continue
            try:
                ref_actor.tell(Restart(REFRESH_REASON))
            except Exception as exc:  # a full mailbox: the next refresh or tick retries
                log.warning("image refresh: workspace %s not told: %r", workspace_id, exc)
                continue
            names = container.get("Names") or [workspace_id]
            result.recreated.append(str(names[0]).lstrip("/"))
            log.info("image refresh: restarting workspace %s on %s", workspace_id, ref)

    async def watch_tick(self) -> list[str]:
        """One watcher round; the images whose change triggered a refresh."""
        refs = {BUILTIN_IMAGE}
        for container in await self.provisioner.managed_containers():
            runtime = (container.get("Labels") or {}).get(RUNTIME_LABEL)
            if runtime:
                refs.add(self.provisioner.images.image_for(runtime))
        changed: list[str] = []
        for ref in sorted(refs):
            if ref != BUILTIN_IMAGE:
                try:
                    await self.provisioner.images.pull(ref)
                except EngineError as exc:
                    log.debug("image watch: %s not pulled: %s", ref, exc)
            observed = await self.provisioner.images.image_id(ref)
            if observed is None:
                continue
            previous = self.seen.get(ref)
            self.seen[ref] = observed
            if previous is None or previous == observed:
                continue  # the first observation only seeds
            try:
                result = RefreshResult()
                await self.restart_outdated({ref}, result)
                changed.append(ref)
            except EngineError as exc:
                self.seen[ref] = previous  # the next tick retries
                log.warning("image watch: refreshing %s failed: %s", ref, exc)
        return changed
