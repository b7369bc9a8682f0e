"""Fake agents for the end-to-end proxy tests (tests/a2a/test_proxy_e2e.py).

Two kinds:

* The **echo agent**: a real a2a-sdk 1.3 JSON-RPC server (v0.3 compatibility on, as the
  original runtime mounts it) whose AgentExecutor answers `echo: <text>` as a Message. A text
  starting with `steps:` instead runs a Task that emits several events spaced
  `STEP_DELAY` seconds apart, so a streaming client can see them arrive one by one. a2a-sdk
  is asyncio-based, so it runs in its own process:

      .venv/bin/python tests/a2a/agents.py echo <port>      # port 0: pick a free one

  It prints `listening <port>` once bound; `start_echo_agent()` does all of that.

* **ScriptedAgent**: a plain ASGI app served in the test's own trio loop by hypercorn. Its
  behaviour (delay, status, body, content type) can be changed while it runs, and it records
  every request it receives, so a test can make an agent slow, then fast again, and check
  what the platform actually sent it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from molecule.asgi import answer_lifespan

STEP_DELAY = 0.4
ECHO_STARTUP_TIMEOUT = 30.0

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


# -- the scripted agent (in-process, trio) ------------------------------------------------


@dataclass
class Received:
    """One request the scripted agent received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class ScriptedAgent:
    """An HTTP agent whose answer is whatever the test currently wants.

    `delay` seconds pass before it answers (`None`: it never answers). The default reply is a
    valid JSON-RPC result carrying `reply_text`. Every request is recorded in `received`.
    """

    delay: float | None = 0.0
    status: int = 200
    body: bytes | None = None  # None: a JSON-RPC result echoing the request id
    content_type: str = "application/json"
    reply_text: str = "scripted reply"
    received: list[Received] = field(default_factory=list)
    answered: int = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        import trio

        if scope["type"] == "lifespan":
            return await answer_lifespan(receive, send)
        if scope["type"] != "http":
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        raw = b"".join(chunks)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self.received.append(Received(scope["method"], scope["path"], headers, raw))
        if self.delay is None:
            await trio.sleep_forever()
        elif self.delay > 0:
            await trio.sleep(self.delay)
        body = self.body if self.body is not None else self._default_body(raw)
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [(b"content-type", self.content_type.encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
        self.answered += 1

    def _default_body(self, raw: bytes) -> bytes:
        try:
            request_id = json.loads(raw).get("id")
        except (ValueError, AttributeError):
            request_id = None
        reply = {
            "jsonrpc": "2.0",
            "id": request_id,
            "result": {
                "kind": "message",
                "role": "agent",
                "messageId": "scripted-reply",
                "parts": [{"kind": "text", "text": self.reply_text}],
            },
        }
        return json.dumps(reply).encode()


# -- the a2a-sdk echo agent (subprocess, asyncio) -----------------------------------------


def build_echo_app(base_url: str) -> Any:
    """The a2a-sdk Starlette app: JSON-RPC on `/` (v0.3 compat on) and the agent card."""
    import asyncio

    from a2a.helpers import new_text_artifact, new_text_message
    from a2a.server.agent_execution import AgentExecutor, RequestContext
    from a2a.server.events import EventQueue
    from a2a.server.request_handlers import DefaultRequestHandler
    from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
    from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
    from a2a.types.a2a_pb2 import (
        AgentCapabilities,
        AgentCard,
        AgentInterface,
        AgentSkill,
        Task,
        TaskState,
        TaskStatus,
    )
    from starlette.applications import Starlette

    class EchoExecutor(AgentExecutor):
        async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
            text = context.get_user_input()
            task_id, context_id = context.task_id or "", context.context_id or ""
            if not text.startswith("steps:"):
                reply = new_text_message(f"echo: {text}", context_id=context_id, task_id=task_id)
                await event_queue.enqueue_event(reply)
                return
            # A task whose events are spaced out in time: a streaming client must see them
            # arrive one by one, not all at once at the end.
            task = Task(
                id=task_id,
                context_id=context_id,
                status=TaskStatus(state=TaskState.TASK_STATE_SUBMITTED),
            )
            if context.message is not None:
                task.history.append(context.message)
            await event_queue.enqueue_event(task)
            updater = TaskUpdater(event_queue, task_id, context_id)
            await updater.start_work()
            await asyncio.sleep(STEP_DELAY)
            artifact = new_text_artifact(name="echo", text=f"echo: {text}")
            await updater.add_artifact(list(artifact.parts), name="echo")
            await asyncio.sleep(STEP_DELAY)
            await updater.complete()

        async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
            # The proxy tests never cancel a task; a2a-sdk requires the method to exist.
            raise NotImplementedError("the echo test agent does not cancel tasks")

    card = AgentCard(
        name="echo",
        description="a2a-sdk echo agent for the proxy tests",
        version="1.0.0",
        supported_interfaces=[
            AgentInterface(url=base_url, protocol_binding="JSONRPC", protocol_version="1.0"),
            AgentInterface(url=base_url, protocol_binding="JSONRPC", protocol_version="0.3"),
        ],
        capabilities=AgentCapabilities(streaming=True),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[AgentSkill(id="echo", name="echo", description="echoes the text", tags=["test"])],
    )
    handler = DefaultRequestHandler(
        agent_executor=EchoExecutor(), task_store=InMemoryTaskStore(), agent_card=card
    )
    routes = create_agent_card_routes(card) + create_jsonrpc_routes(
        handler, rpc_url="/", enable_v0_3_compat=True
    )
    return Starlette(routes=routes)


def serve_echo(port: int) -> None:
    """Run the echo agent on 127.0.0.1:`port` until killed (asyncio + hypercorn)."""
    import asyncio

    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    sock.set_inheritable(True)
    port = sock.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{sock.fileno()}"]
    config.accesslog = None
    config.graceful_timeout = 1
    app = build_echo_app(f"http://localhost:{port}/")
    print(f"listening {port}", flush=True)
    asyncio.run(serve(app, config))


@dataclass
class EchoProcess:
    process: subprocess.Popen[str]
    port: int

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def start_echo_agent() -> EchoProcess:
    """Start the echo agent in a subprocess and wait until its agent card answers."""
    import httpx

    repo = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "echo", "0"],
        cwd=repo,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the child prints it right after binding
        if not line.startswith("listening "):
            raise RuntimeError(f"echo agent failed to start: {line!r}")
        port = int(line.split()[1])
        deadline = time.monotonic() + ECHO_STARTUP_TIMEOUT
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/.well-known/agent-card.json", timeout=2)
                if r.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("echo agent did not answer in time")
            time.sleep(0.05)
    except BaseException:
        process.kill()
        process.wait(timeout=5)
        raise
    return EchoProcess(process, port)


async def serve_dropping_agent(nursery: Any, dropped: list[bytes]) -> int:
    """A TCP server that reads the request head and hangs up without answering.

    Returns its port; every request's first bytes are appended to `dropped`.
    """
    import trio

    async def handler(stream: trio.SocketStream) -> None:
        data = b""
        with trio.move_on_after(5):
            while b"\r\n\r\n" not in data:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    break
                data += chunk
        dropped.append(data)
        await stream.aclose()

    listeners = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
    return int(listeners[0].socket.getsockname()[1])


def free_port() -> int:
    """A loopback port nothing listens on (bound and released at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "echo":
        sys.exit("usage: agents.py echo <port>")
    serve_echo(int(sys.argv[2]))
