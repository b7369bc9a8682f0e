"""The Docker backend's sweeps (upstream-may §9.1), run as supervised services.

Orphan sweep, every 60 s (first pass at once, each pass bounded by 30 s). It looks only at
this platform's labelled containers and volumes (molecule.provision.docker.naming):

1. a container whose workspace row is `removed` (a delete whose cleanup failed or was cut
   short) or missing altogether (a wiped database) is stopped and removed, then its volumes;
   a stop that fails keeps the volumes, as the original did, for the next pass;
2. volumes of such workspaces that no container holds any more are removed (a delete whose
   stop succeeded but whose volume removal did not).

Stale-token pass, in the same round: see molecule.store.orphan_rows.

Containers of live rows are never touched here: their workspace actors own them.
"""

from __future__ import annotations

import logging

import trio

from molecule.actors.directory import Directory
from molecule.actors.image_refresh import WATCH_INTERVAL, ImageRefresh
from molecule.actors.supervision import ServiceSupervisor
from molecule.errors import DatastoreUnavailable, EngineError
from molecule.models import WorkspaceStatus
from molecule.provision.base import Provisioner
from molecule.provision.docker.naming import container_name, workspace_of
from molecule.provision.docker.provisioner import DockerProvisioner
from molecule.store.orphan_rows import OrphanRows
from molecule.store.token_rows import WorkspaceTokens

log = logging.getLogger("molecule.actors.docker_sweeps")

ORPHAN_SWEEP_INTERVAL = 60.0
ORPHAN_SWEEP_DEADLINE = 30.0


def _orphaned(status: str | None) -> bool:
    return status is None or status == WorkspaceStatus.REMOVED


async def sweep_orphans(provisioner: DockerProvisioner, rows: OrphanRows) -> list[str]:
    """One pass; the ids of the workspaces whose leftovers were cleaned."""
    containers = await provisioner.managed_containers()
    volumes = await provisioner.managed_volumes()
    owners = {workspace_of(obj) for obj in [*containers, *volumes]} - {None}
    statuses = await rows.statuses(sorted(o for o in owners if o))
    cleaned: list[str] = []
    kept: set[str] = set()
    for container in containers:
        workspace_id = workspace_of(container)
        if workspace_id is None or not _orphaned(statuses.get(workspace_id)):
            continue
        names = [n.lstrip("/") for n in container.get("Names") or []]
        try:
            if container_name(workspace_id) in names:
                await provisioner.stop(workspace_id)
            else:  # a leftover helper (ws-<id12>-files-*)
                await provisioner.engine.json(
                    "DELETE", f"containers/{container['Id']}", params={"force": True}
                )
        except EngineError as exc:
            log.warning(
                "orphan sweep: workspace %s: stop failed, volumes kept: %s", workspace_id, exc
            )
            kept.add(workspace_id)
            continue
        log.info("orphan sweep: stopped the container of workspace %s", workspace_id)
        cleaned.append(workspace_id)
    for workspace_id in sorted({w for v in volumes if (w := workspace_of(v))} - kept):
        if not _orphaned(statuses.get(workspace_id)):
            continue
        try:
            await provisioner.remove_volumes(workspace_id)
        except EngineError as exc:
            log.warning("orphan sweep: workspace %s: volumes not removed: %s", workspace_id, exc)
            continue
        if workspace_id not in cleaned:
            cleaned.append(workspace_id)
    return cleaned


async def sweep_stale_tokens(
    provisioner: DockerProvisioner, rows: OrphanRows, tokens: WorkspaceTokens
) -> list[str]:
    running = [
        workspace_id
        for c in await provisioner.managed_containers()
        if c.get("State") == "running" and (workspace_id := workspace_of(c))
    ]
    revoked = await rows.revoke_stale_tokens(running)
    for workspace_id in revoked:
        tokens.invalidate(workspace_id)
        log.warning(
            "stale-token sweep: revoked the unused tokens of workspace %s (no container)",
            workspace_id,
        )
    return revoked


async def docker_sweep_round(
    provisioner: DockerProvisioner, rows: OrphanRows, tokens: WorkspaceTokens
) -> None:
    with trio.move_on_after(ORPHAN_SWEEP_DEADLINE) as scope:
        await sweep_orphans(provisioner, rows)
        await sweep_stale_tokens(provisioner, rows, tokens)
    if scope.cancelled_caught:
        log.warning("orphan sweep: the pass took longer than %g s", ORPHAN_SWEEP_DEADLINE)


def start_docker_sweeps(
    services: ServiceSupervisor,
    provisioner: Provisioner,
    directory: Directory,
    rows: OrphanRows,
    tokens: WorkspaceTokens,
    *,
    image_auto_refresh: bool,
) -> None:
    """The sweeps, when the live backend is Docker (nothing otherwise), and the image
    watcher when IMAGE_AUTO_REFRESH=true."""
    if not isinstance(provisioner, DockerProvisioner):
        return
    if image_auto_refresh:
        watch = ImageRefresh(provisioner, directory)
        services.every("image auto-refresh", WATCH_INTERVAL, watch.watch_tick)

    async def loop() -> None:  # the first pass at once, as the original's
        while True:
            try:
                await docker_sweep_round(provisioner, rows, tokens)
            except DatastoreUnavailable:
                log.warning("orphan sweep: the database is unreachable; will retry")
            except EngineError as exc:
                log.warning("orphan sweep: the Docker Engine failed (%s); will retry", exc)
            await trio.sleep(ORPHAN_SWEEP_INTERVAL)

    services.start("docker orphan sweep", loop)
