"""Time from `POST /workspaces` to `online` for the echo runtime, against its bare cold start.

Target (issue): p50 <= 2 s and <= 1.3x the runtime's own cold start.

- create-to-online: N workspaces created one after another through the API; each is timed
  from the POST until GET /workspaces/<id> reports `online` (the agent registered itself).
- bare cold start: the same runtime program started by hand N times (no platform in the
  loop: no pipeline, no secrets, no minting), timed from spawn until it serves its agent card.
  It still registers with the running platform, like a real agent would.

Run: .venv/bin/python bench/provision.py [--workspaces 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _loadgen import BenchError, Platform, free_port  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PYTHON = REPO / ".venv" / "bin" / "python"


def http(method: str, url: str, token: str, body: object | None = None) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def create_to_online(platform: Platform, n: int) -> list[float]:
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        status, body = http(
            "POST",
            f"{platform.base_url}/workspaces",
            platform.admin_token,
            {"name": f"bench-echo-{i}", "runtime": "echo"},
        )
        if status != 201:
            raise BenchError(f"create answered {status}: {body}")
        wid = body["id"]  # type: ignore[index]
        deadline = t0 + 30
        while True:
            _, row = http("GET", f"{platform.base_url}/workspaces/{wid}", platform.admin_token)
            state = row["status"]  # type: ignore[index]
            if state == "online":
                times.append(time.perf_counter() - t0)
                break
            if state == "failed" or time.perf_counter() > deadline:
                raise BenchError(f"workspace {wid} ended {state}: {row}")
            time.sleep(0.005)
    return times


def bare_cold_start(platform: Platform, n: int) -> list[float]:
    """Spawn the runtime directly (what the provisioner does, minus the platform's work)."""
    times = []
    template = REPO / "molecule" / "provision" / "templates" / "echo-default" / "config.yaml"
    for _ in range(n):
        root = Path(tempfile.mkdtemp(prefix="bench-rt-"))
        for sub in ("configs", "workspace", "home", "plugins"):
            (root / sub).mkdir()
        (root / "configs" / "config.yaml").write_bytes(template.read_bytes())
        port = free_port()
        env = {
            "PATH": os.environ.get("PATH", ""),
            "WORKSPACE_ID": str(uuid.uuid4()),
            "PLATFORM_URL": platform.base_url,
            "WORKSPACE_CONFIG_PATH": str(root / "configs"),
            "CONFIGS_DIR": str(root / "configs"),
            "MOLECULE_WORKSPACE_ROOT": str(root),
            "MOLECULE_AGENT_PORT": str(port),
            "HOSTNAME": "localhost",
            "HOME": str(root / "home"),
        }
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [str(PYTHON), "-m", "molecule.runtime.main"],
            env=env,
            cwd=root / "workspace",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = t0 + 30
            while True:
                try:
                    card = f"http://127.0.0.1:{port}/.well-known/agent-card.json"
                    with urllib.request.urlopen(card, timeout=1) as resp:
                        if resp.status == 200:
                            times.append(time.perf_counter() - t0)
                            break
                except (urllib.error.URLError, ConnectionError):
                    pass
                if proc.poll() is not None or time.perf_counter() > deadline:
                    raise BenchError("the runtime did not come up on its own")
                time.sleep(0.005)
        finally:
            proc.terminate()
            proc.wait(10)
    return times


def summary(name: str, times: list[float]) -> float:
    p50 = statistics.median(times)
    print(
        f"{name:24s} p50 {p50 * 1000:7.0f} ms   min {min(times) * 1000:6.0f} ms"
        f"   max {max(times) * 1000:6.0f} ms   (n={len(times)})"
    )
    return p50


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workspaces", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="molecule-bench-") as tmp:
        os.chmod(tmp, 0o755)
        platform = Platform(Path(tmp))
        try:
            boot = platform.start()
            print(f"platform up on {platform.base_url} in {boot.ready_s:.2f} s")
            cold = bare_cold_start(platform, args.workspaces)
            online = create_to_online(platform, args.workspaces)
        except BenchError as exc:
            print(f"bench failed: {exc}\n{platform.log_tail()}")
            platform.stop()
            return 2
        platform.stop()
    print()
    cold_p50 = summary("runtime bare cold start", cold)
    online_p50 = summary("POST -> online", online)
    ratio = online_p50 / cold_p50
    print(f"\nratio (POST->online / bare cold start) = {ratio:.2f}")
    print(
        f"target p50 <= 2 s:        {'PASS' if online_p50 <= 2.0 else 'FAIL'} ({online_p50:.2f} s)"
    )
    print(f"target ratio <= 1.3:      {'PASS' if ratio <= 1.3 else 'FAIL'} ({ratio:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
