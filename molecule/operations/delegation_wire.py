"""The pieces of a delegation that are plain data: the envelope the target receives, how the
proxy's answers are read (queued, poll-queued, retryable), summaries, and the legacy list row.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from molecule.a2a.classify import reply_text
from molecule.a2a.normalize import normalize_a2a_payload
from molecule.actors.dispatch import ProxyResult
from molecule.errors import MoleculeError
from molecule.jsontext import dumpb
from molecule.security.redact import truncate_bytes

MAX_STREAM_BYTES = 1024 * 1024
"""Cap on an SSE reply read to find the agent's answer."""

EMPTY_RESPONSE = "workspace agent returned empty response"
TIMED_OUT = "delegation timed out"
INTERNAL_ERROR = "internal error"
QUEUED_SUMMARY = "Delegation queued — target at capacity"
FAILED_SUMMARY = "Delegation failed"


def task_preview(task: str) -> str:
    return truncate_bytes(task, 100)


def completed_summary(text: str) -> str:
    return f"Delegation completed ({truncate_bytes(text, 80)})"


def delegation_envelope(delegation_id: str, task: str) -> dict[str, Any]:
    """The JSON-RPC `message/send` the target receives.

    messageId is the delegation id, so the busy-queue's idempotency key (and the drain stitch,
    via `metadata.delegation_id`) refer to the same delegation. The text part carries both
    `kind` (what v0.3 validators require) and `type` (what the original sent, and what older
    poll clients read).
    """
    body = {
        "method": "message/send",
        "params": {
            "message": {
                "role": "user",
                "messageId": delegation_id,
                "parts": [{"kind": "text", "type": "text", "text": task}],
                "metadata": {"delegation_id": delegation_id},
            }
        },
    }
    envelope, _ = normalize_a2a_payload(dumpb(body))
    return envelope


def should_retry(exc: MoleculeError) -> bool:
    """One retry for a 502 (agent unreachable) or a 503 whose agent is being restarted.

    Never for a busy 503 (the agent is alive and working), and never when the agent already
    took the request (`delivery_confirmed`): retrying those would deliver the task twice.
    """
    if exc.extra.get("delivery_confirmed") or exc.extra.get("busy"):
        return False
    if exc.status == 502:
        return True
    return exc.status == 503 and exc.extra.get("restarting") is True


def is_queued_response(result: ProxyResult) -> bool:
    """The proxy's busy answer: 202 with a JSON boolean `queued: true` (isQueuedProxyResponse)."""
    if result.status != 202:
        return False
    body = result.json()
    return isinstance(body, dict) and body.get("queued") is True


def is_poll_queued_response(result: ProxyResult) -> bool:
    """A poll-mode target's answer: the message waits in its inbox (not a reply)."""
    body = result.json()
    return (
        isinstance(body, dict)
        and body.get("status") == "queued"
        and body.get("delivery_mode") == "poll"
    )


def fold_row(row: dict[str, Any]) -> dict[str, Any]:
    """One entry of the legacy GET /delegations list."""
    entry: dict[str, Any] = {
        "id": row["id"],
        "type": row["method"],
        "source_id": row["source_id"],
        "target_id": row["target_id"],
        "summary": row["summary"],
        "status": row["status"],
        "created_at": row["created_at"],
    }
    response = row.get("response_body")
    request = row.get("request_body")
    delegation_id = None
    if isinstance(response, dict):
        delegation_id = response.get("delegation_id")
    if delegation_id is None and isinstance(request, dict):
        delegation_id = request.get("delegation_id")
    if delegation_id is not None:
        entry["delegation_id"] = delegation_id
    if row.get("error_detail"):
        entry["error"] = row["error_detail"]
    if isinstance(response, dict) and isinstance(response.get("text"), str):
        entry["response_preview"] = truncate_bytes(response["text"], 300)
    return entry


async def buffered_reply(result: ProxyResult) -> bytes:
    """The reply body. An SSE reply is read (bounded) and reduced to one data event: the last
    one carrying a text part the way a message reply does, else the last one."""
    if result.stream is None:
        return result.body
    stream: AsyncIterator[bytes] = result.stream
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in stream:
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_STREAM_BYTES:
                break
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()
    events = [
        line[len(b"data:") :].strip()
        for line in b"".join(chunks).splitlines()
        if line.startswith(b"data:")
    ]
    events = [e for e in events if e]
    for event in reversed(events):
        if reply_text(event) != event.decode(errors="replace"):
            return event
    return events[-1] if events else b""


@dataclass(frozen=True)
class Started:
    """What `begin` decided: a new delegation to execute, or an idempotent hit."""

    delegation_id: str
    status: str
    target_id: str | None
    hit: bool = False
    warning: str | None = None


def started_from_row(row: dict[str, Any]) -> Started:
    return Started(row["delegation_id"], row["status"], row["target_id"], hit=True)
