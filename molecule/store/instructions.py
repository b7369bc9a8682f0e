"""The `platform_instructions` table: operator rules prepended to agents' system prompts.

A rule is `global` (every workspace) or `workspace` (the one named by `scope_target`). The
schema keeps the original's `team` value, which no route accepts. A workspace's resolved set is
its enabled rules, global ones first, each group by priority (highest first), then by age.
"""

from __future__ import annotations

from typing import Any

from molecule.store.pool import Store, affected

_COLUMNS = "id, scope, scope_target, title, content, priority, enabled, created_at, updated_at"
_FOR_WORKSPACE = (
    "enabled AND (scope = 'global' OR (scope = 'workspace' AND scope_target = $1))"
    " ORDER BY CASE scope WHEN 'global' THEN 0 ELSE 1 END, priority DESC, created_at, id"
)


class InstructionRows:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def count(self) -> int:
        value: int = await self.store.fetchval("SELECT count(*) FROM platform_instructions")
        return value

    async def create(
        self, scope: str, scope_target: str | None, title: str, content: str, priority: int
    ) -> str:
        instruction_id: str = await self.store.fetchval(
            "INSERT INTO platform_instructions (scope, scope_target, title, content, priority)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING id",
            scope,
            scope_target,
            title,
            content,
            priority,
        )
        return instruction_id

    async def update(self, instruction_id: str, changes: dict[str, Any]) -> bool:
        """Change the given fields (title, content, priority, enabled); False if no such row."""
        status = await self.store.execute(
            "UPDATE platform_instructions SET title = COALESCE($2, title),"
            " content = COALESCE($3, content), priority = COALESCE($4, priority),"
            " enabled = COALESCE($5, enabled), updated_at = now() WHERE id = $1",
            instruction_id,
            changes.get("title"),
            changes.get("content"),
            changes.get("priority"),
            changes.get("enabled"),
        )
        return affected(status) == 1

    async def delete(self, instruction_id: str) -> bool:
        status = await self.store.execute(
            "DELETE FROM platform_instructions WHERE id = $1", instruction_id
        )
        return affected(status) == 1

    async def listing(self, scope: str | None = None) -> list[dict[str, Any]]:
        """Every rule (or those of one scope), enabled or not: the operator's view."""
        if scope is None:
            rows = await self.store.fetch(
                f"SELECT {_COLUMNS} FROM platform_instructions"
                " ORDER BY scope, priority DESC, created_at, id"
            )
        else:
            rows = await self.store.fetch(
                f"SELECT {_COLUMNS} FROM platform_instructions WHERE scope = $1"
                " ORDER BY priority DESC, created_at, id",
                scope,
            )
        return [dict(r) for r in rows]

    async def for_workspace(self, workspace_id: str) -> list[dict[str, Any]]:
        """The enabled rules that apply to the workspace, in the order they are resolved."""
        rows = await self.store.fetch(
            f"SELECT {_COLUMNS} FROM platform_instructions WHERE {_FOR_WORKSPACE}", workspace_id
        )
        return [dict(r) for r in rows]
