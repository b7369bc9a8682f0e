"""A2A message shapes: parse v0.3 and v1.0 requests, render v0.3 and v1.0 results.

The runtime keeps one internal form (`WireMessage`, parts in the v0.3 `kind` shape) and
converts at the edges. Validation mirrors what the a2a-sdk 1.3 server does (probed against
it): v0.3 requires `messageId`, `role` in {user, agent} and `parts`, accepts the legacy
`{type: "text"}` part tag, and answers -32600 with pydantic-like text in `error.data`; v1.0
answers -32602 "Validation failed" with field violations.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from molecule.errors import RpcError

V03, V10 = "0.3", "1.0"

# JSON-RPC / A2A error codes used by the runtime.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
TASK_NOT_FOUND = -32001
TASK_NOT_CANCELABLE = -32002
VERSION_NOT_SUPPORTED = -32009

_ROLES_V10 = {"ROLE_USER": "user", "ROLE_AGENT": "agent"}
_ROLES_V10_OUT = {v: k for k, v in _ROLES_V10.items()}
_STATES_V10 = {
    "submitted": "TASK_STATE_SUBMITTED",
    "working": "TASK_STATE_WORKING",
    "completed": "TASK_STATE_COMPLETED",
    "failed": "TASK_STATE_FAILED",
    "canceled": "TASK_STATE_CANCELED",
}


def error_info(reason: str, metadata: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The `error.data` list a v1.0 a2a-sdk handler attaches (google.rpc.ErrorInfo)."""
    return [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason,
            "domain": "a2a-protocol.org",
            "metadata": metadata or {},
        }
    ]


def version_error(got: str, expected: str) -> RpcError:
    return RpcError(
        VERSION_NOT_SUPPORTED,
        f"A2A version '{got}' is not supported by this handler. Expected version '{expected}'.",
        error_info("VERSION_NOT_SUPPORTED"),
    )


def task_not_found(version: str) -> RpcError:
    data = error_info("TASK_NOT_FOUND") if version == V10 else None
    return RpcError(TASK_NOT_FOUND, "Task not found", data)


@dataclass(frozen=True)
class WireMessage:
    message_id: str
    role: str  # "user" | "agent"
    parts: tuple[dict[str, Any], ...]
    context_id: str | None = None
    task_id: str | None = None
    metadata: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        """Text parts joined by newlines (a2a-sdk's `get_user_input`)."""
        return "\n".join(str(p.get("text", "")) for p in self.parts if p.get("kind") == "text")

    @property
    def files(self) -> list[dict[str, Any]]:
        return [p["file"] for p in self.parts if p.get("kind") == "file"]


def agent_message(
    text: str,
    context_id: str,
    task_id: str,
    extra_parts: tuple[dict[str, Any], ...] = (),
) -> WireMessage:
    parts = ({"kind": "text", "text": text}, *extra_parts)
    return WireMessage(str(uuid.uuid4()), "agent", parts, context_id, task_id)


# -- parsing ---------------------------------------------------------------------------------


def _v03_error(loc: str, problem: str) -> RpcError:
    return RpcError(
        INVALID_REQUEST,
        "Invalid Request",
        f"1 validation error for SendMessageRequest\n{loc}\n  {problem}",
    )


def _v03_part(part: Any, loc: str) -> dict[str, Any]:
    if not isinstance(part, dict):
        raise _v03_error(loc, "Input should be a valid dictionary")
    kind = part.get("kind") or part.get("type")
    if kind not in ("text", "file", "data"):
        kind = next((k for k in ("text", "file", "data") if k in part), None)
    out = {k: v for k, v in part.items() if k != "type"}
    out["kind"] = kind
    if kind == "text" and isinstance(part.get("text"), str):
        return out
    if kind == "file" and isinstance(part.get("file"), dict):
        file = part["file"]
        if isinstance(file.get("uri"), str) or isinstance(file.get("bytes"), str):
            return out
    if kind == "data" and isinstance(part.get("data"), dict):
        return out
    raise _v03_error(loc, "Input should be a valid text, file or data part")


def _params_message(params: Any) -> Any:
    return params.get("message") if isinstance(params, dict) else None


def parse_message_v03(params: Any) -> WireMessage:
    if not isinstance(params, dict):
        raise _v03_error("params", "Field required")
    msg = params.get("message")
    if not isinstance(msg, dict):
        raise _v03_error("params.message", "Field required")
    if not isinstance(msg.get("messageId"), str):
        raise _v03_error("params.message.messageId", "Field required")
    if "parts" not in msg or not isinstance(msg["parts"], list):
        raise _v03_error("params.message.parts", "Field required")
    role = msg.get("role")
    if role is None:
        raise _v03_error("params.message.role", "Field required")
    if role not in ("user", "agent"):
        raise _v03_error("params.message.role", "Input should be 'agent' or 'user'")
    parts = tuple(_v03_part(p, f"params.message.parts.{i}") for i, p in enumerate(msg["parts"]))
    return WireMessage(
        msg["messageId"],
        role,
        parts,
        _opt_str(msg.get("contextId")),
        _opt_str(msg.get("taskId")),
        msg.get("metadata") if isinstance(msg.get("metadata"), dict) else None,
    )


def _v10_invalid(field_name: str, description: str) -> RpcError:
    return RpcError(
        INVALID_PARAMS,
        "Validation failed",
        error_info("INVALID_PARAMS", {"errors": [{"field": field_name, "message": description}]})
        + [
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": field_name, "description": description}],
            }
        ],
    )


def _v10_part(part: Any, index: int) -> dict[str, Any]:
    if isinstance(part, dict):
        meta = {"metadata": part["metadata"]} if isinstance(part.get("metadata"), dict) else {}
        if isinstance(part.get("text"), str):
            return {"kind": "text", "text": part["text"], **meta}
        if isinstance(part.get("url"), str) or isinstance(part.get("raw"), str):
            file: dict[str, Any] = {}
            if isinstance(part.get("url"), str):
                file["uri"] = part["url"]
            else:
                file["bytes"] = part["raw"]
            if part.get("filename"):
                file["name"] = part["filename"]
            if part.get("mediaType"):
                file["mimeType"] = part["mediaType"]
            return {"kind": "file", "file": file, **meta}
        if "data" in part:
            data = part["data"]
            return {"kind": "data", "data": data if isinstance(data, dict) else {"value": data}}
    raise _v10_invalid(f"message.parts[{index}]", "Part must hold text, url, raw or data.")


def parse_message_v10(params: Any) -> WireMessage:
    msg = _params_message(params)
    if not isinstance(msg, dict):
        raise _v10_invalid("message", "Field is required.")
    if not isinstance(msg.get("messageId"), str) or not msg["messageId"]:
        raise _v10_invalid("message.message_id", "Field is required.")
    role = _ROLES_V10.get(str(msg.get("role")))
    if role is None:
        raise _v10_invalid("message.role", "Field is required.")
    parts = msg.get("parts")
    if not isinstance(parts, list) or not parts:
        raise _v10_invalid("message.parts", "Field must contain at least one element.")
    return WireMessage(
        msg["messageId"],
        role,
        tuple(_v10_part(p, i) for i, p in enumerate(parts)),
        _opt_str(msg.get("contextId")),
        _opt_str(msg.get("taskId")),
        msg.get("metadata") if isinstance(msg.get("metadata"), dict) else None,
    )


def parse_task_query(params: Any, version: str) -> tuple[str, int | None]:
    """`{id, historyLength?}` for tasks/get, GetTask, tasks/cancel, CancelTask."""
    task_id = params.get("id") if isinstance(params, dict) else None
    if not isinstance(task_id, str) or not task_id:
        if version == V10:
            raise _v10_invalid("id", "Field is required.")
        raise RpcError(INVALID_REQUEST, "Invalid Request", "params.id\n  Field required")
    length = params.get("historyLength")
    return task_id, length if isinstance(length, int) and length >= 0 else None


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# -- rendering -------------------------------------------------------------------------------


def _part_v10(part: dict[str, Any]) -> dict[str, Any]:
    meta = {"metadata": part["metadata"]} if part.get("metadata") else {}
    kind = part.get("kind")
    if kind == "file":
        f = part.get("file") or {}
        out: dict[str, Any] = {"url": f["uri"]} if "uri" in f else {"raw": f.get("bytes", "")}
        if f.get("name"):
            out["filename"] = f["name"]
        if f.get("mimeType"):
            out["mediaType"] = f["mimeType"]
        return {**out, **meta}
    if kind == "data":
        return {"data": part.get("data", {}), **meta}
    return {"text": part.get("text", ""), **meta}


def render_message(msg: WireMessage, version: str) -> dict[str, Any]:
    if version == V10:
        out: dict[str, Any] = {"messageId": msg.message_id}
        if msg.context_id:
            out["contextId"] = msg.context_id
        if msg.task_id:
            out["taskId"] = msg.task_id
        out["role"] = _ROLES_V10_OUT[msg.role]
        out["parts"] = [_part_v10(p) for p in msg.parts]
    else:
        out = {"kind": "message", "messageId": msg.message_id, "role": msg.role}
        out["parts"] = [dict(p) for p in msg.parts]
        if msg.context_id:
            out["contextId"] = msg.context_id
        if msg.task_id:
            out["taskId"] = msg.task_id
    if msg.metadata:
        out["metadata"] = msg.metadata
    return out


@dataclass
class TaskView:
    """What a task renders from (kept by `tasks.TaskStore`)."""

    task_id: str
    context_id: str
    state: str
    timestamp: str
    history: list[WireMessage] = field(default_factory=list)
    status_message: WireMessage | None = None


def render_status(view: TaskView, version: str) -> dict[str, Any]:
    state = _STATES_V10[view.state] if version == V10 else view.state
    status: dict[str, Any] = {"state": state, "timestamp": view.timestamp}
    if view.status_message is not None:
        status["message"] = render_message(view.status_message, version)
    return status


def render_task(view: TaskView, version: str, history_length: int | None = None) -> dict[str, Any]:
    history = view.history if history_length is None else view.history[-history_length:]
    if history_length == 0:
        history = []
    out: dict[str, Any] = {"id": view.task_id, "contextId": view.context_id}
    if version != V10:
        out["kind"] = "task"
    out["status"] = render_status(view, version)
    out["history"] = [render_message(m, version) for m in history]
    return out


def render_status_update(view: TaskView, version: str, final: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "taskId": view.task_id,
        "contextId": view.context_id,
        "status": render_status(view, version),
    }
    if version == V10:
        return {"statusUpdate": body}
    return {**body, "kind": "status-update", "final": final}


def wrap_message_result(msg: WireMessage, version: str) -> dict[str, Any]:
    """SendMessage / stream event carrying a message: v1.0 wraps it in `{"message": ...}`."""
    rendered = render_message(msg, version)
    return {"message": rendered} if version == V10 else rendered


def wrap_task_result(view: TaskView, version: str) -> dict[str, Any]:
    rendered = render_task(view, version)
    return {"task": rendered} if version == V10 else rendered
