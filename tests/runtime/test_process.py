"""The runtime as the provisioner runs it: a separate process, stopped by a signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import trio

from molecule.errors import SettingsError
from molecule.runtime.settings import load_settings
from tests.runtime.conftest import Harness, eventually, make_root, text_message

ENTRY = "from molecule.runtime.main import main; raise SystemExit(main())"


def run_sync(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {"PATH": os.environ.get("PATH", ""), **env}
    return subprocess.run(
        [sys.executable, "-c", ENTRY], env=full, capture_output=True, text=True, timeout=30
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_serves_then_exits_cleanly_on_signal(harness: Harness, signum: int) -> None:
    env = {"PATH": os.environ.get("PATH", ""), **harness.env()}
    proc = await trio.lowlevel.open_process(
        [sys.executable, "-c", ENTRY], env=env, stderr=subprocess.DEVNULL
    )
    try:
        [register] = await harness.platform.wait_for("/registry/register", 1, timeout=20)
        url = register.json()["url"].replace("localhost", "127.0.0.1")
        body = {"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": text_message("p")}
        resp = await harness.http.post(url + "/", json=body)
        assert resp.json()["result"]["parts"][0]["text"] == "echo: p"
        token_file = harness.configs / ".auth_token"
        await eventually(lambda: token_file.exists())
        assert token_file.read_text() == harness.platform.token
        proc.send_signal(signum)
        with trio.fail_after(15):
            code = await proc.wait()
        assert code == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


class Offline:
    """The bits of `Harness` the synchronous tests need (no platform: they never reach it)."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = make_root(tmp_path)
        self.configs = self.root / "configs"

    def write_config(self, text: str) -> None:
        (self.configs / "config.yaml").write_text(text)

    def env(self) -> dict[str, str]:
        return {
            "WORKSPACE_ID": str(uuid.uuid4()),
            "PLATFORM_URL": "http://127.0.0.1:9",
            "MOLECULE_WORKSPACE_ROOT": str(self.root),
            "MOLECULE_AGENT_PORT": "0",
            "HOSTNAME": "localhost",
        }


@pytest.fixture
def offline(tmp_path: Path) -> Offline:
    return Offline(tmp_path)


def test_missing_workspace_id_exits_2(offline: Offline) -> None:
    env = offline.env()
    del env["WORKSPACE_ID"]
    result = run_sync(env)
    assert result.returncode == 2 and "WORKSPACE_ID is required" in result.stderr


def test_unknown_adapter_exits_2(offline: Offline) -> None:
    offline.write_config("name: x\nadapter: nonsense\n")
    result = run_sync(offline.env())
    assert result.returncode == 2 and "unknown adapter 'nonsense'" in result.stderr


def test_settings_from_env_and_config(offline: Offline) -> None:
    harness = offline
    harness.write_config(
        "name: cfg\nversion: 2.1.0\na2a:\n  port: 9123\n  streaming: false\n"
        "observability:\n  heartbeat_interval_seconds: 1000\nruntime_config:\n  adapter: Echo\n"
    )
    env = harness.env()
    del env["MOLECULE_AGENT_PORT"]
    settings = load_settings(env)
    assert settings.port == 9123 and settings.config.version == "2.1.0"
    assert settings.config.heartbeat_interval == 300.0  # clamped 5..300
    assert settings.config.streaming is False and settings.config.adapter == "echo"
    assert settings.config_dir == harness.root / "configs" == settings.configs_dir
    assert settings.advertised_url == "http://localhost:9123"
    assert settings.bind_host == "127.0.0.1"
    assert load_settings({**env, "MOLECULE_AGENT_PORT": "9200"}).port == 9200
    assert load_settings({**env, "HOSTNAME": "agent.example"}).bind_host == "0.0.0.0"
    assert load_settings({**env, "MOLECULE_AGENT_HOST": "::"}).bind_host == "::"
    harness.write_config("name: cfg\nadapter: echo\n")
    assert load_settings(env).config.heartbeat_interval == 30.0
    for bad in ({"MOLECULE_AGENT_PORT": "70000"}, {"MOLECULE_AGENT_PORT": "x"}):
        with pytest.raises(SettingsError):
            load_settings({**env, **bad})
    harness.write_config("- not\n- a mapping\n")
    with pytest.raises(SettingsError):
        load_settings(env)
    harness.write_config("a2a: {port: 0}\n")
    no_root = {
        "WORKSPACE_ID": "w",
        "WORKSPACE_CONFIG_PATH": str(harness.configs),
        "PLATFORM_URL": "http://p:1/",
    }
    plain = load_settings(no_root)
    assert plain.roots.host_root is None and plain.platform_url == "http://p:1"
    assert plain.config.name == "w"  # defaults to the workspace id
