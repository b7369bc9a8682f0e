"""The agent card: registered with the platform and served at `/.well-known/agent-card.json`.

Same fields as the original runtime's card, with one fix (docs/compatibility.md#d37): the
interface entries name the `JSONRPC` binding (the original's odd `https://a2a.g/v1` made a2a-sdk
clients unable to resolve its card). `configuration_status` is `ready` or `not_configured` (+
the redacted `configuration_error`) so the platform and canvas can show why an agent cannot
answer.
"""

from __future__ import annotations

from typing import Any

from molecule.runtime.state import RuntimeState

MODES = ["text/plain", "application/json"]


def build_card(state: RuntimeState) -> dict[str, Any]:
    cfg = state.settings.config
    url = state.url
    card: dict[str, Any] = {
        "name": cfg.name,
        "description": cfg.description,
        "version": cfg.version,
        "url": url,
        "supportedInterfaces": [
            {"url": url, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"},
            {"url": url, "protocolBinding": "JSONRPC", "protocolVersion": "0.3"},
        ],
        "preferredTransport": "JSONRPC",
        "protocolVersion": "0.3",
        "capabilities": {
            "streaming": cfg.streaming,
            "pushNotifications": cfg.push_notifications,
        },
        "defaultInputModes": MODES,
        "defaultOutputModes": MODES,
        "skills": [dict(s) for s in cfg.skills],
        "configuration_status": "ready" if state.configured else "not_configured",
    }
    if not state.configured:
        card["configuration_error"] = state.configuration_error or "adapter not loaded"
    return card
