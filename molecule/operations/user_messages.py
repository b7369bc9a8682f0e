"""An agent's message to its user: the one writer behind `POST /workspaces/:id/notify` and the
MCP bridge's `send_message_to_user` (the original shared it the same way, upstream-may §2).

The workspace must exist and not be removed (404 `workspace not found`) and have
`talk_to_user_enabled` (403 `talk_to_user_disabled` with a hint). The message is stored first,
as an `a2a_receive` row (so a reloaded chat shows it and its file chips), then shown live as
AGENT_MESSAGE. Like the original there is no ACTIVITY_LOGGED for that row: chat panels consume
both events, and the live AGENT_MESSAGE is the one that renders the bubble.
"""

from __future__ import annotations

from typing import Any

from molecule.errors import Forbidden
from molecule.events import AGENT_MESSAGE, EventBus
from molecule.events.activity_log import ActivityLog
from molecule.store.activity_rows import ActivityEntry
from molecule.store.workspaces import Workspaces

TALK_TO_USER_HINT = (
    "This workspace is not allowed to send messages directly to the user. Forward your "
    "update to a parent workspace using delegate_task — they may be able to reach the user."
)
NOTIFY_SUMMARY_RUNES = 80


def notify_summary(message: str) -> str:
    cut = message[:NOTIFY_SUMMARY_RUNES]
    return "Agent message: " + cut + ("…" if len(message) > NOTIFY_SUMMARY_RUNES else "")


async def send_to_user(
    workspaces: Workspaces,
    activity: ActivityLog,
    bus: EventBus,
    workspace_id: str,
    message: str,
    attachments: list[dict[str, Any]] | None = None,
) -> None:
    """Store the message, then broadcast it; `attachments` are already validated
    `{uri, name, mimeType?, size?}` chips (docs/compatibility.md#d4)."""
    row = await workspaces.live(workspace_id)
    if not row["talk_to_user_enabled"]:
        raise Forbidden("talk_to_user_disabled", extra={"hint": TALK_TO_USER_HINT})
    response: dict[str, Any] = {"result": message}
    if attachments:
        response["parts"] = [{"kind": "file", "file": dict(a)} for a in attachments]
    # Stored before it is shown or acknowledged: a message the user saw live must still be
    # in the chat after a reload, and an outage is a 503 the agent retries.
    await activity.rows.insert(
        ActivityEntry(
            workspace_id=workspace_id,
            activity_type="a2a_receive",
            method="notify",
            summary=notify_summary(message),
            response_body=response,
        )
    )
    payload: dict[str, Any] = {
        "message": message,
        "workspace_id": workspace_id,
        "name": row["name"],
    }
    if attachments:
        payload["attachments"] = attachments
    bus.broadcast(AGENT_MESSAGE, workspace_id, payload)
