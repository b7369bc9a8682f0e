"""`molecule backup FILE` and `molecule restore FILE`: keep a platform's data, bring it back.

A backup runs while the platform serves: it reads the database through pg_dump's snapshot
(molecule.store.backup_db) and the data directory's files (molecule.cli.backup_home) into
one archive (molecule.cli.backup_archive), 0600, renamed into place only when complete.

What is in it, and what is not: the whole database (workspaces, their tokens as hashes, the
secrets as stored, activity, the A2A queue, schedules, memories ...), the admin token file and
the workspaces' files, which can hold the agents' own tokens. SECRETS_ENCRYPTION_KEY is NOT
in it: the key lives in the environment, not in MOLECULE_HOME, and keeping it apart from the
ciphertexts is the point of encrypting them. The manifest records a fingerprint of the key
when the one set for the command decrypts a stored secret, and restore says whether the key
set for it does. Secrets written without a key are in the archive in plain text. Either way
the archive must be protected like the data directory itself, and both commands say so.

A restore goes into a stopped or new MOLECULE_HOME (and its database: the embedded cluster,
or DATABASE_URL's). It refuses, with nothing written, when: a platform serves from that home
(its lock, a live embedded postmaster, or other sessions on the database), the home or the
database already holds data (unless --force), the archive needs migrations this version does
not know, or the archive is truncated or corrupt (every member is checked against its
SHA-256 before the database is touched). The database is restored in one transaction; the
files are staged and moved in only after it committed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from molecule.cli import backup_home
from molecule.cli.backup_archive import (
    DUMP,
    FORMAT,
    FORMAT_VERSION,
    ArchiveWriter,
    read_manifest,
    unpack,
)
from molecule.cli.backup_lock import try_exclusive
from molecule.cli.output import note
from molecule.errors import CommandFailed, DecryptError
from molecule.version import platform_version

if TYPE_CHECKING:
    from molecule.config import Settings
    from molecule.store.backup_db import DatabaseFacts

PROTECT = (
    "This archive contains the admin token, the whole database (secrets included) and the "
    "workspaces' files: keep it as private as the data directory (it is 0600)."
)


def migration_level(names: list[str] | tuple[str, ...]) -> int:
    """The highest NNN of `NNN_name.up.sql` (0: none applied)."""
    numbers = [int(n.split("_", 1)[0]) for n in names if n.split("_", 1)[0].isdigit()]
    return max(numbers, default=0)


def key_fingerprint(key: bytes) -> str:
    """Names a key without revealing it (a keyed hash of 32 random bytes, shortened)."""
    return hashlib.sha256(b"molecule secrets key fingerprint\0" + key).hexdigest()[:16]


def key_check(key: bytes | None, sample: bytes | None) -> str:
    """Does `key` decrypt the stored sample? "no-key", "decrypts" or "does-not-decrypt"."""
    from molecule.security.crypto import AES_GCM, SecretBox

    if key is None or sample is None:
        return "no-key"
    try:
        SecretBox(key).open(sample, AES_GCM)
    except (DecryptError, UnicodeDecodeError):
        return "does-not-decrypt"
    return "decrypts"


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _secrets_lines(plain: int, encrypted: int, check: str, fingerprint: str | None) -> list[str]:
    lines = []
    if plain:
        lines.append(
            f"{plain} secret(s) are stored unencrypted (written without "
            "SECRETS_ENCRYPTION_KEY): their values are readable in this archive."
        )
    if encrypted:
        lines.append(
            f"{encrypted} secret(s) are encrypted with SECRETS_ENCRYPTION_KEY, which is NOT in "
            "the archive: keep the key apart from it; without it they cannot be decrypted."
        )
        if check == "decrypts":
            lines.append(f"The key set here decrypts them (fingerprint {fingerprint}).")
        elif check == "does-not-decrypt":
            lines.append("WARNING: the SECRETS_ENCRYPTION_KEY set here does NOT decrypt them.")
        else:
            lines.append("No SECRETS_ENCRYPTION_KEY is set here: the key was not checked.")
    return lines


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
def backup(file: Path, force: bool) -> int:
    """Back up the platform (database and data directory) into FILE, while it serves."""
    from molecule.config import Settings
    from molecule.store import backup_db
    from molecule.store.backup_cluster import reach

    settings = Settings.from_env()
    home, dest = settings.home, file.absolute()
    if not home.is_dir():
        raise CommandFailed(f"{home} does not exist: nothing to back up (is MOLECULE_HOME right?)")
    if dest.resolve().is_relative_to(home.resolve()):
        raise CommandFailed(f"write the backup outside the data directory {home}")
    if not dest.parent.is_dir():
        raise CommandFailed(f"{dest.parent} is not a directory")
    if dest.exists() and not force:
        raise CommandFailed(f"{dest} exists: pass --force to replace it")
    started = time.monotonic()
    try:
        writer = ArchiveWriter(dest)
    except OSError as exc:
        raise CommandFailed(f"cannot write into {dest.parent}: {exc}") from exc
    try:
        with ExitStack() as stack:
            lock = None if settings.database_url else try_exclusive(home)
            if lock is not None:
                stack.callback(lock.release)  # no platform starts on the cluster we start
            db = stack.enter_context(reach(home, settings.database_url, start=lock is not None))
            facts = backup_db.facts(db.dsn)
            if not facts.migrations:
                raise CommandFailed(
                    f"the database at {backup_db.shown(db.dsn)} has no Molecule schema "
                    "(no migration applied): nothing to back up"
                )
            with tempfile.TemporaryDirectory(prefix=".molecule-dump-", dir=dest.parent) as tmp:
                dumped = Path(tmp) / DUMP
                backup_db.dump(db.dsn, dumped)
                with dumped.open("rb") as src:
                    writer.add_stream(DUMP, src, dumped.stat().st_size, 0o600, time.time())
            dump_tool = backup_db.tool_version("pg_dump")
        walked = backup_home.add_home(writer, home)
        check = key_check(settings.secrets_key, facts.encrypted_sample)
        fingerprint = (
            key_fingerprint(settings.secrets_key)
            if settings.secrets_key and check == "decrypts"
            else None
        )
        size = writer.commit(
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "platform_version": platform_version(),
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "created_unix": time.time(),
                "database": {
                    "kind": db.kind,
                    "server_version": facts.server_version,
                    "dump_tool": dump_tool,
                    "migrations": list(facts.migrations),
                    "migration_level": migration_level(facts.migrations),
                    "workspaces": facts.workspaces,
                },
                "secrets": {
                    "plaintext": facts.secrets_plain,
                    "encrypted": facts.secrets_encrypted,
                    "key_in_archive": False,
                    "key_check": check,
                    "key_fingerprint": fingerprint,
                },
                "home": {
                    "admin_token": (home / "admin_token").is_file(),
                    "workspace_dirs": walked.workspaces,
                    "files": walked.files,
                    "skipped_special_files": walked.skipped,
                },
            }
        )
    except OSError as exc:
        writer.abort()
        raise CommandFailed(f"the backup failed, no archive was written: {exc}") from exc
    except BaseException:
        writer.abort()
        raise
    elapsed = time.monotonic() - started
    click.echo(f"backup written: {dest} ({_megabytes(size)} in {elapsed:.1f} s)")
    click.echo(
        f"  database: {db.kind}, migration level {migration_level(facts.migrations)}, "
        f"{facts.workspaces} workspace(s)"
    )
    click.echo(f"  files: {walked.files} (workspace directories: {walked.workspaces})")
    note(PROTECT)
    for line in _secrets_lines(facts.secrets_plain, facts.secrets_encrypted, check, fingerprint):
        note(line)
    if settings.backend != "local" and settings.docker_host:
        note("Workspace files in Docker volumes (the Docker backend) are not in the archive.")
    return 0


def _known_migrations() -> list[str]:
    from molecule.store.migrate import MIGRATIONS_DIR

    return sorted(p.name for p in MIGRATIONS_DIR.glob("*.up.sql"))


def _check_level(file: Path, manifest: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(the archive's migrations, those this version would still apply); refuses newer
    levels, and members no backup of ours carries."""
    database = manifest.get("database")
    migrations = database.get("migrations") if isinstance(database, dict) else None
    if not isinstance(migrations, list) or not all(isinstance(m, str) for m in migrations):
        raise CommandFailed(f"{file} is not a usable backup (its manifest has no migrations)")
    foreign = backup_home.foreign_members([str(m.get("name")) for m in manifest["members"]])
    if foreign:
        raise CommandFailed(f"{file} is not a usable backup (it carries {foreign[0]!r})")
    known = _known_migrations()
    unknown = sorted(set(migrations) - set(known))
    if unknown:
        raise CommandFailed(
            f"{file} was made at migration level {migration_level(migrations)} by Molecule "
            f"{manifest.get('platform_version')}; this version knows up to level "
            f"{migration_level(known)} (unknown: {', '.join(unknown)}): upgrade Molecule, then "
            "restore"
        )
    return migrations, [m for m in known if m not in set(migrations)]


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace the data a home or database holds.")
def restore(file: Path, force: bool) -> int:
    """Restore FILE into a stopped or new MOLECULE_HOME (and its database)."""
    from molecule.config import Settings

    settings = Settings.from_env()
    home = settings.home
    started = time.monotonic()
    manifest = read_manifest(file)
    _, pending = _check_level(file, manifest)
    existed = home.exists()
    try:
        if not existed:  # private, as molecule.platform.data_dir_ready makes it (not
            home.mkdir(parents=True)  # imported: the platform's import costs seconds)
            os.chmod(home, 0o711 if os.geteuid() == 0 else 0o700)
        lock = try_exclusive(home)
    except OSError as exc:
        raise CommandFailed(f"cannot use {home}: {exc}") from exc
    if lock is None:
        raise CommandFailed(
            f"a platform is serving from {home} (or another backup or restore is using it: "
            f"it holds {home}/.lock): stop it, then restore"
        )
    from molecule.store.backup_cluster import has_embedded_cluster

    had_cluster = bool(settings.database_url) or has_embedded_cluster(home)
    try:
        members, facts = _restore_locked(file, manifest, settings, force)
    except OSError as exc:
        _undo(home, existed, had_cluster)
        raise CommandFailed(f"the restore failed, nothing was restored: {exc}") from exc
    except BaseException:
        _undo(home, existed, had_cluster)
        raise
    finally:
        lock.release()
    elapsed = time.monotonic() - started
    click.echo(f"restored {file} into {home} ({members} members in {elapsed:.1f} s)")
    click.echo(
        f"  made {manifest.get('created_at')} by Molecule {manifest.get('platform_version')}; "
        f"{facts.workspaces} workspace(s)"
    )
    if pending:
        click.echo(f"  the next `molecule serve` applies {len(pending)} migration(s)")
    note(PROTECT.replace("This archive contains", "The archive you restored from contains"))
    check = key_check(settings.secrets_key, facts.encrypted_sample)
    if facts.secrets_encrypted and check != "decrypts":
        secrets = manifest.get("secrets")
        recorded = secrets.get("key_fingerprint") if isinstance(secrets, dict) else None
        note(
            f"WARNING: {facts.secrets_encrypted} secret(s) are encrypted and the "
            "SECRETS_ENCRYPTION_KEY set here "
            + ("does not decrypt them" if check == "does-not-decrypt" else "is missing")
            + ": serve with the key the backed-up platform used"
            + (f" (fingerprint {recorded})." if recorded else ".")
        )
    elif facts.secrets_encrypted:
        count = facts.secrets_encrypted
        note(f"The SECRETS_ENCRYPTION_KEY set here decrypts the {count} encrypted secret(s).")
    return 0


def _restore_locked(
    file: Path, manifest: dict[str, Any], settings: Settings, force: bool
) -> tuple[int, DatabaseFacts]:
    """The restore proper, under the home's exclusive lock (module docstring's order)."""
    from molecule.store import backup_db
    from molecule.store.backup_cluster import embedded_cluster, live_postmaster, reach

    home = settings.home
    if not settings.database_url:
        pid = live_postmaster(embedded_cluster(home))
        if pid is not None:
            raise CommandFailed(
                f"the embedded PostgreSQL of {home} is running (pid {pid}): a platform serves "
                "from it; stop it, then restore"
            )
    present = backup_home.entries(home)
    if present and not force:
        raise CommandFailed(
            f"{home} already holds data ({', '.join(present[:5])}): restore into a new "
            "MOLECULE_HOME, or pass --force to replace it"
        )
    with reach(home, settings.database_url, create=True) as db:
        others = backup_db.other_sessions(db.dsn)
        if others:
            raise CommandFailed(
                f"the database at {backup_db.shown(db.dsn)} is in use ({'; '.join(others[:3])}):"
                " stop the platform using it, then restore"
            )
        before = backup_db.facts(db.dsn)
        if before.tables and not force:
            raise CommandFailed(
                f"the database at {backup_db.shown(db.dsn)} already holds {before.tables} "
                "table(s): restore into an empty database, or pass --force to replace it"
            )
        staging = backup_home.new_staging(home)
        try:
            members = unpack(file, manifest, staging)
            backup_db.restore(db.dsn, staging / DUMP, replace=before.tables > 0)
            after = backup_db.facts(db.dsn)
            backup_home.swap_in(home, staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return members, after


def _undo(home: Path, existed: bool, had_cluster: bool) -> None:
    """After a refused or failed restore: remove what this command created."""
    if not existed:
        if not had_cluster:
            _remove_cluster(home)
        shutil.rmtree(home, ignore_errors=True)
    elif not had_cluster:
        _remove_cluster(home)


def _remove_cluster(home: Path) -> None:
    from molecule.store.backup_cluster import cluster_base

    base = cluster_base(home)
    if base is not None:
        shutil.rmtree(base, ignore_errors=True)
    (home / "postgres.location").unlink(missing_ok=True)
