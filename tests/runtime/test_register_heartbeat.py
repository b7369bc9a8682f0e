"""Register at boot, credential files, heartbeat payload and cadence, reactions to 401/404/410."""

from __future__ import annotations

import stat
from pathlib import Path

import trio

from molecule.models import CAPABILITY_KEYS, HeartbeatPayload, RegisterPayload
from molecule.runtime.adapters import register as register_adapter
from molecule.runtime.adapters.base import Adapter, AgentReply, AgentRequest, RuntimeCapabilities
from tests.runtime.conftest import Harness, eventually, text_message

FAST = {"MOLECULE_HEARTBEAT_INTERVAL_SECONDS": "0.2"}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_register_once_saves_token_and_secret_0600(harness: Harness) -> None:
    async with harness.runtime() as running:
        [call] = harness.platform.on("/registry/register")
        body = call.json()
        RegisterPayload.model_validate(body)  # the platform's own model accepts it
        assert body["id"] == harness.workspace_id
        assert body["url"] == f"http://localhost:{running.port}"
        card = body["agent_card"]
        assert card["name"] == "test-agent" and card["description"] == "runtime under test"
        assert card["version"] == "1.0.0" and card["url"] == body["url"]
        assert card["capabilities"] == {"streaming": True, "pushNotifications": False}
        assert card["configuration_status"] == "ready" and "configuration_error" not in card
        assert card["skills"] == [
            {"id": "research", "name": "research", "description": "", "tags": []},
            {
                "id": "summarise",
                "name": "Summarise",
                "description": "writes summaries",
                "tags": ["text"],
            },
        ]
        # first boot: no token known, so no Authorization; Origin = PLATFORM_URL
        assert "authorization" not in call.headers
        assert call.headers["origin"] == harness.platform_url
        assert call.headers["content-type"] == "application/json"

        token_file = harness.configs / ".auth_token"
        secret_file = harness.configs / ".platform_inbound_secret"
        assert token_file.read_text() == harness.platform.token  # no trailing newline
        assert secret_file.read_text() == harness.platform.secret
        assert mode(token_file) == 0o600 and mode(secret_file) == 0o600
        assert not (harness.configs / ".platform_inbound_secret.tmp").exists()


async def test_register_with_existing_token_sends_bearer(harness: Harness) -> None:
    harness.platform.mint_token()
    (harness.configs / ".auth_token").write_text(harness.platform.token or "")
    async with harness.runtime():
        [call] = harness.platform.on("/registry/register")
        assert call.headers["authorization"] == f"Bearer {harness.platform.token}"
        assert "auth_token" not in call.json()


async def test_env_token_fallback(harness: Harness) -> None:
    harness.platform.mint_token()
    token = harness.platform.token or ""
    async with harness.runtime(MOLECULE_WORKSPACE_TOKEN=token):
        [call] = harness.platform.on("/registry/register")
        assert call.headers["authorization"] == f"Bearer {token}"
        assert not (harness.configs / ".auth_token").exists()


async def test_configs_dir_separate_from_config_dir(harness: Harness, tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    async with harness.runtime(CONFIGS_DIR=str(creds)):
        assert (creds / ".auth_token").read_text() == harness.platform.token
        assert mode(creds / ".platform_inbound_secret") == 0o600


async def test_heartbeat_payload_shape_and_interval(harness: Harness) -> None:
    async with harness.runtime(**FAST) as running:
        await harness.rpc(running, "message/send", text_message("hello"))
        beats = await harness.platform.wait_for("/registry/heartbeat", 3)
    body = beats[-1].json()
    HeartbeatPayload.model_validate(body)
    assert set(body) == {
        "workspace_id",
        "error_rate",
        "sample_error",
        "active_tasks",
        "current_task",
        "uptime_seconds",
        "runtime_metadata",
    }
    assert body["workspace_id"] == harness.workspace_id
    assert body["error_rate"] == 0.0 and body["sample_error"] == ""
    assert body["active_tasks"] == 0 and body["current_task"] == ""
    assert isinstance(body["uptime_seconds"], int)
    assert body["runtime_metadata"] == {"capabilities": dict.fromkeys(CAPABILITY_KEYS, False)}
    for beat in beats:
        assert beat.headers["authorization"] == f"Bearer {harness.platform.token}"
        assert beat.headers["origin"] == harness.platform_url
    # Never faster than the interval; that they keep coming is what wait_for waited for (an
    # upper bound on the gaps would measure the machine's load, not the runtime).
    gaps = [b.at - a.at for a, b in zip(beats, beats[1:], strict=False)]
    assert all(g >= 0.15 for g in gaps), gaps


async def test_heartbeat_interval_from_config_is_clamped(harness: Harness) -> None:
    harness.write_config("name: x\nobservability:\n  heartbeat_interval_seconds: 1\n")
    async with harness.runtime() as running:
        assert running.state.settings.config.heartbeat_interval == 5.0
        await trio.sleep(0.5)
        assert harness.platform.on("/registry/heartbeat") == []


async def test_secret_from_heartbeat_is_saved(harness: Harness) -> None:
    async with harness.runtime(**FAST):
        harness.platform.secret = "rotated-secret-value"
        secret_file = harness.configs / ".platform_inbound_secret"
        await eventually(lambda: secret_file.read_text() == "rotated-secret-value")
        assert mode(secret_file) == 0o600


class BusyAdapter(Adapter):
    """Blocks until released; declares native session and status management, idle 900 s."""

    name = "busy"
    release = trio.Event()

    def capabilities(self) -> RuntimeCapabilities:
        return RuntimeCapabilities(provides_native_session=True, provides_native_status_mgmt=True)

    def idle_timeout_override(self) -> int | None:
        return 900

    async def handle(self, request: AgentRequest) -> AgentReply:
        if request.text == "fail":
            raise RuntimeError("it broke with api_key=sk-abcdefghijklmnopqrstuvwxyz")
        if request.text == "wedge":
            self.mark_wedged("stuck on the model")
            return AgentReply("wedged now")
        await BusyAdapter.release.wait()
        return AgentReply("done")


register_adapter("busy", BusyAdapter)


async def test_heartbeat_reports_tasks_errors_capabilities_and_wedge(harness: Harness) -> None:
    BusyAdapter.release = trio.Event()
    harness.write_config("name: busy\nruntime_config:\n  adapter: busy\n")
    async with harness.runtime(**FAST) as running, trio.open_nursery() as nursery:
        nursery.start_soon(harness.rpc, running, "message/send", text_message("long  job\nhere"))
        await eventually(lambda: running.state.tracker.active_tasks == 1)
        n = len(harness.platform.on("/registry/heartbeat"))
        body = (await harness.platform.wait_for("/registry/heartbeat", n + 1))[-1].json()
        assert body["active_tasks"] == 1 and body["current_task"] == "long job here"
        assert body["runtime_metadata"]["idle_timeout_seconds"] == 900
        caps = body["runtime_metadata"]["capabilities"]
        assert caps["session"] is True and caps["status_mgmt"] is True
        assert caps["scheduler"] is False
        BusyAdapter.release.set()

        resp = await harness.rpc(running, "message/send", text_message("fail"))
        assert resp.json()["error"]["code"] == -32603
        n = len(harness.platform.on("/registry/heartbeat"))
        body = (await harness.platform.wait_for("/registry/heartbeat", n + 1))[-1].json()
        assert body["active_tasks"] == 0 and body["current_task"] == ""
        assert body["error_rate"] == 0.5  # one success, one failure
        assert "RuntimeError: it broke" in body["sample_error"]
        assert "sk-abcdefghijklmnopqrstuvwxyz" not in body["sample_error"]
        assert "runtime_state" not in body

        await harness.rpc(running, "message/send", text_message("wedge"))
        n = len(harness.platform.on("/registry/heartbeat"))
        body = (await harness.platform.wait_for("/registry/heartbeat", n + 1))[-1].json()
        assert body["runtime_state"] == "wedged"
        assert body["sample_error"] == "stuck on the model"


async def test_401_reloads_token_and_reregisters(harness: Harness) -> None:
    async with harness.runtime(**FAST):
        first_token = harness.platform.token
        # the platform revokes the token: heartbeats are refused until we re-register
        harness.platform.token = None
        harness.platform.heartbeat_statuses.extend([401])
        registers = await harness.platform.wait_for("/registry/register", 2)
        assert registers[1].headers["authorization"] == f"Bearer {first_token}"
        new_token = harness.platform.token
        assert new_token and new_token != first_token
        token_file = harness.configs / ".auth_token"
        await eventually(lambda: token_file.read_text() == new_token)
        n = len(harness.platform.on("/registry/heartbeat"))
        beats = await harness.platform.wait_for("/registry/heartbeat", n + 1)
        assert beats[-1].headers["authorization"] == f"Bearer {new_token}"


async def test_401_picks_up_token_rotated_on_disk(harness: Harness) -> None:
    async with harness.runtime(**FAST):
        rotated = harness.platform.mint_token()  # platform rotated, provisioner rewrote file
        (harness.configs / ".auth_token").write_text(rotated)
        registers = await harness.platform.wait_for("/registry/register", 2)
        assert registers[1].headers["authorization"] == f"Bearer {rotated}"
        n = len(harness.platform.on("/registry/heartbeat"))
        beats = await harness.platform.wait_for("/registry/heartbeat", n + 2)
        assert beats[-1].headers["authorization"] == f"Bearer {rotated}"


async def test_410_stops_heartbeats(harness: Harness) -> None:
    async with harness.runtime(**FAST) as running:
        harness.platform.heartbeat_statuses.extend([410])
        await harness.platform.wait_for("/registry/heartbeat", 1)
        await eventually(lambda: running.state.removed)
        count = len(harness.platform.on("/registry/heartbeat"))
        await trio.sleep(0.8)
        assert len(harness.platform.on("/registry/heartbeat")) == count
        assert len(harness.platform.on("/registry/register")) == 1
        # A2A still answers until the provisioner stops the process
        resp = await harness.rpc(running, "message/send", text_message("still here"))
        assert resp.json()["result"]["parts"][0]["text"] == "echo: still here"


async def test_failed_boot_register_is_retried_before_heartbeats(harness: Harness) -> None:
    harness.platform.register_status = 503
    async with harness.runtime(**FAST) as running:
        assert not running.state.registered
        harness.platform.register_status = 200
        await harness.platform.wait_for("/registry/register", 2)
        await eventually(lambda: running.state.registered)
        assert (harness.configs / ".auth_token").read_text() == harness.platform.token


async def test_register_410_means_no_heartbeat(harness: Harness) -> None:
    harness.platform.register_status = 410
    async with harness.runtime(**FAST) as running:
        assert running.state.removed
        await trio.sleep(0.6)
        assert harness.platform.on("/registry/heartbeat") == []
        assert not (harness.configs / ".auth_token").exists()
