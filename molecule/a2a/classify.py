"""How a failed or odd agent response is classified, by the original platform's rules.

A call that failed before the agent answered raised one of the transport's error types
(`molecule.errors`, "talking to agents"), and its class alone says what happened:
`AgentBusy` (timeouts, a dropped connection, no free connection: the agent is there but
busy or stuck) or `AgentUnreachable` (nothing answers at its address). With the
provisioner's word on whether the agent still runs, that gives the original's outcome
(docs/architecture.md §4.1, step 6): dead -> 503 restarting; unreachable -> 502; busy -> 503
native_session for an agent that keeps its own sessions, else the durable queue (202 queued).
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from molecule.errors import AgentBusy, AgentUnreachable, MoleculeError

# Upstream statuses that mean "the agent behind this URL may be dead" (isUpstreamDeadStatus).
DEAD_STATUSES = frozenset({502, 503, 504, 521, 522, 523, 524})

RESTARTING = "workspace agent unreachable — container restart triggered"


def is_busy(exc: AgentBusy | AgentUnreachable) -> bool:
    """Busy, not dead: the agent took the connection (or we could not get one to it in
    time). A refused or unresolvable address is not busy: nothing is listening there."""
    return isinstance(exc, AgentBusy)


def failure_outcome(
    exc: AgentBusy | AgentUnreachable, *, dead: bool, session_capable: bool
) -> MoleculeError | None:
    """The answer to a request whose agent never answered; None: queue the request.

    `dead`: the provisioner says the agent's process is gone (its restart is under way).
    """
    if dead:
        return MoleculeError(RESTARTING, status=503, extra={"restarting": True})
    if not is_busy(exc):
        return MoleculeError("failed to reach workspace agent", status=502)
    if session_capable:
        return MoleculeError(
            "workspace agent busy — adapter handles retry (native_session)",
            status=503,
            extra={"busy": True, "retry_after": 30, "native_session": True},
            headers={"Retry-After": "30"},
        )
    return None


def dead_status_outcome() -> MoleculeError:
    """The answer when the agent answered a `DEAD_STATUSES` status and is indeed gone."""
    return MoleculeError(
        RESTARTING,
        status=503,
        extra={"restarting": True, "retry_after": 15},
        headers={"Retry-After": "15"},
    )


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
