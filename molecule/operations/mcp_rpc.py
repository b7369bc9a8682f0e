"""The MCP bridge's JSON-RPC 2.0 layer, whatever the HTTP transport around it.

One message in, at most one message out. Served methods: `initialize` (version negotiation),
`ping`, `tools/list`, `tools/call`; every `notifications/*` is taken and dropped (nothing here
depends on `notifications/initialized`, so a client that skips it, as the original allowed,
still works). Any other method is -32601.

Errors, by JSON-RPC code:
- -32700 parse error, -32600 invalid request: the transport answers them with HTTP 400 and
  `id: null` (`Refused`), as the original did for a body it could not bind;
- -32601 unknown method, -32602 bad `tools/call` params: HTTP 200, the request's id;
- a tool that fails: on the original's session-less wire, the original's `-32000` error with
  the tool's message; inside a session (the current transport) a result with `isError: true`,
  as MCP asks, so the model sees why and can try again (docs/compatibility.md#d52).
A database outage is neither: `DatastoreUnavailable` propagates and the transport answers 503.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from molecule.errors import DatastoreUnavailable, MoleculeError
from molecule.operations.mcp_catalogue import listed_tools
from molecule.operations.mcp_tools import McpTools

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
TOOL_FAILED = -32000

PROTOCOL_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
"""Versions of the initialize handshake served here, oldest first (the original spoke only
the first). The 2026 per-request protocol is not: its `server/discover` probe is -32601, and
clients then fall back to `initialize`."""
LATEST_VERSION = PROTOCOL_VERSIONS[-1]
SERVER_INFO = {"name": "molecule-a2a", "version": "1.0.0"}  # the original's name
INSTRUCTIONS = (
    "You act as a workspace of a Molecule team of agents: list_peers shows who you may "
    "delegate to; commit_memory and recall_memory keep notes across conversations."
)


class Message(BaseModel):
    """One JSON-RPC 2.0 message from the client: a request (`id`), a notification (no `id`)
    or a response to a request of ours (we send none; it is taken and dropped)."""

    model_config = ConfigDict(extra="allow")

    jsonrpc: Literal["2.0"] | None = None
    id: StrictStr | StrictInt | None = None
    method: StrictStr | None = Field(default=None, max_length=256)
    params: dict[str, Any] | None = None
    result: Any = None
    error: Any = None


class ToolCall(BaseModel):
    name: StrictStr = Field(max_length=256)
    arguments: dict[str, Any] | None = None


@dataclass(frozen=True)
class Incoming:
    message: Message
    has_id: bool

    @property
    def is_request(self) -> bool:
        return self.has_id and self.message.method is not None

    @property
    def method(self) -> str:
        return self.message.method or ""


@dataclass(frozen=True)
class Refused:
    """Not a JSON-RPC message we can take: answered with HTTP 400 and this error, `id: null`."""

    code: int
    message: str

    def body(self) -> dict[str, Any]:
        return error_body(None, self.code, self.message)


def error_body(rid: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}}


def result_body(rid: Any, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "result": result}


def parse(data: Any) -> Incoming | Refused:
    """Validate one decoded JSON value as a message (Refused when it is not one)."""
    if isinstance(data, list):
        return Refused(INVALID_REQUEST, "invalid request: batches are not supported")
    if not isinstance(data, dict):
        return Refused(INVALID_REQUEST, "invalid request: a JSON-RPC message is a JSON object")
    try:
        message = Message.model_validate(data)
    except ValidationError as exc:
        return Refused(INVALID_REQUEST, f"invalid request: bad {_where(exc, 'message')}")
    if message.method is None and "result" not in data and "error" not in data:
        return Refused(INVALID_REQUEST, "invalid request: method is required")
    return Incoming(message, message.id is not None)


def _where(exc: ValidationError, whole: str) -> str:
    """The first failing field's path (`id`, `params.name`, ...), for the error message."""
    errors = exc.errors()
    path = ".".join(str(p) for p in errors[0]["loc"]) if errors else ""
    return path or whole


def negotiate(params: dict[str, Any] | None) -> str:
    """The version answered to `initialize`: the client's when served here, else our latest
    (the client then decides whether it can speak it)."""
    asked = (params or {}).get("protocolVersion")
    return asked if isinstance(asked, str) and asked in PROTOCOL_VERSIONS else LATEST_VERSION


class Dispatcher:
    """Answers the messages of one caller, acting as `workspace_id`."""

    def __init__(self, tools: McpTools, workspace_id: str, *, in_session: bool) -> None:
        self.tools, self.workspace_id, self.in_session = tools, workspace_id, in_session

    async def answer(self, incoming: Incoming) -> dict[str, Any] | None:
        """The response to a request; None for a notification or a client's response."""
        if not incoming.is_request:
            return None
        rid, method = incoming.message.id, incoming.method
        params = incoming.message.params
        if method == "initialize":
            return result_body(rid, self.initialize_result(negotiate(params)))
        if method == "ping" or method.startswith("notifications/"):
            return result_body(rid, {})
        if method == "tools/list":
            return result_body(rid, {"tools": listed_tools(self.tools.deps.allow_send_message)})
        if method == "tools/call":
            return await self._call(rid, params)
        return error_body(rid, METHOD_NOT_FOUND, f"method not found: {method}")

    @staticmethod
    def initialize_result(version: str) -> dict[str, Any]:
        return {
            "protocolVersion": version,
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": dict(SERVER_INFO),
            "instructions": INSTRUCTIONS,
        }

    async def _call(self, rid: Any, params: dict[str, Any] | None) -> dict[str, Any]:
        try:
            call = ToolCall.model_validate(params or {})
        except ValidationError as exc:
            return error_body(rid, INVALID_PARAMS, f"invalid params: bad {_where(exc, 'params')}")
        if not self.tools.available(call.name):
            if self.in_session:
                return error_body(rid, INVALID_PARAMS, f"unknown tool: {call.name}")
            return error_body(rid, TOOL_FAILED, f"unknown tool: {call.name}")
        try:
            text = await self.tools.call(self.workspace_id, call.name, call.arguments or {})
        except DatastoreUnavailable:
            raise
        except MoleculeError as exc:
            if not self.in_session:
                return error_body(rid, TOOL_FAILED, exc.message)
            return result_body(
                rid, {"content": [{"type": "text", "text": exc.message}], "isError": True}
            )
        return result_body(rid, {"content": [{"type": "text", "text": text}]})
