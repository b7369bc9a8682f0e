"""External workspaces: the connection block, rotate and re-show (docs/compatibility.md#d17)."""

from __future__ import annotations

import json
import re
import shlex
import sys
import tomllib
import types
import uuid
from typing import Any

import pytest
import trio

from molecule.connect.backends import ExecBackend
from molecule.connect.main import build_backend, parse_args
from molecule.http.connection_snippets import mcp_server_name, mcp_slug
from tests.conftest import Harness

BLOCK_KEYS = {
    "workspace_id",
    "platform_url",
    "auth_token",
    "registry_endpoint",
    "heartbeat_endpoint",
    "curl_register_template",
    "python_snippet",
    "claude_code_channel_snippet",
    "universal_mcp_snippet",
    "hermes_channel_snippet",
    "codex_snippet",
    "openclaw_snippet",
    "kimi_snippet",
}
SNIPPETS = sorted(k for k in BLOCK_KEYS if k.endswith("_snippet"))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def create_ext(h: Harness, name: str, **extra: object) -> dict[str, Any]:
    body: dict[str, Any] = await h.create_external(name, **extra)
    return body


async def create_managed(h: Harness, name: str = "managed") -> str:
    r = await h.client.post("/workspaces", json={"name": name, "runtime": "mock"}, headers=h.admin)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def heartbeat_status(h: Harness, wid: str, token: str) -> int:
    r = await h.client.post(
        "/registry/heartbeat", json={"workspace_id": wid}, headers=bearer(token)
    )
    return r.status_code


# -- the block -----------------------------------------------------------------------------


def test_slug_rule() -> None:
    wid = "12345678-9abc-def0-1234-56789abcdef0"
    assert mcp_server_name("My Agent", wid) == "molecule-my-agent"
    assert mcp_server_name("  --Hello,   World!!-- ", wid) == "molecule-hello-world"
    assert mcp_server_name("ÄÖ builder 2", wid) == "molecule-builder-2"
    long = "a" * 23 + " b" + "c" * 10
    assert mcp_slug(long, wid) == "a" * 23  # cut at 24 ("a"*23 + "-"), trailing dash trimmed
    assert len(mcp_slug("x" * 100, wid)) == 24
    assert mcp_server_name("!!!", wid) == "molecule-12345678"
    assert mcp_server_name("", "") == "molecule"


async def test_create_returns_the_full_block(platform: Harness) -> None:
    h = platform
    body = await create_ext(h, "Kimi Bridge #1")
    conn = body["connection"]
    assert set(conn) == BLOCK_KEYS
    wid = body["id"]
    assert conn["workspace_id"] == wid and conn["platform_url"] == h.base_url
    for key in SNIPPETS:
        text = conn[key]
        assert isinstance(text, str) and text.strip(), key
        assert not re.search(r"\{\{[A-Z_]+\}\}", text), f"unrendered placeholder in {key}"
        assert conn["auth_token"] not in text, f"token leaked into {key}"
    assert f'MOLECULE_WORKSPACE_TOKEN="{conn["auth_token"]}"' in conn["curl_register_template"]
    # per-client details the operator pastes
    mcp = "molecule-kimi-bridge-1"
    assert f"claude mcp add {mcp}" in conn["universal_mcp_snippet"]
    assert "molecule-mcp" in conn["universal_mcp_snippet"]
    assert f"WORKSPACE_ID={wid}" in conn["universal_mcp_snippet"]
    assert f"PLATFORM_URL={h.base_url}" in conn["universal_mcp_snippet"]
    ch = conn["claude_code_channel_snippet"]
    assert "~/.claude/channels/molecule/.env" in ch
    assert f"MOLECULE_PLATFORM_URL={h.base_url}" in ch
    assert f"MOLECULE_WORKSPACE_IDS={wid}" in ch and "MOLECULE_WORKSPACE_TOKENS=" in ch
    assert f"[mcp_servers.{mcp}]" in conn["codex_snippet"]
    assert "codex-channel-molecule" in conn["codex_snippet"]
    assert "plugin_platforms" in conn["hermes_channel_snippet"]
    assert f"    {mcp}:" in conn["hermes_channel_snippet"]
    assert f"openclaw mcp set {mcp} '{{" in conn["openclaw_snippet"]
    kimi = conn["kimi_snippet"]
    assert '"delivery_mode": "poll"' in kimi and '"url": ""' in kimi
    assert "type=a2a_receive&limit=50&" in kimi and "/notify" in kimi
    assert '"since_secs=30&since_id="' in kimi and 'f"since_id={cursor}"' in kimi
    assert f'BASE, WS = "{h.base_url}", "{wid}"' in kimi
    assert "RemoteAgentClient" in conn["python_snippet"]
    assert "A2AServer" in conn["python_snippet"]
    compile(conn["python_snippet"], "python_snippet", "exec")
    compile(kimi, "kimi_snippet", "exec")


def command(snippet: str, prefix: str) -> list[str]:
    """The shell words of the command starting with `prefix` in a snippet (in a comment or
    not), its backslash-continued lines joined."""
    lines = [re.sub(r"^#\s*", "", line) for line in snippet.splitlines()]
    starts = [i for i, line in enumerate(lines) if prefix in line]
    assert starts, f"no {prefix!r} line in:\n{snippet}"
    i = starts[0]
    text = lines[i][lines[i].index(prefix) :]
    while text.endswith("\\"):
        i += 1
        text = text[:-1] + " " + lines[i]
    return shlex.split(text)


async def test_the_kimi_snippet_shows_a_molecule_connect_line_both_clis_accept(
    platform: Harness,
) -> None:
    """The line uses the original CLI's spellings (--api-url, --backend exec, --backend-opt
    cmd=...: molecule-cli `connect`), and our real argument parser accepts it and reads it as
    this workspace, this platform, `kimi --print` on the exec backend."""
    h = platform
    body = await create_ext(h, "kimi", runtime="kimi")
    kimi = body["connection"]["kimi_snippet"]
    argv = command(kimi, "molecule connect ")
    assert argv == [
        "molecule", "connect", body["id"], "--api-url", h.base_url,
        "--backend", "exec", "--backend-opt", "cmd=kimi --print", "--backend-opt", "timeout=10m",
    ]  # fmt: skip
    args = parse_args(argv[2:], environ={})
    assert args.workspace_id == body["id"] and args.platform == h.base_url
    backend = build_backend(args)
    assert isinstance(backend, ExecBackend) and backend.argv == ["kimi", "--print"]
    assert backend.timeout == 600.0  # as long as the script's own subprocess timeout
    assert "--exec " not in kimi and "--platform" not in kimi


async def test_the_claude_code_lines_match_the_original(platform: Harness) -> None:
    h = platform
    body = await create_ext(h, "Kimi Bridge #1")
    conn, wid = body["connection"], body["id"]
    assert command(conn["universal_mcp_snippet"], "claude mcp add") == [
        "claude", "mcp", "add", "molecule-kimi-bridge-1", "-s", "user", "--", "env",
        f"WORKSPACE_ID={wid}", f"PLATFORM_URL={h.base_url}",
        "MOLECULE_WORKSPACE_TOKEN=<auth_token>", "molecule-mcp",
    ]  # fmt: skip
    channel = conn["claude_code_channel_snippet"]
    assert command(channel, "claude plugin install") == [
        "claude", "plugin", "install", "molecule-channel@molecule-mcp-claude-channel",
    ]  # fmt: skip
    assert command(channel, "claude --") == [
        "claude", "--dangerously-load-development-channels",
        "plugin:molecule-channel@molecule-mcp-claude-channel",
    ]  # fmt: skip


async def test_the_other_clients_commands_are_complete(platform: Harness) -> None:
    h = platform
    body = await create_ext(h, "Kimi Bridge #1")
    conn, wid, mcp = body["connection"], body["id"], "molecule-kimi-bridge-1"
    codex = conn["codex_snippet"]
    assert "codex-channel-molecule" in command(codex, "pip install")  # the bridge it runs
    assert command(codex, "WORKSPACE_ID=") == [
        f"WORKSPACE_ID={wid}", f"PLATFORM_URL={h.base_url}",
        "MOLECULE_WORKSPACE_TOKEN=<auth_token>", "codex-channel-molecule",
    ]  # fmt: skip
    toml = codex[codex.index("[mcp_servers.") : codex.index("# Inbound")]
    server = tomllib.loads(toml)["mcp_servers"][mcp]
    assert server == {
        "command": "molecule-mcp",
        "env": {"WORKSPACE_ID": wid, "PLATFORM_URL": h.base_url,
                "MOLECULE_WORKSPACE_TOKEN": "<auth_token>"},
    }  # fmt: skip
    hermes = conn["hermes_channel_snippet"]
    for line in (
        f"export MOLECULE_WORKSPACE_ID={wid}",
        f"export MOLECULE_PLATFORM_URL={h.base_url}",
        'export MOLECULE_WORKSPACE_TOKEN="<auth_token>"',
        "hermes gateway --replace",
    ):
        assert line in hermes.splitlines()  # fmt: skip
    assert "hermes-channel-molecule" in " ".join(command(hermes, 'pip install "git+'))
    openclaw = conn["openclaw_snippet"]
    argv = shlex.split(openclaw[openclaw.index("openclaw mcp set") :])
    assert argv[:4] == ["openclaw", "mcp", "set", mcp]
    assert json.loads(argv[4]) == {
        "command": "molecule-mcp",
        "env": {"WORKSPACE_ID": wid, "PLATFORM_URL": h.base_url,
                "MOLECULE_WORKSPACE_TOKEN": "<auth_token>"},
    }  # fmt: skip
    # every shell snippet is valid bash (a placeholder left in place stays a quoted string)
    for key in ("curl_register_template", "claude_code_channel_snippet", "universal_mcp_snippet",
                "hermes_channel_snippet", "openclaw_snippet"):  # fmt: skip
        check = await trio.run_process(
            ["bash", "-n"], stdin=conn[key].encode(), capture_stderr=True, check=False
        )
        assert check.returncode == 0, (key, check.stderr)


async def test_the_python_snippet_calls_the_sdk_as_it_is(
    platform: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run the snippet against a stand-in for molecule-sdk-python's `molecule_agent` with the
    SDK's own signatures (RemoteAgentClient(workspace_id, platform_url, agent_card,
    reported_url, ..., session), save_token, register(), run_heartbeat_loop(); A2AServer(
    agent_id, inbound_url, message_handler, host, port), start_in_background()): a keyword the
    SDK does not have fails the run."""
    h = platform
    body = await create_ext(h, "py")
    calls: list[tuple[str, Any]] = []

    class RemoteAgentClient:
        def __init__(
            self, workspace_id: str, platform_url: str, agent_card: dict[str, Any] | None = None,
            reported_url: str = "", token_dir: Any = None, heartbeat_interval: float = 30.0,
            state_poll_interval: float = 30.0, url_cache_ttl: float = 300.0, session: Any = None,
            org_id: str = "", origin: str = "",
        ) -> None:  # fmt: skip
            calls.append(("client", (workspace_id, platform_url, reported_url)))
            self.session = session

        def save_token(self, token: str) -> None:
            calls.append(("save_token", token))

        def register(self) -> str:
            calls.append(("register", dict(self.session.headers)))
            return ""

        def run_heartbeat_loop(
            self, max_iterations: int | None = None, task_supplier: Any = None
        ) -> str:
            calls.append(("run_heartbeat_loop", None))
            return "removed"

    class A2AServer:
        def __init__(
            self, agent_id: str, inbound_url: str, message_handler: Any, host: str = "0.0.0.0",
            port: int = 0,
        ) -> None:  # fmt: skip
            calls.append(("server", (agent_id, inbound_url, port)))
            self.handler = message_handler

        def start_in_background(self) -> None:
            envelope = {"params": {"message": {"parts": [{"kind": "text", "text": "hi"}]}}}
            calls.append(("handled", self.handler(envelope)))

    sdk = types.ModuleType("molecule_agent")
    sdk.RemoteAgentClient = RemoteAgentClient  # type: ignore[attr-defined]
    sdk.A2AServer = A2AServer  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "molecule_agent", sdk)
    monkeypatch.setenv("MOLECULE_WORKSPACE_TOKEN", "tok-123")
    monkeypatch.setenv("INBOUND_URL", "https://agent.example/a2a/inbound")
    exec(compile(body["connection"]["python_snippet"], "python_snippet", "exec"), {})
    wid, inbound = body["id"], "https://agent.example/a2a/inbound"
    assert [name for name, _ in calls] == [
        "client", "save_token", "server", "handled", "register", "run_heartbeat_loop",
    ]  # fmt: skip
    assert calls[0][1] == (wid, h.base_url, inbound)
    assert calls[1][1] == "tok-123"
    assert calls[2][1] == (wid, inbound, 8000)
    assert calls[3][1] == {"parts": [{"kind": "text", "text": "echo: hi"}]}
    headers = calls[4][1]  # register sends the bearer we require (docs/compatibility.md#d13)
    assert headers["Authorization"] == "Bearer tok-123" and headers["Origin"] == h.base_url


async def test_platform_url_honours_forwarded_headers(platform: Harness) -> None:
    h = platform
    r = await h.client.post(
        "/workspaces",
        json={"name": "fwd", "runtime": "kimi"},
        headers={**h.admin, "X-Forwarded-Proto": "https", "X-Forwarded-Host": "mol.example"},
    )
    assert r.status_code == 201
    conn = r.json()["connection"]
    assert conn["platform_url"] == "https://mol.example"
    assert conn["registry_endpoint"] == "https://mol.example/registry/register"
    assert "https://mol.example" in conn["kimi_snippet"]


async def test_curl_template_escapes_the_name(platform: Harness) -> None:
    h = platform
    body = await create_ext(h, 'quote " and $HOME')
    curl = body["connection"]["curl_register_template"]
    assert '\\"name\\": \\"quote \\\\\\" and \\$HOME\\"' in curl


# -- re-show -------------------------------------------------------------------------------


async def test_reshow_has_an_empty_token(platform: Harness) -> None:
    h = platform
    body = await create_ext(h, "again")
    wid, token = body["id"], body["connection"]["auth_token"]
    for headers in (h.admin, bearer(token)):
        r = await h.client.get(f"/workspaces/{wid}/external/connection", headers=headers)
        assert r.status_code == 200, r.text
        conn = r.json()["connection"]
        assert conn["auth_token"] == ""
        expected: dict[str, Any] = {**body["connection"], "auth_token": ""}
        for key in BLOCK_KEYS - {"auth_token", "curl_register_template"}:
            assert conn[key] == expected[key], key
        assert token not in conn["curl_register_template"]
    # re-show does not revoke anything
    assert await heartbeat_status(h, wid, token) == 200


async def test_reshow_refusals(platform: Harness) -> None:
    h = platform
    managed = await create_managed(h)
    r = await h.client.get(f"/workspaces/{managed}/external/connection", headers=h.admin)
    assert r.status_code == 400
    assert r.json()["runtime"] == "mock" and "external" in r.json()["error"]
    r = await h.client.get(f"/workspaces/{uuid.uuid4()}/external/connection", headers=h.admin)
    assert r.status_code == 404
    wid = (await create_ext(h, "x"))["id"]
    r = await h.client.get(f"/workspaces/{wid}/external/connection")
    assert r.status_code == 401
    assert r.json() == {"error": "missing workspace auth token"}


# -- rotate --------------------------------------------------------------------------------


async def test_rotate_revokes_and_mints(platform: Harness) -> None:
    h = platform
    body = await create_ext(h, "rot")
    wid, old = body["id"], body["connection"]["auth_token"]
    assert await heartbeat_status(h, wid, old) == 200
    with h.svc.bus.subscribe() as sub:
        r = await h.client.post(f"/workspaces/{wid}/external/rotate", headers=bearer(old))
        assert r.status_code == 200, r.text
        events = []
        while True:
            try:
                events.append(sub.receive.receive_nowait())
            except Exception:
                break
    conn = r.json()["connection"]
    assert set(conn) == BLOCK_KEYS
    new = conn["auth_token"]
    assert new and new != old and len(new) == 43
    assert f'MOLECULE_WORKSPACE_TOKEN="{new}"' in conn["curl_register_template"]
    # the old token is dead everywhere, the new one works
    assert await heartbeat_status(h, wid, old) == 401
    r = await h.client.get(f"/workspaces/{wid}/external/connection", headers=bearer(old))
    assert r.status_code == 401
    assert await heartbeat_status(h, wid, new) == 200
    r = await h.client.get(f"/workspaces/{wid}/external/connection", headers=bearer(new))
    assert r.status_code == 200
    # the event, broadcast and stored
    rotated = [e for e in events if e.type == "EXTERNAL_CREDENTIALS_ROTATED"]
    assert len(rotated) == 1 and rotated[0].payload == {"workspace_id": wid}
    stored = await h.svc.store.fetchval(
        "SELECT count(*) FROM structure_events"
        " WHERE workspace_id = $1 AND event_type = 'EXTERNAL_CREDENTIALS_ROTATED'",
        wid,
    )
    assert stored == 1
    live = await h.svc.store.fetchval(
        "SELECT count(*) FROM workspace_auth_tokens WHERE workspace_id = $1 AND revoked_at IS NULL",
        wid,
    )
    assert live == 1


async def test_rotate_by_admin_for_every_external_runtime(platform: Harness) -> None:
    h = platform
    for runtime in ("external", "kimi", "kimi-cli"):
        r = await h.client.post(
            "/workspaces", json={"name": f"r-{runtime}", "runtime": runtime}, headers=h.admin
        )
        wid = r.json()["id"]
        r = await h.client.post(f"/workspaces/{wid}/external/rotate", headers=h.admin)
        assert r.status_code == 200, (runtime, r.text)


async def test_rotate_refusals(platform: Harness) -> None:
    h = platform
    managed = await create_managed(h)
    r = await h.client.post(f"/workspaces/{managed}/external/rotate", headers=h.admin)
    assert r.status_code == 400
    body = r.json()
    assert body["error"] == "rotate is only valid for external/BYO-compute workspaces"
    assert body["runtime"] == "mock" and body["hint"]
    r = await h.client.post(f"/workspaces/{uuid.uuid4()}/external/rotate", headers=h.admin)
    assert r.status_code == 404
    ext = await create_ext(h, "a")
    other = await create_ext(h, "b")
    wid = ext["id"]
    r = await h.client.post(f"/workspaces/{wid}/external/rotate")
    assert r.status_code == 401
    r = await h.client.post(
        f"/workspaces/{wid}/external/rotate", headers=bearer("not-a-real-token")
    )
    assert r.status_code == 401
    # another workspace's token is not this workspace's
    r = await h.client.post(
        f"/workspaces/{wid}/external/rotate",
        headers=bearer(other["connection"]["auth_token"]),
    )
    assert r.status_code == 401
    assert await heartbeat_status(h, wid, ext["connection"]["auth_token"]) == 200


@pytest.mark.parametrize("path", ["external/rotate", "external/connection"])
async def test_bad_id_is_refused(platform: Harness, path: str) -> None:
    h = platform
    method = "POST" if path.endswith("rotate") else "GET"
    r = await h.client.request(method, f"/workspaces/not-a-uuid/{path}", headers=h.admin)
    assert r.status_code == 400
