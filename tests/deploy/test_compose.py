"""compose.yaml, checked without pulling anything: its services, healthchecks and volumes, a
DATABASE_URL that names its own PostgreSQL server, environment names the platform really
reads (and the README documents), a command `molecule serve` accepts, and (when a compose
tool is installed) the tool's own validation with and without the required settings."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from molecule.cli.server_commands import serve

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"
REQUIRED = {"POSTGRES_PASSWORD", "SECRETS_ENCRYPTION_KEY", "DOCKER_GID"}
_VARIABLE = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def interpolate(text: str, env: dict[str, str] | None = None) -> str:
    """Compose's `${NAME}`, `${NAME:-default}`, `${NAME:?error}` with `env` (else defaults,
    and "x" for a required value)."""
    env = env or {}

    def value(m: re.Match[str]) -> str:
        name, kind, rest = m.group(1), m.group(2) or "", m.group(3) or ""
        if env.get(name):
            return env[name]
        return rest if kind.endswith("-") else "x"

    return _VARIABLE.sub(value, text)


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def platform_env_names() -> set[str]:
    """Environment names the platform's code reads: upper-case string constants passed to a
    call that mentions the environment (`env.get("X")`, `_flag(env, "X")`, `os.environ.get`),
    or used as a subscript of one (`env["X"]`)."""
    names: set[str] = set()
    for path in (ROOT / "molecule").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                text = ast.unparse(node.func) + " " + " ".join(ast.unparse(a) for a in node.args)
                args: list[ast.expr] = list(node.args)
            elif isinstance(node, ast.Subscript):
                text, args = ast.unparse(node.value), [node.slice]
            else:
                continue
            if "env" not in text.lower():
                continue
            for arg in args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    if re.fullmatch(r"[A-Z][A-Z0-9_]+", arg.value):
                        names.add(arg.value)
    return names


def test_the_services_their_healthchecks_and_volumes() -> None:
    c = compose()
    assert set(c["services"]) == {"postgres", "platform"}
    assert set(c["volumes"]) == {"postgres-data", "molecule-data"}
    pg, platform = c["services"]["postgres"], c["services"]["platform"]
    # Debian bookworm's postgresql-client in the image is 15: pg_dump must be >= the server.
    assert pg["image"] == "postgres:15"
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])
    assert "postgres-data:/var/lib/postgresql/data" in pg["volumes"]
    published = [p for p in pg["ports"] if p.endswith(":5432")]
    assert published and all(interpolate(p).startswith("127.0.0.1:") for p in published)
    assert platform["build"] == "." and (ROOT / "Dockerfile").is_file()
    assert platform["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert platform["network_mode"] == "host"  # the agents' ports are on the host's loopback
    assert "/var/run/docker.sock:/var/run/docker.sock" in platform["volumes"]
    assert "molecule-data:/data" in platform["volumes"]
    check = platform["healthcheck"]["test"]
    assert check[:2] == ["CMD", "python3"] and check[2] == "/app/docker/healthcheck.py"
    assert (ROOT / "docker" / "healthcheck.py").is_file()
    for service in (pg, platform):
        assert service["restart"] == "unless-stopped"
        assert {"interval", "timeout", "retries"} <= set(service["healthcheck"])


def test_database_url_names_the_compose_server() -> None:
    c = compose()
    pg, platform = c["services"]["postgres"], c["services"]["platform"]
    env = {"POSTGRES_PASSWORD": "s3cret", "MOLECULE_DB_PORT": "15432"}
    url = urlsplit(interpolate(platform["environment"]["DATABASE_URL"], env))
    assert url.scheme == "postgresql"
    assert (url.hostname, url.port) == ("127.0.0.1", 15432)
    assert url.username == pg["environment"]["POSTGRES_USER"]
    assert url.password == "s3cret"
    assert url.path == "/" + pg["environment"]["POSTGRES_DB"]
    assert interpolate(pg["ports"][0], env) == "127.0.0.1:15432:5432"
    assert "${POSTGRES_PASSWORD" in pg["environment"]["POSTGRES_PASSWORD"]


def test_every_platform_setting_is_one_the_platform_reads_and_the_readme_documents() -> None:
    environment = compose()["services"]["platform"]["environment"]
    read = platform_env_names()
    assert {"DATABASE_URL", "RATE_LIMIT", "CORS_ORIGINS", "MOLECULE_TLS_CERTFILE"} <= read
    unknown = set(environment) - read
    assert not unknown, f"compose.yaml sets variables the platform never reads: {unknown}"
    readme = (ROOT / "README.md").read_text()
    undocumented = {name for name in environment if f"`{name}`" not in readme}
    assert not undocumented, f"not in README.md: {undocumented}"
    # Production: the platform refuses to start without an encryption key there, so the
    # compose file requires one rather than failing at boot.
    assert environment["MOLECULE_ENV"] == "production"
    assert ":?" in environment["SECRETS_ENCRYPTION_KEY"]
    assert environment["MOLECULE_BACKEND"] == "docker"


def test_serve_listens_where_the_settings_say(monkeypatch: pytest.MonkeyPatch) -> None:
    """No command of its own: the image's `molecule serve`, and its healthcheck, read the
    address from the environment compose passes, as the CLI run inside the container does."""
    platform = compose()["services"]["platform"]
    assert "command" not in platform
    assert platform["healthcheck"]["test"] == ["CMD", "python3", "/app/docker/healthcheck.py"]
    for name in ("MOLECULE_HOST", "MOLECULE_PORT"):
        monkeypatch.setenv(name, interpolate(platform["environment"][name]))
    ctx = serve.make_context("serve", [])
    assert ctx.params["host"] == "0.0.0.0" and ctx.params["port"] == 8080
    monkeypatch.setenv(
        "MOLECULE_PORT",
        interpolate(platform["environment"]["MOLECULE_PORT"], {"MOLECULE_PORT": "9000"}),
    )
    assert serve.make_context("serve", []).params["port"] == 9000


def compose_tool() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    return None


def test_the_compose_tool_accepts_it_and_insists_on_the_required_settings(
    tmp_path: Path,
) -> None:
    tool = compose_tool()
    if tool is None:
        pytest.skip("no compose tool installed (docker compose or docker-compose)")
    base = {k: v for k, v in os.environ.items() if k not in REQUIRED}
    given = {"POSTGRES_PASSWORD": "pw", "SECRETS_ENCRYPTION_KEY": "k", "DOCKER_GID": "999"}
    command = [*tool, "--project-directory", str(ROOT), "-f", str(COMPOSE), "config"]
    ok = subprocess.run(
        command, env={**base, **given}, capture_output=True, text=True, cwd=tmp_path
    )
    assert ok.returncode == 0, ok.stderr
    resolved = yaml.safe_load(ok.stdout)
    url = resolved["services"]["platform"]["environment"]["DATABASE_URL"]
    assert url == "postgresql://molecule:pw@127.0.0.1:5432/molecule"
    bad = subprocess.run(command, env=base, capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode != 0 and any(name in bad.stderr for name in REQUIRED), bad.stderr


def test_the_required_settings_are_required() -> None:
    text = COMPOSE.read_text()
    for name in REQUIRED:
        assert re.search(r"\$\{" + name + r":\?[^}]+\}", text), name
