"""Register once at boot, then heartbeat every `observability.heartbeat_interval_seconds`.

Register, as the original runtime does: one `POST /registry/register` with a 10 s timeout;
only a 200 is parsed, and its `auth_token` / `platform_inbound_secret` are saved (mode 0600).

Heartbeat: the payload is exactly the original's, with `runtime_metadata` carrying the
adapter's capability map (and `idle_timeout_seconds` only when positive), `runtime_state:
"wedged"` plus the reason as `sample_error` when the adapter marked itself wedged. Every 200
answer's `platform_inbound_secret` is saved.

Where the original ignores the heartbeat's status, we react (docs/compatibility.md#d37):

| answer | what the runtime does |
|---|---|
| 200 | save the secret; carry on |
| 401 (token refused) | re-read `.auth_token` (the provisioner may have rotated it), then |
|                     | re-register (the platform mints a token if none is live) |
| 404 (row unknown) | re-register (register creates the row) |
| 410 (`workspace removed`) | stop heartbeating, log; A2A serves until the provisioner stops us |
| anything else, network error | log and try again next tick |

A boot register that failed (network error, 5xx) is retried before each beat until one
succeeds, so an agent started while the platform was restarting still gets its URL recorded.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import trio

from molecule.runtime.card import build_card
from molecule.runtime.platform_client import PlatformClient
from molecule.runtime.state import RuntimeState

log = logging.getLogger(__name__)


def runtime_metadata(state: RuntimeState) -> dict[str, Any] | None:
    """The capability block, or None when no adapter is loaded. Never raises."""
    adapter = state.adapter
    if adapter is None:
        return None
    try:
        meta: dict[str, Any] = {"capabilities": adapter.capabilities().to_dict()}
        idle = adapter.idle_timeout_override()
        if isinstance(idle, int) and not isinstance(idle, bool) and idle > 0:
            meta["idle_timeout_seconds"] = idle
        return meta
    except Exception:  # observability outranks capability accuracy (as the original)
        log.exception("capability discovery failed")
        return None


def heartbeat_payload(state: RuntimeState) -> dict[str, Any]:
    tracker = state.tracker
    payload: dict[str, Any] = {
        "workspace_id": state.settings.workspace_id,
        "error_rate": tracker.error_rate,
        "sample_error": tracker.sample_error,
        "active_tasks": tracker.active_tasks,
        "current_task": tracker.current_task,
        "uptime_seconds": state.uptime_seconds,
    }
    meta = runtime_metadata(state)
    if meta is not None:
        payload["runtime_metadata"] = meta
    wedged = state.adapter.wedged_reason if state.adapter is not None else None
    if wedged:
        payload["runtime_state"] = "wedged"
        payload["sample_error"] = wedged
    return payload


async def _json_body(resp: httpx.Response) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


async def register(state: RuntimeState, client: PlatformClient) -> int | None:
    """One register call; the HTTP status (None on a network error). Never raises."""
    try:
        resp = await client.register(build_card(state), state.url)
    except httpx.HTTPError as exc:
        log.warning("register failed: %s", type(exc).__name__)
        return None
    if resp.status_code == 410:
        log.error("register refused: workspace removed")
        state.removed = True
        return 410
    if resp.status_code != 200:
        log.warning("register answered HTTP %s: %s", resp.status_code, resp.text[:200])
        return resp.status_code
    body = await _json_body(resp)
    token = body.get("auth_token")
    try:
        if isinstance(token, str) and token:
            await state.credentials.save_token(token)
        secret = body.get("platform_inbound_secret")
        if isinstance(secret, str) and secret:
            await state.credentials.save_inbound_secret(secret)
    except OSError as exc:
        log.error("cannot save credentials in %s: %s", state.credentials.configs_dir, exc)
    state.registered = True
    log.info("registered as %s at %s", state.settings.workspace_id, state.url)
    return 200


async def beat(state: RuntimeState, client: PlatformClient) -> int | None:
    """One heartbeat and its follow-up; returns the heartbeat's HTTP status."""
    if not state.registered:
        await register(state, client)
        if state.removed:
            return 410
    try:
        resp = await client.heartbeat(heartbeat_payload(state))
    except httpx.HTTPError as exc:
        log.warning("heartbeat failed: %s", type(exc).__name__)
        return None
    status = resp.status_code
    if status == 200:
        secret = (await _json_body(resp)).get("platform_inbound_secret")
        if isinstance(secret, str) and secret:
            await state.credentials.save_inbound_secret(secret)
    elif status == 401:
        log.warning("heartbeat refused (401): reloading the token and re-registering")
        await state.credentials.reload_token()
        await register(state, client)
    elif status == 404:
        log.warning("heartbeat: platform does not know us (404); re-registering")
        await register(state, client)
    elif status == 410:
        log.error("heartbeat: workspace removed (410); heartbeats stop")
        state.removed = True
    else:
        log.warning("heartbeat answered HTTP %s", status)
    return status


async def heartbeat_loop(state: RuntimeState, client: PlatformClient) -> None:
    interval = state.settings.config.heartbeat_interval
    while not state.removed:
        await trio.sleep(interval)
        try:
            await beat(state, client)
        except Exception:  # a bad beat (disk full, odd answer) must not stop the next one
            log.exception("heartbeat tick failed")
