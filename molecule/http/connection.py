"""The `connection` block an external workspace gets at create (upstream-may §6.1).

What an operator needs to bring their own agent: where the platform is, the one-time token,
the two registry endpoints and a ready-to-paste curl register command.
"""

from __future__ import annotations

from typing import Any

from quart import request

from molecule.services import Services


def platform_url(svc: Services) -> str:
    if svc.settings.external_platform_url:
        return svc.settings.external_platform_url
    proto = request.headers.get("X-Forwarded-Proto") or request.scheme or "http"
    host = request.headers.get("X-Forwarded-Host") or request.host
    return f"{proto}://{host}".rstrip("/")


def _curl_register(base: str, workspace_id: str, name: str, token: str) -> str:
    return (
        f'export MOLECULE_WORKSPACE_TOKEN="{token}"\n'
        'export AGENT_URL="https://your-agent.example.com"\n'
        f'curl -sS -X POST "{base}/registry/register" \\\n'
        '  -H "Authorization: Bearer $MOLECULE_WORKSPACE_TOKEN" \\\n'
        f'  -H "Origin: {base}" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        f'  -d "{{\\"id\\": \\"{workspace_id}\\", \\"url\\": \\"$AGENT_URL\\", '
        f'\\"agent_card\\": {{\\"name\\": \\"{name}\\", \\"description\\": \\"{name}\\", '
        '\\"version\\": \\"1.0.0\\"}}"\n'
    )


def connection_block(svc: Services, workspace_id: str, name: str, token: str) -> dict[str, Any]:
    base = platform_url(svc)
    return {
        "workspace_id": workspace_id,
        "platform_url": base,
        "auth_token": token,
        "registry_endpoint": f"{base}/registry/register",
        "heartbeat_endpoint": f"{base}/registry/heartbeat",
        "curl_register_template": _curl_register(base, workspace_id, name, token),
    }
