"""The database half of `molecule backup` / `molecule restore`: PostgreSQL's own tools.

A backup is `pg_dump --format=custom`: one consistent snapshot (pg_dump reads the whole
database in a single repeatable-read transaction, so rows written while it runs are either
all in it or not at all), readable by `pg_restore`. The tools are the server binaries the
embedded cluster uses (`find_pg_bindir`: $PG_BINDIR, Debian's versioned directories, PATH),
so a dump of the embedded cluster always matches it; for a `DATABASE_URL` server of a newer
major version, point PG_BINDIR at that version's binaries.

A restore is all or nothing: `pg_restore --single-transaction` writes an SQL script (BEGIN ...
COMMIT) that psql runs with ON_ERROR_STOP; when an existing database is replaced, its old
objects are dropped inside that same transaction. Any error rolls everything back; a script
cut short never reaches its COMMIT.

Small facts (applied migrations, other sessions, secrets) are read with psql too, so the
commands need no event loop. A password in the DSN travels in PGPASSWORD, never on a command
line others can read, and no DSN is printed with one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from molecule.errors import CommandFailed, EmbeddedPostgresError
from molecule.store.embedded import find_pg_bindir

QUERY_TIMEOUT = 60.0
_STDERR_TAIL = 1500

# Dropped first when a restore replaces a database that has objects: every large object
# (they live outside any schema) and the schema the migrations create everything in.
_REPLACE_PREAMBLE = (
    "BEGIN;\n"
    "SELECT lo_unlink(oid) FROM pg_largeobject_metadata;\n"
    "DROP SCHEMA IF EXISTS public CASCADE;\n"
    "CREATE SCHEMA public;\n"
)
_SESSIONS = (
    "SELECT pid, coalesce(nullif(application_name, ''), '-'),"
    " coalesce(host(client_addr), 'local socket')"
    " FROM pg_stat_activity WHERE datname = current_database()"
    " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
)
# Everything `facts` reads, in one psql run: each row tagged with what it is; the tables a
# database may not have yet are read only when they exist (psql's \if).
_FACTS = """
SELECT 'version', current_setting('server_version');
SELECT 'tables', count(*) FROM pg_tables WHERE schemaname = 'public';
SELECT to_regclass('public.schema_migrations') IS NOT NULL AS has_migrations,
       to_regclass('public.workspace_secrets') IS NOT NULL AS has_secrets,
       to_regclass('public.workspaces') IS NOT NULL AS has_workspaces \\gset
\\if :has_migrations
SELECT 'migration', filename FROM schema_migrations ORDER BY filename;
\\endif
\\if :has_secrets
SELECT 'secrets', encryption_version, count(*) FROM (
    SELECT encryption_version FROM global_secrets
    UNION ALL SELECT encryption_version FROM workspace_secrets) s GROUP BY 2;
SELECT 'sample', encode(encrypted_value, 'hex') FROM (
    SELECT encrypted_value, encryption_version FROM global_secrets
    UNION ALL SELECT encrypted_value, encryption_version FROM workspace_secrets) s
    WHERE encryption_version = 1 LIMIT 1;
\\endif
\\if :has_workspaces
SELECT 'workspaces', count(*) FROM workspaces;
\\endif
"""


def tool(name: str) -> str:
    """pg_dump, pg_restore or psql: from $PG_BINDIR (client tools alone will do), the
    embedded cluster's binaries, else PATH."""
    explicit = os.environ.get("PG_BINDIR")
    if explicit and (Path(explicit) / name).exists():
        return str(Path(explicit) / name)
    try:
        candidate = find_pg_bindir() / name
        if candidate.exists():
            return str(candidate)
    except EmbeddedPostgresError:
        pass
    found = shutil.which(name)
    if found is None:
        raise CommandFailed(
            f"{name} not found: install PostgreSQL's client programs (apt-get install "
            "postgresql-client) or set PG_BINDIR"
        )
    return found


def libpq_target(dsn: str) -> tuple[str, dict[str, str]]:
    """(conninfo without its password, the environment carrying it) for the libpq tools."""
    env = dict(os.environ)
    parts = urlsplit(dsn)
    query = parse_qsl(parts.query, keep_blank_values=True)
    in_query = [v for k, v in query if k == "password"]
    if in_query:  # `?password=` is libpq's other way to say it
        env["PGPASSWORD"] = in_query[-1]
        kept = [(k, v) for k, v in query if k != "password"]
        parts = parts._replace(query=urlencode(kept, safe="/"))
    if parts.password is None:
        return (urlunsplit(parts) if in_query else dsn), env
    env["PGPASSWORD"] = unquote(parts.password)
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}@" if user else ""
    netloc += f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc)), env


def shown(dsn: str) -> str:
    """The DSN as it may be printed: without its password."""
    return libpq_target(dsn)[0]


def _tail(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _STDERR_TAIL else "..." + text[-_STDERR_TAIL:]


def query(dsn: str, script: str) -> list[list[str]]:
    """The rows a psql script prints, as text (tab-separated, unaligned, no headers)."""
    conninfo, env = libpq_target(dsn)
    try:
        run = subprocess.run(
            [tool("psql"), "-X", "-q", "-tA", "-F", "\t", "-v", "ON_ERROR_STOP=1"]
            + ["-d", conninfo, "-f", "-"],
            input=script,
            capture_output=True,
            text=True,
            env=env,
            timeout=QUERY_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        raise CommandFailed(f"the database did not answer within {QUERY_TIMEOUT:g}s") from exc
    if run.returncode != 0:
        raise CommandFailed(f"cannot query the database at {shown(dsn)}: {_tail(run.stderr)}")
    return [line.split("\t") for line in run.stdout.splitlines() if line]


@dataclass(frozen=True)
class DatabaseFacts:
    """What a backup records about the database and what a restore checks."""

    server_version: str
    tables: int  # in the public schema (0: an empty database)
    migrations: tuple[str, ...]  # filenames in schema_migrations, in order
    secrets_plain: int  # secrets stored without encryption (no key when written)
    secrets_encrypted: int
    encrypted_sample: bytes | None  # one encrypted value, to try the key on
    workspaces: int


def facts(dsn: str) -> DatabaseFacts:
    found: dict[str, list[list[str]]] = {}
    for row in query(dsn, _FACTS):
        found.setdefault(row[0], []).append(row[1:])
    plain = sum(int(n) for version, n in found.get("secrets", []) if version == "0")
    encrypted = sum(int(n) for version, n in found.get("secrets", []) if version != "0")
    sample = found.get("sample")
    return DatabaseFacts(
        server_version=found["version"][0][0],
        tables=int(found["tables"][0][0]),
        migrations=tuple(r[0] for r in found.get("migration", [])),
        secrets_plain=plain,
        secrets_encrypted=encrypted,
        encrypted_sample=bytes.fromhex(sample[0][0]) if sample else None,
        workspaces=int(found.get("workspaces", [["0"]])[0][0]),
    )


def other_sessions(dsn: str) -> list[str]:
    """Who else is connected to this database (a serving platform would be): one line each."""
    return [f"pid {pid} ({app}, {where})" for pid, app, where in query(dsn, _SESSIONS + ";")]


def tool_version(name: str) -> str:
    run = subprocess.run([tool(name), "--version"], capture_output=True, text=True, timeout=30)
    return run.stdout.strip()


def dump(dsn: str, dest: Path) -> None:
    """pg_dump the whole database into `dest` (custom format, created 0600)."""
    conninfo, env = libpq_target(dsn)
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    run = subprocess.run(
        [tool("pg_dump"), "--format=custom", "--file", str(dest), "--dbname", conninfo],
        capture_output=True,
        text=True,
        env=env,
    )
    if run.returncode != 0:
        raise CommandFailed(
            f"pg_dump failed: {_tail(run.stderr)} (the tools must be at least the server's "
            "major version: set PG_BINDIR to newer binaries if they are older)"
        )


def restore(dsn: str, dump_file: Path, *, replace: bool) -> None:
    """Load a pg_dump archive into the database, in one transaction (module docstring).

    With `replace`, the database's own objects are dropped first, in that transaction."""
    conninfo, env = libpq_target(dsn)
    with tempfile.TemporaryFile() as restore_err, tempfile.TemporaryFile() as psql_err:
        producer = subprocess.Popen(
            [tool("pg_restore"), "--single-transaction", "--no-owner", "--no-privileges"]
            + ["--file", "-", str(dump_file)],
            stdout=subprocess.PIPE,
            stderr=restore_err,
        )
        consumer = subprocess.Popen(
            [tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-f", "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=psql_err,
            env=env,
        )
        assert producer.stdout is not None and consumer.stdin is not None
        try:
            if replace:
                consumer.stdin.write(_REPLACE_PREAMBLE.encode())
            while chunk := producer.stdout.read(1 << 16):
                consumer.stdin.write(chunk)
        except BrokenPipeError:
            pass  # psql stopped at an error: its exit code and stderr say which
        finally:
            producer.stdout.close()
            try:
                consumer.stdin.close()
            except BrokenPipeError:
                pass
            producer_code = producer.wait()
            consumer_code = consumer.wait()
        if producer_code != 0 or consumer_code != 0:
            restore_err.seek(0)
            psql_err.seek(0)
            detail = _tail(
                restore_err.read().decode(errors="replace")
                + "\n"
                + psql_err.read().decode(errors="replace")
            )
            raise CommandFailed(f"restoring the database failed, nothing was changed: {detail}")
