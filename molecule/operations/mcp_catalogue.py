"""The MCP bridge's tools as its clients see them: names and input schemas as the original
served them (its `tools/list`), descriptions in our words.

Eight tools; `send_message_to_user` is listed (and callable) only when the operator sets
MOLECULE_MCP_ALLOW_SEND_MESSAGE. `commit_memory` and `recall_memory` take LOCAL or TEAM only:
a GLOBAL memory is readable by every workspace, so writing or reading one stays with the
HTTP routes (docs/compatibility.md#d52).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DELEGATE_TASK = "delegate_task"
DELEGATE_TASK_ASYNC = "delegate_task_async"
CHECK_TASK_STATUS = "check_task_status"
LIST_PEERS = "list_peers"
GET_WORKSPACE_INFO = "get_workspace_info"
SEND_MESSAGE_TO_USER = "send_message_to_user"
COMMIT_MEMORY = "commit_memory"
RECALL_MEMORY = "recall_memory"


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    input_schema: dict[str, Any]

    def wire(self) -> dict[str, Any]:
        """The `tools/list` entry."""
        return {
            "name": self.name,
            "description": self.description,
            "inputSchema": self.input_schema,
        }


def _string(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


_TARGET = _string("The id of the workspace to send the task to (see list_peers)")
_TASK = _string("What the other workspace should do, in plain words")

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        DELEGATE_TASK,
        "Send a task to a peer workspace (a sibling, the parent or a child) and wait up to "
        "30 seconds for its answer. For longer work use delegate_task_async. list_peers "
        "shows who you may ask.",
        _object({"workspace_id": _TARGET, "task": _TASK}, ["workspace_id", "task"]),
    ),
    ToolSpec(
        DELEGATE_TASK_ASYNC,
        "Hand a task to a peer workspace without waiting: answers at once with a task_id; "
        "check_task_status tells how it went.",
        _object({"workspace_id": _TARGET, "task": _TASK}, ["workspace_id", "task"]),
    ),
    ToolSpec(
        CHECK_TASK_STATUS,
        "The state of a task handed over with delegate_task_async (pending, dispatched, "
        "queued, completed or failed), with the answer once there is one.",
        _object(
            {
                "workspace_id": _string("The workspace the task was sent to"),
                "task_id": _string("The task_id that delegate_task_async returned"),
            },
            ["workspace_id", "task_id"],
        ),
    ),
    ToolSpec(
        LIST_PEERS,
        "The workspaces you may talk to (siblings, parent and children): id, name, role, "
        "status and tier of each.",
        _object({}),
    ),
    ToolSpec(
        GET_WORKSPACE_INFO,
        "This workspace itself: id, name, role, tier, status and parent.",
        _object({}),
    ),
    ToolSpec(
        SEND_MESSAGE_TO_USER,
        "Show a message in the user's chat right away (an acknowledgement, progress, a result).",
        _object({"message": _string("The text to show the user")}, ["message"]),
    ),
    ToolSpec(
        COMMIT_MEMORY,
        "Remember something across conversations. LOCAL: for this workspace only; TEAM: "
        "shared with the parent and siblings. GLOBAL memories cannot be written here.",
        _object(
            {
                "content": _string("What to remember"),
                "scope": _string(
                    "LOCAL (the default) or TEAM; GLOBAL is refused on this bridge",
                    enum=["LOCAL", "TEAM"],
                ),
            },
            ["content"],
        ),
    ),
    ToolSpec(
        RECALL_MEMORY,
        "Search what was remembered before; an empty query lists the newest. GLOBAL "
        "memories cannot be read here.",
        _object(
            {
                "query": _string("Words to look for (empty: everything)"),
                "scope": _string(
                    "LOCAL, TEAM, or empty for this workspace's own LOCAL and TEAM memories",
                    enum=["LOCAL", "TEAM", ""],
                ),
            }
        ),
    ),
)

BY_NAME = {tool.name: tool for tool in TOOLS}


def listed_tools(allow_send_message: bool) -> list[dict[str, Any]]:
    """The `tools/list` answer's entries (send_message_to_user only when allowed)."""
    return [
        tool.wire() for tool in TOOLS if allow_send_message or tool.name != SEND_MESSAGE_TO_USER
    ]
