"""Raw ASGI routes in front of Quart: for bodies that must stream, and for hot paths.

Quart drains `receive()` eagerly into `request.body` with no backpressure, so a 50 MB upload
to a slow upstream would land in platform memory; and its per-request machinery cost about
as much CPU as the whole A2A forward (bench/a2a_proxy.py). A raw route reads its body through
molecule.asgi (pulled as its consumer asks; hypercorn's bounded app queue then stops reading
the socket) and answers with its senders.

The routes are declared in one table in molecule.http.app, next to the blueprints, and
`install(app, routes)` puts them in front of Quart: a matching request never reaches it;
everything else, lifespan and WebSockets included, goes to Quart unchanged. A path served
only by raw routes answers other methods with 405 and `Allow`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from quart import Quart
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from molecule.asgi import Message, Receive, Request, Scope, Send, send_json
from molecule.errors import ClientGone, MoleculeError
from molecule.http.auth import Credentials
from molecule.http.request_ids import bind_route
from molecule.services import Services

log = logging.getLogger("molecule.http.raw_routes")

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Handler = Callable[["RawRequest", Send], Awaitable[None]]


class RawRequest(Request):
    """A raw request with what a platform route needs: the services, the path's match and
    the caller's credentials."""

    def __init__(self, app: Quart, scope: Scope, receive: Receive, match: re.Match[str]):
        super().__init__(scope, receive)
        self.app = app
        self.match = match

    @property
    def svc(self) -> Services:
        svc: Services = self.app.config["MOLECULE_SERVICES"]
        return svc

    @property
    def credentials(self) -> Credentials:
        return Credentials.from_headers(self.header("authorization"), self.header("cookie"))


@dataclass(frozen=True)
class RawRoute:
    method: str
    pattern: str  # a full-match path regex with named groups
    handler: Handler
    regex: re.Pattern[str] = field(init=False, compare=False)
    operation: str = field(init=False, compare=False)  # "a2a.proxy", as Quart names routes

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", re.compile(self.pattern))
        module = self.handler.__module__.rsplit(".", 1)[-1]
        object.__setattr__(self, "operation", f"{module}.{self.handler.__name__}")


class RawRoutes:
    def __init__(self, app: Quart, inner: ASGIApp, routes: Sequence[RawRoute]) -> None:
        self.app = app
        self.inner = inner
        self.routes = tuple(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            others: list[str] = []  # methods of raw routes on this path
            for route in self.routes:
                match = route.regex.fullmatch(scope["path"])
                if match is None:
                    continue
                if scope["method"] == route.method:
                    bind_route(route.operation, match.groupdict())
                    request = RawRequest(self.app, scope, receive, match)
                    await self._run(route.handler, request, send)
                    return
                others.append(route.method)
            if others and not self._quart_serves(scope["path"]):
                allow = {"Allow": ", ".join(sorted(set(others)))}
                await send_json(send, 405, {"error": "method not allowed"}, allow.items())
                return
        await self.inner(scope, receive, send)

    def _quart_serves(self, path: str) -> bool:
        """Does Quart have a route for this path, with any method? (Else the raw route's
        path would answer 404 to other methods instead of 405.)"""
        try:
            self.app.url_map.bind("localhost").match(path, method="GET")
        except (MethodNotAllowed, RequestRedirect):
            return True
        except NotFound:
            return False
        return True

    @staticmethod
    async def _run(handler: Handler, req: RawRequest, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await handler(req, tracking_send)
        except ClientGone:
            return
        except MoleculeError as exc:
            if not started:
                await send_json(send, exc.status, exc.body(), exc.headers.items())
        except Exception:
            log.exception("unhandled error in %s %s", req.method, req.path)
            if not started:
                await send_json(send, 500, {"error": "internal error"})


def install(app: Quart, routes: Sequence[RawRoute]) -> None:
    """Put `routes` in front of Quart (once)."""
    current: Any = app.asgi_app
    if isinstance(current, RawRoutes):
        raise RuntimeError("raw routes are installed already")
    app.asgi_app = RawRoutes(app, current, routes)  # type: ignore[method-assign, assignment]
