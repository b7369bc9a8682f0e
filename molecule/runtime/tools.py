"""The platform tools an LLM adapter exposes: `send_message_to_user`, `delegate_task`,
`commit_memory` and `recall_memory`.

`send_message_to_user(message, attachments?)` pushes text into the canvas chat; attachments
are files the agent can see (absolute virtual paths under the four roots, or paths relative
to `/workspace`): each is uploaded through the platform's `POST /workspaces/:id/chat/uploads`
and the resulting `{uri, name, mimeType, size}` chips ride on `POST /workspaces/:id/notify`.
`delegate_task(target_id, task)` hands work to another workspace through
`POST /workspaces/:id/delegate` (asynchronous: the platform answers 202 with an id).
`commit_memory(content, scope?, namespace?)` and `recall_memory(query?, scope?, namespace?)`
use the platform's memories routes with the workspace's token (`POST` / `GET
/workspaces/:id/memories`): scopes LOCAL (the default), TEAM and GLOBAL (written only by a
root workspace: the platform refuses otherwise), secrets redacted by the platform, full-text
search. The original runtime's `search_memory` is the same call under another name.

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
COMMIT_MEMORY = "commit_memory"
RECALL_MEMORY = "recall_memory"
MAX_ATTACHMENTS = 16
SCOPES = ("LOCAL", "TEAM", "GLOBAL")

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
    {
        "type": "function",
        "function": {
            "name": COMMIT_MEMORY,
            "description": (
                "Remember a fact across conversations. Scope LOCAL (the default) keeps it to "
                "this workspace, TEAM shares it with the parent and siblings, GLOBAL with "
                "everyone (root workspaces only). Never store secrets: they are redacted."
            ),
            "parameters": {
                "type": "object",
                "properties": {
                    "content": {"type": "string", "description": "What to remember."},
                    "scope": {"type": "string", "enum": list(SCOPES)},
                    "namespace": {
                        "type": "string",
                        "description": "A topic to file it under (default: general).",
                    },
                },
                "required": ["content"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": RECALL_MEMORY,
            "description": (
                "Search remembered facts: this workspace's own by default, or one scope "
                "(LOCAL, TEAM, GLOBAL). An empty query lists the newest."
            ),
            "parameters": {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "Words to look for."},
                    "scope": {"type": "string", "enum": list(SCOPES)},
                    "namespace": {"type": "string", "description": "Only this topic."},
                },
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
            if name == COMMIT_MEMORY:
                return await self.commit_memory(args)
            if name == RECALL_MEMORY:
                return await self.recall_memory(args)
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

    async def commit_memory(self, args: dict[str, Any]) -> dict[str, Any]:
        content = args.get("content")
        if not isinstance(content, str) or not content.strip():
            raise ToolError("commit_memory: 'content' is required")
        scope = _scope(args, "commit_memory") or "LOCAL"
        namespace = _optional_text(args, "namespace", "commit_memory")
        return await self.platform.commit_memory(content, scope, namespace)

    async def recall_memory(self, args: dict[str, Any]) -> dict[str, Any]:
        params = {"q": _optional_text(args, "query", "recall_memory") or ""}
        scope = _scope(args, "recall_memory")
        namespace = _optional_text(args, "namespace", "recall_memory")
        if scope:
            params["scope"] = scope
        if namespace:
            params["namespace"] = namespace
        found = await self.platform.recall_memory(params)
        return {"count": len(found), "memories": found}


def _optional_text(args: dict[str, Any], key: str, tool: str) -> str | None:
    value = args.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ToolError(f"{tool}: '{key}' must be a string")
    return value


def _scope(args: dict[str, Any], tool: str) -> str | None:
    scope = _optional_text(args, "scope", tool)
    if scope is None:
        return None
    if scope.upper() not in SCOPES:
        raise ToolError(f"{tool}: 'scope' must be LOCAL, TEAM or GLOBAL")
    return scope.upper()
