"""What every response says to browsers: security headers and the CORS allowlist.

The platform serves its canvas itself (a static single-page app: its scripts and styles are
files under the same origin, it calls the API and opens `/ws` on that origin), so one policy
fits every response, the API's included:

- Content-Security-Policy: scripts, styles, fonts and images from the platform only (images
  also from `data:` and `blob:`, which chat attachments use); no inline script, no plugins;
  connections to the platform itself, its WebSocket included (`ws://host` or, under TLS,
  `wss://host`, named explicitly: older browsers do not count a WebSocket as `'self'`); no
  page may frame it (`frame-ancestors 'none'`, and `X-Frame-Options: DENY` for browsers that
  predate it); forms and `<base>` stay on the platform.
- `X-Content-Type-Options: nosniff`: an agent's file served for download is never run as a
  script or a page because of what it looks like.
- `Referrer-Policy: no-referrer`: the login URL carries the admin token in its query.
- `Permissions-Policy`: no camera, microphone or location (as the original).
- `Strict-Transport-Security` (one year, as the original) only on connections that came over
  TLS: over plain HTTP it would be ignored, and a loopback listener must stay reachable.

A header a route set itself is left as the route set it.

CORS (`CORS_ORIGINS`): an allowed origin gets `Access-Control-Allow-Origin` naming it, with
credentials allowed (the original's methods and headers, plus the ones this platform reads);
a preflight from it is answered here, 204, before the rate limit. Any other origin gets no
CORS headers at all, so the browser keeps the response from the page; its preflight goes on
to the routes like any OPTIONS request. With an allowlist, every response varies by Origin.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

HeaderList = list[tuple[bytes, bytes]]

_STATIC: HeaderList = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
_HSTS = (b"strict-transport-security", b"max-age=31536000")
_CSP_NAME = b"content-security-policy"
_CSP_HEAD = (
    b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    b"font-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; "
    b"frame-ancestors 'none'; connect-src 'self'"
)
_HOST = re.compile(rb"[A-Za-z0-9.\-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?")
_CSP_CACHE_MAX = 256

METHODS = b"GET, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOWED_HEADERS = (  # the MCP headers let a browser-based MCP client use the bridge
    b"Origin, Content-Type, Authorization, X-Workspace-ID, X-Request-ID, A2A-Version, X-Timeout, "
    b"Mcp-Session-Id, MCP-Protocol-Version, Last-Event-ID"
)
EXPOSED_HEADERS = (
    b"X-Request-ID, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, "
    b"Mcp-Session-Id"
)
PREFLIGHT_MAX_AGE = b"600"


class EdgePolicy:
    """The header sets, built once; per request only the CSP's host varies (cached)."""

    def __init__(self, cors_origins: Iterable[str] = ()) -> None:
        self._cors: dict[bytes, HeaderList] = {}
        self._preflight: dict[bytes, HeaderList] = {}
        for origin in cors_origins:
            raw = origin.lower().encode("ascii")
            allow = [
                (b"access-control-allow-origin", raw),
                (b"access-control-allow-credentials", b"true"),
            ]
            self._cors[raw] = [*allow, (b"access-control-expose-headers", EXPOSED_HEADERS)]
            self._preflight[raw] = [
                *allow,
                (b"access-control-allow-methods", METHODS),
                (b"access-control-allow-headers", ALLOWED_HEADERS),
                (b"access-control-max-age", PREFLIGHT_MAX_AGE),
                (b"vary", b"Access-Control-Request-Method, Access-Control-Request-Headers"),
            ]
        self._vary: HeaderList = [(b"vary", b"Origin")] if self._cors else []
        self._csp: dict[tuple[bytes | None, bool], HeaderList] = {}

    def allowed(self, origin: bytes | None) -> bool:
        return origin is not None and origin.lower() in self._cors

    def headers(self, host: bytes | None, tls: bool, origin: bytes | None) -> HeaderList | None:
        """Every header the edge adds to a response (the rate limit's aside); None when the
        Host header cannot name a host (`usable_host`), which the edge answers with a 400."""
        security = self._csp.get((host, tls))
        if security is None:
            security = self._security(host, tls)
            if security is None:
                return None
        cors = self._cors.get(origin.lower()) if origin is not None else None
        if cors is None:
            return [*security, *self._vary] if self._vary else security
        return [*security, *cors, *self._vary]

    def preflight_headers(self, origin: bytes) -> HeaderList:
        """What an allowed origin's preflight answer adds (call only when `allowed`)."""
        return self._preflight[origin.lower()]

    def _security(self, host: bytes | None, tls: bool) -> HeaderList | None:
        csp = _CSP_HEAD
        if host is not None and not usable_host(host):
            return None
        if host is not None and _HOST.fullmatch(host):
            csp += (b" wss://" if tls else b" ws://") + host.lower()
        headers = [*_STATIC, (_CSP_NAME, csp)]
        if tls:
            headers.append(_HSTS)
        if len(self._csp) >= _CSP_CACHE_MAX:
            self._csp.clear()
        self._csp[(host, tls)] = headers
        return headers


def usable_host(host: bytes) -> bool:
    """Can the routes bind to this Host header? Quart matches routes against the host name
    encoded as IDNA, and a name that cannot be encoded (a label over 63 characters, an empty
    one) made it fail with a bare 500; such a request is refused at the edge instead."""
    name = host.decode("latin-1").lower().partition(":")[0]
    try:
        name.encode("idna")
    except UnicodeError:
        return False
    return True


def merge_headers(headers: Iterable[tuple[bytes, bytes]], extra: HeaderList) -> HeaderList:
    """A response's own headers plus the edge's, except those the response already has
    (`vary` may repeat: its values add up)."""
    own = list(headers)
    if not own:
        return list(extra)
    present = {name.lower() for name, _ in own}
    own += [h for h in extra if h[0] not in present or h[0] == b"vary"]
    return own
