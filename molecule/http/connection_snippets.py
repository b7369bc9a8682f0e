"""The `connection` block of an external workspace, in the original platform's shape.

Shown at create (`POST /workspaces`, for every external workspace: docs/compatibility.md#d17),
after a rotate (`POST /workspaces/:id/external/rotate`) and on re-show
(`GET /workspaces/:id/external/connection`, with an empty token). Everything an operator needs
to bring their own agent: where the platform is, the token, the two registry endpoints, a
ready-to-paste curl register command and one snippet per supported client.

The snippets are templates with three placeholders, `{{PLATFORM_URL}}`, `{{WORKSPACE_ID}}`
and `{{MCP_SERVER_NAME}}`, filled in here. `MCP_SERVER_NAME` is `molecule-<slug>`: the
workspace name lowercased, every run of non-alphanumeric characters turned into one `-`,
trimmed of dashes, at most 24 characters; an empty slug falls back to the first 8 hex
characters of the dash-less id, and failing both the name is plain `molecule`.
The token never appears in the snippets (they read `MOLECULE_WORKSPACE_TOKEN`); only the
curl template embeds it, as the original does.
"""

from __future__ import annotations

import json
import re
from typing import Any

from quart import request

from molecule.services import Services

SLUG_MAX = 24
TOKEN_PLACEHOLDER = "<auth_token shown when the workspace was created or rotated>"

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_HEX = re.compile(r"[0-9a-f]")


def platform_url(svc: Services) -> str:
    if svc.settings.external_platform_url:
        return svc.settings.external_platform_url.rstrip("/")
    proto = request.headers.get("X-Forwarded-Proto") or request.scheme or "http"
    host = request.headers.get("X-Forwarded-Host") or request.host
    return f"{proto}://{host}".rstrip("/")


def mcp_slug(name: str, workspace_id: str) -> str:
    slug = _NON_ALNUM.sub("-", (name or "").lower()).strip("-")
    slug = slug[:SLUG_MAX].strip("-")
    if slug:
        return slug
    hex_id = "".join(_HEX.findall((workspace_id or "").replace("-", "").lower()))
    return hex_id[:8]


def mcp_server_name(name: str, workspace_id: str) -> str:
    slug = mcp_slug(name, workspace_id)
    return f"molecule-{slug}" if slug else "molecule"


def render(template: str, values: dict[str, str]) -> str:
    out = template
    for key, value in values.items():
        out = out.replace("{{" + key + "}}", value)
    return out


def _bash_dq(text: str) -> str:
    """Escape text for a bash double-quoted string."""
    for ch in ("\\", '"', "$", "`"):
        text = text.replace(ch, "\\" + ch)
    return text


def _curl_register(base: str, workspace_id: str, name: str, token: str) -> str:
    token = token or TOKEN_PLACEHOLDER
    card_name = _bash_dq(json.dumps(name)[1:-1])  # JSON-escaped, then safe inside "..."
    return (
        f'export MOLECULE_WORKSPACE_TOKEN="{token}"\n'
        'export AGENT_URL="https://your-agent.example.com"\n'
        f'curl -sS -X POST "{base}/registry/register" \\\n'
        '  -H "Authorization: Bearer $MOLECULE_WORKSPACE_TOKEN" \\\n'
        f'  -H "Origin: {base}" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        f'  -d "{{\\"id\\": \\"{workspace_id}\\", \\"url\\": \\"$AGENT_URL\\", '
        f'\\"agent_card\\": {{\\"name\\": \\"{card_name}\\", \\"description\\": \\"{card_name}\\", '
        '\\"version\\": \\"1.0.0\\"}}"\n'
    )


PYTHON_TEMPLATE = """\
# Push mode: your agent serves A2A on a public HTTPS URL and the platform forwards to it.
# pip install "git+https://github.com/Molecule-AI/molecule-sdk-python"
import os

import requests
from molecule_agent import A2AServer, RemoteAgentClient

PLATFORM_URL = "{{PLATFORM_URL}}"
WORKSPACE_ID = "{{WORKSPACE_ID}}"
TOKEN = os.environ["MOLECULE_WORKSPACE_TOKEN"]  # the auth_token from this dialog
# The public https URL that reaches port 8000 below; the SDK's server answers on /a2a/inbound.
INBOUND_URL = os.environ["INBOUND_URL"]  # e.g. https://my-agent.example.com/a2a/inbound


def handle(request: dict) -> dict:
    message = (request.get("params") or {}).get("message") or request
    parts = message.get("parts") or []
    text = "".join(p.get("text", "") for p in parts if (p.get("kind") or p.get("type")) == "text")
    return {"parts": [{"kind": "text", "text": f"echo: {text}"}]}  # call your model here


session = requests.Session()  # every call, register included, carries the workspace token
session.headers.update({"Authorization": f"Bearer {TOKEN}", "Origin": PLATFORM_URL})
client = RemoteAgentClient(
    workspace_id=WORKSPACE_ID,
    platform_url=PLATFORM_URL,
    agent_card={"name": "my-agent", "version": "1.0.0"},
    reported_url=INBOUND_URL,
    session=session,
)
client.save_token(TOKEN)
server = A2AServer(
    agent_id=WORKSPACE_ID, inbound_url=INBOUND_URL, message_handler=handle, port=8000
)
server.start_in_background()
client.register()
client.run_heartbeat_loop()  # heartbeats until the workspace is paused or removed
"""

CLAUDE_CHANNEL_TEMPLATE = """\
# Claude Code channel plugin (Molecule-AI/molecule-mcp-claude-channel): polls this workspace's
# inbox, so no public URL is needed. Needs Bun (channel plugins are Bun scripts).
claude plugin marketplace add Molecule-AI/molecule-mcp-claude-channel
claude plugin install molecule-channel@molecule-mcp-claude-channel

mkdir -p ~/.claude/channels/molecule
cat > ~/.claude/channels/molecule/.env <<'EOF'
MOLECULE_PLATFORM_URL={{PLATFORM_URL}}
MOLECULE_WORKSPACE_IDS={{WORKSPACE_ID}}
MOLECULE_WORKSPACE_TOKENS=<auth_token>
EOF
chmod 600 ~/.claude/channels/molecule/.env

# Several workspaces: comma-separated ids and tokens, in the same order.
# Launch Claude Code with the channel enabled (poll mode, no inbound URL). The plugin is not
# on Anthropic's channel allowlist, so it is loaded as a development channel:
claude --dangerously-load-development-channels plugin:molecule-channel@molecule-mcp-claude-channel
"""

UNIVERSAL_MCP_TEMPLATE = """\
# Any MCP-capable client: the molecule-mcp server (register + heartbeat + send/reply tools).
pip install molecule-ai-workspace-runtime

# Claude Code (-s user: available in every project):
claude mcp add {{MCP_SERVER_NAME}} -s user -- env \\
  WORKSPACE_ID={{WORKSPACE_ID}} \\
  PLATFORM_URL={{PLATFORM_URL}} \\
  MOLECULE_WORKSPACE_TOKEN="<auth_token>" \\
  molecule-mcp

# Other clients (JSON config):
# {"mcpServers": {"{{MCP_SERVER_NAME}}": {"command": "molecule-mcp",
#   "env": {"WORKSPACE_ID": "{{WORKSPACE_ID}}", "PLATFORM_URL": "{{PLATFORM_URL}}",
#           "MOLECULE_WORKSPACE_TOKEN": "<auth_token>"}}}}
"""

HERMES_TEMPLATE = """\
# Hermes: the molecule platform plugin (Molecule-AI/hermes-channel-molecule) delivers this
# workspace's messages into the hermes gateway (long-poll, no public URL needed).
pip install molecule-ai-workspace-runtime
pip install "git+https://github.com/Molecule-AI/hermes-channel-molecule.git"

# The plugin reads the workspace credentials from the environment of the gateway:
export MOLECULE_WORKSPACE_ID={{WORKSPACE_ID}}
export MOLECULE_PLATFORM_URL={{PLATFORM_URL}}
export MOLECULE_WORKSPACE_TOKEN="<auth_token>"

# ~/.hermes/config.yaml: under your existing (single) top-level gateway: block, add
#   gateway:
#     plugin_platforms:
#       {{MCP_SERVER_NAME}}:
#         enabled: true
#         workspace_id: {{WORKSPACE_ID}}

# Then restart the gateway:
hermes gateway --replace
"""

CODEX_TEMPLATE = """\
# Codex: molecule-mcp as an MCP server (outbound tools), plus the channel bridge that wakes
# Codex on new messages (inbound).
npm install -g @openai/codex@latest
pip install molecule-ai-workspace-runtime codex-channel-molecule

# ~/.codex/config.toml
[mcp_servers.{{MCP_SERVER_NAME}}]
command = "molecule-mcp"
env = { WORKSPACE_ID = "{{WORKSPACE_ID}}", PLATFORM_URL = "{{PLATFORM_URL}}", \
MOLECULE_WORKSPACE_TOKEN = "<auth_token>" }

# Inbound messages (polls the inbox and hands each one to `codex exec`):
WORKSPACE_ID={{WORKSPACE_ID}} PLATFORM_URL={{PLATFORM_URL}} \\
MOLECULE_WORKSPACE_TOKEN="<auth_token>" codex-channel-molecule
"""

OPENCLAW_TEMPLATE = """\
# OpenClaw: molecule-mcp as an MCP server. Outbound only: OpenClaw can message and delegate to
# other workspaces, but nothing wakes it for inbound messages (use `molecule connect` for that).
npm install -g openclaw@latest
pip install molecule-ai-workspace-runtime

# Saves the server under mcp.servers in ~/.openclaw/openclaw.json:
openclaw mcp set {{MCP_SERVER_NAME}} '{
  "command": "molecule-mcp",
  "env": {
    "WORKSPACE_ID": "{{WORKSPACE_ID}}",
    "PLATFORM_URL": "{{PLATFORM_URL}}",
    "MOLECULE_WORKSPACE_TOKEN": "<auth_token>"
  }
}'
"""

# The `molecule connect` line is accepted by ours and by the original CLI (molecule-cli): both
# take --api-url, --backend exec and --backend-opt cmd=..., and read MOLECULE_WORKSPACE_TOKEN.
KIMI_TEMPLATE = """\
# Kimi CLI bridge (poll mode, no public URL): register with url "" and delivery_mode "poll",
# heartbeat every 20 s, poll the inbox every 5 s, run kimi on each message, reply via /notify.
# The same loop ships as: molecule connect {{WORKSPACE_ID}} --api-url {{PLATFORM_URL}} \\
#   --backend exec --backend-opt cmd="kimi --print" --backend-opt timeout=10m
import os, subprocess, threading, time
import httpx

BASE, WS = "{{PLATFORM_URL}}", "{{WORKSPACE_ID}}"
H = {"Authorization": f"Bearer {os.environ['MOLECULE_WORKSPACE_TOKEN']}", "Origin": BASE}
http = httpx.Client(base_url=BASE, headers=H, timeout=30)
http.post("/registry/register", json={"id": WS, "url": "", "delivery_mode": "poll",
          "agent_card": {"name": "kimi", "description": "Kimi CLI", "version": "1.0.0"}})

def beat():
    while True:
        http.post("/registry/heartbeat", json={"workspace_id": WS, "runtime_state": "ok"})
        time.sleep(20)

threading.Thread(target=beat, daemon=True).start()
cursor = ""
while True:
    # No cursor yet: the last 30 s (newest first). Then since_id alone: the filters AND
    # together, so a 30 s window would drop messages that waited through a long kimi run.
    q = f"since_id={cursor}" if cursor else "since_secs=30&since_id="
    r = http.get(f"/workspaces/{WS}/activity?type=a2a_receive&limit=50&{q}")
    if r.status_code == 410:
        cursor, rows = "", []
    else:
        rows = r.json() if r.status_code == 200 else []
        rows = rows if cursor else rows[::-1]  # newest first without a cursor
    for row in rows:
        cursor = row["id"]
        if row.get("method") == "notify":
            continue  # our own replies
        msg = ((row.get("request_body") or {}).get("params") or {}).get("message") or {}
        parts = [p for p in msg.get("parts") or [] if (p.get("kind") or p.get("type")) == "text"]
        text = "\\n".join(p.get("text", "") for p in parts) or str(msg.get("content", ""))
        out = subprocess.run(["kimi", "--print"], input=text, capture_output=True,
                             text=True, timeout=600).stdout
        http.post(f"/workspaces/{WS}/notify", json={"message": out.strip() or "(no output)"})
    time.sleep(5)
"""


def connection_block(svc: Services, workspace_id: str, name: str, token: str) -> dict[str, Any]:
    base = platform_url(svc)
    values = {
        "PLATFORM_URL": base,
        "WORKSPACE_ID": workspace_id,
        "MCP_SERVER_NAME": mcp_server_name(name, workspace_id),
    }
    return {
        "workspace_id": workspace_id,
        "platform_url": base,
        "auth_token": token,
        "registry_endpoint": f"{base}/registry/register",
        "heartbeat_endpoint": f"{base}/registry/heartbeat",
        "curl_register_template": _curl_register(base, workspace_id, name, token),
        "python_snippet": render(PYTHON_TEMPLATE, values),
        "claude_code_channel_snippet": render(CLAUDE_CHANNEL_TEMPLATE, values),
        "universal_mcp_snippet": render(UNIVERSAL_MCP_TEMPLATE, values),
        "hermes_channel_snippet": render(HERMES_TEMPLATE, values),
        "codex_snippet": render(CODEX_TEMPLATE, values),
        "openclaw_snippet": render(OPENCLAW_TEMPLATE, values),
        "kimi_snippet": render(KIMI_TEMPLATE, values),
    }
