"""Who may call what (docs/compatibility.md, §3 Authentication).

- WorkspaceAuth: admin token, org token, the workspace's own token, the canvas session
  cookie, or (development only) nothing.
- AdminAuth: admin token, org token, session cookie, or development fail-open. Unlike the
  original there is no fresh-install fail-open (docs/compatibility.md#d5): the platform always
  has an admin token.
- AgentAuth (registry routes, a workspace acting as itself): its own valid bearer, always;
  development mode keeps the original's lazy bootstrap (a bearer only once the workspace has
  a live token). A datastore error fails *closed* (503), where the original failed open
  (docs/compatibility.md#d23).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie

from quart import has_websocket_context, request, websocket
from quart.wrappers import Request, Websocket

from molecule.errors import Unauthorized
from molecule.security.token_material import bearer_from_header, constant_time_equal
from molecule.services import Services

SESSION_COOKIE = "molecule_session"
SESSION_TTL = 30 * 24 * 3600


@dataclass(frozen=True)
class Principal:
    kind: str  # admin | org | session | workspace | dev
    workspace_id: str | None = None
    org_token_id: str | None = None
    org_token_prefix: str | None = None

    @property
    def sees_everything(self) -> bool:
        return self.kind != "workspace"


@dataclass(frozen=True)
class Credentials:
    """What a request presents: its bearer token and its canvas session cookie."""

    bearer: str | None
    session: str | None = None

    @classmethod
    def from_headers(cls, authorization: str | None, cookie: str | None) -> Credentials:
        """For raw ASGI routes, which have only the header values."""
        return cls(bearer_from_header(authorization), _cookie_value(cookie, SESSION_COOKIE))


def _cookie_value(header: str | None, name: str) -> str | None:
    if not header:
        return None
    try:
        jar = SimpleCookie(header)
    except CookieError:
        return None
    morsel = jar.get(name)
    return None if morsel is None else morsel.value


def _connection() -> Request | Websocket:
    """The request being handled, or the WebSocket upgrade request on `/ws`."""
    return websocket if has_websocket_context() else request


def current_bearer() -> str | None:
    return bearer_from_header(_connection().headers.get("Authorization"))


def current_credentials() -> Credentials:
    """The credentials of the Quart request (or WebSocket upgrade) being handled."""
    conn = _connection()
    return Credentials(
        bearer_from_header(conn.headers.get("Authorization")), conn.cookies.get(SESSION_COOKIE)
    )


def _sign(admin_token: str, payload: str) -> str:
    return hmac.new(admin_token.encode(), payload.encode(), hashlib.sha256).hexdigest()


def make_session(admin_token: str, now: float | None = None) -> str:
    expires = int((now or time.time()) + SESSION_TTL)
    payload = f"v1.{expires}"
    return f"{payload}.{_sign(admin_token, payload)}"


def session_valid(admin_token: str, value: str | None, now: float | None = None) -> bool:
    if not value or value.count(".") != 2:
        return False
    version, expires, signature = value.split(".")
    if version != "v1" or not expires.isdigit():
        return False
    if int(expires) < (now or time.time()):
        return False
    return constant_time_equal(signature, _sign(admin_token, f"{version}.{expires}"))


async def _org(svc: Services, bearer: str) -> Principal | None:
    hit = await svc.org_tokens.validate(bearer)  # an outage: the store's 503
    if hit is None:
        return None
    return Principal("org", org_token_id=hit["id"], org_token_prefix=hit["prefix"])


async def privileged(svc: Services, creds: Credentials) -> Principal | None:
    """Admin token, org token or session cookie: the credentials that see everything."""
    bearer = creds.bearer
    if bearer is not None:
        if constant_time_equal(bearer, svc.admin_token):
            return Principal("admin")
        return await _org(svc, bearer)
    if session_valid(svc.admin_token, creds.session):
        return Principal("session")
    return None


async def workspace_auth(
    svc: Services, workspace_id: str, creds: Credentials | None = None
) -> Principal:
    creds = creds or current_credentials()
    who = await privileged(svc, creds)
    if who is not None:
        return who
    bearer = creds.bearer
    if bearer is not None:
        if await svc.tokens.validate_for(bearer, workspace_id):
            return Principal("workspace", workspace_id=workspace_id)
        raise Unauthorized("invalid workspace auth token")
    if svc.settings.dev_fail_open:
        return Principal("dev")
    raise Unauthorized("missing workspace auth token")


async def admin_auth(svc: Services) -> Principal:
    creds = current_credentials()
    who = await privileged(svc, creds)
    if who is not None:
        return who
    if svc.settings.dev_fail_open:
        return Principal("dev")
    if creds.bearer is None:
        raise Unauthorized("admin auth required")
    raise Unauthorized("invalid admin auth token")


async def any_auth(svc: Services) -> Principal:
    """Any valid credential: privileged, or any live workspace token (agents reading rows)."""
    creds = current_credentials()
    who = await privileged(svc, creds)
    if who is not None:
        return who
    bearer = creds.bearer
    if bearer is not None:
        hit = await svc.tokens.validate(bearer)
        if hit is not None:
            return Principal("workspace", workspace_id=hit.owner_id)
        raise Unauthorized("invalid auth token")
    if svc.settings.dev_fail_open:
        return Principal("dev")
    raise Unauthorized("auth required")


async def agent_auth(
    svc: Services,
    workspace_id: str,
    *,
    creds: Credentials | None = None,
    missing: str = "missing workspace auth token",
    invalid: str = "invalid workspace auth token",
) -> None:
    """The workspace proves it is itself (register, heartbeat, update-card, A2A and `/ws` as
    that workspace, discovery).

    Outside development (docs/compatibility.md#d13): its own valid bearer, always. An unknown
    id, a workspace whose tokens were revoked, one created with a `url` or a mock one are
    refused like any wrong token, so nobody can mint a token or act as a workspace without
    holding its token. In development, the original's lazy bootstrap: a bearer only once the
    workspace has a live token. A datastore error fails closed (503), where the original failed
    open.
    """
    if svc.settings.dev_mode and not await svc.tokens.has_live(workspace_id):
        return
    bearer = (creds or current_credentials()).bearer
    if bearer is None:
        raise Unauthorized(missing)
    if not await svc.tokens.validate_for(bearer, workspace_id):
        raise Unauthorized(invalid)
