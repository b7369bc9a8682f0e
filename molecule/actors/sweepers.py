"""Periodic sweeps: they find work in the store and message the WorkspaceActors, which alone
change workspace rows. Each runs as a supervised service (`start_sweeps`).

- queue sweep (docs/compatibility.md#d2): nudge workspaces that have ready A2A queue items;
- provisioning timeout: a workspace stuck in `provisioning` past its runtime-aware timeout
  is marked `failed` by its actor with the canned message;
- hibernation monitor: managed workspaces idle past `hibernation_idle_minutes` are hibernated;
- activity retention: rows older than ACTIVITY_RETENTION_DAYS are deleted;
- pending-uploads GC: staged chat uploads nobody fetched are dropped.
"""

from __future__ import annotations

import logging

from molecule.actors.directory import Directory
from molecule.actors.messages import DrainQueue, Hibernate, ProvisionTimedOut
from molecule.actors.supervision import ServiceSupervisor
from molecule.models import EXTERNAL_RUNTIMES
from molecule.provision.pipeline import Pipeline
from molecule.store.activity_rows import ActivityRows
from molecule.store.pending_uploads import GC_INTERVAL as PENDING_UPLOADS_GC_INTERVAL
from molecule.store.pending_uploads import gc_pending_uploads
from molecule.store.queue import QueueRows

log = logging.getLogger("molecule.actors.sweepers")

PROVISION_SWEEP_INTERVAL = 30.0
HIBERNATION_SWEEP_INTERVAL = 120.0
RETENTION_SWEEP_INTERVAL = 6 * 3600.0
QUEUE_SWEEP_INTERVAL = 30.0
# Runtimes never hibernated: the platform runs nothing for them.
UNMANAGED_RUNTIMES = EXTERNAL_RUNTIMES | {"mock"}


async def _tell(directory: Directory, workspace_id: str, msg: object, sweep: str) -> bool:
    try:
        ref = await directory.get(workspace_id)
        if ref is not None:
            ref.tell(msg)
            return True
    except Exception:
        log.warning("%s: workspace %s not reachable now", sweep, workspace_id)
    return False


async def sweep_queue(queue: QueueRows, directory: Directory) -> None:
    for workspace_id in await queue.workspaces_with_ready_items():
        await _tell(directory, workspace_id, DrainQueue(), "queue sweep")


async def sweep_provisioning(
    pipeline: Pipeline, directory: Directory, env_timeout: float | None
) -> int:
    """Tell every workspace provisioning past its timeout; its actor marks it failed."""
    told = 0
    for row in await pipeline.workspaces.provisioning_ages():
        timeout = pipeline.templates.provision_timeout(row["runtime"], env_timeout)
        if row["age"] >= timeout:
            told += await _tell(directory, row["id"], ProvisionTimedOut(timeout), "provision sweep")
    return told


async def sweep_hibernation(pipeline: Pipeline, directory: Directory) -> int:
    """Hibernate idle workspaces: no task running and no activity for their idle minutes."""
    ids = await pipeline.workspaces.idle_for_hibernation(UNMANAGED_RUNTIMES)
    for workspace_id in ids:
        await _tell(directory, workspace_id, Hibernate(), "hibernation sweep")
    return len(ids)


async def sweep_activity_retention(rows: ActivityRows, days: float) -> int:
    """Delete activity rows older than ACTIVITY_RETENTION_DAYS (default 7)."""
    return await rows.delete_older_than(float(days) * 86400)


def start_sweeps(
    services: ServiceSupervisor,
    directory: Directory,
    pipeline: Pipeline,
    queue: QueueRows,
    activity_rows: ActivityRows,
    *,
    provision_timeout: float | None,
    retention_days: float,
) -> None:
    services.every("queue sweep", QUEUE_SWEEP_INTERVAL, lambda: sweep_queue(queue, directory))
    services.every(
        "provisioning sweep",
        PROVISION_SWEEP_INTERVAL,
        lambda: sweep_provisioning(pipeline, directory, provision_timeout),
    )
    services.every(
        "hibernation monitor",
        HIBERNATION_SWEEP_INTERVAL,
        lambda: sweep_hibernation(pipeline, directory),
    )
    services.every(
        "activity retention",
        RETENTION_SWEEP_INTERVAL,
        lambda: sweep_activity_retention(activity_rows, retention_days),
    )
    store = activity_rows.store
    services.every(
        "pending-uploads GC", PENDING_UPLOADS_GC_INTERVAL, lambda: gc_pending_uploads(store)
    )
