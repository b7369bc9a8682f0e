"""The runtime's ASGI app: routing, lifespan, and the small routes.

| route | auth | handler |
|---|---|---|
| `GET /.well-known/agent-card.json` | none | the card (`card.py`) |
| `POST /` | none | A2A JSON-RPC (`a2a_server.py`); other methods 405 |
| `GET /internal/file/read` | inbound secret | `internal_files.py` |
| `POST /internal/chat/uploads/ingest` | inbound secret | `uploads.py` |
| `GET /transcript` | `.auth_token` | "not supported" answer (no adapter keeps transcripts yet) |

The lifespan scope is answered explicitly: hypercorn's trio worker crashes on a raw app that
silently returns from it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from molecule.asgi import (
    Receive,
    Request,
    Scope,
    Send,
    answer_lifespan,
    send_error,
    send_json,
    send_text,
)
from molecule.runtime.a2a_server import A2AHandler
from molecule.runtime.card import build_card
from molecule.runtime.internal_files import file_read
from molecule.runtime.state import RuntimeState
from molecule.runtime.uploads import ingest
from molecule.security.token_material import bearer_from_header, constant_time_equal

log = logging.getLogger(__name__)

CARD_PATH = "/.well-known/agent-card.json"
Handler = Callable[[Request, Send], Awaitable[None]]


class RuntimeApp:
    def __init__(self, state: RuntimeState) -> None:
        self.state = state
        self.a2a = A2AHandler(state)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # websockets are not served; hypercorn closes the connection
        request = Request(scope, receive)
        try:
            await self._route(request, send)
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.path)
            try:
                await send_error(send, 500, "internal error")
            except Exception:  # response already started: nothing more we can say
                pass

    async def _route(self, request: Request, send: Send) -> None:
        path, method = request.path, request.method
        routes: dict[str, tuple[str, Handler]] = {
            CARD_PATH: ("GET", self._card),
            "/": ("POST", self.a2a),
            "/internal/file/read": ("GET", self._file_read),
            "/internal/chat/uploads/ingest": ("POST", self._ingest),
            "/transcript": ("GET", self._transcript),
        }
        entry = routes.get(path)
        if entry is None:
            await send_text(send, 404, "Not Found")
            return
        allowed, handler = entry
        if method != allowed:
            await send_text(send, 405, "Method Not Allowed", [("allow", allowed)])
            return
        await handler(request, send)

    async def _card(self, request: Request, send: Send) -> None:
        await send_json(send, 200, build_card(self.state))

    async def _file_read(self, request: Request, send: Send) -> None:
        await file_read(request, send, self.state.credentials, self.state.settings.roots)

    async def _ingest(self, request: Request, send: Send) -> None:
        await ingest(request, send, self.state.credentials, self.state.settings.roots)

    async def _transcript(self, request: Request, send: Send) -> None:
        presented = bearer_from_header(request.header("authorization"))
        token = await self.state.credentials.file_token()
        if not presented or not token or not constant_time_equal(presented, token):
            await send_error(send, 401, "unauthorized")
            return
        for name in ("since", "limit"):
            value = request.query.get(name)
            if value:
                try:
                    int(value)
                except ValueError:
                    await send_error(send, 400, f"{name} must be an integer")
                    return
        adapter = self.state.adapter
        runtime = adapter.name if adapter is not None else self.state.settings.config.adapter
        body = {
            "runtime": runtime,
            "supported": False,
            "lines": [],
            "cursor": 0,
            "more": False,
            "source": None,
        }
        await send_json(send, 200, body)
