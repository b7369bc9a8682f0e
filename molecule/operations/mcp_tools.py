"""What the MCP bridge's tools do, each through the operation its HTTP route uses.

The caller is always the workspace in the path (`/workspaces/:id/mcp`), whoever holds the
credential (its own token, or an admin/org/session acting for it), as in the original.

- delegate_task: `a2a_send.send_a2a`, as `POST /workspaces/:id/a2a` (CanCommunicate, the
  target's actor, activity rows, the durable queue when the target is busy), for 30 s;
- delegate_task_async: `Delegations.begin` and `execute` as a platform task, as
  `POST /workspaces/:id/delegate`; check_task_status reads that delegation's rows;
- list_peers, get_workspace_info: `Workspaces.peers` / `get`, as `GET /registry/:id/peers`;
- send_message_to_user: `user_messages.send_to_user`, as `POST /workspaces/:id/notify`
  (talk_to_user, stored first, AGENT_MESSAGE);
- commit_memory, recall_memory: `Memories`, as `/workspaces/:id/memories` (scopes, redaction,
  full-text search), LOCAL and TEAM only.

A refusal is a `MoleculeError` whose message goes back to the client as the tool's error; a
database outage (`DatastoreUnavailable`) is not a tool error and reaches the transport,
which answers 503. Answers are text, as the original's: JSON (indented for listings) or a
short sentence.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from molecule.a2a.classify import reply_text, upstream_error_message
from molecule.a2a.normalize import normalize_a2a_payload
from molecule.actors.directory import Directory
from molecule.actors.supervision import Tasks
from molecule.errors import BadRequest, Forbidden, MoleculeError
from molecule.events import EventBus
from molecule.events.activity_log import ActivityLog
from molecule.jsontext import dumpb, dumps
from molecule.models import is_uuid
from molecule.operations import mcp_catalogue as names
from molecule.operations.a2a_send import ACCESS_DENIED, send_a2a
from molecule.operations.access import can_communicate
from molecule.operations.delegation import Delegations
from molecule.operations.delegation_wire import buffered_reply
from molecule.operations.memories import Memories
from molecule.operations.user_messages import send_to_user
from molecule.security.redact import truncate_bytes
from molecule.store.delegations import DelegationRows
from molecule.store.pool import Store
from molecule.store.workspaces import Workspaces

DELEGATE_TIMEOUT = 30.0
"""How long `delegate_task` waits for the answer (the original's 30 s); past it the proxy
queues the message as for any busy agent, and the tool says so."""
MAX_TASK_BYTES = 256 * 1024
MAX_MESSAGE_BYTES = 32 * 1024
MAX_ANSWER_BYTES = 1024 * 1024
"""The most of an agent's answer `delegate_task` passes on (the rest is cut)."""
SELF_DELEGATION = "self-delegation not permitted"
GLOBAL_REFUSED_WRITE = "GLOBAL scope is not permitted via the MCP bridge — use LOCAL or TEAM"
GLOBAL_REFUSED_READ = "GLOBAL scope is not permitted via the MCP bridge — use LOCAL, TEAM, or empty"
SEND_DISABLED = (
    "send_message_to_user is not enabled on this MCP bridge "
    "(set MOLECULE_MCP_ALLOW_SEND_MESSAGE=true)"
)


@dataclass(frozen=True)
class ToolDeps:
    store: Store
    workspaces: Workspaces
    directory: Directory
    activity: ActivityLog
    bus: EventBus
    tasks: Tasks
    allow_send_message: bool = False


_EMPTY: dict[str, Any] = {"role": "", "tier": 0}  # the original's COALESCE for a null column


def _indented(value: Any) -> str:
    """A listing as the original answered one: indented JSON (times RFC 3339, as on the wire)."""
    return json.dumps(json.loads(dumps(value)), indent=2, ensure_ascii=False)


def _text(args: dict[str, Any], key: str, *, required: bool = True, limit: int = 0) -> str:
    value = args.get(key)
    if value is None or value == "":
        if required:
            raise BadRequest(f"{key} is required")
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"{key} must be a string")
    if limit and len(value.encode("utf-8")) > limit:
        raise BadRequest(f"{key} must be at most {limit} bytes")
    return value


def _workspace_arg(args: dict[str, Any]) -> str:
    target = _text(args, "workspace_id")
    if not is_uuid(target):
        raise BadRequest("workspace_id must be a workspace UUID")
    return target.lower()


def _answer_text(body: bytes) -> str:
    """The agent's answer: its text, or `[error] <message>` for a JSON-RPC error reply."""
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        message = parsed["error"].get("message")
        if isinstance(message, str):
            return "[error] " + message
    return reply_text(body)


class McpTools:
    def __init__(self, deps: ToolDeps) -> None:
        self.deps = deps

    def available(self, name: str) -> bool:
        """Whether `name` is a tool this bridge serves (as listed by `tools/list`)."""
        if name == names.SEND_MESSAGE_TO_USER:
            return self.deps.allow_send_message
        return name in names.BY_NAME

    def _delegations(self) -> Delegations:
        d = self.deps
        return Delegations(DelegationRows(d.store), d.activity, d.bus, d.directory, d.workspaces)

    def _memories(self) -> Memories:
        return Memories(self.deps.store, self.deps.workspaces, self.deps.activity)

    async def call(self, workspace_id: str, name: str, args: dict[str, Any]) -> str:
        """Run one tool as `workspace_id`; its answer text, or a MoleculeError."""
        handlers = {
            names.DELEGATE_TASK: self.delegate_task,
            names.DELEGATE_TASK_ASYNC: self.delegate_task_async,
            names.CHECK_TASK_STATUS: self.check_task_status,
            names.LIST_PEERS: self.list_peers,
            names.GET_WORKSPACE_INFO: self.get_workspace_info,
            names.SEND_MESSAGE_TO_USER: self.send_message_to_user,
            names.COMMIT_MEMORY: self.commit_memory,
            names.RECALL_MEMORY: self.recall_memory,
        }
        handler = handlers.get(name)
        if handler is None:
            raise BadRequest(f"unknown tool: {name}")
        return await handler(workspace_id, args)

    # -- the org chart -------------------------------------------------------------------

    async def list_peers(self, workspace_id: str, args: dict[str, Any]) -> str:
        row = await self.deps.workspaces.live(workspace_id)
        peers = await self.deps.workspaces.peers(workspace_id, row.get("parent_id"))
        if not peers:
            return "No peers found."
        fields = ("id", "name", "role", "status", "tier")
        return _indented([{k: p.get(k) or _EMPTY.get(k) for k in fields} for p in peers])

    async def get_workspace_info(self, workspace_id: str, args: dict[str, Any]) -> str:
        row = await self.deps.workspaces.live(workspace_id)
        info = {k: row.get(k) or _EMPTY.get(k) for k in ("id", "name", "role", "tier", "status")}
        if row.get("parent_id"):
            info["parent_id"] = row["parent_id"]
        return _indented(info)

    # -- delegation ----------------------------------------------------------------------

    async def _target(self, workspace_id: str, args: dict[str, Any]) -> tuple[str, str]:
        target = _workspace_arg(args)
        task = _text(args, "task", limit=MAX_TASK_BYTES)
        if target == workspace_id:
            raise BadRequest(SELF_DELEGATION)
        await self.deps.workspaces.live(workspace_id)
        return target, task

    async def delegate_task(self, workspace_id: str, args: dict[str, Any]) -> str:
        """Through the A2A pipeline as `workspace_id`: access, the target's actor, activity
        rows, and the durable queue when the target is busy or slower than 30 s."""
        target, task = await self._target(workspace_id, args)
        body = {
            "method": "message/send",
            "params": {
                "message": {
                    "role": "user",
                    "messageId": str(uuid.uuid4()),
                    "parts": [{"kind": "text", "type": "text", "text": task}],
                }
            },
        }
        envelope, _ = normalize_a2a_payload(dumpb(body))
        d = self.deps
        result = await send_a2a(
            d.directory,
            d.workspaces,
            target,
            envelope,
            "message/send",
            workspace_id,
            timeout=DELEGATE_TIMEOUT,
        )
        reply = await buffered_reply(result)
        if result.status == 202:  # queued: the proxy's own words say what happens next
            return reply.decode(errors="replace")
        if not 200 <= result.status < 300:
            raise MoleculeError(upstream_error_message(result.status, reply), status=502)
        if not reply.strip():
            raise MoleculeError("workspace agent returned empty response", status=502)
        return truncate_bytes(_answer_text(reply), MAX_ANSWER_BYTES)

    async def delegate_task_async(self, workspace_id: str, args: dict[str, Any]) -> str:
        """As `POST /workspaces/:id/delegate`, with the access check up front (the original
        bridge refused a non-peer at once instead of recording a failed delegation)."""
        target, task = await self._target(workspace_id, args)
        if not await can_communicate(self.deps.workspaces, workspace_id, target):
            raise Forbidden(ACCESS_DENIED)
        delegations = self._delegations()
        started = await delegations.begin(workspace_id, target, task, None)
        self.deps.tasks.start(
            f"delegation {started.delegation_id}",
            lambda: delegations.execute(workspace_id, target, started.delegation_id, task),
        )
        started_id = started.delegation_id
        return dumps({"task_id": started_id, "status": "dispatched", "target_id": target})

    async def check_task_status(self, workspace_id: str, args: dict[str, Any]) -> str:
        target = _workspace_arg(args)
        task_id = _text(args, "task_id", limit=256)
        await self.deps.workspaces.live(workspace_id)
        found = None
        if is_uuid(task_id):
            found = await DelegationRows(self.deps.store).outcome(workspace_id, target, task_id)
        if found is None:
            return dumps(
                {
                    "task_id": task_id,
                    "status": "not_found",
                    "note": "task not tracked or not yet dispatched",
                }
            )
        status: dict[str, Any] = {"task_id": task_id, "status": found["status"]}
        status["target_id"] = target
        if found.get("error_detail"):
            status["error"] = found["error_detail"]
        if found.get("result") is not None:
            status["result"] = found["result"]
        return _indented(status)

    # -- the user ------------------------------------------------------------------------

    async def send_message_to_user(self, workspace_id: str, args: dict[str, Any]) -> str:
        message = _text(args, "message", limit=MAX_MESSAGE_BYTES)
        if not self.deps.allow_send_message:
            raise Forbidden(SEND_DISABLED)
        d = self.deps
        await send_to_user(d.workspaces, d.activity, d.bus, workspace_id, message)
        return "Message sent."

    # -- memories ------------------------------------------------------------------------

    async def commit_memory(self, workspace_id: str, args: dict[str, Any]) -> str:
        content = _text(args, "content")
        scope = _text(args, "scope", required=False) or "LOCAL"
        if scope == "GLOBAL":
            raise Forbidden(GLOBAL_REFUSED_WRITE)
        if scope not in ("LOCAL", "TEAM"):
            raise BadRequest("scope must be LOCAL or TEAM")
        committed = await self._memories().commit(workspace_id, content, scope)
        return dumps({"id": committed.id, "scope": committed.scope})

    async def recall_memory(self, workspace_id: str, args: dict[str, Any]) -> str:
        query = _text(args, "query", required=False)
        scope = _text(args, "scope", required=False)
        if scope == "GLOBAL":
            raise Forbidden(GLOBAL_REFUSED_READ)
        if scope not in ("LOCAL", "TEAM", ""):
            raise BadRequest("scope must be LOCAL, TEAM, or empty")
        found = await self._memories().recall(workspace_id, scope=scope or None, query=query)
        fields = ("id", "content", "scope", "created_at")
        rows = [{k: m.get(k) for k in fields} for m in found if m["scope"] != "GLOBAL"]
        if not rows:
            return "No memories found."
        return _indented(rows)
