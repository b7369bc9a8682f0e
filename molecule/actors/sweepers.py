"""Periodic sweeps: they find work with SQL and message the WorkspaceActors.

- activity retention: rows older than ACTIVITY_RETENTION_DAYS are deleted;
- hibernation monitor: managed workspaces idle past `hibernation_idle_minutes` are hibernated;
- queue sweep (D2): nudge workspaces that have ready A2A queue items;
- provisioning timeout: a workspace stuck in `provisioning` past its runtime-aware timeout
  is marked `failed` with the canned message (upstream-may §7.6).
"""

from __future__ import annotations

import logging

from molecule.actors.directory import Directory
from molecule.actors.messages import DrainQueue, Hibernate, ProvisionTimedOut
from molecule.provision.pipeline import Pipeline
from molecule.store.pool import Store
from molecule.store.queue import QueueRows

log = logging.getLogger("molecule.actors.sweepers")

PROVISION_SWEEP_INTERVAL = 30.0
HIBERNATION_SWEEP_INTERVAL = 120.0
RETENTION_SWEEP_INTERVAL = 6 * 3600.0
QUEUE_SWEEP_INTERVAL = 30.0


async def sweep_queue(queue: QueueRows, directory: Directory) -> None:
    for workspace_id in await queue.workspaces_with_ready_items():
        try:
            ref = await directory.get(workspace_id)
            if ref is not None:
                ref.tell(DrainQueue())
        except Exception:
            log.warning("queue sweep: workspace %s not reachable now", workspace_id)


async def sweep_provisioning(
    pipeline: Pipeline, directory: Directory, env_timeout: float | None
) -> int:
    """Tell every workspace provisioning past its timeout; its actor marks it failed."""
    rows = await pipeline.workspaces.store.fetch(
        "SELECT id, runtime, extract(epoch FROM now() - updated_at)::float8 AS age"
        " FROM workspaces WHERE status = 'provisioning'"
    )
    told = 0
    for row in rows:
        timeout = pipeline.templates.provision_timeout(row["runtime"], env_timeout)
        if row["age"] < timeout:
            continue
        try:
            ref = await directory.get(row["id"])
            if ref is not None:
                ref.tell(ProvisionTimedOut(timeout))
                told += 1
        except Exception:
            log.warning("provision sweep: workspace %s not reachable now", row["id"])
    return told


async def sweep_hibernation(pipeline: Pipeline, directory: Directory) -> int:
    """Hibernate idle workspaces: no task running and no activity for their idle minutes.

    Idleness is measured on activity (the original measured heartbeat age, which a healthy
    agent refreshes every 30 s, so it could never fire)."""
    rows = await pipeline.workspaces.store.fetch(
        """
        SELECT w.id FROM workspaces w
        WHERE w.hibernation_idle_minutes > 0 AND w.status IN ('online', 'degraded')
          AND w.active_tasks = 0 AND w.runtime NOT IN ('external', 'kimi', 'kimi-cli', 'mock')
          AND w.updated_at < now() - make_interval(mins => w.hibernation_idle_minutes)
          AND NOT EXISTS (
              SELECT 1 FROM activity_logs a WHERE a.workspace_id = w.id
                AND a.created_at > now() - make_interval(mins => w.hibernation_idle_minutes))
        """
    )
    for row in rows:
        try:
            ref = await directory.get(row["id"])
            if ref is not None:
                ref.tell(Hibernate())
        except Exception:
            log.warning("hibernation sweep: workspace %s not reachable now", row["id"])
    return len(rows)


async def sweep_activity_retention(store: Store, days: float) -> int:
    """Delete activity rows older than ACTIVITY_RETENTION_DAYS (default 7)."""
    status = await store.execute(
        "DELETE FROM activity_logs WHERE created_at < now() - make_interval(secs => $1)",
        float(days) * 86400,
    )
    return int(status.rsplit(" ", 1)[-1])
