"""The `pending_uploads` table: poll-mode chat uploads staged until the agent acks them.

A file is written in slices while the multipart body streams in, so the platform never holds a
whole file: the bytes go into a PostgreSQL large object (`lo_from_bytea` then `lo_put` per
slice), and the final transaction copies it into the row (`lo_get`, server side) and unlinks it.
Reads come back in slices too (`substring`, cheap because the column's storage is EXTERNAL,
uncompressed).

Rows live 24 h unacked (`expires_at`), or 1 h after their ack; `gc_pending_uploads` deletes
the rest and runs every 5 minutes. Large objects left by a process killed mid-upload are
unlinked at the next boot (`unlink_orphaned_staging`).

The chat-file routes' other reads live here too: the `workspaces` columns that decide whether
an upload is staged (poll mode) or forwarded to the agent, and where to (`chat_file_route`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import trio

from molecule.store.pool import Connection, Store, affected

MAX_FILE_BYTES = 100 * 1024 * 1024
READ_SLICE = 1024 * 1024
GC_INTERVAL = 300.0
GC_DEADLINE = 30.0

_LIVE = "acked_at IS NULL AND expires_at > now()"


@dataclass(frozen=True)
class ChatFileRoute:
    """The `workspaces` columns that decide where a workspace's chat files go."""

    delivery_mode: str  # "push" | "poll"
    url: str  # "" when none is registered
    inbound_secret: str  # "" when none is minted yet
    runtime: str


async def chat_file_route(store: Store, workspace_id: str) -> ChatFileRoute | None:
    """The workspace's routing columns; None when there is no such workspace."""
    row = await store.fetchrow(
        "SELECT delivery_mode, COALESCE(url, '') AS url,"
        " COALESCE(platform_inbound_secret, '') AS secret, runtime"
        " FROM workspaces WHERE id = $1",
        workspace_id,
    )
    if row is None:
        return None
    return ChatFileRoute(row["delivery_mode"], row["url"], row["secret"], row["runtime"])


@dataclass
class StagedFile:
    """One file of an upload, its bytes in large object `oid` (None until the first slice)."""

    name: str
    mimetype: str
    oid: int | None = None
    size: int = 0


class PendingUploads:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- staging (while the request streams in) ------------------------------------------

    async def append(self, f: StagedFile, data: bytes) -> None:
        """Add `data` at the end of the file's large object."""
        if not data:
            return
        if f.oid is None:
            f.oid = int(await self.store.fetchval("SELECT lo_from_bytea(0, $1)", data))
        else:
            await self.store.execute("SELECT lo_put($1::oid, $2::bigint, $3)", f.oid, f.size, data)
        f.size += len(data)

    async def discard(self, files: Sequence[StagedFile]) -> None:
        oids = [f.oid for f in files if f.oid is not None]
        if oids:
            await self.store.execute("SELECT lo_unlink(o) FROM unnest($1::oid[]) AS o", oids)
        for f in files:
            f.oid = None

    @staticmethod
    async def insert_in(
        conn: Connection, workspace_id: str, files: Sequence[StagedFile]
    ) -> list[str]:
        """Inside the caller's transaction: one row per staged file; returns the file ids.

        The large objects are unlinked in the same transaction. A file with no bytes has no
        large object and fails the table's size check (the HTTP layer refuses it first).
        """
        ids: list[str] = []
        for f in files:
            file_id = await conn.fetchval(
                "INSERT INTO pending_uploads"
                " (workspace_id, content, size_bytes, filename, mimetype)"
                " VALUES ($1, COALESCE(lo_get($2::oid), ''::bytea), $3, $4, $5) RETURNING file_id",
                workspace_id,
                f.oid,
                f.size,
                f.name,
                f.mimetype,
            )
            if f.oid is not None:
                await conn.execute("SELECT lo_unlink($1::oid)", f.oid)
            ids.append(str(file_id))
        return ids

    # -- the agent's side ---------------------------------------------------------------

    async def get(self, file_id: str) -> dict[str, Any] | None:
        """The live (unacked, unexpired) row without its content; None otherwise."""
        row = await self.store.fetchrow(
            "SELECT file_id, workspace_id, size_bytes, filename, mimetype, created_at,"
            f" fetched_at, expires_at FROM pending_uploads WHERE file_id = $1 AND {_LIVE}",
            file_id,
        )
        return None if row is None else dict(row)

    async def read_slice(self, file_id: str, offset: int, length: int) -> bytes:
        data = await self.store.fetchval(
            "SELECT substring(content FROM $2::int FOR $3::int) FROM pending_uploads"
            " WHERE file_id = $1",
            file_id,
            offset + 1,
            length,
        )
        return bytes(data or b"")

    async def mark_fetched(self, file_id: str) -> None:
        await self.store.execute(
            "UPDATE pending_uploads SET fetched_at = now() WHERE file_id = $1", file_id
        )

    async def ack(self, file_id: str) -> bool:
        """True when this call set acked_at; False when a concurrent ack got there first."""
        status = await self.store.execute(
            "UPDATE pending_uploads SET acked_at = now() WHERE file_id = $1 AND acked_at IS NULL",
            file_id,
        )
        return affected(status) == 1


async def unlink_orphaned_staging(store: Store) -> int:
    """Unlink every large object of ours: call at boot only, when no upload is staging.

    Large objects exist only while an upload streams in; a failed upload unlinks its own,
    but a process killed mid-upload leaves them behind, invisible to the row GC. At boot
    nothing can be in flight, so whatever exists is such a leftover. Returns the count.
    """
    count = await store.fetchval(
        "SELECT count(lo_unlink(oid)) FROM pg_largeobject_metadata"
        " WHERE lomowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)"
    )
    return int(count or 0)


async def gc_pending_uploads(store: Store) -> int:
    """Delete rows acked more than an hour ago, and unacked rows past their expiry.

    One pass gets a 30 s deadline. Returns the number of rows deleted, 0 when
    the pass ran out of time (the statement is cancelled, so nothing was deleted).
    """
    status = ""
    with trio.move_on_after(GC_DEADLINE):
        status = await store.execute(
            "DELETE FROM pending_uploads"
            " WHERE acked_at < now() - interval '1 hour'"
            " OR (acked_at IS NULL AND expires_at < now())"
        )
    return affected(status)
