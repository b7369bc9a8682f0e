"""Time from `POST /workspaces` to `online` for echo workspaces in containers, against the
Engine's own `docker run` of the same image until its agent card is served.

Target (issue): POST -> online p50 <= 1.3x the `docker run` reference, measured in the same run.

- reference: `docker run -d` (the Docker CLI) of the built-in runtime image with a config
  directory bind-mounted, on the host network, timed from the command's start until the
  agent serves `/.well-known/agent-card.json` (the agent also registers with the running
  platform, as a real one would); the container is removed after each sample;
- POST -> online: N workspaces created one after another through the API of a platform
  whose backend is Docker (MOLECULE_BACKEND=docker, MOLECULE_DOCKER_NETWORK=host); each is
  timed from the POST until GET /workspaces/<id> reports `online` (the agent registered);
  that includes the start pipeline, the volumes, the credentials written into /configs,
  the container's creation and start.

The Engine: DOCKER_HOST or the default socket if one answers, else a private dockerd started
and stopped here (tests/docker/engine.py), with the images built once (tests/docker/conftest.py).

Run: .venv/bin/python bench/docker_provision.py [--workspaces 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _loadgen import BenchError, Platform, free_port  # noqa: E402
from provision import create_to_online, summary  # noqa: E402

from molecule.provision.docker.debian_base import DEBIAN_BASE  # noqa: E402
from molecule.provision.runtimes import BUILTIN_IMAGE  # noqa: E402
from tests.docker.conftest import prepare_images  # noqa: E402
from tests.docker.engine import test_engine  # noqa: E402

ECHO_CONFIG = b"name: bench\nruntime: echo\nruntime_config:\n  adapter: echo\n"


def card_served(port: int, deadline: float) -> bool:
    url = f"http://127.0.0.1:{port}/.well-known/agent-card.json"
    while time.perf_counter() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.005)
    return False


def docker_run_reference(
    docker: str, env: dict[str, str], platform_url: str, n: int
) -> list[float]:
    times = []
    for _ in range(n):
        configs = Path(tempfile.mkdtemp(prefix="bench-configs-"))
        (configs / "config.yaml").write_bytes(ECHO_CONFIG)
        port, name = free_port(), f"bench-ref-{uuid.uuid4().hex[:8]}"
        command = [
            docker, "run", "-d", "--name", name, "--network", "host",
            "-v", f"{configs}:/configs",
            "-e", f"WORKSPACE_ID={uuid.uuid4()}", "-e", f"PLATFORM_URL={platform_url}",
            "-e", "WORKSPACE_CONFIG_PATH=/configs", "-e", "HOSTNAME=localhost",
            "-e", f"MOLECULE_AGENT_PORT={port}", "-e", "MOLECULE_AGENT_HOST=127.0.0.1",
            BUILTIN_IMAGE,
        ]  # fmt: skip
        t0 = time.perf_counter()
        try:
            subprocess.run(command, env=env, check=True, capture_output=True, timeout=60)
            if not card_served(port, t0 + 60):
                raise BenchError("the reference container never served its agent card")
            times.append(time.perf_counter() - t0)
        finally:
            subprocess.run([docker, "rm", "-f", name], env=env, capture_output=True, timeout=60)
            shutil.rmtree(configs, ignore_errors=True)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workspaces", type=int, default=10)
    args = parser.parse_args()
    docker = shutil.which("docker")
    if docker is None:
        print("bench failed: no docker CLI (apt-get install docker.io)")
        return 2
    with test_engine() as url, tempfile.TemporaryDirectory(prefix="molecule-bench-") as tmp:
        t0 = time.perf_counter()
        prepare_images(url)
        print(f"Engine {url}; images ready in {time.perf_counter() - t0:.1f} s")
        env = {**os.environ, "DOCKER_HOST": url}
        os.environ.update(
            DOCKER_HOST=url,
            MOLECULE_BACKEND="docker",
            MOLECULE_DOCKER_NETWORK="host",
            MOLECULE_RUNTIME_BASE_IMAGE=DEBIAN_BASE,
        )
        os.chmod(tmp, 0o755)
        platform = Platform(Path(tmp))
        try:
            boot = platform.start()
            print(f"platform up on {platform.base_url} in {boot.ready_s:.2f} s (Docker backend)")
            reference = docker_run_reference(docker, env, platform.base_url, args.workspaces)
            online = create_to_online(platform, args.workspaces)
        except (BenchError, subprocess.CalledProcessError) as exc:
            print(f"bench failed: {exc}\n{platform.log_tail()}")
            platform.stop()
            return 2
        platform.stop()  # stops its containers; volumes go with the private Engine's cleanup
        cleanup = subprocess.run(
            [docker, "volume", "prune", "-f", "--filter", "label=molecule.platform.managed=true"],
            env=env, capture_output=True, timeout=120, check=False,
        )  # fmt: skip
        del cleanup
    print()
    ref_p50 = summary("docker run -> card", reference)
    online_p50 = summary("POST -> online", online)
    ratio = online_p50 / ref_p50
    print(f"\nratio (POST->online / docker run->card) = {ratio:.2f}")
    print(f"target ratio <= 1.3:      {'PASS' if ratio <= 1.3 else 'FAIL'} ({ratio:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
