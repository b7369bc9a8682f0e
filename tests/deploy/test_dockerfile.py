"""The platform's Dockerfile, checked without building it: every file it copies from the
repository exists and is not left out of the build context by .dockerignore, every stage it
copies from is defined, its command is a `molecule serve` the CLI accepts, run by a
`molecule` it makes, its healthcheck asks where that serve listens, and its Python
dependencies are the project's.

(Its base images cannot be pulled here, so the suite does not build it; README.md,
"Production", records a build and run with local stand-ins for them.)
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import sys
import threading
import tomllib
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from molecule.cli.server_commands import serve

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = pending + stripped
        pending = ""
        keyword, _, rest = full.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    assert not pending, "the Dockerfile ends in a continuation line"
    return out


def ignored(path: str) -> bool:
    """Would .dockerignore leave `path` (relative, with /) out of the build context?"""
    result = False
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        rule = raw.strip()
        if not rule or rule.startswith("#"):
            continue
        negate = rule.startswith("!")
        pattern = rule.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(
            fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(p, "*/" + pattern.removeprefix("**/"))
            for p in prefixes
        ):
            result = not negate
    return result


def test_what_it_copies_exists_and_is_in_the_build_context() -> None:
    stages: set[str] = set()
    copies = 0
    for keyword, args in instructions():
        if keyword == "FROM":
            m = re.fullmatch(r"\S+(?:\s+AS\s+(\S+))?", args, re.IGNORECASE)
            assert m, args
            if m.group(1):
                stages.add(m.group(1))
        if keyword not in ("COPY", "ADD"):
            continue
        words = args.split()
        flags = [w for w in words if w.startswith("--")]
        sources = [w for w in words if not w.startswith("--")][:-1]
        source_stage = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
        if source_stage is not None:
            assert source_stage in stages, f"COPY --from={source_stage}: no such stage"
            continue
        for source in sources:
            path = ROOT / source
            assert path.exists(), f"{keyword} {source}: not in the repository"
            assert not ignored(source.rstrip("/")), f"{source} is excluded by .dockerignore"
            copies += 1
    assert copies >= 5
    for needed in ("molecule/store/migrate.py", "migrations", "docker/runtime.Dockerfile"):
        assert not ignored(needed), needed
    assert ignored(".venv") and ignored("canvas/node_modules") and ignored(".git")
    assert ignored("molecule/__pycache__/x.pyc")


def image_env() -> dict[str, str]:
    found = dict(instructions())
    return dict(pair.split("=", 1) for pair in found["ENV"].split())


def test_the_command_is_molecule_serve_and_the_image_makes_molecule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    found = dict(instructions())
    cmd = json.loads(found["CMD"])
    assert cmd[:2] == ["molecule", "serve"]
    for name, value in image_env().items():
        monkeypatch.setenv(name, value)
    ctx = serve.make_context("serve", cmd[2:])
    assert ctx.params["host"] == "0.0.0.0" and ctx.params["port"] == 8080
    assert found["EXPOSE"] == str(ctx.params["port"])
    runs = " ".join(args for keyword, args in instructions() if keyword == "RUN")
    assert "/usr/local/bin/molecule" in runs and "python3 -m molecule.cli" in runs
    assert (ROOT / "molecule" / "cli" / "__main__.py").is_file()
    health = json.loads(found["HEALTHCHECK"].split("CMD", 1)[1])
    assert health == ["python3", "/app/docker/healthcheck.py"]  # MOLECULE_HOST/_PORT, as serve
    env = image_env()
    assert env["MOLECULE_HOME"] == "/data" and env["PYTHONPATH"] == "/app"
    assert found["USER"] == "molecule"  # not root


def test_the_platform_finds_its_files_where_the_image_puts_them() -> None:
    """The image runs the source tree from /app: the code looks for migrations/ and docker/
    next to the package, as it does in the repository."""
    from molecule.provision.docker.build_context import DOCKERFILE as RUNTIME_DOCKERFILE
    from molecule.store.migrate import MIGRATIONS_DIR

    assert MIGRATIONS_DIR == ROOT / "migrations"
    assert RUNTIME_DOCKERFILE == ROOT / "docker" / "runtime.Dockerfile"
    copied = {args.split()[-1].rstrip("/") for k, args in instructions() if k == "COPY"}
    assert {"molecule", "migrations", "docker"} <= copied


def test_its_python_dependencies_are_the_projects() -> None:
    runs = " ".join(args for keyword, args in instructions() if keyword == "RUN")
    assert "tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']" in runs
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["molecule"] == "molecule.cli:main"


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def healthcheck(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "docker" / "healthcheck.py"), *args],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("MOLECULE_")}, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_healthcheck_asks_where_serve_listens() -> None:
    server = HTTPServer(("127.0.0.1", 0), _Health)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        moved = {"MOLECULE_HOST": "0.0.0.0", "MOLECULE_PORT": str(port)}
        assert healthcheck(moved).returncode == 0  # the image's env: follows a moved port
        assert healthcheck({}, f"127.0.0.1:{port}").returncode == 0  # compose's argument
    finally:
        server.shutdown()
        server.server_close()
    refused = healthcheck({"MOLECULE_PORT": str(port)})
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"unhealthy: http://127.0.0.1:{port}/health")
