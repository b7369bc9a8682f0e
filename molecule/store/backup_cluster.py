"""Which database a backup reads or a restore writes, reached as the platform reaches it.

`DATABASE_URL` names an external server: used as it is. Without it the database is the
embedded cluster of `$MOLECULE_HOME` (molecule.store.embedded), reached over its unix socket:
- while a platform serves, its postmaster is alive (postmaster.pid names a running process)
  and a backup connects to it: pg_dump's snapshot makes that safe;
- otherwise the cluster is started here for the command's duration and stopped after (the
  caller holds the home's lock, molecule.cli.backup_lock, so no platform starts meanwhile).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from molecule.errors import CommandFailed, EmbeddedPostgresError
from molecule.store.embedded import EmbeddedPostgres


@dataclass(frozen=True)
class Database:
    dsn: str
    kind: str  # "embedded" or "external"
    started_here: bool = False  # an embedded cluster this command started (and stops)
    cluster_dir: Path | None = None  # the embedded cluster's directory


def live_postmaster(cluster: EmbeddedPostgres) -> int | None:
    """The pid of the cluster's running postmaster, or None (none, or a stale pid file)."""
    try:
        pid = int((cluster.data_dir / "postmaster.pid").read_text().splitlines()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid  # alive, another user's (a cluster run as `postgres`)
    return pid


def embedded_cluster(home: Path) -> EmbeddedPostgres:
    return EmbeddedPostgres(home)


def cluster_base(home: Path) -> Path | None:
    """Where the home's embedded cluster lives, if anywhere (without creating anything)."""
    pointer = home / "postgres.location"
    if pointer.exists():
        lines = pointer.read_text().splitlines()
        return Path(lines[0].strip()) if lines else None
    base = home / "postgres"
    return base if base.exists() else None


def has_embedded_cluster(home: Path) -> bool:
    """Does the home hold an initialised embedded cluster?"""
    base = cluster_base(home)
    return base is not None and (base / "data" / "PG_VERSION").exists()


@contextmanager
def reach(
    home: Path, database_url: str | None, *, create: bool = False, start: bool = True
) -> Iterator[Database]:
    """The platform's database for the duration of the block (module docstring).

    `create`: initialise an embedded cluster when the home has none (a restore into a new
    home); otherwise a missing one is an error (nothing was ever stored there). `start`:
    False when a stopped cluster must not be started here (a platform holds the home's lock
    and is starting or stopping it)."""
    if database_url:
        yield Database(database_url, "external")
        return
    if not create and not has_embedded_cluster(home):
        raise CommandFailed(
            f"no database in {home}: the embedded cluster was never created there (is "
            "MOLECULE_HOME right? With an external server, set DATABASE_URL)"
        )
    cluster = embedded_cluster(home)
    if live_postmaster(cluster) is not None:
        yield Database(cluster.dsn(), "embedded", cluster_dir=cluster.base)
        return
    if not start:
        raise CommandFailed(
            f"the platform of {home} is starting or stopping its database: try again in a moment"
        )
    try:
        cluster.start()
    except EmbeddedPostgresError as exc:
        raise CommandFailed(f"cannot start the embedded cluster: {exc}") from exc
    try:
        yield Database(cluster.dsn(), "embedded", started_here=True, cluster_dir=cluster.base)
    finally:
        cluster.stop()
