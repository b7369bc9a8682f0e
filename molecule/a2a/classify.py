"""How a failed or odd agent response is classified (upstream-may §3.2 j, n)."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

import httpx

from molecule.a2a.client import ResponseHeaderTimeout

# Upstream statuses that mean "the agent behind this URL may be dead" (isUpstreamDeadStatus).
DEAD_STATUSES = frozenset({502, 503, 504, 521, 522, 523, 524})


class IdleTimeout(Exception):
    """No event for the target within its idle window: the agent is busy or stuck."""


class CeilingTimeout(Exception):
    """The request's absolute deadline (X-Timeout or the agent ceiling) passed."""


def is_busy(exc: BaseException) -> bool:
    """Timeouts, cancellations and connections dropped mid-request mean "busy", not dead.

    A refused or unreachable connection is not busy: nothing is listening there.
    """
    if isinstance(exc, IdleTimeout | CeilingTimeout | ResponseHeaderTimeout):
        return True
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return False
    if isinstance(exc, httpx.ReadTimeout | httpx.WriteTimeout | httpx.PoolTimeout):
        return True
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return True
    text = str(exc)
    return "EOF" in text or "connection reset" in text.lower()


def upstream_error_message(status: int, body: bytes) -> str:
    """The body's top-level string `error`, else the status text."""
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        return str(parsed["error"])
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def tool_trace(response: Any) -> Any:
    """`result.metadata.tool_trace` when present and non-empty."""
    if not isinstance(response, dict):
        return None
    result = response.get("result")
    if not isinstance(result, dict):
        return None
    metadata = result.get("metadata")
    if not isinstance(metadata, dict):
        return None
    trace = metadata.get("tool_trace")
    return trace if trace else None


def _first_text(parts: Any) -> str | None:
    if not isinstance(parts, list):
        return None
    for part in parts:
        if (
            isinstance(part, dict)
            and part.get("kind") == "text"
            and isinstance(part.get("text"), str)
        ):
            return str(part["text"])
    return None


def reply_text(body: bytes) -> str:
    """The agent's answer as text: first text part of `result.parts`, else of
    `result.artifacts[].parts`, else the raw body."""
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        parsed = None
    result = parsed.get("result") if isinstance(parsed, dict) else None
    if isinstance(result, dict):
        text = _first_text(result.get("parts"))
        if text is not None:
            return text
        for artifact in result.get("artifacts") or []:
            if isinstance(artifact, dict):
                text = _first_text(artifact.get("parts"))
                if text is not None:
                    return text
    return body.decode(errors="replace")
