"""The MCP bridge over HTTP: any MCP client can act as a workspace (docs/compatibility.md#d52).

Every route: WorkspaceAuth for `:id` (401 before anything else), then 120 requests a minute
per credential (429 with Retry-After), then the workspace must exist (404) and not be removed
(410). The JSON-RPC layer is molecule.operations.mcp_rpc, the tools molecule.operations.
mcp_tools; the rate limiter and the sessions, with their bounds, molecule.http.mcp_sessions.

- `POST /workspaces/:id/mcp`, one JSON-RPC message, three ways in:
  * with no session, the original's wire: the answer comes back at once as JSON. An
    `initialize` also opens a Streamable HTTP session (`Mcp-Session-Id` on the answer) that
    later requests may carry (clients of the current transport do) or leave out;
  * with `Mcp-Session-Id`: the session must be this credential's and this workspace's, else
    404 (the client starts over with `initialize`); the answer is JSON, or one SSE `message`
    event when the client accepts only `text/event-stream`; `MCP-Protocol-Version` must be a
    served version (400);
  * with `?session_id=` (the 2024-11-05 SSE transport): 202 at once, the answer goes to that
    session's stream.
- `GET /workspaces/:id/mcp`: the Streamable HTTP session's own stream; keep-alives only (this
  server sends no requests or notifications of its own); one per session (409).
- `DELETE /workspaces/:id/mcp`: ends the session (204).
- `GET /workspaces/:id/mcp/stream`: the 2024-11-05 SSE transport. Its first event, `endpoint`,
  names the URL to POST to; answers follow as `message` events; the session ends with it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import trio
from pydantic import BaseModel, Field
from quart import Blueprint, Response, current_app, request

from molecule.actors.workspace import workspace_gone
from molecule.errors import (
    BadRequest,
    Conflict,
    MoleculeError,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
)
from molecule.http.api import Auth, endpoint
from molecule.http.auth import current_credentials, workspace_auth
from molecule.http.common import json_response, read_json, require_uuid, services
from molecule.http.mcp_sessions import BRIDGE_KEY, Bridge, Session, fingerprint
from molecule.jsontext import dumps
from molecule.models import WorkspaceStatus
from molecule.operations.mcp_rpc import (
    INVALID_REQUEST,
    PARSE_ERROR,
    PROTOCOL_VERSIONS,
    Dispatcher,
    Incoming,
    Message,
    Refused,
    error_body,
    negotiate,
    parse,
)
from molecule.operations.mcp_tools import McpTools, ToolDeps

bp = Blueprint("mcp", __name__)

SESSION_HEADER = "Mcp-Session-Id"
VERSION_HEADER = "MCP-Protocol-Version"
SESSION_NOT_FOUND = -32001
KEEPALIVE = 15.0
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
NOT_ACCEPTABLE = "Accept must include application/json or text/event-stream"
STREAM_NOT_READ = "MCP session stream is not being read — retry shortly"
TAGS = ("mcp",)
REFUSALS: dict[int, Any] = {
    401: "no or another workspace's credential",
    404: "unknown workspace (or, as a JSON-RPC error, an unknown session)",
    410: "removed workspace",
    429: "more than 120 requests a minute with this credential (Retry-After)",
}


class SessionQuery(BaseModel):
    session_id: str | None = Field(
        default=None,
        max_length=64,
        description="the 2024-11-05 SSE transport's session (from its `endpoint` event)",
    )


@dataclass(frozen=True)
class Caller:
    workspace_id: str
    owner: str  # the credential's fingerprint: who holds sessions and rate-limit windows


def _bridge() -> Bridge:
    bridge: Bridge | None = current_app.config.get(BRIDGE_KEY)
    if bridge is None:
        bridge = current_app.config[BRIDGE_KEY] = Bridge()
    return bridge


async def _admit(workspace_id: str) -> Caller:
    """Who may call (401), how often (429), and about which workspace (404, 410)."""
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    creds = current_credentials()
    owner = fingerprint(creds.bearer, None if creds.bearer is not None else creds.session)
    wait = _bridge().limiter.check(owner)
    if wait is not None:
        raise TooManyRequests(
            "rate limit exceeded", extra={"retry_after": wait}, headers={"Retry-After": str(wait)}
        )
    row = await svc.workspaces.get(wid)
    if row is None:
        raise NotFound("workspace not found")
    if row["status"] == WorkspaceStatus.REMOVED:
        raise workspace_gone(row)
    return Caller(wid, owner)


def _tools() -> McpTools:
    svc = services()
    return McpTools(
        ToolDeps(
            svc.store,
            svc.workspaces,
            svc.directory,
            svc.activity,
            svc.bus,
            svc.tasks,
            svc.settings.mcp_allow_send_message,
        )
    )


def _media_types() -> set[str]:
    accept = request.headers.get("Accept", "")
    return {part.split(";")[0].strip().lower() for part in accept.split(",") if part.strip()}


def _reply_format() -> str:
    """`json` or `sse`, from Accept (none at all, or anything JSON: `json`); else 406."""
    media = _media_types()
    if not media or media & {"application/json", "application/*", "*/*"}:
        return "json"
    if "text/event-stream" in media:
        return "sse"
    raise MoleculeError(NOT_ACCEPTABLE, status=406)


def _rpc_refusal(status: int, code: int, message: str) -> Response:
    return json_response(error_body(None, code, message), status)


def _session_not_found() -> Response:
    return _rpc_refusal(404, SESSION_NOT_FOUND, "session not found")


def _version_refusal() -> Response | None:
    version = request.headers.get(VERSION_HEADER)
    if version is None or version in PROTOCOL_VERSIONS:
        return None
    served = ", ".join(PROTOCOL_VERSIONS)
    return _rpc_refusal(
        400, INVALID_REQUEST, f"unsupported {VERSION_HEADER} {version[:64]!r} (served: {served})"
    )


def _answered(reply: dict[str, Any], fmt: str, headers: dict[str, str]) -> Response:
    if fmt == "json":
        return json_response(reply, 200, headers)
    body = f"event: message\ndata: {dumps(reply)}\n\n"
    return Response(body, 200, {**SSE_HEADERS, **headers}, mimetype="text/event-stream")


def _accepted(headers: dict[str, str] | None = None) -> Response:
    return Response("", 202, headers or {})


@bp.post("/workspaces/<workspace_id>/mcp")
@endpoint(
    Auth.WORKSPACE,
    "MCP: one JSON-RPC message (initialize, ping, tools/list, tools/call, notifications)",
    description="Acts as the workspace. The original's session-less JSON wire, the Streamable "
    "HTTP transport (Mcp-Session-Id, MCP-Protocol-Version, JSON or SSE per Accept) and, with "
    "`session_id`, the 2024-11-05 SSE transport's posts. JSON-RPC failures are JSON-RPC error "
    "objects: -32700 and -32600 with HTTP 400, -32601 and -32602 with 200.",
    body=Message,
    query=SessionQuery,
    responses={
        200: Message,
        202: "a notification taken, or an answer sent to the SSE session's stream",
        400: "not a JSON-RPC message (a JSON-RPC error with id null)",
        406: "Accept allows neither JSON nor an event stream",
        413: "body over 1 MiB",
        **REFUSALS,
    },
    tags=TAGS,
)
async def post_message(workspace_id: str) -> Response:
    caller = await _admit(workspace_id)
    fmt = _reply_format()
    refused = _version_refusal()
    if refused is not None:
        return refused
    try:
        data = await read_json("parse error")
    except BadRequest as exc:
        detail = exc.extra.get("detail")
        message = f"parse error: {detail}" if detail else "parse error: malformed JSON"
        return _rpc_refusal(400, PARSE_ERROR, message)
    incoming = parse(data)
    if isinstance(incoming, Refused):
        return json_response(incoming.body(), 400)
    sessions = _bridge().sessions
    stream_id = request.args.get("session_id")
    if stream_id is not None:
        found = sessions.find(stream_id, caller.owner, caller.workspace_id, "sse")
        if found is None:
            return _session_not_found()
        return await _answer_on_stream(found, caller, incoming)
    session: Session | None = None
    session_id = request.headers.get(SESSION_HEADER)
    if session_id is not None:
        session = sessions.find(session_id, caller.owner, caller.workspace_id, "http")
        if session is None:
            return _session_not_found()
    headers: dict[str, str] = {}
    if session is None and incoming.is_request and incoming.method == "initialize":
        version = negotiate(incoming.message.params)
        session = sessions.open(caller.owner, caller.workspace_id, "http", version)
        headers[SESSION_HEADER] = session.id
    dispatcher = Dispatcher(_tools(), caller.workspace_id, in_session=session is not None)
    reply = await dispatcher.answer(incoming)
    if reply is None:
        return _accepted(headers)
    return _answered(reply, fmt, headers)


async def _answer_on_stream(session: Session, caller: Caller, incoming: Incoming) -> Response:
    """The 2024-11-05 SSE transport: compute the answer now (so a failure is this POST's),
    deliver it on the session's stream, and answer 202."""
    if not incoming.is_request:
        return _accepted()
    if not session.room():
        raise ServiceUnavailable(STREAM_NOT_READ, retry_after=1)
    if incoming.method == "initialize":
        session.protocol_version = negotiate(incoming.message.params)
    session.pending += 1
    try:
        reply = await Dispatcher(_tools(), caller.workspace_id, in_session=True).answer(incoming)
    finally:
        session.pending -= 1
    if reply is not None and session.outbox is not None and not session.closed.is_set():
        session.outbox.send_nowait(reply)  # room was kept for it
    return _accepted()


def _session_from_header(caller: Caller) -> Session:
    session_id = request.headers.get(SESSION_HEADER)
    if session_id is None:
        raise BadRequest(f"{SESSION_HEADER} header is required")
    found = _bridge().sessions.find(session_id, caller.owner, caller.workspace_id, "http")
    if found is None:
        raise NotFound("session not found")
    return found


def _stream(frames: AsyncIterator[bytes]) -> Response:
    response = Response(frames, mimetype="text/event-stream", headers=dict(SSE_HEADERS))
    response.timeout = None
    return response


@bp.get("/workspaces/<workspace_id>/mcp")
@endpoint(
    Auth.WORKSPACE,
    "MCP Streamable HTTP: the session's server stream (keep-alives; one per session)",
    responses={
        200: "text/event-stream",
        400: "no Mcp-Session-Id",
        406: "Accept lacks text/event-stream",
        409: "the session's stream is already open",
        **REFUSALS,
    },
    tags=TAGS,
)
async def session_stream(workspace_id: str) -> Response:
    caller = await _admit(workspace_id)
    if "text/event-stream" not in _media_types():
        raise MoleculeError("Accept must include text/event-stream", status=406)
    session = _session_from_header(caller)
    if session.streams:
        raise Conflict("this session's stream is already open")
    sessions = _bridge().sessions

    async def frames() -> AsyncIterator[bytes]:
        session.streams += 1
        try:
            yield b": ping\n\n"
            while not session.closed.is_set():
                with trio.move_on_after(KEEPALIVE):
                    await session.closed.wait()
                if not session.closed.is_set():
                    yield b": ping\n\n"
        finally:
            session.streams -= 1
            sessions.touch(session)

    return _stream(frames())


@bp.delete("/workspaces/<workspace_id>/mcp")
@endpoint(
    Auth.WORKSPACE,
    "MCP Streamable HTTP: end the session named by Mcp-Session-Id",
    responses={204: "ended", 400: "no Mcp-Session-Id", **REFUSALS},
    tags=TAGS,
)
async def end_session(workspace_id: str) -> Response:
    caller = await _admit(workspace_id)
    _bridge().sessions.close(_session_from_header(caller))
    return Response("", 204)


@bp.get("/workspaces/<workspace_id>/mcp/stream")
@endpoint(
    Auth.WORKSPACE,
    "MCP over the 2024-11-05 SSE transport: a session whose answers arrive here",
    description="The first event (`endpoint`) is the URL to POST the session's messages to "
    "(`/workspaces/:id/mcp?session_id=…`); each answer is a `message` event; `: ping` "
    "comments keep the connection alive. Closing the stream ends the session.",
    responses={200: "text/event-stream", **REFUSALS},
    tags=TAGS,
)
async def legacy_stream(workspace_id: str) -> Response:
    caller = await _admit(workspace_id)
    sessions = _bridge().sessions
    session = sessions.open(caller.owner, caller.workspace_id, "sse", PROTOCOL_VERSIONS[0])
    inbox = session.inbox
    assert inbox is not None
    url = f"/workspaces/{caller.workspace_id}/mcp?session_id={session.id}"

    async def frames() -> AsyncIterator[bytes]:
        session.streams += 1
        try:
            yield f"event: endpoint\ndata: {url}\n\n".encode()
            while True:
                reply: dict[str, Any] | None = None
                with trio.move_on_after(KEEPALIVE):
                    try:
                        reply = await inbox.receive()
                    except trio.EndOfChannel:
                        return
                if reply is None:
                    yield b": ping\n\n"
                else:
                    yield f"event: message\ndata: {dumps(reply)}\n\n".encode()
        finally:
            session.streams -= 1
            sessions.close(session)

    return _stream(frames())
