"""`molecule migrate --status`: which migrations the database has, which this version adds.

It only reads. While the platform serves it connects to the running database (the embedded
cluster over its socket, or DATABASE_URL); otherwise it starts the embedded cluster for the
moment it takes, holding the home's lock so no platform starts on it meanwhile. A migration
applied in the database but not shipped with this version means the database was upgraded
by a newer Molecule: it is listed as `unknown` and the command exits 1.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import asyncpg
import click

from molecule.cli import connection
from molecule.cli.backup_lock import try_exclusive
from molecule.cli.output import note, rows_table, show
from molecule.errors import CommandFailed, DatastoreUnavailable

if TYPE_CHECKING:
    from molecule.config import Settings
    from molecule.store.migrate import MigrationStatus


def _read(dsn: str) -> MigrationStatus:
    import trio
    import trio_asyncio

    from molecule.store.migrate import migration_status
    from molecule.store.pool import Store

    async def run() -> MigrationStatus | str:
        async with trio_asyncio.open_loop():
            try:
                store = await Store.open(dsn, min_size=1, max_size=1)
                try:
                    return await migration_status(store)
                finally:
                    await store.close()
            except (OSError, asyncpg.PostgresError, DatastoreUnavailable) as exc:
                return str(exc)  # raised below, outside trio-asyncio's exception groups

    result = trio.run(run)
    if isinstance(result, str):
        raise CommandFailed(f"cannot read the migrations: {result}")
    return result


def _rows(status: MigrationStatus) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {"migration": name, "status": "applied", "applied_at": when.isoformat()}
        for name, when in status.applied
    ]
    unknown = set(status.unknown)
    for row in rows:
        if row["migration"] in unknown:
            row["status"] = "unknown"
    rows += [
        {"migration": name, "status": "pending", "applied_at": None} for name in status.pending
    ]
    return rows


def show_migration_status(settings: Settings) -> int:
    from molecule.store.backup_cluster import has_embedded_cluster, reach
    from molecule.store.migrate import MIGRATIONS_DIR, MigrationStatus, load_sources

    fmt = connection.current().output
    if not settings.database_url and not has_embedded_cluster(settings.home):
        status = MigrationStatus([], sorted(load_sources(MIGRATIONS_DIR)), [])
        note(f"no database in {settings.home} yet: every migration is pending")
    else:
        with ExitStack() as stack:
            lock = None if settings.database_url else try_exclusive(settings.home)
            if lock is not None:
                stack.callback(lock.release)
            db = stack.enter_context(reach(settings.home, settings.database_url, start=bool(lock)))
            status = _read(db.dsn)
    rows = _rows(status)

    def table(data: list[dict[str, Any]]) -> None:
        rows_table(
            data,
            [
                ("MIGRATION", lambda r: r["migration"]),
                ("STATUS", lambda r: r["status"]),
                ("APPLIED AT", lambda r: (r["applied_at"] or "")[:19].replace("T", " ")),
            ],
            "no migrations",
        )
        note(
            f"{len(status.applied)} applied, {len(status.pending)} pending"
            + (f", {len(status.unknown)} unknown to this version" if status.unknown else "")
        )

    show(rows, fmt, table)
    if status.unknown:
        click.echo(
            "error: the database was migrated by a newer Molecule "
            f"({', '.join(status.unknown)}): upgrade Molecule",
            err=True,
        )
        return 1
    return 0
