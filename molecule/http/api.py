"""What each route declares about itself: who may call it, what it takes, what it answers.

Every route function carries an `Endpoint` (the `endpoint(...)` decorator), and the API
description (`GET /openapi.json`, molecule.http.openapi) is generated from those declarations
and the pydantic models they name, walking the app's own routing table: a route without a
declaration fails a test, so the description cannot fall behind the code.

The models here describe the wire; routes still validate with the contract's exact messages
(a pydantic failure would answer with its own words), so a model may be looser than the
route's own checks, never stricter.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

F = TypeVar("F", bound=Callable[..., Any])


class Auth(enum.Enum):
    """The authentication rule of a route (docs/compatibility.md §3)."""

    OPEN = "open: no credential"
    ADMIN = "admin: the admin token, an org token or the canvas session cookie"
    WORKSPACE = (
        "workspace: that workspace's own token, or the admin token, an org token or the "
        "canvas session cookie"
    )
    AGENT = (
        "agent: that workspace's own token (development mode: the original's lazy "
        "bootstrap, a token only once it has one)"
    )
    ANY = "any credential: a workspace token, the admin token, an org token or the session"
    OWN = "the route checks the caller itself; see the description"

    @property
    def security(self) -> list[dict[str, list[str]]]:
        """The OpenAPI security requirement (any one of them)."""
        if self is Auth.OPEN:
            return []
        schemes = {
            Auth.ADMIN: ("adminToken", "orgToken", "session"),
            Auth.WORKSPACE: ("workspaceToken", "adminToken", "orgToken", "session"),
            Auth.AGENT: ("workspaceToken",),
            Auth.ANY: ("workspaceToken", "adminToken", "orgToken", "session"),
            Auth.OWN: ("workspaceToken", "adminToken", "orgToken", "session"),
        }[self]
        return [{name: []} for name in schemes]


Schema = type[BaseModel] | Mapping[str, Any] | None


@dataclass(frozen=True)
class Endpoint:
    auth: Auth
    summary: str
    description: str = ""
    body: Schema = None  # a JSON body; a mapping is a raw JSON schema (e.g. multipart)
    body_type: str = "application/json"
    query: type[BaseModel] | None = None  # query parameters, one per model field
    responses: Mapping[int, Schema | str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()


def endpoint(
    auth: Auth,
    summary: str,
    *,
    description: str = "",
    body: Schema = None,
    body_type: str = "application/json",
    query: type[BaseModel] | None = None,
    responses: Mapping[int, Schema | str] | None = None,
    tags: tuple[str, ...] = (),
) -> Callable[[F], F]:
    """Attach the route's declaration (put it below the route decorator)."""
    declared = Endpoint(
        auth, summary, description, body, body_type, query, dict(responses or {}), tags
    )

    def attach(fn: F) -> F:
        fn.__endpoint__ = declared  # type: ignore[attr-defined]
        return fn

    return attach


def declaration(fn: Callable[..., Any]) -> Endpoint | None:
    found: Endpoint | None = getattr(fn, "__endpoint__", None)
    return found


# -- shapes many routes share ---------------------------------------------------------------


class ErrorBody(BaseModel):
    """Every refusal: `{"error": message, ...}` with extra keys some routes add."""

    error: str


class StatusBody(BaseModel):
    """`{"status": "..."}` acknowledgements."""

    status: str


class AnyObject(BaseModel):
    """A JSON object the route passes through or builds freely."""

    model_config = {"extra": "allow"}
