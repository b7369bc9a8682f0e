"""The bytes of one POST to an agent: its URL taken apart once, its headers checked.

The agent client writes each request with a single `send_all` of the buffer built here.
A URL is split into the connection pool's origin, the request target and the Host header
once (the client caches a `RequestTarget` per URL, so the hot path does not re-parse it).
The caller's headers are checked so that nothing they carry can split the request (a name
that is not a token; CR, LF or NUL in a value), and the framing headers are always ours.

No `Accept-Encoding` is sent: the proxy passes the body through byte for byte, so it must
not come back compressed.

A URL or a header that cannot be put on the wire raises `AgentUnreachable`: the request
never leaves the platform, and the proxy answers it like any agent it cannot reach (502
"failed to reach workspace agent"), as it always has.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

from molecule.errors import AgentUnreachable

USER_AGENT = b"molecule-platform"

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(rb"[\x00\r\n]")
_FRAMING = frozenset({"host", "content-length", "transfer-encoding", "connection"})

Origin = tuple[str, str, int]  # scheme, host (IDNA-encoded), port


class RequestTarget:
    """What one agent URL means on the wire: where to connect and what to ask for."""

    __slots__ = ("origin", "target", "host_header")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise AgentUnreachable(f"unsupported URL scheme {scheme!r}")
        host = parts.hostname
        if not host:
            raise AgentUnreachable(f"URL has no host: {url!r}")
        default = 443 if scheme == "https" else 80
        try:
            port = parts.port or default
        except ValueError as exc:
            raise AgentUnreachable(f"invalid port in URL: {exc}") from None
        if not host.isascii():
            try:
                host = host.encode("idna").decode("ascii")
            except UnicodeError as exc:
                raise AgentUnreachable(f"invalid host in URL: {exc}") from None
        shown = f"[{host}]" if ":" in host else host  # an IPv6 literal keeps its brackets
        self.origin: Origin = (scheme, host, port)
        self.host_header = (shown if port == default else f"{shown}:{port}").encode("ascii")
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        self.target = (
            target.encode("ascii")
            if target.isascii()
            else quote(target, safe="/?&=%:@!$'()*+,;~-._").encode("ascii")
        )


def encode_post(target: RequestTarget, body: bytes, headers: dict[str, str]) -> bytes:
    """The whole request: request line, headers (the caller's, checked) and body."""
    lines = [
        b"POST ",
        target.target,
        b" HTTP/1.1\r\nHost: ",
        target.host_header,
        b"\r\nUser-Agent: ",
        USER_AGENT,
        b"\r\nAccept: */*\r\n",
    ]
    extra = {k.lower(): (k, v) for k, v in headers.items()}
    extra.setdefault("content-type", ("Content-Type", "application/json"))
    for lowered, (name, value) in extra.items():
        if lowered in _FRAMING:
            continue  # framing is ours to decide
        try:
            raw_name, raw_value = name.encode("latin-1"), str(value).strip().encode("latin-1")
        except UnicodeEncodeError:
            raise AgentUnreachable(f"invalid request header {name!r}") from None
        if not _TOKEN.fullmatch(raw_name) or _BAD_VALUE.search(raw_value):
            raise AgentUnreachable(f"invalid request header {name!r}")
        lines += (raw_name, b": ", raw_value, b"\r\n")
    lines += (b"Content-Length: ", str(len(body)).encode(), b"\r\n\r\n", body)
    return b"".join(lines)
