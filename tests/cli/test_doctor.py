"""`molecule doctor` against real parts: the suite's PostgreSQL server, loopback sockets
(a free port, a taken one, a running platform), small HTTP servers standing where a Docker
Engine would answer, and tmp_path data directories; the command through Click's runner and
as `python -m molecule.cli`."""

from __future__ import annotations

import json
import os
import pwd
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import trio
import yaml

from molecule.cli import doctor
from molecule.cli.doctor import Check, data_dir_checks, database_check, docker_check, port_check
from molecule.errors import EmbeddedPostgresError
from molecule.store.embedded import find_pg_bindir
from tests.cli.conftest import CLEAN_ENV, invoke
from tests.conftest import Harness
from tests.deploy.pg_server import free_port

ROOT = os.geteuid() == 0


@contextmanager
def held_port(listen: bool = True) -> Iterator[int]:
    """A loopback port another program holds (listening: it accepts and never answers)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        if listen:
            s.listen()
        yield int(s.getsockname()[1])


def engine(status: int, body: bytes, path: str = "/version") -> type[BaseHTTPRequestHandler]:
    """A server answering GET `path` (a Docker Engine's /version): status, body."""

    class Engine(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            sent = body if self.path == path else b""
            self.send_response(status if sent else 404)
            self.send_header("Content-Length", str(len(sent)))
            self.end_headers()
            self.wfile.write(sent)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Engine


@contextmanager
def serving(server: socketserver.BaseServer) -> Iterator[None]:
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def server_version(dsn: str) -> str:
    psql = [str(find_pg_bindir() / "psql"), dsn, "-tAc", "SHOW server_version"]
    return subprocess.run(psql, check=True, capture_output=True, text=True).stdout.split()[0]


@pytest.mark.parametrize("version", [(3, 10, 14), (2, 7, 18), (3, 11, 0), (3, 13)])
def test_python_needs_3_11(version: tuple[int, ...]) -> None:
    level, fix = ("ok", "") if version >= (3, 11) else ("fail", "install Python 3.11 or newer")
    shown = "Python " + ".".join(map(str, version))
    assert doctor.python_check(version) == Check("python", level, shown, fix)
    assert doctor.python_check().detail == "Python " + ".".join(map(str, sys.version_info[:3]))


def test_database_url_answering_names_the_servers_real_version(pg_server: str) -> None:
    real = server_version(pg_server)  # "15.18": the check must not shorten it to "15.0"
    check = database_check({"DATABASE_URL": pg_server})
    assert (check.name, check.level, check.fix) == ("database", "ok", "")
    detail, password = check.detail, urlsplit(pg_server).password
    assert detail.startswith("DATABASE_URL (") and detail.endswith(f"): PostgreSQL {real}"), real
    assert not password or password not in detail


def test_database_url_on_a_closed_port_fails_at_once_and_says_why() -> None:
    port = free_port()
    started = time.monotonic()
    check = database_check({"DATABASE_URL": f"postgresql://u:topsecret@127.0.0.1:{port}/db"})
    assert time.monotonic() - started < doctor.PROBE_TIMEOUT
    assert (check.name, check.level) == ("database", "fail")
    where, reason = check.detail.split(" does not answer: ")
    assert where == f"DATABASE_URL (127.0.0.1:{port}/db)"  # no credentials
    assert "Connect call failed" in reason or "refused" in reason.lower(), reason
    assert "correct DATABASE_URL" in check.fix
    for port in ("99999", "abc"):  # a port no URL can have: a finding, not a crash
        check = database_check({"DATABASE_URL": f"postgresql://u:pw@127.0.0.1:{port}/db"})
        assert check.level == "fail" and f"127.0.0.1:{port}/db" in check.detail
        assert "pw" not in check.detail


def test_database_that_never_answers_is_given_up_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "PROBE_TIMEOUT", 0.3)
    with held_port() as port:
        started = time.monotonic()
        check = database_check({"DATABASE_URL": f"postgresql://u@127.0.0.1:{port}/db"})
        elapsed = time.monotonic() - started
    assert 0.25 < elapsed < 3, elapsed  # unbounded, asyncpg would wait 60 s
    assert check.level == "fail" and check.detail.endswith("does not answer: TimeoutError")


def test_embedded_cluster_binaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    found = "PostgreSQL server binaries in {} (embedded cluster)"
    for env in ({}, {"DATABASE_URL": "  "}):
        assert database_check(env) == Check("database", "ok", found.format(find_pg_bindir()))
    (tmp_path / "postgres").touch()
    monkeypatch.setenv("PG_BINDIR", str(tmp_path))  # the binaries named are those it would use
    assert database_check({}).detail == found.format(tmp_path)


def test_embedded_cluster_impossible(monkeypatch: pytest.MonkeyPatch) -> None:
    if ROOT:  # as root the cluster runs as 'postgres': a host without that user is blocked
        monkeypatch.setattr(pwd, "getpwnam", lambda name: {}[name])
        check = database_check({})
        assert check.level == "fail" and "'postgres' user" in check.detail

    def missing() -> Path:
        raise EmbeddedPostgresError("not here")

    monkeypatch.setattr("molecule.store.embedded.find_pg_bindir", missing)
    check = database_check({})
    assert check.level == "fail" and "binaries not found" in check.detail
    assert "apt-get install postgresql" in check.fix and "DATABASE_URL" in check.fix


MISSING = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}


@pytest.mark.parametrize(
    ("env", "level"),
    [
        (MISSING, "warn"),
        ({**MISSING, "MOLECULE_BACKEND": "auto"}, "warn"),
        ({**MISSING, "MOLECULE_BACKEND": " Docker "}, "fail"),
        ({**MISSING, "MOLECULE_BACKEND": "local"}, "info"),
        ({"DOCKER_HOST": "ssh://user@host"}, "warn"),
        ({"DOCKER_HOST": "ssh://user@host", "MOLECULE_BACKEND": "docker"}, "fail"),
    ],
)
def test_docker_engine_that_does_not_answer(env: dict[str, str], level: str) -> None:
    check = docker_check(env, default_socket=Path("/nonexistent/default.sock"))
    assert (check.name, check.level) == ("docker", level)
    if level == "info":
        assert check.detail.startswith("not used (MOLECULE_BACKEND=local)") and not check.fix
        return
    assert f"the Docker Engine at {env['DOCKER_HOST']} does not answer (" in check.detail
    assert "workspaces run as local processes" in check.detail
    assert check.fix == "start dockerd, or unset DOCKER_HOST"
    if env["DOCKER_HOST"].startswith("unix"):
        assert "No such file or directory" in check.detail


def test_docker_engine_on_the_default_socket_or_docker_host(tmp_path: Path) -> None:
    sock = tmp_path / "docker.sock"
    none = f"no Docker Engine (DOCKER_HOST unset, no {sock}): workspaces run as local processes"
    assert docker_check({"DOCKER_HOST": " "}, sock) == Check("docker", "info", none)
    fix = "start dockerd or set DOCKER_HOST (MOLECULE_BACKEND=docker requires it)"
    assert docker_check({"MOLECULE_BACKEND": "docker"}, sock) == Check("docker", "fail", none, fix)
    with serving(socketserver.UnixStreamServer(str(sock), engine(200, b'{"Version":"27.1.1"}'))):
        found = docker_check({}, default_socket=sock)
        named = docker_check({"DOCKER_HOST": f"unix://{sock}", "MOLECULE_BACKEND": "docker"})
    ok = f"Docker Engine 27.1.1 at unix://{sock}: workspaces run in containers"
    assert found == named == Check("docker", "ok", ok)
    server = ThreadingHTTPServer(("127.0.0.1", 0), engine(500, b'{"message":"broken"}'))
    with serving(server):
        broken = docker_check({"DOCKER_HOST": f"tcp://127.0.0.1:{server.server_port}"}, sock)
    assert broken.level == "warn" and "500" in broken.detail


def home_env(home: Path) -> dict[str, str]:
    return {"MOLECULE_HOME": str(home)}


def test_a_missing_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for home in (tmp_path / "home", tmp_path / "a" / "b" / "home"):
        assert data_dir_checks(home_env(home)) == [
            Check("data dir", "ok", f"{home} does not exist yet: serve creates it")
        ]
        assert not home.exists()  # checked, never made
    monkeypatch.setenv("HOME", str(tmp_path))  # without MOLECULE_HOME: ~/.molecule
    (check,) = data_dir_checks({})
    assert check.detail == f"{tmp_path / '.molecule'} does not exist yet: serve creates it"
    blocker = tmp_path / "file"
    blocker.write_text("x")
    (check,) = data_dir_checks(home_env(blocker / "home"))
    assert check.level == "fail" and f"{blocker} is not writable" in check.detail
    (check,) = data_dir_checks(home_env(blocker))
    assert (check.level, check.detail) == ("fail", f"{blocker} is not a directory")


def test_unwritable_or_unreadable_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Refusals as os.access gives them: root may do anything, whatever the modes say."""
    parent, real, denied = tmp_path / "ro", os.access, {tmp_path / "ro"}
    parent.mkdir()
    monkeypatch.setattr(
        doctor.os, "access", lambda p, mode, **kw: Path(p) not in denied and real(p, mode, **kw)
    )
    (missing,) = data_dir_checks(home_env(parent / "home"))
    (readonly,) = data_dir_checks(home_env(parent))
    assert missing.level == "fail" and f"{parent} is not writable" in missing.detail
    assert readonly.level == "fail" and "is not writable by you" in readonly.detail
    (parent / "admin_token").write_text("secret")
    denied = {parent / "admin_token"}
    check = data_dir_checks(home_env(parent))[1]
    assert check.level == "fail" and "not readable by you" in check.detail


MODES = [(0o700, None), (0o711, 0o600), (0o755, 0o644), (0o700, 0o660), (0o700, 0o400)]


@pytest.mark.parametrize(("mode", "token_mode"), MODES)
def test_home_and_token_are_private(tmp_path: Path, mode: int, token_mode: int | None) -> None:
    home, token = tmp_path / "home", tmp_path / "home" / "admin_token"
    home.mkdir()
    home.chmod(mode)
    if token_mode is not None:
        token.write_text("secret")
        token.chmod(token_mode)
    checks = data_dir_checks(home_env(home))
    if mode != 0o755:
        assert checks[0] == Check("data dir", "ok", f"{home} ({mode:04o})")
    else:
        fix = f"chmod {'711' if ROOT else '700'} {home}"
        assert checks[0] == Check("data dir", "warn", f"{home} is 0755: others may read it", fix)
    if token_mode is None:
        none = f"none yet: serve writes {token} (0600)"
        assert checks[1:] == [Check("admin token", "info", none)]
    elif token_mode in (0o600, 0o400):  # read-only for its owner is private too
        assert checks[1:] == [Check("admin token", "ok", f"{token} ({token_mode:04o})")]
    else:
        loose, fix = f"{token} is {token_mode:04o}: others may read it", f"chmod 600 {token}"
        assert checks[1:] == [Check("admin token", "warn", loose, fix)]
    with_env = data_dir_checks({**home_env(home), "ADMIN_TOKEN": "t"})[1]
    assert (with_env.level, with_env.detail) == ("info", "ADMIN_TOKEN is set: the platform uses it")


def test_a_free_port_and_ports_that_cannot_be() -> None:
    port = free_port()
    assert port_check("127.0.0.1", port) == Check("port", "ok", f"127.0.0.1:{port} is free")
    with socket.socket() as s:  # the check let it go
        s.bind(("127.0.0.1", port))
    for port in (0, -1, 65536):
        check = port_check("127.0.0.1", port)
        assert (check.level, check.detail) == ("fail", f"port {port} is outside 1..65535")
    check = port_check("192.0.2.1", free_port())  # TEST-NET-1: on no interface here
    assert check.level == "fail" and check.detail.startswith("cannot listen on 192.0.2.1:")
    assert check.fix == "check --host"


@pytest.mark.parametrize("holder", ["silent", "bound", "http"])
def test_a_port_another_program_holds(holder: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "PROBE_TIMEOUT", 0.3)  # a silent listener never answers
    if holder == "http":  # answers /health 200, but not as a platform does
        server = ThreadingHTTPServer(("127.0.0.1", 0), engine(200, b'{"status":"up"}', "/health"))
        with serving(server):
            port, check = server.server_port, port_check("127.0.0.1", server.server_port)
    else:
        with held_port(listen=holder == "silent") as port:
            started = time.monotonic()
            check = port_check("127.0.0.1", port)
        assert time.monotonic() - started < 3
    fix = f"stop it, or serve elsewhere: molecule serve --port {port + 1}"
    assert check == Check("port", "fail", f"127.0.0.1:{port} is in use by another program", fix)


async def test_a_port_a_platform_serves(platform: Harness, dsn: str, tmp_path: Path) -> None:
    port = urlsplit(platform.base_url).port
    assert port is not None
    for host in ("127.0.0.1", "0.0.0.0"):
        check = await trio.to_thread.run_sync(port_check, host, port)
        serves = f"{host}:{port}: a Molecule platform already serves there"
        assert check == Check("port", "info", serves)
    env = ready_env(dsn, tmp_path / "h")
    result = await trio.to_thread.run_sync(
        lambda: invoke(["doctor", "--port", str(port), "-o", "json"], env=env)
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["checks"][-1]["level"] == "info"


NAMES = ["python", "settings", "database", "docker", "data dir", "port"]


def ready_env(pg_server: str, home: Path) -> dict[str, str]:
    home_env = {"MOLECULE_HOME": str(home), "MOLECULE_HOST": "127.0.0.1"}  # whatever runs us
    return {"DATABASE_URL": pg_server, "MOLECULE_BACKEND": "local", **home_env}


def test_run_checks_in_order(pg_server: str, tmp_path: Path) -> None:
    home, port = tmp_path / "home", free_port()
    checks = doctor.run_checks(ready_env(pg_server, home), "127.0.0.1", port)
    assert [c.name for c in checks] == NAMES
    home.mkdir(mode=0o700)
    checks = doctor.run_checks(ready_env(pg_server, home), "127.0.0.1", port)
    assert [c.name for c in checks] == [*NAMES[:5], "admin token", "port"]
    assert [c.level for c in checks] == ["ok", "ok", "ok", "info", "ok", "info", "ok"]


def test_the_command_when_ready_with_a_warning_or_none(pg_server: str, tmp_path: Path) -> None:
    home, port = tmp_path / "home", free_port()
    result = invoke(["doctor", "--port", str(port)], env=ready_env(pg_server, home))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [name.split()[0] for name in NAMES]
    assert "✓ ok" in lines[0] and "• info" in lines[3] and f"127.0.0.1:{port} is free" in lines[5]
    assert "To fix:" not in result.stdout and result.stderr.strip() == "Ready to serve."
    home.mkdir()
    home.chmod(0o755)  # a warning does not block, and says what to fix
    result = invoke(["doctor", "--port", str(port)], env=ready_env(pg_server, home))
    assert result.exit_code == 0, result.output
    assert "! warn" in result.stdout and result.stderr.strip() == "Ready to serve."
    assert f"\nTo fix:\n  data dir: chmod {'711' if ROOT else '700'} {home}\n" in result.stdout


def test_a_failure_blocks_and_says_what_to_fix(pg_server: str, tmp_path: Path) -> None:
    env = {**ready_env(pg_server, tmp_path / "h"), **MISSING, "MOLECULE_BACKEND": "docker"}
    with held_port(listen=False) as port:
        result = invoke(["doctor", "--port", str(port)], env=env)
    assert result.exit_code == 1, result.output
    assert result.stdout.count("✗ fail") == 2
    assert result.stdout.split("\nTo fix:\n")[1].splitlines() == [
        "  docker: start dockerd, or unset DOCKER_HOST",
        f"  port: stop it, or serve elsewhere: molecule serve --port {port + 1}",
    ]
    assert result.stderr.strip() == "Something blocks serving: see above."


def test_the_command_for_scripts(pg_server: str, tmp_path: Path) -> None:
    port, env = str(free_port()), ready_env(pg_server, tmp_path / "h")
    for args, fmt in (("-o json doctor", ""), ("doctor -o json", ""), ("doctor", "yaml")):
        result = invoke([*args.split(), "--port", port], env={**env, "MOL_OUTPUT": fmt})
        assert result.exit_code == 0, result.output
        report = (yaml.safe_load if fmt else json.loads)(result.stdout)
        assert report["ready"] is True and result.stderr == ""
        assert [c["name"] for c in report["checks"]] == NAMES
        assert all(set(c) == {"name", "level", "detail", "fix"} for c in report["checks"])


def test_python_m_molecule_cli_doctor_exit_codes(pg_server: str, tmp_path: Path) -> None:
    moved = {*CLEAN_ENV, "MOLECULE_HOST", "MOLECULE_PORT"}
    env = {k: v for k, v in os.environ.items() if k not in moved}
    env.update(ready_env(pg_server, tmp_path / "h"))
    argv = [sys.executable, "-m", "molecule.cli", "doctor", "-o", "json", "--port"]
    ready = subprocess.run([*argv, str(free_port())], env=env, capture_output=True, timeout=30)
    assert ready.returncode == 0, ready.stderr
    assert json.loads(ready.stdout)["ready"] is True
    with held_port(listen=False) as port:
        blocked = subprocess.run([*argv, str(port)], env=env, capture_output=True, timeout=30)
    assert blocked.returncode == 1, blocked.stderr
    assert json.loads(blocked.stdout)["checks"][-1]["level"] == "fail"


def test_the_port_checked_is_the_one_serve_would_use(pg_server: str, tmp_path: Path) -> None:
    env = ready_env(pg_server, tmp_path / "h")
    with held_port(listen=False) as port:  # serve reads MOLECULE_PORT and MOLECULE_HOST too
        taken = invoke(["doctor", "-o", "json"], env={**env, "MOLECULE_PORT": str(port)})
    elsewhere = invoke(["doctor", "-o", "json"], env={**env, "MOLECULE_HOST": "192.0.2.1"})
    assert (taken.exit_code, elsewhere.exit_code) == (1, 1), taken.output + elsewhere.output
    port_taken = json.loads(taken.stdout)["checks"][-1]["detail"]
    assert port_taken == f"127.0.0.1:{port} is in use by another program"
    assert json.loads(elsewhere.stdout)["checks"][-1]["detail"].startswith(
        "cannot listen on 192.0.2.1:"
    )


def test_settings_serve_would_refuse_block_doctor_too(pg_server: str, tmp_path: Path) -> None:
    assert doctor.settings_check({}).level == "ok"
    unknown = doctor.settings_check({"MOLECULE_BACKEND": "kubernetes"})
    assert unknown.level == "fail" and "MOLECULE_BACKEND='kubernetes'" in unknown.detail
    keyless = doctor.settings_check({"MOLECULE_ENV": "production"})
    assert keyless.detail == "SECRETS_ENCRYPTION_KEY is required when MOLECULE_ENV=production"
    assert keyless.level == "fail" and keyless.fix == "see README.md, Settings"
    env = {**ready_env(pg_server, tmp_path / "h"), "MOLECULE_ENV": "production"}
    result = invoke(["doctor", "--port", str(free_port())], env=env)
    assert result.exit_code == 1 and "SECRETS_ENCRYPTION_KEY is required" in result.stdout
