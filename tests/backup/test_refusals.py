"""Every refusal of `molecule restore` (and `molecule backup`): a clear message, exit code 1,
and nothing written: no home created, no file changed, no table in the target database.

The archive here comes from an external database (DATABASE_URL) and a hand-made home, so no
platform has to run; test_round_trip.py covers the embedded cluster under `molecule serve`.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from molecule.cli.backup_lock import hold_shared
from molecule.store.backup_db import libpq_target, shown
from molecule.store.embedded import EmbeddedPostgres, find_pg_bindir
from tests.backup.procs import listing, molecule, psql, remove
from tests.conftest import _psql, _with_database


@dataclass
class Made:
    root: Path
    archive: Path
    wid: str


def _database(pg_server: str, template: str | None = None) -> str:
    name = f"r_{uuid.uuid4().hex[:12]}"
    _psql(pg_server, f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return _with_database(pg_server, name)


def _drop(pg_server: str, dsn: str) -> None:
    name = urlsplit(dsn).path.lstrip("/")
    _psql(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _tables(dsn: str) -> int:
    return int(psql(dsn, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")[0][0])


@pytest.fixture(scope="module")
def made(pg_server: str, template_db: str) -> Iterator[Made]:
    root = Path(tempfile.mkdtemp(prefix="molecule-refusals-"))
    os.chmod(root, 0o755)
    dsn = _database(pg_server, template_db)
    try:
        wid = psql(
            dsn,
            "INSERT INTO workspaces (name, runtime, status) VALUES ('kept', 'external',"
            " 'awaiting_agent') RETURNING id",
        )[0][0]
        home = root / "src"
        (home / "workspaces" / wid / "configs").mkdir(parents=True)
        (home / "workspaces" / wid / "configs" / "a.txt").write_text("files too")
        (home / "admin_token").write_text("the-admin-token")
        archive = root / "made.tar"
        run = molecule(home, "backup", str(archive), DATABASE_URL=dsn)
        assert run.returncode == 0, run.stderr
        yield Made(root, archive, wid)
    finally:
        _drop(pg_server, dsn)
        remove(root)


@pytest.fixture
def target(pg_server: str) -> Iterator[str]:
    dsn = _database(pg_server)
    yield dsn
    _drop(pg_server, dsn)


def refused(run: subprocess.CompletedProcess[str], message: str) -> None:
    assert run.returncode == 1, (run.stdout, run.stderr)
    assert message in run.stderr, run.stderr
    assert run.stderr.startswith("error: ")


def rewrite(
    archive: Path,
    out: Path,
    manifest: Callable[[dict[str, Any]], None] = lambda m: None,
    extra: tuple[str, bytes] | None = None,
) -> Path:
    """A copy of `archive` with its manifest edited (and one member added)."""
    with tarfile.open(archive) as src, tarfile.open(out, "w") as dst:
        for info in src.getmembers():
            data = src.extractfile(info).read() if info.isreg() else None  # type: ignore[union-attr]
            if info.name == "manifest.json":
                continue
            dst.addfile(info, io.BytesIO(data) if data is not None else None)
        body = json.loads(src.extractfile("manifest.json").read())  # type: ignore[union-attr]
        if extra is not None:
            name, data = extra
            info = tarfile.TarInfo(name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
        manifest(body)
        encoded = json.dumps(body).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(encoded)
        dst.addfile(info, io.BytesIO(encoded))
    return out


def test_a_platform_holding_the_home_is_refused(made: Made, tmp_path: Path) -> None:
    home = made.root / "held"
    lock = hold_shared(home)  # what `molecule serve` holds while it serves
    try:
        before = listing(home)
        refused(molecule(home, "restore", str(made.archive)), "a platform is serving from")
        assert listing(home) == before
    finally:
        lock.release()


def test_a_running_embedded_cluster_is_refused_and_force_replaces(made: Made) -> None:
    home = made.root / "embedded"
    home.mkdir()
    cluster = EmbeddedPostgres(home).start()  # a platform started some other way: no lock
    try:
        refused(molecule(home, "restore", str(made.archive)), "the embedded PostgreSQL of")
        assert psql(home, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [["0"]]
    finally:
        cluster.stop()
    run = molecule(home, "restore", str(made.archive))  # stopped, empty: restored
    assert run.returncode == 0, run.stderr
    before = listing(home)
    refused(molecule(home, "restore", str(made.archive)), "already holds data (admin_token")
    assert listing(home) == before
    (home / "admin_token").write_text("changed")
    (home / "stray").write_text("not in the archive")
    run = molecule(home, "restore", str(made.archive), "--force")
    assert run.returncode == 0, run.stderr
    assert (home / "admin_token").read_text() == "the-admin-token" and not (home / "stray").exists()
    assert (home / "workspaces" / made.wid / "configs" / "a.txt").read_text() == "files too"
    cluster = EmbeddedPostgres(home).start()
    try:
        assert psql(home, "SELECT id FROM workspaces") == [[made.wid]]
    finally:
        cluster.stop()


def test_a_home_with_data_is_refused_without_force(made: Made, target: str) -> None:
    home = made.root / "busy-home"
    home.mkdir()
    (home / "admin_token").write_text("someone else's")
    before = listing(home)
    run = molecule(home, "restore", str(made.archive), DATABASE_URL=target)
    refused(run, "already holds data (admin_token)")
    assert listing(home) == before and _tables(target) == 0


def test_a_database_with_tables_is_refused_without_force(
    made: Made, pg_server: str, template_db: str
) -> None:
    dsn = _database(pg_server, template_db)
    try:
        home = made.root / f"db-{uuid.uuid4().hex[:6]}"
        run = molecule(home, "restore", str(made.archive), DATABASE_URL=dsn)
        refused(run, "table(s): restore into an empty database, or pass --force")
        assert not home.exists()
        assert psql(dsn, "SELECT count(*) FROM workspaces") == [["0"]]
        run = molecule(home, "restore", str(made.archive), "--force", DATABASE_URL=dsn)
        assert run.returncode == 0, run.stderr
        assert psql(dsn, "SELECT id FROM workspaces") == [[made.wid]]
    finally:
        _drop(pg_server, dsn)


def test_a_database_in_use_is_refused(made: Made, target: str) -> None:
    exe = find_pg_bindir() / "psql"
    session = subprocess.Popen(
        [str(exe), "-X", "-d", target, "-c", "SELECT pg_sleep(60)"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        query = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'"
        while psql(target, query) == [["0"]] and time.monotonic() < deadline:
            time.sleep(0.05)
        home = made.root / "in-use"
        run = molecule(home, "restore", str(made.archive), DATABASE_URL=target)
        refused(run, "is in use (pid")
        assert not home.exists() and _tables(target) == 0
    finally:
        session.kill()
        session.wait()


def test_an_archive_from_a_newer_schema_is_refused(made: Made, target: str) -> None:
    def newer(manifest: dict[str, Any]) -> None:
        manifest["database"]["migrations"].append("999_future.up.sql")

    archive = rewrite(made.archive, made.root / "newer.tar", newer)
    home = made.root / "newer-home"
    run = molecule(home, "restore", str(archive), DATABASE_URL=target)
    refused(run, "made at migration level 999")
    assert "upgrade Molecule" in run.stderr
    assert not home.exists() and _tables(target) == 0


def test_a_newer_archive_format_is_refused(made: Made, target: str) -> None:
    archive = rewrite(made.archive, made.root / "v2.tar", lambda m: m.update(format_version=2))
    home = made.root / "v2-home"
    refused(molecule(home, "restore", str(archive), DATABASE_URL=target), "backup format 2")
    assert not home.exists()


DAMAGES = ["flipped", "truncated", "not-a-tar", "smuggled", "escape", "cluster-file"]


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_corrupt_archive_is_refused(made: Made, target: str, damage: str) -> None:
    data = made.archive.read_bytes()
    bad = made.root / f"{damage}.tar"
    if damage == "flipped":  # one byte of the dump (it starts after the first 512-byte header)
        bad.write_bytes(data[:700] + bytes([data[700] ^ 0xFF]) + data[701:])
        message = "checksum mismatch in database.dump"
    elif damage == "truncated":
        bad.write_bytes(data[: len(data) * 2 // 3])
        message = "is not a usable backup"
    elif damage == "not-a-tar":
        bad.write_bytes(b"hello" * 100)
        message = "is not a usable backup"
    elif damage == "smuggled":  # a member the manifest does not list
        rewrite(made.archive, bad, extra=("home/extra.txt", b"x"))
        message = "unexpected member 'home/extra.txt'"
    else:  # listed, but named outside the home, or into the embedded cluster's files
        escape = ("home/../../escaped.txt", b"x")
        if damage == "cluster-file":
            escape = ("home/postgres/data/postgresql.auto.conf", b"x")

        def listed(m: dict[str, Any]) -> None:
            m["members"].append({"name": escape[0], "type": "file", "mode": 0o600, "size": 1})

        rewrite(made.archive, bad, listed, extra=escape)
        message = "unsafe member name" if damage == "escape" else "it carries 'home/postgres/"
    home = made.root / f"{damage}-home"
    run = molecule(home, "restore", str(bad), DATABASE_URL=target)
    refused(run, message)
    assert not home.exists() and _tables(target) == 0
    assert not (made.root / "escaped.txt").exists()


def test_backup_refusals_leave_everything_as_it_was(made: Made, target: str) -> None:
    home = made.root / "src"
    existing = made.root / "existing.tar"
    existing.write_text("keep me")
    refused(molecule(home, "backup", str(existing), DATABASE_URL=target), "pass --force")
    assert existing.read_text() == "keep me"
    refused(
        molecule(home, "backup", str(home / "inside.tar"), DATABASE_URL=target),
        "outside the data directory",
    )
    refused(
        molecule(made.root / "nowhere", "backup", str(made.root / "x.tar"), DATABASE_URL=target),
        "does not exist: nothing to back up",
    )
    refused(
        molecule(home, "backup", str(made.root / "y.tar"), DATABASE_URL=target),
        "has no Molecule schema",
    )
    empty = made.root / "never-served"
    empty.mkdir()
    refused(molecule(empty, "backup", str(made.root / "z.tar")), "the embedded cluster was never")
    assert not [p for p in made.root.iterdir() if p.name in ("x.tar", "y.tar", "z.tar")]
    assert not [p for p in made.root.iterdir() if ".partial" in p.name or "dump-" in p.name]


def test_a_password_never_reaches_a_command_line() -> None:
    conninfo, env = libpq_target("postgresql://u:p%40ss@db.example:5432/m?sslmode=require")
    assert conninfo == "postgresql://u@db.example:5432/m?sslmode=require"
    assert env["PGPASSWORD"] == "p@ss"
    conninfo, env = libpq_target("postgresql://u@/m?host=/run/pg&password=zz")
    assert conninfo == "postgresql://u@/m?host=/run/pg" and env["PGPASSWORD"] == "zz"
    assert shown("postgresql://u:secret@h/m") == "postgresql://u@h/m"
