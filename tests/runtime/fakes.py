"""Fakes for the runtime tests, served for real on loopback by hypercorn in the test's loop.

* `FakePlatform` answers register / heartbeat / chat uploads / notify / delegate the way the
  platform does and records every call. Its chat-upload route forwards the multipart body to
  the runtime's `/internal/chat/uploads/ingest` with the inbound secret, as the platform does,
  so a tool upload lands on the workspace's disk end to end.
* `FakeLLM` speaks the OpenAI chat-completions wire format with scripted answers.
"""

from __future__ import annotations

import json
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

import httpx
import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from molecule.asgi import answer_lifespan

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
WAIT = 10.0


@asynccontextmanager
async def serve_app(app: Any) -> AsyncIterator[str]:
    """Serve a raw ASGI app on 127.0.0.1:<free port>; yields its base URL."""
    cfg = Config()
    cfg.bind = ["127.0.0.1:0"]
    cfg.accesslog = None
    cfg.graceful_timeout = 1
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(serve, app, cfg, shutdown_trigger=shutdown.wait))
        try:
            yield binds[0]
        finally:
            shutdown.set()


async def _read_body(receive: Receive) -> bytes:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    return bytes(body)


async def _respond(send: Send, status: int, obj: Any, ctype: str = "application/json") -> None:
    body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", ctype.encode()), (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})


@dataclass
class Call:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


class Recorder:
    """Calls in arrival order, with bounded waits for the next ones."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._changed = trio.Event()

    def record(self, call: Call) -> None:
        self.calls.append(call)
        self._changed.set()
        self._changed = trio.Event()

    def on(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.path == path]

    async def wait_for(self, path: str, count: int = 1, timeout: float = WAIT) -> list[Call]:
        with trio.fail_after(timeout):
            while len(self.on(path)) < count:
                await self._changed.wait()
        return self.on(path)


@dataclass
class FakePlatform(Recorder):
    workspace_id: str
    secret: str = field(default_factory=lambda: "sec-" + uuid.uuid4().hex)
    token: str | None = None  # the live token; None = none minted yet (lazy bootstrap)
    register_status: int = 200
    heartbeat_statuses: deque[int] = field(default_factory=deque)
    registered_url: str | None = None
    uploads_forwarded: list[dict[str, Any]] = field(default_factory=list)
    memories: list[dict[str, Any]] = field(default_factory=list)
    http: httpx.AsyncClient | None = None

    def __post_init__(self) -> None:
        Recorder.__init__(self)

    def mint_token(self) -> str:
        self.token = "tok-" + uuid.uuid4().hex
        return self.token

    def _bearer_ok(self, headers: dict[str, str]) -> bool:
        return self.token is None or headers.get("authorization") == f"Bearer {self.token}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        body = await _read_body(receive)
        call = Call(scope["method"], scope["path"], headers, body, trio.current_time())
        self.record(call)
        path, ws = scope["path"], f"/workspaces/{self.workspace_id}"
        if path == "/registry/register":
            await self._register(send, call)
        elif path == "/registry/heartbeat":
            await self._heartbeat(send, call)
        elif path == f"{ws}/chat/uploads":
            await self._upload(send, call)
        elif path == f"{ws}/notify":
            await _respond(send, 200, {"status": "sent"})
        elif path == f"{ws}/memories":
            await self._memories(send, call, scope)
        elif path == f"{ws}/delegate":
            target = call.json()["target_id"]
            did = str(uuid.uuid4())
            await _respond(
                send, 202, {"delegation_id": did, "status": "delegated", "target_id": target}
            )
        else:
            await _respond(send, 404, {"error": "not found"})

    async def _memories(self, send: Send, call: Call, scope: Scope) -> None:
        """POST stores (GLOBAL refused, as for a workspace with a parent); GET lists them,
        filtered by `scope` and a substring `q`."""
        if not self._bearer_ok(call.headers):
            await _respond(send, 401, {"error": "invalid workspace auth token"})
            return
        if call.method == "POST":
            body = call.json()
            if body.get("scope") == "GLOBAL":
                error = {"error": "only root workspaces can write GLOBAL memories"}
                await _respond(send, 403, error)
                return
            memory = {
                "id": str(uuid.uuid4()),
                "workspace_id": self.workspace_id,
                "content": body["content"],
                "scope": body["scope"],
                "namespace": body.get("namespace") or "general",
                "created_at": "2026-12-06T00:00:00Z",
            }
            self.memories.append(memory)
            await _respond(send, 201, {k: memory[k] for k in ("id", "scope", "namespace")})
            return
        query = dict(parse_qsl(scope["query_string"].decode()))
        found = [
            m
            for m in reversed(self.memories)
            if query.get("q", "") in m["content"] and query.get("scope") in (None, m["scope"])
        ]
        await _respond(send, 200, found)

    async def _register(self, send: Send, call: Call) -> None:
        if self.register_status != 200:
            error = "workspace removed" if self.register_status == 410 else "nope"
            await _respond(send, self.register_status, {"error": error})
            return
        if not self._bearer_ok(call.headers):
            await _respond(send, 401, {"error": "invalid workspace auth token"})
            return
        body: dict[str, Any] = {"status": "registered", "delivery_mode": "push"}
        if self.token is None:
            body["auth_token"] = self.mint_token()
        body["platform_inbound_secret"] = self.secret
        self.registered_url = call.json()["url"]
        await _respond(send, 200, body)

    async def _heartbeat(self, send: Send, call: Call) -> None:
        status = self.heartbeat_statuses.popleft() if self.heartbeat_statuses else 200
        if status == 200 and not self._bearer_ok(call.headers):
            status = 401
        bodies = {
            200: {"status": "ok", "platform_inbound_secret": self.secret},
            401: {"error": "invalid workspace auth token"},
            410: {"error": "workspace removed"},
        }
        await _respond(send, status, bodies.get(status, {"error": "boom"}))

    async def _upload(self, send: Send, call: Call) -> None:
        """Forward to the runtime's ingest route, as the platform does."""
        assert self.http is not None and self.registered_url is not None
        resp = await self.http.post(
            self.registered_url + "/internal/chat/uploads/ingest",
            content=call.body,
            headers={
                "content-type": call.headers["content-type"],
                "authorization": f"Bearer {self.secret}",
            },
        )
        self.uploads_forwarded.append({"status": resp.status_code, "body": resp.json()})
        await _respond(send, resp.status_code, resp.content)


Script = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]] | int


@dataclass
class FakeLLM(Recorder):
    """OpenAI chat-completions: each request pops the next scripted answer.

    A dict is the assistant `message`; a callable builds it from the request body; an int is
    an HTTP error status.
    """

    script: deque[Script] = field(default_factory=deque)

    def __post_init__(self) -> None:
        Recorder.__init__(self)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        body = await _read_body(receive)
        call = Call(scope["method"], scope["path"], headers, body, trio.current_time())
        self.record(call)
        if scope["path"] != "/v1/chat/completions" or not self.script:
            await _respond(send, 500, {"error": {"message": "no scripted answer"}})
            return
        step = self.script.popleft()
        if isinstance(step, int):
            await _respond(send, step, {"error": {"message": f"status {step}"}})
            return
        message = step(call.json()) if callable(step) else step
        finish = "tool_calls" if message.get("tool_calls") else "stop"
        await _respond(
            send,
            200,
            {
                "id": "chatcmpl-" + uuid.uuid4().hex[:8],
                "object": "chat.completion",
                "model": call.json().get("model"),
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            },
        )


def tool_call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_" + uuid.uuid4().hex[:8],
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
        ],
    }
