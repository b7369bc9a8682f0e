"""A2A JSON-RPC on `POST /`: the methods the platform and peers call.

v0.3 names are served by default; the v1.0 names only with header `A2A-Version: 1.0` (and the
v0.3 names then refused), exactly as the a2a-sdk server with v0.3 compatibility does.
JSON-RPC errors travel with HTTP 200; only "not configured" answers 503.

Every message runs as a task (see `tasks.py`). `message/send` answers the agent's reply as a
`Message`; `message/stream` answers Server-Sent Events: a `working` status update, then the
reply message (or a JSON-RPC error). `tasks/cancel` cancels a running adapter call.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from typing import Any

import trio

from molecule.asgi import Request, Send, send_error, send_json
from molecule.errors import ClientGone, MoleculeError, RpcError
from molecule.jsontext import dumpb
from molecule.runtime import a2a_wire as w
from molecule.runtime.adapters.base import AgentRequest
from molecule.runtime.state import RuntimeState
from molecule.runtime.tasks import TaskRecord
from molecule.security.redact import describe_error, secret_env_values

log = logging.getLogger(__name__)

MAX_BODY = 32 * 1024 * 1024
NOT_CONFIGURED = "Internal error: agent not configured"

# method name -> (operation, the protocol version the name belongs to)
METHODS: dict[str, tuple[str, str]] = {
    "message/send": ("send", w.V03),
    "message/stream": ("stream", w.V03),
    "tasks/get": ("get", w.V03),
    "tasks/cancel": ("cancel", w.V03),
    "tasks/resubscribe": ("resubscribe", w.V03),
    "tasks/pushNotificationConfig/set": ("push", w.V03),
    "tasks/pushNotificationConfig/get": ("push", w.V03),
    "tasks/pushNotificationConfig/list": ("push", w.V03),
    "tasks/pushNotificationConfig/delete": ("push", w.V03),
    "agent/getAuthenticatedExtendedCard": ("extended_card", w.V03),
    "SendMessage": ("send", w.V10),
    "SendStreamingMessage": ("stream", w.V10),
    "GetTask": ("get", w.V10),
    "ListTasks": ("unsupported", w.V10),
    "CancelTask": ("cancel", w.V10),
    "SubscribeToTask": ("resubscribe", w.V10),
    "CreateTaskPushNotificationConfig": ("push", w.V10),
    "GetTaskPushNotificationConfig": ("push", w.V10),
    "ListTaskPushNotificationConfigs": ("push", w.V10),
    "DeleteTaskPushNotificationConfig": ("push", w.V10),
    "GetExtendedAgentCard": ("extended_card", w.V10),
}


def requested_version(header: str | None) -> str:
    value = (header or "").strip()
    if not value or value.startswith("0.3"):
        return w.V03
    if value in ("1", "1.0") or value.startswith("1.0."):
        return w.V10
    return value


def envelope(rid: Any, *, result: Any = None, error: RpcError | None = None) -> dict[str, Any]:
    if error is not None:
        return {"jsonrpc": "2.0", "id": rid, "error": error.to_dict()}
    return {"jsonrpc": "2.0", "id": rid, "result": result}


def _lenient_id(body: bytes) -> Any:
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    return payload.get("id") if isinstance(payload, dict) else None


class A2AHandler:
    def __init__(self, state: RuntimeState) -> None:
        self.state = state
        self._secrets = secret_env_values(state.settings.env)

    async def __call__(self, request: Request, send: Send) -> None:
        try:
            body = await request.read_body(MAX_BODY)
        except ClientGone:
            return
        except MoleculeError as exc:  # too large (413) or too slow (408)
            await send_error(send, exc.status, exc.message)
            return
        if not self.state.configured:
            error = RpcError(w.INTERNAL_ERROR, NOT_CONFIGURED, self.state.configuration_error)
            await send_json(send, 503, envelope(_lenient_id(body), error=error))
            return
        rid: Any = None
        try:
            try:
                payload = json.loads(body)
            except ValueError as exc:
                raise RpcError(w.PARSE_ERROR, str(exc)) from exc
            if not isinstance(payload, dict):
                raise RpcError(w.INVALID_REQUEST, "Invalid Request")
            rid = payload.get("id")
            method = payload.get("method")
            if payload.get("jsonrpc") != "2.0" or not isinstance(method, str):
                raise RpcError(w.INVALID_REQUEST, "Invalid Request")
            version = requested_version(request.header("a2a-version"))
            op = self._resolve(method, version)
            params = payload.get("params")
            if op == "stream":
                msg = self._parse_message(params, version)
                await self._stream(send, rid, msg, version)
                return
            result = await self._dispatch(op, params, version)
        except RpcError as exc:
            await send_json(send, 200, envelope(rid, error=exc))
            return
        await send_json(send, 200, envelope(rid, result=result))

    def _resolve(self, method: str, version: str) -> str:
        entry = METHODS.get(method)
        if entry is None:
            raise RpcError(w.METHOD_NOT_FOUND, "Method not found")
        op, name_version = entry
        if version not in (w.V03, w.V10):
            raise w.version_error(version, name_version)
        if name_version == w.V10 and version == w.V03:
            raise w.version_error(w.V03, w.V10)
        if name_version == w.V03 and version == w.V10:
            # what the a2a-sdk 0.3 compat handler says when sent a 1.0 header
            raise RpcError(
                w.INTERNAL_ERROR,
                f"A2A version '{w.V10}' is not supported by this handler. "
                f"Expected version '{w.V03}'.",
            )
        return op

    @staticmethod
    def _parse_message(params: Any, version: str) -> w.WireMessage:
        if version == w.V10:
            return w.parse_message_v10(params)
        return w.parse_message_v03(params)

    async def _dispatch(self, op: str, params: Any, version: str) -> Any:
        if op == "send":
            record, request = self._begin(self._parse_message(params, version))
            reply = await self._execute(record, request)
            if reply is None:
                return w.wrap_task_result(record.view, version)
            return w.wrap_message_result(reply, version)
        if op == "get":
            task_id, history_length = w.parse_task_query(params, version)
            found = self.state.store.get(task_id)
            if found is None:
                raise w.task_not_found(version)
            return w.render_task(found.view, version, history_length)
        if op in ("cancel", "resubscribe"):
            task_id, _ = w.parse_task_query(params, version)
            target = self.state.store.get(task_id)
            if target is None:
                raise w.task_not_found(version)
            if op == "resubscribe":
                raise RpcError(-32004, "This operation is not supported")
            return self._cancel(target, version)
        if op == "push":
            raise RpcError(-32003, "Push Notification is not supported")
        if op == "extended_card":
            raise RpcError(-32007, "Authenticated Extended Card is not configured")
        raise RpcError(-32004, "This operation is not supported")

    def _cancel(self, record: TaskRecord, version: str) -> Any:
        if record.finished or record.scope is None:
            raise RpcError(w.TASK_NOT_CANCELABLE, "Task cannot be canceled")
        record.scope.cancel()
        self.state.store.finish(record, "canceled", None)
        return w.render_task(record.view, version)

    def _begin(self, msg: w.WireMessage) -> tuple[TaskRecord, AgentRequest]:
        task_id = msg.task_id or str(uuid.uuid4())
        context_id = msg.context_id or str(uuid.uuid4())
        msg = dataclasses.replace(msg, task_id=task_id, context_id=context_id)
        record = self.state.store.begin(task_id, context_id, msg)
        return record, AgentRequest(msg, task_id, context_id)

    async def _execute(self, record: TaskRecord, request: AgentRequest) -> w.WireMessage | None:
        """Run the adapter; the reply, or None when the task was canceled."""
        adapter = self.state.adapter
        assert adapter is not None  # checked by the caller (not-configured mode)
        tracker, store = self.state.tracker, self.state.store
        tracker.start(request.task_id, request.text)
        error: str | None = None
        try:
            with trio.CancelScope() as scope:
                record.scope = scope
                reply = await adapter.handle(request)
            if scope.cancelled_caught:
                return None
            agent = w.agent_message(reply.text, request.context_id, request.task_id, reply.parts)
            store.finish(record, "completed", agent)
            return agent
        except Exception as exc:
            error = describe_error(exc, self._secrets)
            log.exception("adapter %s failed on task %s", adapter.name, request.task_id)
            failure = w.agent_message(error, request.context_id, request.task_id)
            store.finish(record, "failed", failure)
            raise RpcError(w.INTERNAL_ERROR, "Internal error", error) from exc
        finally:
            tracker.finish(request.task_id, error)
            if not record.finished:  # cancelled from outside (shutdown, client gone)
                store.finish(record, "canceled", None)

    async def _stream(self, send: Send, rid: Any, msg: w.WireMessage, version: str) -> None:
        record, request = self._begin(msg)
        headers = [
            (b"content-type", b"text/event-stream"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})

        async def event(obj: dict[str, Any], more: bool = True) -> None:
            data = b"data: " + dumpb(obj) + b"\n\n"
            await send({"type": "http.response.body", "body": data, "more_body": more})

        working = w.render_status_update(record.view, version, final=False)
        await event(envelope(rid, result=working))
        try:
            reply = await self._execute(record, request)
        except RpcError as exc:
            await event(envelope(rid, error=exc), more=False)
            return
        if reply is None:
            final = w.render_status_update(record.view, version, final=True)
        else:
            final = w.wrap_message_result(reply, version)
        await event(envelope(rid, result=final), more=False)
