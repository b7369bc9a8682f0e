"""Broadcast: a workspace allowed to (`broadcast_enabled`, set by an admin through
`PATCH /workspaces/:id/abilities`) sends one message to its whole team at once.

The original platform stored the `broadcast_enabled` ability but its references describe no
route that uses it; this is ours (docs/compatibility.md#d41). The team is who
`GET /registry/:id/peers` lists: siblings (every other root, for a root), children and parent,
all of whom CanCommunicate allows. Each gets the message as an A2A `message/send` from the
sender, the way the proxy would deliver it:

- a poll-mode recipient finds it in its inbox, an `a2a_receive` row;
- any other recipient gets it through its durable A2A queue, dispatched by its queue drain as
  soon as its agent has room (at once for an idle online agent, else at its next heartbeat or
  queue sweep); an item nobody could take within 24 hours expires.

Everything, with the sender's own `a2a_send` record, is committed in one transaction before
the 202: a broadcast is acknowledged only once every recipient's copy is stored.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from molecule.a2a.normalize import normalize_a2a_payload
from molecule.actors.directory import Directory
from molecule.actors.messages import DrainQueue
from molecule.errors import BadRequest, Forbidden, MoleculeError, NotFound
from molecule.events.activity_log import ActivityLog
from molecule.jsontext import dumpb
from molecule.models import WorkspaceStatus
from molecule.store.activity_rows import ActivityEntry
from molecule.store.broadcasts import BroadcastRows, Delivery
from molecule.store.workspaces import Workspaces

log = logging.getLogger("molecule.operations.broadcast")

MAX_RECIPIENTS = 500
BROADCAST_DISABLED = "broadcast_disabled"
BROADCAST_HINT = (
    "This workspace may not broadcast. An admin can allow it with PATCH "
    '/workspaces/:id/abilities {"broadcast_enabled": true}; until then, message peers one by one.'
)


@dataclass(frozen=True)
class Sent:
    broadcast_id: str
    recipients: list[dict[str, Any]]


def broadcast_envelope(broadcast_id: str, sender_id: str, message: str) -> dict[str, Any]:
    """The JSON-RPC `message/send` each recipient receives (text part with `kind` and `type`,
    as delegations send it)."""
    body = {
        "method": "message/send",
        "params": {
            "message": {
                "role": "user",
                "messageId": broadcast_id,
                "parts": [{"kind": "text", "type": "text", "text": message}],
                "metadata": {"broadcast_id": broadcast_id, "from_workspace_id": sender_id},
            }
        },
    }
    envelope, _ = normalize_a2a_payload(dumpb(body))
    return envelope


class Broadcasts:
    def __init__(
        self,
        rows: BroadcastRows,
        workspaces: Workspaces,
        directory: Directory,
        activity: ActivityLog,
    ) -> None:
        self.rows = rows
        self.workspaces = workspaces
        self.directory = directory
        self.activity = activity

    async def send(self, sender_id: str, message: str) -> Sent:
        sender = await self.workspaces.get(sender_id)
        if sender is None or sender["status"] == WorkspaceStatus.REMOVED:
            raise NotFound("workspace not found")
        if not sender["broadcast_enabled"]:
            raise Forbidden(BROADCAST_DISABLED, extra={"hint": BROADCAST_HINT})
        team = await self.rows.recipients(sender_id, sender["parent_id"], MAX_RECIPIENTS + 1)
        if len(team) > MAX_RECIPIENTS:
            raise BadRequest(
                f"a broadcast reaches at most {MAX_RECIPIENTS} workspaces; this team is larger"
            )
        broadcast_id = str(uuid.uuid4())
        envelope = broadcast_envelope(broadcast_id, sender_id, message)
        deliveries = [self._delivery(sender, peer, envelope) for peer in team]
        record = ActivityEntry(
            workspace_id=sender_id,
            activity_type="a2a_send",
            source_id=sender_id,
            method="broadcast",
            summary=f"Broadcast to {len(team)} workspace(s)",
            request_body={
                "broadcast_id": broadcast_id,
                "message": message,
                "recipients": [peer["id"] for peer in team],
            },
        )
        await self.rows.store_all(record, deliveries, f"broadcast:{broadcast_id}")
        self.activity.broadcast(record)
        for delivery in deliveries:
            if delivery.inbox is not None:
                self.activity.broadcast(delivery.inbox)
            else:
                self._nudge(delivery.workspace_id)
        recipients = [{"id": peer["id"], "name": peer["name"]} for peer in team]
        return Sent(broadcast_id, recipients)

    @staticmethod
    def _delivery(
        sender: dict[str, Any], peer: dict[str, Any], envelope: dict[str, Any]
    ) -> Delivery:
        if peer["delivery_mode"] != "poll":
            return Delivery(peer["id"], None, envelope)
        inbox = ActivityEntry(
            workspace_id=peer["id"],
            activity_type="a2a_receive",
            source_id=sender["id"],
            target_id=peer["id"],
            method="message/send",
            summary=f"message/send → {peer['name']} (broadcast from {sender['name']})",
            request_body=envelope,
        )
        return Delivery(peer["id"], inbox, envelope)

    def _nudge(self, workspace_id: str) -> None:
        """The item is stored; tell a running actor to drain now (else the sweep will)."""
        ref = self.directory.running(workspace_id)
        if ref is None:
            return
        try:
            ref.tell(DrainQueue())
        except MoleculeError:
            log.info("workspace %s: broadcast queued; its drain comes with the sweep", workspace_id)
