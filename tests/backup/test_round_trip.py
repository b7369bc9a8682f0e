"""`molecule backup` while the platform serves, `molecule restore` into a fresh home, and the
restored platform serving everything it had: workspaces, the tokens minted before the backup,
secrets that still decrypt, activity, the A2A queue, schedules, memories and files.

One platform (`source`, embedded PostgreSQL, real `molecule serve`) is filled and backed up
once per module; the refusal tests (test_refusals.py) make their own.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.backup.procs import KEY, Served, listing, molecule, psql, remove
from tests.conftest import _psql, _with_database

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
JOB = {"name": "standup", "cron_expr": "0 9 * * 1-5", "timezone": "Europe/Berlin", "prompt": "go"}
QUEUED_BODY = {"jsonrpc": "2.0", "method": "message/send", "params": {"kept": True}}


@dataclass
class Source:
    root: Path
    served: Served
    wid: str
    ws_token: str  # minted at creation
    minted: str  # minted afterwards, through the tokens route
    queue_id: str
    schedule_id: str
    archive: Path
    backup_out: str
    backup_err: str
    backup_seconds: float


def _fill(served: Served) -> tuple[str, str, str, str, str]:
    r = served.call("POST", "/workspaces", json={"name": "keeper", "runtime": "external"})
    assert r.status_code == 201, r.text
    wid, ws_token = r.json()["id"], r.json()["connection"]["auth_token"]
    r = served.call("POST", f"/workspaces/{wid}/tokens")
    assert r.status_code in (200, 201), r.text
    minted = r.json()["auth_token"]
    r = served.call("POST", "/settings/secrets", json={"key": "SHARED", "value": "global-v"})
    assert r.status_code in (200, 201), r.text
    secret = {"key": "API", "value": "s3"}
    r = served.call("POST", f"/workspaces/{wid}/secrets", ws_token, json=secret)
    assert r.status_code in (200, 201), r.text
    r = served.call(
        "POST",
        f"/workspaces/{wid}/activity",
        ws_token,
        json={"activity_type": "agent_log", "summary": "written before the backup"},
    )
    assert r.status_code in (200, 201), r.text
    r = served.call("POST", f"/workspaces/{wid}/schedules", json=JOB)
    assert r.status_code == 201, r.text
    schedule_id = r.json()["id"]
    r = served.call(
        "POST",
        f"/workspaces/{wid}/memories",
        ws_token,
        json={"content": "the build uses make", "scope": "LOCAL"},
    )
    assert r.status_code == 201, r.text
    r = served.call(
        "PUT", f"/workspaces/{wid}/files/notes/plan.md", ws_token, json={"content": "héllo\n"}
    )
    assert r.status_code == 200, r.text
    # A queued A2A item as the proxy stores one for a busy agent (molecule.store.queue).
    queue_id = psql(
        served.home,
        "INSERT INTO a2a_queue (workspace_id, priority, body, method, idempotency_key,"
        f" expires_at) VALUES ('{wid}', 50, '{json.dumps(QUEUED_BODY)}', 'message/send',"
        " 'kept-1', now() + interval '1 day') RETURNING id",
    )[0][0]
    return wid, ws_token, minted, queue_id, schedule_id


@pytest.fixture
def empty_database(pg_server: str) -> Iterator[str]:
    """A new, empty database on the test server: a restore target for DATABASE_URL."""
    name = f"r_{uuid.uuid4().hex[:12]}"
    _psql(pg_server, f'CREATE DATABASE "{name}"')
    yield _with_database(pg_server, name)
    _psql(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def source() -> Iterator[Source]:
    root = Path(tempfile.mkdtemp(prefix="molecule-backup-"))
    os.chmod(root, 0o755)  # the postgres user traverses it: clusters live inside the homes
    served = Served(root / "a", SECRETS_ENCRYPTION_KEY=KEY)
    try:
        wid, ws_token, minted, queue_id, schedule_id = _fill(served)
        archive = root / "backup.tar"
        started = time.monotonic()
        run = molecule(served.home, "backup", str(archive), SECRETS_ENCRYPTION_KEY=KEY)
        seconds = time.monotonic() - started
        assert run.returncode == 0, run.stderr
        yield Source(
            root, served, wid, ws_token, minted, queue_id, schedule_id, archive,
            run.stdout, run.stderr, seconds,
        )  # fmt: skip
    finally:
        served.stop()
        remove(root)


def test_backup_is_one_private_archive_with_a_checked_manifest(source: Source) -> None:
    assert source.archive.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in source.root.iterdir() if p.name.startswith(".")] == []  # no temp
    with tarfile.open(source.archive) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        for member in manifest["members"]:
            if member["type"] == "file":
                data = tar.extractfile(member["name"]).read()  # type: ignore[union-attr]
                assert hashlib.sha256(data).hexdigest() == member["sha256"], member["name"]
                assert len(data) == member["size"]
    assert names[0] == "database.dump" and names[-1] == "manifest.json"
    assert f"home/workspaces/{source.wid}/configs/notes/plan.md" in names
    assert "home/admin_token" in names and not any("postgres" in n for n in names)
    shipped = sorted(p.name for p in MIGRATIONS.glob("*.up.sql"))
    assert manifest["format_version"] == 1 and manifest["platform_version"]
    assert manifest["database"]["migrations"] == shipped
    assert manifest["database"]["migration_level"] == int(shipped[-1][:3])
    assert manifest["created_at"].endswith("+00:00")
    secrets = manifest["secrets"]
    assert secrets["encrypted"] == 2 and secrets["plaintext"] == 0
    assert secrets["key_in_archive"] is False and secrets["key_check"] == "decrypts"
    # The CLI says what the archive holds, and never prints a secret.
    assert "contains the admin token" in source.backup_err
    assert "NOT in the archive" in source.backup_err and "decrypts them" in source.backup_err
    printed = source.backup_out + source.backup_err
    for secret in (KEY, source.served.admin_token, source.ws_token, "global-v", "s3"):
        assert secret not in printed
    assert "backup written" in source.backup_out


def test_restore_into_a_fresh_home_brings_everything_back(source: Source) -> None:
    home = source.root / "b"
    started = time.monotonic()
    run = molecule(home, "restore", str(source.archive), SECRETS_ENCRYPTION_KEY=KEY)
    restore_seconds = time.monotonic() - started
    assert run.returncode == 0, run.stderr
    assert "decrypts the 2 encrypted secret(s)" in run.stderr
    assert not [p.name for p in home.iterdir() if p.name.startswith(".restore-")]
    print(
        f"round trip: archive {source.archive.stat().st_size} bytes, backup "
        f"{source.backup_seconds:.1f} s, restore {restore_seconds:.1f} s"
    )
    restored = Served(home, SECRETS_ENCRYPTION_KEY=KEY)
    try:
        wid = source.wid
        assert restored.admin_token == source.served.admin_token
        r = restored.call("GET", f"/workspaces/{wid}")
        assert r.status_code == 200 and r.json()["name"] == "keeper"
        for token in (source.ws_token, source.minted):  # minted before the backup
            r = restored.call("GET", f"/workspaces/{wid}/secrets/values", token)
            assert r.status_code == 200, r.text
            assert r.json() == {"API": "s3", "SHARED": "global-v"}  # still decrypt
        r = restored.call("GET", f"/workspaces/{wid}/secrets/values", "not-a-real-token")
        assert r.status_code == 401
        r = restored.call("GET", f"/workspaces/{wid}/activity", source.ws_token)
        assert "written before the backup" in [a.get("summary") for a in r.json()]
        r = restored.call("GET", f"/workspaces/{wid}/a2a/queue/{source.queue_id}")
        assert r.status_code == 200, r.text
        assert r.json()["queue_id"] == source.queue_id and r.json()["workspace_id"] == wid
        r = restored.call("GET", f"/workspaces/{wid}/schedules")
        assert [(s["id"], s["cron_expr"]) for s in r.json()] == [
            (source.schedule_id, JOB["cron_expr"])
        ]
        r = restored.call("GET", f"/workspaces/{wid}/memories", source.ws_token)
        assert [m["content"] for m in r.json()] == ["the build uses make"]
        r = restored.call("GET", f"/workspaces/{wid}/files/notes/plan.md", source.ws_token)
        assert r.status_code == 200 and r.json()["content"] == "héllo\n"
        # And it keeps working: a new write with an old token.
        r = restored.call(
            "POST", f"/workspaces/{wid}/activity", source.ws_token,
            json={"activity_type": "agent_log", "summary": "after the restore"},
        )  # fmt: skip
        assert r.status_code in (200, 201), r.text
    finally:
        restored.stop()


def test_restore_without_the_key_warns_and_the_secrets_stay_sealed(
    source: Source, empty_database: str
) -> None:
    """Into an external database this time (DATABASE_URL), then replaced there (--force)."""
    run = molecule(
        source.root / "nokey", "restore", str(source.archive), DATABASE_URL=empty_database
    )
    assert run.returncode == 0, run.stderr
    assert "SECRETS_ENCRYPTION_KEY set here is missing" in run.stderr
    run = molecule(
        source.root / "wrongkey", "restore", str(source.archive), "--force",
        DATABASE_URL=empty_database, SECRETS_ENCRYPTION_KEY="j" * 32,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "does not decrypt them" in run.stderr
    assert psql(empty_database, "SELECT count(*) FROM workspaces") == [["1"]]


def test_restore_into_the_serving_home_is_refused_even_with_force(source: Source) -> None:
    home = source.served.home
    before = listing(home)
    run = molecule(home, "restore", str(source.archive), "--force")
    assert run.returncode == 1 and "error: a platform is serving from" in run.stderr
    assert listing(home) == before
    assert source.served.call("GET", f"/workspaces/{source.wid}").status_code == 200


def test_migrate_status_reads_the_serving_platform(source: Source) -> None:
    run = molecule(source.served.home, "migrate", "--status", "-o", "json")
    assert run.returncode == 0, run.stderr
    rows = json.loads(run.stdout)
    shipped = sorted(p.name for p in MIGRATIONS.glob("*.up.sql"))
    assert [r["migration"] for r in rows] == shipped
    assert {r["status"] for r in rows} == {"applied"} and all(r["applied_at"] for r in rows)
    table = molecule(source.served.home, "migrate", "--status")
    assert table.returncode == 0 and f"{len(shipped)} applied, 0 pending" in table.stderr


def test_a_backup_taken_while_requests_are_written_is_one_snapshot(
    source: Source, empty_database: str
) -> None:
    """Workspaces are created one after another (each acknowledged before the next) while the
    backup runs: the restored set is exactly a prefix of them, never one with a gap."""
    served = source.served
    acked: list[str] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def write() -> None:
        try:
            with httpx.Client(base_url=served.base, timeout=15) as client:
                while not stop.is_set():
                    name = f"c-{len(acked) + 1:05d}"
                    r = client.post(
                        "/workspaces", json={"name": name, "runtime": "external"},
                        headers=served.admin(),
                    )  # fmt: skip
                    assert r.status_code == 201, r.text
                    acked.append(name)
        except BaseException as exc:  # reported by the test below
            failures.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        deadline = time.monotonic() + 30
        while len(acked) < 3 and time.monotonic() < deadline and not failures:
            time.sleep(0.01)
        before = len(acked)
        archive = source.root / "busy.tar"
        run = molecule(served.home, "backup", str(archive), SECRETS_ENCRYPTION_KEY=KEY)
        after = len(acked)
    finally:
        stop.set()
        writer.join(30)
    assert not failures, failures
    assert run.returncode == 0, run.stderr
    assert after > before  # the backup really ran while requests were written

    # Restore it into an empty external database (DATABASE_URL) and a new home.
    run = molecule(source.root / "busy-home", "restore", str(archive), DATABASE_URL=empty_database)
    assert run.returncode == 0, run.stderr
    rows = psql(empty_database, "SELECT name FROM workspaces WHERE name LIKE 'c-%' ORDER BY 1")
    names = [r[0] for r in rows]
    assert names == [f"c-{i:05d}" for i in range(1, len(names) + 1)]
    assert before <= len(names) <= after
