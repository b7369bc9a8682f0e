"""Global and per-workspace secrets, sealed with the platform's SecretBox."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from molecule.errors import DecryptError
from molecule.security.crypto import SecretBox
from molecule.store.pool import Store, affected


@dataclass(frozen=True)
class LoadedSecrets:
    values: dict[str, str]  # global overlaid by workspace
    failed_global: list[str]
    failed_workspace: list[str]


class Secrets:
    def __init__(self, store: Store, box: SecretBox) -> None:
        self.store = store
        self.box = box

    async def set_global(self, key: str, value: str) -> None:
        blob, version = self.box.seal(value)
        await self.store.execute(
            "INSERT INTO global_secrets (key, encrypted_value, encryption_version)"
            " VALUES ($1, $2, $3) ON CONFLICT (key) DO UPDATE SET"
            " encrypted_value = $2, encryption_version = $3, updated_at = now()",
            key,
            blob,
            version,
        )

    async def set_workspace(self, workspace_id: str, key: str, value: str) -> None:
        blob, version = self.box.seal(value)
        await self.store.execute(
            "INSERT INTO workspace_secrets (workspace_id, key, encrypted_value, encryption_version)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (workspace_id, key) DO UPDATE SET"
            " encrypted_value = $3, encryption_version = $4, updated_at = now()",
            workspace_id,
            key,
            blob,
            version,
        )

    async def delete_global(self, key: str) -> bool:
        status = await self.store.execute("DELETE FROM global_secrets WHERE key = $1", key)
        return affected(status) == 1

    async def delete_workspace(self, workspace_id: str, key: str) -> bool:
        status = await self.store.execute(
            "DELETE FROM workspace_secrets WHERE workspace_id = $1 AND key = $2", workspace_id, key
        )
        return affected(status) == 1

    async def list_keys(self, workspace_id: str | None) -> list[dict[str, Any]]:
        """Key metadata only; a workspace key hides the global key of the same name."""
        glob = await self.store.fetch(
            "SELECT key, created_at, updated_at FROM global_secrets ORDER BY key"
        )
        if workspace_id is None:
            return [{**dict(r), "has_value": True, "scope": "global"} for r in glob]
        own = await self.store.fetch(
            "SELECT key, created_at, updated_at FROM workspace_secrets WHERE workspace_id = $1"
            " ORDER BY key",
            workspace_id,
        )
        mine = {r["key"] for r in own}
        merged = [{**dict(r), "has_value": True, "scope": "workspace"} for r in own]
        merged += [
            {**dict(r), "has_value": True, "scope": "global"} for r in glob if r["key"] not in mine
        ]
        return sorted(merged, key=lambda r: r["key"])

    async def get_workspace(self, workspace_id: str, key: str) -> str | None:
        """One workspace secret's value (None when not set); `DecryptError` if it cannot be
        opened."""
        row = await self.store.fetchrow(
            "SELECT encrypted_value, encryption_version FROM workspace_secrets"
            " WHERE workspace_id = $1 AND key = $2",
            workspace_id,
            key,
        )
        return None if row is None else self._open(row)

    def _open(self, row: Any) -> str:
        return self.box.open(row["encrypted_value"], row["encryption_version"])

    async def load(self, workspace_id: str) -> LoadedSecrets:
        """Decrypt global then workspace secrets (workspace wins); failures are reported."""
        values: dict[str, str] = {}
        failed_global: list[str] = []
        failed_workspace: list[str] = []
        for row in await self.store.fetch(
            "SELECT key, encrypted_value, encryption_version FROM global_secrets"
        ):
            try:
                values[row["key"]] = self.box.open(
                    row["encrypted_value"], row["encryption_version"]
                )
            except DecryptError:
                failed_global.append(row["key"])
        for row in await self.store.fetch(
            "SELECT key, encrypted_value, encryption_version FROM workspace_secrets"
            " WHERE workspace_id = $1",
            workspace_id,
        ):
            try:
                values[row["key"]] = self.box.open(
                    row["encrypted_value"], row["encryption_version"]
                )
            except DecryptError:
                failed_workspace.append(row["key"])
        return LoadedSecrets(values, failed_global, failed_workspace)
