"""The rows the Docker backend's sweeps ask about (molecule.actors.docker_sweeps).

- `statuses`: which of the workspaces that own containers or volumes still have a row, and
  in what status (a missing row is a wiped database; `removed` a deleted workspace).
- `revoke_stale_tokens`: the original's stale-token pass (upstream-may §9.1.3). A workspace
  the platform runs, not removed or provisioning, with no running container, whose live
  tokens have been unused for the grace period, loses those tokens: an operator wiped its
  volume outside the API and its next container would hold no token anyway. The grace
  predicate is repeated in the UPDATE itself, so a token minted a moment ago by a start
  cycle (racing this sweep) can never be revoked by it.
"""

from __future__ import annotations

from molecule.store.pool import Store

STALE_TOKEN_GRACE = 300.0  # seconds, the original's staleTokenGrace


class OrphanRows:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def statuses(self, workspace_ids: list[str]) -> dict[str, str]:
        if not workspace_ids:
            return {}
        rows = await self.store.fetch(
            "SELECT id::text AS id, status::text AS status FROM workspaces"
            " WHERE id = ANY($1::uuid[])",
            workspace_ids,
        )
        return {r["id"]: r["status"] for r in rows}

    async def revoke_stale_tokens(
        self, running: list[str], grace: float = STALE_TOKEN_GRACE
    ) -> list[str]:
        """Revoke the stale tokens of workspaces without a running container (their ids
        not in `running`); the ids of the workspaces that lost tokens."""
        rows = await self.store.fetch(
            """
            WITH candidates AS (
                SELECT DISTINCT t.workspace_id
                FROM workspace_auth_tokens t JOIN workspaces w ON w.id = t.workspace_id
                WHERE t.revoked_at IS NULL
                  AND w.status NOT IN ('removed', 'provisioning')
                  AND w.runtime NOT IN ('external', 'mock')
                  AND COALESCE(t.last_used_at, t.created_at) < now() - make_interval(secs => $2)
                  AND NOT (t.workspace_id::text = ANY($1::text[]))
            )
            UPDATE workspace_auth_tokens t SET revoked_at = now()
            FROM candidates c
            WHERE t.workspace_id = c.workspace_id
              AND t.revoked_at IS NULL
              AND COALESCE(t.last_used_at, t.created_at) < now() - make_interval(secs => $2)
            RETURNING t.workspace_id::text AS workspace_id
            """,
            running,
            grace,
        )
        return sorted({r["workspace_id"] for r in rows})
