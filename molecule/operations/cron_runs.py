"""The pieces of one cron run that need no I/O: the message it sends, how its answer is
judged, and the `cron_run` activity row that records it (the original's shapes,
upstream-april §4 "Scheduler details"; the scheduler in molecule.operations.scheduler does
the sending and the waiting).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from molecule.a2a.classify import reply_text
from molecule.errors import MoleculeError
from molecule.security.redact import truncate_bytes
from molecule.store.activity_rows import ActivityEntry
from molecule.store.schedules import DueSchedule

CRON_CALLER = "system:cron"
PROMPT_PREVIEW = 200  # bytes of the prompt kept in the cron_run row
MAX_ERROR = 4096
NO_RESPONSE = "(no response generated)"  # what the original runtime answers with nothing


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Outcome:
    """What a sent run came to: `ok` (maybe with an empty answer) or `error`."""

    status: str
    error: str
    empty: bool
    duration_ms: int


def cron_envelope(schedule: DueSchedule) -> dict[str, Any]:
    """The message a run sends (the original's `message/send`, as a JSON-RPC envelope)."""
    message_id = f"cron-{schedule.id[:8]}-{uuid.uuid4().hex[:8]}"
    return {
        "jsonrpc": "2.0",
        "id": str(uuid.uuid4()),
        "method": "message/send",
        "params": {
            "message": {
                "role": "user",
                "messageId": message_id,
                "parts": [{"kind": "text", "text": schedule.prompt}],
            }
        },
    }


def is_empty_reply(body: bytes) -> bool:
    """An answer with nothing in it: no body, or a reply whose text is blank or the
    runtime's `(no response generated)`. Acknowledgements without a reply (a queued or
    poll-mode delivery) are not empty: the answer comes later, elsewhere."""
    if not body.strip():
        return True
    raw = body.decode(errors="replace")
    text = reply_text(body)
    if text == raw:  # no text part: judged by the marker alone
        return NO_RESPONSE in raw
    return text.strip() in ("", NO_RESPONSE)


def load_of(snapshot: dict[str, Any] | None) -> tuple[int, int]:
    """(active tasks, the most it takes) from an actor snapshot; an unknown load counts as
    room, as the original's capacity check failed open."""
    if not snapshot:
        return 0, 1
    return int(snapshot.get("active_tasks") or 0), int(snapshot.get("max_concurrent_tasks") or 1)


def error_text(exc: MoleculeError) -> str:
    return truncate_bytes(f"HTTP {exc.status}: {exc.message}", MAX_ERROR)


def run_entry(
    schedule: DueSchedule, *, duration_ms: int | None = None, skipped_busy: int | None = None
) -> ActivityEntry:
    """The `cron_run` row of a run (its status is filled in when it is stored). A skipped
    run names the load it met instead of the prompt."""
    body: dict[str, Any] = {
        "schedule_id": schedule.id,
        "schedule_name": schedule.name,
        "cron_expr": schedule.cron_expr,
    }
    if skipped_busy is None:
        body["prompt"] = truncate_bytes(schedule.prompt, PROMPT_PREVIEW)
        summary = f"Cron: {schedule.name}"
    else:
        body.update(skipped=True, active_tasks=skipped_busy)
        summary = f"Cron skipped: {schedule.name}"
    return ActivityEntry(
        workspace_id=schedule.workspace_id,
        activity_type="cron_run",
        method="cron",
        summary=summary,
        request_body=body,
        duration_ms=duration_ms,
    )
