"""Delegation: one workspace hands a task to another and tracks the outcome.

`Delegations.begin` records the request (`delegate` row, status `pending`, idempotency by
key) and `Delegations.execute` delivers it through the A2A proxy as the source workspace,
detached from the HTTP request that started it. The outcome lands as a `delegate_result` row
and a DELEGATION_* event on the *source* workspace:

- `dispatched`: the message is on its way (DELEGATION_STATUS);
- `queued`: the target was busy and the proxy queued the message (202 `queued: true`); the
  queue drain completes the `delegate_result` row later (`Dispatcher.stitch_delegation`);
- `completed`: the agent answered; its text is the result (DELEGATION_COMPLETE);
- `failed`: the proxy refused or the agent failed (DELEGATION_FAILED).

Where this does better than the original (docs/compatibility.md#d32):

- A poll-mode target answers 200 `{"status": "queued", "delivery_mode": "poll"}`: the message
  now waits in the target's inbox, nothing has been done yet. The original took that JSON as
  the agent's reply and marked the delegation *completed* (the "poll-target trap"). Here it is
  `queued` (DELEGATION_STATUS with `delivery_mode: "poll"`); no `delegate_result` row is
  written, because no drain will ever stitch one: the source agent closes the delegation
  through `POST /workspaces/:id/delegations/:delegation_id/update`.
- A 502 whose request reached the agent (`delivery_confirmed: true`: the agent took it but its
  answer could not be read) is not retried: a retry would deliver the task twice.
- Failure messages in events are the proxy's canned messages, sanitized like every
  broadcast error detail; an unexpected exception is logged and reported as `internal error`.
- DELEGATION_SENT is recorded before the execution starts, so a canvas never sees the
  DELEGATION_STATUS of a delegation before the one announcing it.

The original's optional ledger (`DELEGATION_LEDGER_WRITE=1`) is not implemented
(docs/compatibility.md §1.2).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import trio

from molecule.a2a.classify import reply_text, upstream_error_message
from molecule.actors.directory import Directory
from molecule.actors.dispatch import ProxyResult
from molecule.errors import Conflict, DuplicateIdempotencyKey, MoleculeError
from molecule.events import (
    DELEGATION_COMPLETE,
    DELEGATION_FAILED,
    DELEGATION_SENT,
    DELEGATION_STATUS,
    EventBus,
)
from molecule.events.activity_log import ActivityLog
from molecule.operations.a2a_send import send_a2a
from molecule.operations.delegation_wire import (
    EMPTY_RESPONSE,
    FAILED_SUMMARY,
    INTERNAL_ERROR,
    QUEUED_SUMMARY,
    TIMED_OUT,
    Started,
    buffered_reply,
    completed_summary,
    delegation_envelope,
    fold_row,
    is_poll_queued_response,
    is_queued_response,
    should_retry,
    started_from_row,
    task_preview,
)
from molecule.security.redact import sanitize_error_detail, truncate_bytes
from molecule.store.activity_rows import ActivityEntry
from molecule.store.delegations import DelegationRows
from molecule.store.workspaces import Workspaces

log = logging.getLogger("molecule.operations.delegation")

RETRY_DELAY = 8.0
"""Seconds before the one retry of a 502 / 503-restarting delivery (the original's 8 s)."""
EXECUTION_TIMEOUT = 30 * 60.0
"""Bound on one whole execution, retry included (the original's 30 min)."""


class Delegations:
    def __init__(
        self,
        rows: DelegationRows,
        activity: ActivityLog,
        bus: EventBus,
        directory: Directory,
        workspaces: Workspaces,
    ) -> None:
        self.rows = rows
        self.activity = activity
        self.bus = bus
        self.directory = directory
        self.workspaces = workspaces

    # -- POST /delegate ---------------------------------------------------------------------

    async def begin(
        self, source_id: str, target_id: str, task: str, idempotency_key: str | None
    ) -> Started:
        """Record a new delegation (status `pending`) or return the one holding the key.

        A `failed` holder is deleted and the request proceeds, so a caller may retry a
        failed delegation with the same key. Two racing requests with one key: the insert of
        the loser hits the unique index and it answers with the winner.
        """
        if idempotency_key:
            existing = await self.rows.by_idempotency_key(source_id, idempotency_key)
            if existing is not None:
                if existing["status"] != "failed":
                    return started_from_row(existing)
                await self.rows.delete_failed(existing["id"])
        delegation_id = str(uuid.uuid4())
        entry = self._delegate_entry(
            source_id, target_id, task, delegation_id, "pending", idempotency_key or None
        )
        try:
            await self.rows.insert_keyed(entry)
        except DuplicateIdempotencyKey:
            assert idempotency_key
            winner = await self.rows.by_idempotency_key(source_id, idempotency_key)
            if winner is None:
                raise Conflict("idempotency_key is already used by another activity") from None
            return started_from_row(winner)
        except Exception:
            log.exception("workspace %s: recording delegation %s failed", source_id, delegation_id)
            await self.announce(source_id, target_id, delegation_id, task)
            return Started(
                delegation_id,
                "delegated",
                target_id,
                warning="delegation dispatched but status tracking unavailable",
            )
        self.activity.broadcast(entry)
        await self.announce(source_id, target_id, delegation_id, task)
        return Started(delegation_id, "delegated", target_id)

    async def announce(self, source_id: str, target_id: str, delegation_id: str, task: str) -> None:
        await self.bus.record(
            DELEGATION_SENT,
            source_id,
            {
                "delegation_id": delegation_id,
                "target_id": target_id,
                "task_preview": task_preview(task),
            },
        )

    @staticmethod
    def _delegate_entry(
        source_id: str,
        target_id: str,
        task: str,
        delegation_id: str,
        status: str,
        idempotency_key: str | None = None,
    ) -> ActivityEntry:
        return ActivityEntry(
            workspace_id=source_id,
            activity_type="delegation",
            source_id=source_id,
            target_id=target_id,
            method="delegate",
            summary=f"Delegating to {target_id}",
            request_body={"task": task, "delegation_id": delegation_id},
            response_body={"delegation_id": delegation_id},
            status=status,
            idempotency_key=idempotency_key,
        )

    # -- the detached execution -------------------------------------------------------------

    async def execute(self, source_id: str, target_id: str, delegation_id: str, task: str) -> None:
        """Deliver the task and record the outcome; never raises (it runs detached)."""
        error = TIMED_OUT
        with trio.move_on_after(EXECUTION_TIMEOUT):
            try:
                await self._execute(source_id, target_id, delegation_id, task)
                return
            except Exception:
                log.exception(
                    "workspace %s: delegation %s to %s crashed", source_id, delegation_id, target_id
                )
                error = INTERNAL_ERROR
        if error == TIMED_OUT:
            log.warning("workspace %s: delegation %s timed out", source_id, delegation_id)
        try:
            await self._failed(source_id, target_id, delegation_id, error)
        except Exception:
            log.exception("workspace %s: recording failed delegation %s", source_id, delegation_id)

    async def _execute(self, source_id: str, target_id: str, delegation_id: str, task: str) -> None:
        await self.rows.set_status(source_id, delegation_id, "dispatched")
        await self._status_event(source_id, target_id, delegation_id, "dispatched")
        envelope = delegation_envelope(delegation_id, task)
        try:
            result = await self._send(source_id, target_id, envelope)
        except MoleculeError as exc:
            # The proxy raises with a 2xx status only for an empty agent answer.
            error = EMPTY_RESPONSE if 200 <= exc.status < 300 else exc.message
            await self._failed(source_id, target_id, delegation_id, error)
            return
        body = await buffered_reply(result)
        if is_queued_response(result):
            await self._queued(source_id, target_id, delegation_id)
            return
        if is_poll_queued_response(result):
            await self.rows.set_status(source_id, delegation_id, "queued")
            await self._status_event(source_id, target_id, delegation_id, "queued", poll=True)
            return
        if not 200 <= result.status < 300:
            error = upstream_error_message(result.status, body)
            await self._failed(source_id, target_id, delegation_id, error)
            return
        if not body.strip():
            await self._failed(source_id, target_id, delegation_id, EMPTY_RESPONSE)
            return
        await self._completed(source_id, target_id, delegation_id, reply_text(body))

    async def _send(self, source_id: str, target_id: str, envelope: dict[str, Any]) -> ProxyResult:
        try:
            return await self._send_once(source_id, target_id, envelope)
        except MoleculeError as exc:
            if not should_retry(exc):
                raise
            log.info(
                "workspace %s: delegation to %s got %d (%s); retrying in %gs",
                source_id,
                target_id,
                exc.status,
                exc.message,
                RETRY_DELAY,
            )
        await trio.sleep(RETRY_DELAY)
        return await self._send_once(source_id, target_id, envelope)

    async def _send_once(
        self, source_id: str, target_id: str, envelope: dict[str, Any]
    ) -> ProxyResult:
        return await send_a2a(
            self.directory,
            self.workspaces,
            target_id,
            envelope,
            "message/send",
            source_id,
            log_activity=True,
        )

    # -- outcomes ---------------------------------------------------------------------------

    async def _status_event(
        self, source_id: str, target_id: str, delegation_id: str, status: str, poll: bool = False
    ) -> None:
        payload: dict[str, Any] = {
            "delegation_id": delegation_id,
            "target_id": target_id,
            "status": status,
        }
        if poll:
            payload["delivery_mode"] = "poll"
        await self.bus.record(DELEGATION_STATUS, source_id, payload)

    async def _result_row(
        self,
        source_id: str,
        target_id: str | None,
        summary: str,
        response_body: dict[str, Any],
        status: str,
        error_detail: str | None = None,
    ) -> None:
        await self.activity.log(
            ActivityEntry(
                workspace_id=source_id,
                activity_type="delegation",
                source_id=source_id,
                target_id=target_id,
                method="delegate_result",
                summary=summary,
                response_body=response_body,
                status=status,
                error_detail=error_detail,
            )
        )

    async def _queued(self, source_id: str, target_id: str, delegation_id: str) -> None:
        log.info("workspace %s: delegation %s queued at %s", source_id, delegation_id, target_id)
        await self.rows.set_status(source_id, delegation_id, "queued")
        await self._result_row(
            source_id,
            target_id,
            QUEUED_SUMMARY,
            {"delegation_id": delegation_id, "queued": True},
            "queued",
        )
        await self._status_event(source_id, target_id, delegation_id, "queued")

    async def _failed(self, source_id: str, target_id: str, delegation_id: str, error: str) -> None:
        log.info("workspace %s: delegation %s failed: %s", source_id, delegation_id, error)
        await self.rows.set_status(source_id, delegation_id, "failed", error)
        await self._result_row(
            source_id,
            target_id,
            FAILED_SUMMARY,
            {"delegation_id": delegation_id},
            "failed",
            error,
        )
        await self.bus.record(
            DELEGATION_FAILED,
            source_id,
            {
                "delegation_id": delegation_id,
                "target_id": target_id,
                "error": sanitize_error_detail(error),
            },
        )

    async def _completed(
        self, source_id: str, target_id: str, delegation_id: str, text: str
    ) -> None:
        await self._result_row(
            source_id,
            target_id,
            completed_summary(text),
            {"text": text, "delegation_id": delegation_id},
            "completed",
        )
        await self.rows.set_status(source_id, delegation_id, "completed")
        await self.bus.record(
            DELEGATION_COMPLETE,
            source_id,
            {
                "delegation_id": delegation_id,
                "target_id": target_id,
                "response_preview": truncate_bytes(text, 200),
            },
        )

    # -- agent-initiated delegations (record / update) and the list ------------------------

    async def record(self, source_id: str, target_id: str, task: str, delegation_id: str) -> None:
        """A delegation the agent sent itself: tracked from `dispatched` on."""
        entry = self._delegate_entry(source_id, target_id, task, delegation_id, "dispatched")
        await self.rows.insert_keyed(entry)
        self.activity.broadcast(entry)
        await self.announce(source_id, target_id, delegation_id, task)

    async def update(
        self,
        source_id: str,
        delegation_id: str,
        status: str,
        error: str | None,
        response_preview: str | None,
    ) -> bool:
        """Close an agent-initiated delegation; False when this workspace has no such one."""
        changed = await self.rows.set_status(
            source_id, delegation_id, status, error if status == "failed" else None
        )
        if not changed:
            return False
        if status == "completed":
            text = response_preview or ""
            await self._result_row(
                source_id,
                None,
                completed_summary(text),
                {"text": text, "delegation_id": delegation_id},
                "completed",
            )
            await self.bus.record(
                DELEGATION_COMPLETE,
                source_id,
                {"delegation_id": delegation_id, "response_preview": truncate_bytes(text, 200)},
            )
        else:
            await self.bus.record(
                DELEGATION_FAILED,
                source_id,
                {"delegation_id": delegation_id, "error": sanitize_error_detail(error or "")},
            )
        return True

    async def listing(self, workspace_id: str) -> list[dict[str, Any]]:
        return [fold_row(row) for row in await self.rows.recent(workspace_id)]
