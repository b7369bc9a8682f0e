"""Schema migrations: `migrations/NNN_name.up.sql`, applied in order, recorded by filename.

Each file runs whole in its own transaction, except a file that builds an index
CONCURRENTLY (Postgres refuses that inside a transaction). An advisory lock serialises
concurrent migrators (two platform processes booting against one server).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from molecule.store.pool import Connection, Store

log = logging.getLogger("molecule.store.migrate")

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
_LOCK_KEY = 0x6D6F6C65  # "mole"


def load_sources(directory: Path) -> dict[str, str]:
    """filename -> SQL for every `*.up.sql` (read once at boot, before any query)."""
    return {p.name: p.read_text() for p in sorted(directory.glob("*.up.sql"))}


async def migrate(store: Store, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply every pending migration; return the filenames applied now."""
    sources = load_sources(directory)

    async def work(conn: Connection) -> list[str]:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " filename text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            applied = {
                r["filename"] for r in await conn.fetch("SELECT filename FROM schema_migrations")
            }
            done: list[str] = []
            for name in sorted(sources):
                if name in applied:
                    continue
                sql = sources[name]
                if "CONCURRENTLY" in sql.upper():
                    await conn.execute(sql)
                    await conn.execute("INSERT INTO schema_migrations (filename) VALUES ($1)", name)
                else:
                    async with conn.transaction():
                        await conn.execute(sql)
                        await conn.execute(
                            "INSERT INTO schema_migrations (filename) VALUES ($1)", name
                        )
                log.info("applied migration %s", name)
                done.append(name)
            return done
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)

    return await store.unit(work, tx=False)


@dataclass(frozen=True)
class MigrationStatus:
    applied: list[tuple[str, datetime]]  # (filename, applied_at), in order
    pending: list[str]  # shipped here, not applied yet
    unknown: list[str]  # applied, but not shipped here: the database is newer than this code


async def migration_status(store: Store, directory: Path = MIGRATIONS_DIR) -> MigrationStatus:
    """What `migrate` has done and would do, without doing anything."""
    shipped = sorted(load_sources(directory))
    if await store.fetchval("SELECT to_regclass('public.schema_migrations')") is None:
        return MigrationStatus([], shipped, [])
    rows = await store.fetch("SELECT filename, applied_at FROM schema_migrations ORDER BY filename")
    applied = [(str(r["filename"]), r["applied_at"]) for r in rows]
    done = {name for name, _ in applied}
    return MigrationStatus(
        applied=applied,
        pending=[name for name in shipped if name not in done],
        unknown=sorted(done - set(shipped)),
    )
