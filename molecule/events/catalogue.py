"""The event catalogue (names are wire strings) and the wire shape of one event.

On the WebSocket an event is `{"event", "workspace_id", "timestamp", "payload"}`; on SSE it is
`{"type", "timestamp" (unix ms), "data"}`. Both texts are built once per event and shared by
every subscriber.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from molecule.jsontext import dumps, rfc3339

WORKSPACE_PROVISIONING = "WORKSPACE_PROVISIONING"
WORKSPACE_ONLINE = "WORKSPACE_ONLINE"
WORKSPACE_OFFLINE = "WORKSPACE_OFFLINE"
WORKSPACE_DEGRADED = "WORKSPACE_DEGRADED"
WORKSPACE_AWAITING_AGENT = "WORKSPACE_AWAITING_AGENT"
WORKSPACE_REMOVED = "WORKSPACE_REMOVED"
WORKSPACE_PROVISION_FAILED = "WORKSPACE_PROVISION_FAILED"
WORKSPACE_HEARTBEAT = "WORKSPACE_HEARTBEAT"
WORKSPACE_PAUSED = "WORKSPACE_PAUSED"
WORKSPACE_HIBERNATED = "WORKSPACE_HIBERNATED"
WORKSPACE_EXPANDED = "WORKSPACE_EXPANDED"
WORKSPACE_COLLAPSED = "WORKSPACE_COLLAPSED"
TASK_UPDATED = "TASK_UPDATED"
AGENT_CARD_UPDATED = "AGENT_CARD_UPDATED"
AGENT_MESSAGE = "AGENT_MESSAGE"
A2A_RESPONSE = "A2A_RESPONSE"
ACTIVITY_LOGGED = "ACTIVITY_LOGGED"
DELEGATION_SENT = "DELEGATION_SENT"
DELEGATION_STATUS = "DELEGATION_STATUS"
DELEGATION_COMPLETE = "DELEGATION_COMPLETE"
DELEGATION_FAILED = "DELEGATION_FAILED"
EXTERNAL_CREDENTIALS_ROTATED = "EXTERNAL_CREDENTIALS_ROTATED"
# Recorded by the cron scheduler: {schedule_id, schedule_name, status} / {..., reason}.
CRON_EXECUTED = "CRON_EXECUTED"
CRON_SKIPPED = "CRON_SKIPPED"
# Recorded (workspace_id null) around POST /org/import, with the original's names (§12.2).
ORG_IMPORT_STARTED = "org.import.started"
ORG_IMPORT_COMPLETED = "org.import.completed"
APPROVAL_REQUESTED = "APPROVAL_REQUESTED"
APPROVAL_ESCALATED = "APPROVAL_ESCALATED"
APPROVAL_APPROVED = "APPROVAL_APPROVED"
APPROVAL_DENIED = "APPROVAL_DENIED"


@dataclass(frozen=True)
class Event:
    type: str
    workspace_id: str | None
    payload: dict[str, Any]
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))

    def wire(self) -> dict[str, Any]:
        return {
            "event": self.type,
            "workspace_id": self.workspace_id,
            "timestamp": rfc3339(self.timestamp),
            "payload": self.payload,
        }

    @cached_property
    def wire_json(self) -> str:
        """The WebSocket message, serialised once for all subscribers."""
        return dumps(self.wire())

    @cached_property
    def sse_data(self) -> str:
        """The SSE frame body: `{type, timestamp (unix ms), data}`."""
        body = {
            "type": self.type,
            "timestamp": int(self.timestamp.timestamp() * 1000),
            "data": self.payload,
        }
        return dumps(body)


EventFilter = Callable[[Event], bool]
