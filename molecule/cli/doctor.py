"""`molecule doctor`: can `molecule serve` run here, and what to fix if not.

Each check is `ok`, `info` (worth knowing, nothing to do), `warn` (serving works, but fix
it) or `fail` (serving is blocked); the command exits 1 when any check fails.

- Python: 3.11 or newer.
- Settings: the environment `molecule serve` reads is one it accepts (an unknown
  MOLECULE_BACKEND, production without SECRETS_ENCRYPTION_KEY, a bad TLS pair ... stop it).
- Database: with DATABASE_URL, that server answers a connection; without it, the PostgreSQL
  server binaries the embedded cluster needs are installed (and, as root, the `postgres`
  user they run as exists).
- Docker: where an engine would be (DOCKER_HOST, else /var/run/docker.sock) and whether it
  answers. Reported, never required: without one, workspaces run as local processes (a
  failure only with MOLECULE_BACKEND=docker, which requires it).
- Data directory: MOLECULE_HOME exists (or can be made), is ours and writable, is 0700
  (0711 as root, so the cluster's user can traverse it), and its admin_token is readable by
  its owner only (0600 or 0400).
- Port: `--host`/`--port` (else MOLECULE_HOST/MOLECULE_PORT, else serve's defaults) are
  free, or a platform already answers /health there.
"""

from __future__ import annotations

import asyncio
import errno
import os
import pwd
import socket
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

import click
import httpx

from molecule.cli import connection
from molecule.cli.output import dump, note, render
from molecule.errors import EmbeddedPostgresError

PROBE_TIMEOUT = 3.0
MARKS = {
    "ok": "[green]✓ ok[/]",
    "info": "• info",
    "warn": "[yellow]! warn[/]",
    "fail": "[red]✗ fail[/]",
}


@dataclass(frozen=True)
class Check:
    name: str
    level: str  # ok | info | warn | fail
    detail: str
    fix: str = ""


# -- the checks ---------------------------------------------------------------------------------


def python_check(version: tuple[int, ...] = tuple(sys.version_info[:3])) -> Check:
    shown = ".".join(str(v) for v in version)
    if version >= (3, 11):
        return Check("python", "ok", f"Python {shown}")
    return Check("python", "fail", f"Python {shown}", "install Python 3.11 or newer")


def settings_check(env: Mapping[str, str]) -> Check:
    from molecule.config import Settings
    from molecule.errors import ConfigError

    try:
        Settings.from_env(env)
    except ConfigError as exc:
        return Check("settings", "fail", exc.message, "see README.md, Settings")
    return Check("settings", "ok", "the environment is one serve accepts")


def _where(url: str) -> str:
    """A DSN without its credentials: host:port/database."""
    parts = urlsplit(url)
    host = parts.hostname or "local socket"
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range: shown as written
        return f"{host}:{parts.netloc.rpartition(':')[2]}{parts.path or ''}"
    return f"{host}{':' + str(port) if port else ''}{parts.path or ''}"


def _connect(dsn: str) -> str:
    """The server's version, after opening (and closing) one connection."""
    import asyncpg

    async def probe() -> str:
        conn = await asyncpg.connect(dsn, timeout=PROBE_TIMEOUT)
        try:
            v = conn.get_server_version()
            # PostgreSQL 10 and later number releases major.minor; asyncpg keeps the
            # minor in `micro` for them (15.18 is major 15, micro 18).
            return f"{v.major}.{v.micro}" if v.major >= 10 else f"{v.major}.{v.minor}.{v.micro}"
        finally:
            await conn.close()

    return asyncio.run(asyncio.wait_for(probe(), PROBE_TIMEOUT * 2))


def database_check(env: Mapping[str, str]) -> Check:
    url = env.get("DATABASE_URL", "").strip()
    if url:
        try:
            version = _connect(url)
        except Exception as exc:  # any failure to connect is the finding
            reason = str(exc) or type(exc).__name__
            return Check(
                "database",
                "fail",
                f"DATABASE_URL ({_where(url)}) does not answer: {reason}",
                "start that server or correct DATABASE_URL (unset, the platform runs its own)",
            )
        return Check("database", "ok", f"DATABASE_URL ({_where(url)}): PostgreSQL {version}")
    from molecule.store.embedded import find_pg_bindir

    try:
        bindir = find_pg_bindir()
    except EmbeddedPostgresError:
        return Check(
            "database",
            "fail",
            "PostgreSQL server binaries not found (needed without DATABASE_URL)",
            "apt-get install postgresql (`make run` does it), or set DATABASE_URL",
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return Check(
                "database",
                "fail",
                "as root the embedded cluster runs as the 'postgres' user, and there is none",
                "apt-get install postgresql (it creates the user)",
            )
    return Check("database", "ok", f"PostgreSQL server binaries in {bindir} (embedded cluster)")


def _engine_version(host: str) -> str:
    if host.startswith("unix://"):
        transport = httpx.HTTPTransport(uds=host.removeprefix("unix://"))
        base = "http://docker"
    elif host.startswith(("tcp://", "http://")):
        transport, base = None, "http://" + host.split("://", 1)[1]
    elif host.startswith("https://"):
        transport, base = None, host
    else:
        raise ValueError(f"cannot probe {host.split(':', 1)[0]} engines from here")
    with httpx.Client(base_url=base, transport=transport, timeout=PROBE_TIMEOUT) as c:
        r = c.get("/version")
        r.raise_for_status()
        return str(r.json().get("Version") or "unknown version")


def docker_check(env: Mapping[str, str], default_socket: Path | None = None) -> Check:
    from molecule.config import DEFAULT_DOCKER_SOCKET

    socket_path = default_socket or DEFAULT_DOCKER_SOCKET
    backend = env.get("MOLECULE_BACKEND", "").strip().lower() or "auto"
    if backend == "local":
        return Check("docker", "info", "not used (MOLECULE_BACKEND=local): agents run as processes")
    required = backend == "docker"
    host = env.get("DOCKER_HOST", "").strip()
    if not host and socket_path.is_socket():
        host = f"unix://{socket_path}"
    if not host:
        return Check(
            "docker",
            "fail" if required else "info",
            f"no Docker Engine (DOCKER_HOST unset, no {socket_path}): "
            "workspaces run as local processes",
            "start dockerd or set DOCKER_HOST (MOLECULE_BACKEND=docker requires it)"
            if required
            else "",
        )
    try:
        version = _engine_version(host)
    except Exception as exc:  # what the engine (or its absence) said is the finding
        reason = str(exc) or type(exc).__name__
        return Check(
            "docker",
            "fail" if required else "warn",
            f"the Docker Engine at {host} does not answer ({reason}): "
            "workspaces run as local processes",
            "start dockerd, or unset DOCKER_HOST",
        )
    return Check("docker", "ok", f"Docker Engine {version} at {host}: workspaces run in containers")


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def data_dir_checks(env: Mapping[str, str]) -> list[Check]:
    home = connection.data_home(env).absolute()
    private = "711" if os.geteuid() == 0 else "700"
    if not home.exists():
        parent = _nearest_existing(home.parent)
        if os.access(parent, os.W_OK | os.X_OK):
            return [Check("data dir", "ok", f"{home} does not exist yet: serve creates it")]
        return [
            Check(
                "data dir",
                "fail",
                f"{home} does not exist and {parent} is not writable",
                "set MOLECULE_HOME to a directory you can write",
            )
        ]
    if not home.is_dir():
        return [Check("data dir", "fail", f"{home} is not a directory", "set MOLECULE_HOME")]
    st = home.stat()
    if not os.access(home, os.W_OK | os.X_OK):
        return [
            Check(
                "data dir",
                "fail",
                f"{home} is not writable by you (owner uid {st.st_uid})",
                f"run as its owner, or chown {os.geteuid()} {home}",
            )
        ]
    mode = st.st_mode & 0o777
    checks = [
        Check("data dir", "ok", f"{home} ({mode:04o})")
        if mode in (0o700, 0o711)
        else Check(
            "data dir",
            "warn",
            f"{home} is {mode:04o}: others may read it",
            f"chmod {private} {home}",
        )
    ]
    return checks + [_token_check(env, home / "admin_token")]


def _token_check(env: Mapping[str, str], path: Path) -> Check:
    if env.get("ADMIN_TOKEN"):
        return Check("admin token", "info", "ADMIN_TOKEN is set: the platform uses it")
    if not path.exists():
        return Check("admin token", "info", f"none yet: serve writes {path} (0600)")
    if not os.access(path, os.R_OK):
        return Check(
            "admin token", "fail", f"{path} is not readable by you", f"chown {os.geteuid()} {path}"
        )
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        return Check(
            "admin token", "warn", f"{path} is {mode:04o}: others may read it", f"chmod 600 {path}"
        )
    return Check("admin token", "ok", f"{path} ({mode:04o})")


def _platform_answers(host: str, port: int) -> bool:
    probe = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in probe:
        probe = f"[{probe}]"
    try:
        r = httpx.get(f"http://{probe}:{port}/health", timeout=PROBE_TIMEOUT)
        return r.status_code == 200 and r.json().get("status") == "ok"
    except (httpx.HTTPError, ValueError, AttributeError):
        return False


def port_check(host: str, port: int) -> Check:
    where = f"{host}:{port}"
    if not 0 < port < 65536:
        return Check("port", "fail", f"port {port} is outside 1..65535", "choose another --port")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            if _platform_answers(host, port):
                return Check("port", "info", f"{where}: a Molecule platform already serves there")
            return Check(
                "port",
                "fail",
                f"{where} is in use by another program",
                f"stop it, or serve elsewhere: molecule serve --port {port + 1}",
            )
        return Check(
            "port", "fail", f"cannot listen on {where}: {exc.strerror or exc}", "check --host"
        )
    return Check("port", "ok", f"{where} is free")


def run_checks(env: Mapping[str, str], host: str, port: int) -> list[Check]:
    return [
        python_check(),
        settings_check(env),
        database_check(env),
        docker_check(env),
        *data_dir_checks(env),
        port_check(host, port),
    ]


# -- the command ----------------------------------------------------------------------------


def _report(checks: list[Check]) -> None:
    from rich.table import Table

    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    for check in checks:
        table.add_row(check.name, MARKS[check.level], check.detail)
    render(table)
    fixes = [c for c in checks if c.fix and c.level in ("warn", "fail")]
    if fixes:
        click.echo("\nTo fix:")
        for check in fixes:
            click.echo(f"  {check.name}: {check.fix}")


@click.command("doctor")
@connection.listen_options("serve would listen on")
@connection.output_option()
@click.pass_context
def doctor(ctx: click.Context, host: str, port: int) -> int:
    """Check that `molecule serve` can run here, and say what to fix."""
    fmt = connection.output_format(ctx.meta.get(connection.META, {}).get("output"), os.environ)
    checks = run_checks(os.environ, host, port)
    blocked = any(c.level == "fail" for c in checks)
    if fmt == "table":
        _report(checks)
        note("\nSomething blocks serving: see above." if blocked else "\nReady to serve.")
    else:
        dump({"ready": not blocked, "checks": [asdict(c) for c in checks]}, fmt)
    return 1 if blocked else 0
