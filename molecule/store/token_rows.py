"""Workspace and org API tokens: sha256 + 8-char prefix at rest, plaintext shown once.

Authentication sits on the hot path of every heartbeat, so validated tokens and per-workspace
live-token counts are cached for a short TTL. Every mint and revoke in this process
invalidates the affected entries at once; the TTL only bounds staleness for writes made by
another process sharing the database. `last_used_at` is written behind, in batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import trio

from molecule.security.token_material import hash_token, new_token, token_prefix
from molecule.store.pool import Connection, Store, affected

CACHE_TTL = 30.0
CACHE_LIMIT = 20_000  # ~4 MB at most; 10,000 agents' tokens fit with room for misses
MAX_LIVE_WORKSPACE_TOKENS = 50


@dataclass(frozen=True)
class TokenHit:
    token_id: str
    owner_id: str  # workspace id, or org token id


def _now() -> datetime:
    return datetime.now(UTC)


class _TTLCache:
    """Token lookups for CACHE_TTL seconds, at most CACHE_LIMIT entries.

    Misses are cached too (a bad bearer costs one query per TTL), so a client sending random
    bearers must not grow it without bound: when full, expired entries go first, and if none
    has expired the oldest insertions do (dicts keep insertion order)."""

    def __init__(self) -> None:
        self._data: dict[Any, tuple[float, Any]] = {}

    def get(self, key: Any) -> tuple[bool, Any]:
        hit = self._data.get(key)
        if hit is None or hit[0] < trio.current_time():
            self._data.pop(key, None)
            return False, None
        return True, hit[1]

    def put(self, key: Any, value: Any) -> None:
        now = trio.current_time()
        if len(self._data) >= CACHE_LIMIT:
            for stale in [k for k, (expiry, _) in self._data.items() if expiry < now]:
                del self._data[stale]
            for oldest in list(self._data)[: max(0, len(self._data) - CACHE_LIMIT + 1)]:
                del self._data[oldest]
        self._data.pop(key, None)  # re-inserted last: the newest entry
        self._data[key] = (now + CACHE_TTL, value)

    def drop(self, key: Any) -> None:
        self._data.pop(key, None)

    def drop_where(self, pred: Any) -> None:
        for key in [k for k, (_, v) in self._data.items() if pred(v)]:
            del self._data[key]


class WorkspaceTokens:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._valid = _TTLCache()  # token hash -> TokenHit | None
        self._live = _TTLCache()  # workspace id -> live token count
        self._touched: dict[str, datetime] = {}

    def invalidate(self, workspace_id: str) -> None:
        self._live.drop(workspace_id)
        self._valid.drop_where(lambda v: v is not None and v.owner_id == workspace_id)

    async def mint(self, workspace_id: str, *, conn: Connection | None = None) -> str:
        plaintext = new_token()
        sql = (
            "INSERT INTO workspace_auth_tokens (workspace_id, token_hash, prefix)"
            " VALUES ($1, $2, $3)"
        )
        args = (workspace_id, hash_token(plaintext), token_prefix(plaintext))
        if conn is not None:
            await conn.execute(sql, *args)
        else:
            await self.store.execute(sql, *args)
        self.invalidate(workspace_id)
        return plaintext

    async def mint_if_none(self, workspace_id: str) -> str | None:
        """First-register token: minted only when the workspace has zero live tokens.

        Serialised per workspace by a row lock so two racing registers cannot both mint.
        """
        plaintext = new_token()

        async def work(conn: Connection) -> bool:
            await conn.execute("SELECT 1 FROM workspaces WHERE id = $1 FOR UPDATE", workspace_id)
            live = await conn.fetchval(
                "SELECT count(*) FROM workspace_auth_tokens"
                " WHERE workspace_id = $1 AND revoked_at IS NULL",
                workspace_id,
            )
            if live:
                return False
            await conn.execute(
                "INSERT INTO workspace_auth_tokens (workspace_id, token_hash, prefix)"
                " VALUES ($1, $2, $3)",
                workspace_id,
                hash_token(plaintext),
                token_prefix(plaintext),
            )
            return True

        minted = await self.store.unit(work)
        self.invalidate(workspace_id)
        return plaintext if minted else None

    async def has_live(self, workspace_id: str) -> bool:
        found, count = self._live.get(workspace_id)
        if not found:
            count = await self.store.fetchval(
                "SELECT count(*) FROM workspace_auth_tokens"
                " WHERE workspace_id = $1 AND revoked_at IS NULL",
                workspace_id,
            )
            self._live.put(workspace_id, count)
        return bool(count)

    async def validate(self, plaintext: str) -> TokenHit | None:
        """Live token of a non-removed workspace -> its owner (a use of it); else None."""
        hit = await self._lookup(plaintext)
        if hit is not None:
            self._touched[hit.token_id] = _now()
        return hit

    async def validate_for(self, plaintext: str, workspace_id: str) -> bool:
        """Whether the token is a live one of `workspace_id`. Only then is it a use: another
        workspace's token refused here leaves its `last_used_at` alone, as in the original."""
        hit = await self._lookup(plaintext)
        if hit is None or hit.owner_id != workspace_id:
            return False
        self._touched[hit.token_id] = _now()
        return True

    async def _lookup(self, plaintext: str) -> TokenHit | None:
        digest = hash_token(plaintext)
        found, hit = self._valid.get(digest)
        if not found:
            row = await self.store.fetchrow(
                "SELECT t.id, t.workspace_id FROM workspace_auth_tokens t"
                " JOIN workspaces w ON w.id = t.workspace_id"
                " WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND w.status <> 'removed'",
                digest,
            )
            hit = None if row is None else TokenHit(row["id"], row["workspace_id"])
            self._valid.put(digest, hit)
        return hit  # type: ignore[no-any-return]

    async def list_live(self, workspace_id: str, limit: int, offset: int) -> list[dict[str, Any]]:
        rows = await self.store.fetch(
            "SELECT id, prefix, created_at, last_used_at FROM workspace_auth_tokens"
            " WHERE workspace_id = $1 AND revoked_at IS NULL"
            " ORDER BY created_at DESC, id LIMIT $2 OFFSET $3",
            workspace_id,
            limit,
            offset,
        )
        return [dict(r) for r in rows]

    async def count_live(self, workspace_id: str) -> int:
        count: int = await self.store.fetchval(
            "SELECT count(*) FROM workspace_auth_tokens"
            " WHERE workspace_id = $1 AND revoked_at IS NULL",
            workspace_id,
        )
        return count

    async def revoke(self, workspace_id: str, token_id: str) -> bool:
        status = await self.store.execute(
            "UPDATE workspace_auth_tokens SET revoked_at = now()"
            " WHERE id = $1 AND workspace_id = $2 AND revoked_at IS NULL",
            token_id,
            workspace_id,
        )
        self.invalidate(workspace_id)
        return affected(status) == 1

    async def revoke_all(self, workspace_id: str) -> None:
        await self.store.execute(
            "UPDATE workspace_auth_tokens SET revoked_at = now()"
            " WHERE workspace_id = $1 AND revoked_at IS NULL",
            workspace_id,
        )
        self.invalidate(workspace_id)

    async def flush_last_used(self) -> None:
        touched, self._touched = self._touched, {}
        if touched:
            await self.store.execute(
                "UPDATE workspace_auth_tokens t SET last_used_at = u.at"
                " FROM unnest($1::uuid[], $2::timestamptz[]) AS u(id, at) WHERE t.id = u.id",
                list(touched),
                list(touched.values()),
            )


class OrgTokens:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._valid = _TTLCache()

    async def mint(self, name: str | None, created_by: str) -> tuple[dict[str, Any], str]:
        plaintext = new_token()
        row = await self.store.fetchrow(
            "INSERT INTO org_api_tokens (token_hash, prefix, name, created_by)"
            " VALUES ($1, $2, $3, $4) RETURNING id, prefix, name",
            hash_token(plaintext),
            token_prefix(plaintext),
            name,
            created_by,
        )
        assert row is not None
        return dict(row), plaintext

    async def validate(self, plaintext: str) -> dict[str, Any] | None:
        digest = hash_token(plaintext)
        found, hit = self._valid.get(digest)
        if not found:
            row = await self.store.fetchrow(
                "SELECT id, prefix, org_id FROM org_api_tokens"
                " WHERE token_hash = $1 AND revoked_at IS NULL",
                digest,
            )
            hit = None if row is None else dict(row)
            self._valid.put(digest, hit)
            if hit is not None:
                await self.store.execute(
                    "UPDATE org_api_tokens SET last_used_at = now() WHERE id = $1", hit["id"]
                )
        return hit  # type: ignore[no-any-return]

    async def list_live(self) -> list[dict[str, Any]]:
        rows = await self.store.fetch(
            "SELECT id, prefix, name, org_id, created_by, created_at, last_used_at"
            " FROM org_api_tokens WHERE revoked_at IS NULL ORDER BY created_at DESC, id"
        )
        return [dict(r) for r in rows]

    async def revoke(self, token_id: str) -> bool:
        status = await self.store.execute(
            "UPDATE org_api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
            token_id,
        )
        self._valid.drop_where(lambda v: v is not None and v["id"] == token_id)
        return affected(status) == 1
