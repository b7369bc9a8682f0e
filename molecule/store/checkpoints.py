"""The `workflow_checkpoints` table: the last completed steps of an agent's workflows.

One row per (workspace, workflow, step): saving a step again moves it forward (new index,
payload and completion time) instead of adding a row, so a resumed workflow finds where it
stopped. `payload` is any JSON value, or NULL when none was given.
"""

from __future__ import annotations

from typing import Any

from molecule.jsontext import dumps
from molecule.store.pool import Store, affected

_COLUMNS = "id, workspace_id, workflow_id, step_name, step_index, completed_at, payload"
_NO_PAYLOAD = object()


class CheckpointRows:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def upsert(
        self,
        workspace_id: str,
        workflow_id: str,
        step_name: str,
        step_index: int,
        payload: Any = _NO_PAYLOAD,
    ) -> str:
        """Save the step; the row's id (the same id when the step was saved before)."""
        text = None if payload is _NO_PAYLOAD else dumps(payload)
        checkpoint_id: str = await self.store.fetchval(
            "INSERT INTO workflow_checkpoints"
            " (workspace_id, workflow_id, step_name, step_index, payload)"
            " VALUES ($1, $2, $3, $4, $5::text::jsonb)"
            " ON CONFLICT (workspace_id, workflow_id, step_name) DO UPDATE SET"
            "   step_index = EXCLUDED.step_index, completed_at = clock_timestamp(),"
            "   payload = EXCLUDED.payload"
            " RETURNING id",
            workspace_id,
            workflow_id,
            step_name,
            step_index,
            text,
        )
        return checkpoint_id

    async def recent(
        self, workspace_id: str, workflow_id: str | None, limit: int
    ) -> list[dict[str, Any]]:
        """The workspace's checkpoints (or one workflow's), most recently completed first."""
        if workflow_id is None:
            rows = await self.store.fetch(
                f"SELECT {_COLUMNS} FROM workflow_checkpoints WHERE workspace_id = $1"
                " ORDER BY completed_at DESC, id DESC LIMIT $2",
                workspace_id,
                limit,
            )
        else:
            rows = await self.store.fetch(
                f"SELECT {_COLUMNS} FROM workflow_checkpoints"
                " WHERE workspace_id = $1 AND workflow_id = $2"
                " ORDER BY completed_at DESC, id DESC LIMIT $3",
                workspace_id,
                workflow_id,
                limit,
            )
        return [dict(r) for r in rows]

    async def steps(self, workspace_id: str, workflow_id: str, limit: int) -> list[dict[str, Any]]:
        """One workflow's checkpoints, highest step index first (the original's list)."""
        rows = await self.store.fetch(
            f"SELECT {_COLUMNS} FROM workflow_checkpoints"
            " WHERE workspace_id = $1 AND workflow_id = $2"
            " ORDER BY step_index DESC, completed_at DESC LIMIT $3",
            workspace_id,
            workflow_id,
            limit,
        )
        return [dict(r) for r in rows]

    async def delete_workflow(self, workspace_id: str, workflow_id: str) -> int:
        """Delete every checkpoint of the workflow; how many there were."""
        status = await self.store.execute(
            "DELETE FROM workflow_checkpoints WHERE workspace_id = $1 AND workflow_id = $2",
            workspace_id,
            workflow_id,
        )
        return affected(status)
