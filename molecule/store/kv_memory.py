"""The `workspace_memory` table: a workspace's key/value memory, with versions and TTLs.

Every write bumps the row's `version`; a writer that passes `if_match_version` writes only
when the live row still has that version (optimistic concurrency, the original's 409
otherwise), and 0 means "only if the key does not exist yet". A row past its `expires_at` is
hidden from reads and counts as absent for `if_match_version`, but its version carries on
when the key is written again, so a version a client saw before the expiry never matches a
newer value (docs/compatibility.md#d39).

Writes of one workspace are serialised by a transaction-scoped advisory lock, which makes
the live-key bound exact; each successful write also deletes the workspace's other expired
rows, so expired keys cannot pile up beyond the bound either.
"""

from __future__ import annotations

from typing import Any

from molecule.errors import Conflict, TooManyRequests
from molecule.jsontext import dumps
from molecule.store.pool import Connection, Store

_LIVE = "(expires_at IS NULL OR expires_at > now())"
_COLUMNS = "key, value, version, expires_at, updated_at"
_LOCK_NAMESPACE = 0x6B76  # "kv": advisory locks of this table, one per workspace


def entry(record: Any) -> dict[str, Any]:
    """The wire shape: `{key, value, version, expires_at?, updated_at}`."""
    row = dict(record)
    if row["expires_at"] is None:
        del row["expires_at"]
    return row


class KeyValueRows:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def live(self, workspace_id: str) -> list[dict[str, Any]]:
        rows = await self.store.fetch(
            f"SELECT {_COLUMNS} FROM workspace_memory WHERE workspace_id = $1 AND {_LIVE}"
            " ORDER BY key",
            workspace_id,
        )
        return [entry(r) for r in rows]

    async def get(self, workspace_id: str, key: str) -> dict[str, Any] | None:
        row = await self.store.fetchrow(
            f"SELECT {_COLUMNS} FROM workspace_memory"
            f" WHERE workspace_id = $1 AND key = $2 AND {_LIVE}",
            workspace_id,
            key,
        )
        return None if row is None else entry(row)

    async def delete(self, workspace_id: str, key: str) -> None:
        await self.store.execute(
            "DELETE FROM workspace_memory WHERE workspace_id = $1 AND key = $2", workspace_id, key
        )

    async def set(
        self,
        workspace_id: str,
        key: str,
        value: Any,
        ttl_seconds: int | None,
        if_match_version: int | None,
        *,
        max_keys: int,
    ) -> int:
        """Upsert and return the new version.

        Raises `Conflict` (409, with `expected_version` and `current_version`) when
        `if_match_version` does not match the live row, and `TooManyRequests` (429) when a
        new key would exceed `max_keys` live keys. A refusal writes nothing.
        """
        text = dumps(value)

        async def work(conn: Connection) -> int:
            await conn.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))", _LOCK_NAMESPACE, workspace_id
            )
            current = await conn.fetchrow(
                f"SELECT version, {_LIVE} AS live FROM workspace_memory"
                " WHERE workspace_id = $1 AND key = $2",
                workspace_id,
                key,
            )
            live = current is not None and current["live"]
            if if_match_version is not None:
                _check_version(if_match_version, current["version"] if live else None)
            if not live:
                count = await conn.fetchval(
                    f"SELECT count(*) FROM workspace_memory WHERE workspace_id = $1 AND {_LIVE}",
                    workspace_id,
                )
                if count >= max_keys:
                    raise TooManyRequests(f"maximum {max_keys} keys per workspace")
            version: int = await conn.fetchval(
                "INSERT INTO workspace_memory (workspace_id, key, value, expires_at, version)"
                " VALUES ($1, $2, $3::text::jsonb,"
                "   now() + make_interval(secs => $4::double precision), 1)"
                " ON CONFLICT (workspace_id, key) DO UPDATE SET value = EXCLUDED.value,"
                "   expires_at = EXCLUDED.expires_at, updated_at = now(),"
                "   version = workspace_memory.version + 1"
                " RETURNING version",
                workspace_id,
                key,
                text,
                None if ttl_seconds is None else float(ttl_seconds),
            )
            await conn.execute(
                "DELETE FROM workspace_memory"
                " WHERE workspace_id = $1 AND key <> $2 AND expires_at <= now()",
                workspace_id,
                key,
            )
            return version

        return await self.store.unit(work)


def _check_version(expected: int, current: int | None) -> None:
    """The original's 409 bodies: the key is missing (and `expected` is not 0), or its
    version differs."""
    if current is None:
        if expected != 0:
            raise Conflict(
                "if_match_version mismatch: key does not exist",
                extra={"expected_version": expected, "current_version": None},
            )
        return
    if current != expected:
        raise Conflict(
            "if_match_version mismatch",
            extra={"expected_version": expected, "current_version": current},
        )
