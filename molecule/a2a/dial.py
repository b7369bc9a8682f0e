"""Opening one connection to an agent: TCP, then TLS for https, within the dial timeout.

A pinned address (the one the SSRF guard vetted) is dialled instead of resolving the host,
so a DNS answer that changed since the check is never followed; the TLS server name stays
the URL's hostname, so the certificate is checked against the name the workspace registered.

Every failure here means nothing usable answers at that address (refused, unresolvable,
TLS failure, or no answer within the timeout): `AgentUnreachable`, never busy.
"""

from __future__ import annotations

import ssl

import trio

from molecule.errors import AgentUnreachable

CONNECT_TIMEOUT = 10.0


class Dialer:
    __slots__ = ("timeout", "_tls")

    def __init__(self, timeout: float = CONNECT_TIMEOUT, tls: ssl.SSLContext | None = None) -> None:
        self.timeout = timeout
        self._tls = tls  # built on the first https dial when not given

    async def open(self, scheme: str, host: str, port: int, pinned: str) -> trio.abc.Stream:
        """A connected (and for https, handshaken) stream; `pinned`: "" to resolve `host`."""
        with trio.move_on_after(self.timeout):
            try:
                # A numeric address is never handed to the resolver (trio short-cuts it).
                tcp = await trio.open_tcp_stream(pinned or host, port)
                if scheme != "https":
                    return tcp
                try:  # what open_ssl_over_tcp_stream does, with the URL's name for TLS
                    tls = trio.SSLStream(
                        tcp, self._context(), server_hostname=host, https_compatible=True
                    )
                    await tls.do_handshake()
                except BaseException:
                    tcp.socket.close()
                    raise
                return tls
            except (OSError, trio.BrokenResourceError) as exc:  # ssl.SSLError is an OSError
                raise AgentUnreachable(str(exc) or type(exc).__name__) from exc
        raise AgentUnreachable(f"connect to {host}:{port} timed out")

    def _context(self) -> ssl.SSLContext:
        if self._tls is None:
            try:
                import certifi

                context = ssl.create_default_context(cafile=certifi.where())
            except ImportError:  # pragma: no cover - certifi comes with httpx
                context = ssl.create_default_context()
            context.set_alpn_protocols(["http/1.1"])
            self._tls = context
        return self._tls
