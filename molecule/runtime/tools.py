"""The platform tools an LLM adapter exposes: `send_message_to_user` and `delegate_task`.

`send_message_to_user(message, attachments?)` pushes text into the canvas chat; attachments
are files the agent can see (absolute virtual paths under the four roots, or paths relative
to `/workspace`): each is uploaded through the platform's `POST /workspaces/:id/chat/uploads`
and the resulting `{uri, name, mimeType, size}` chips ride on `POST /workspaces/:id/notify`.
`delegate_task(target_id, task)` hands work to another workspace through
`POST /workspaces/:id/delegate` (asynchronous: the platform answers 202 with an id).

Tool failures are returned to the model as `{"error": ...}` rather than raised, so it can
tell the user or try something else; only the model's own transport errors end a request.
"""

from __future__ import annotations

import json
import os
import posixpath
import stat
from pathlib import Path
from typing import Any

import trio

from molecule.errors import PathRefused, PlatformError, ToolError
from molecule.runtime.platform_client import PlatformClient
from molecule.workspace_paths import VirtualRoots, validate_virtual

SEND_MESSAGE = "send_message_to_user"
DELEGATE = "delegate_task"
MAX_ATTACHMENTS = 16

TOOL_SCHEMAS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": SEND_MESSAGE,
            "description": (
                "Send a message to the user's chat right now (progress, results, questions), "
                "optionally with files attached. Attachments are paths of files you can read: "
                "absolute under /workspace, /configs, /home or /plugins, or relative to "
                "/workspace."
            ),
            "parameters": {
                "type": "object",
                "properties": {
                    "message": {"type": "string", "description": "The text to show."},
                    "attachments": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "File paths to attach.",
                    },
                },
                "required": ["message"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": DELEGATE,
            "description": (
                "Delegate a task to another workspace (a peer, parent or child) by its id. "
                "Returns at once with a delegation id; the result arrives later."
            ),
            "parameters": {
                "type": "object",
                "properties": {
                    "target_id": {"type": "string", "description": "Target workspace id."},
                    "task": {"type": "string", "description": "What the target should do."},
                },
                "required": ["target_id", "task"],
            },
        },
    },
]


def resolve_attachment(roots: VirtualRoots, path: str) -> tuple[Path, str]:
    """Validate an attachment path like `/internal/file/read` does; return (host, name)."""
    virtual = path if path.startswith("/") else posixpath.join("/workspace", path)
    try:
        validate_virtual(virtual)
    except PathRefused as exc:
        raise ToolError(f"{path}: {exc}") from exc
    host = roots.to_host(virtual)
    try:
        st = os.lstat(host)
    except FileNotFoundError as exc:
        raise ToolError(f"{path}: file not found") from exc
    except OSError as exc:
        raise ToolError(f"{path}: stat failed") from exc
    if not stat.S_ISREG(st.st_mode):
        raise ToolError(f"{path}: path is not a regular file")
    return host, posixpath.basename(virtual)


class PlatformTools:
    def __init__(self, platform: PlatformClient, roots: VirtualRoots) -> None:
        self.platform = platform
        self.roots = roots

    async def call(self, name: str, arguments: str | dict[str, Any] | None) -> dict[str, Any]:
        try:
            args = json.loads(arguments) if isinstance(arguments, str) else (arguments or {})
        except ValueError:
            return {"error": f"{name}: arguments are not valid JSON"}
        if not isinstance(args, dict):
            return {"error": f"{name}: arguments must be a JSON object"}
        try:
            if name == SEND_MESSAGE:
                return await self.send_message_to_user(args)
            if name == DELEGATE:
                return await self.delegate_task(args)
        except (ToolError, PlatformError) as exc:
            return {"error": str(exc)}
        return {"error": f"unknown tool {name!r}"}

    async def send_message_to_user(self, args: dict[str, Any]) -> dict[str, Any]:
        message = args.get("message")
        if not isinstance(message, str) or not message.strip():
            raise ToolError("send_message_to_user: 'message' is required")
        paths = args.get("attachments") or []
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise ToolError("send_message_to_user: 'attachments' must be a list of paths")
        if len(paths) > MAX_ATTACHMENTS:
            raise ToolError(f"send_message_to_user: at most {MAX_ATTACHMENTS} attachments")
        files = [await trio.to_thread.run_sync(resolve_attachment, self.roots, p) for p in paths]
        uploaded = await self.platform.upload(files) if files else []
        await self.platform.notify(message, uploaded)
        return {"status": "sent", "attachments": uploaded}

    async def delegate_task(self, args: dict[str, Any]) -> dict[str, Any]:
        target, task = args.get("target_id"), args.get("task")
        if not isinstance(target, str) or not target.strip():
            raise ToolError("delegate_task: 'target_id' is required")
        if not isinstance(task, str) or not task.strip():
            raise ToolError("delegate_task: 'task' is required")
        return await self.platform.delegate(target.strip(), task)
