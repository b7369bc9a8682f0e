"""Outbound HTTP to agents: one shared client, bounded in every dimension.

Timeouts follow the original: dial 10 s, response headers `A2A_PROXY_RESPONSE_HEADER_TIMEOUT`
(default 180 s); the body has no fixed read timeout because the dispatcher's idle timer (any
event for the target resets it) and the 30-minute agent ceiling bound it instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import trio

CONNECT_TIMEOUT = 10.0
DEFAULT_HEADER_TIMEOUT = 180.0
MAX_RESPONSE_BYTES = 10 * 1024 * 1024


class ResponseHeaderTimeout(Exception):
    """The agent accepted the request but sent no response headers in time (busy)."""


class ResponseTooLarge(Exception):
    pass


@dataclass
class AgentResponse:
    status: int
    content_type: str
    _response: httpx.Response

    async def read(self, limit: int = MAX_RESPONSE_BYTES) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in self._response.aiter_raw():
            size += len(chunk)
            if size > limit:
                raise ResponseTooLarge(f"agent response exceeds {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def iter_raw(self) -> AsyncIterator[bytes]:
        return self._response.aiter_raw()

    async def aclose(self) -> None:
        await self._response.aclose()


class AgentClient:
    def __init__(self, header_timeout: float = DEFAULT_HEADER_TIMEOUT) -> None:
        self.header_timeout = header_timeout
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(connect=CONNECT_TIMEOUT, read=None, write=30.0, pool=30.0),
            limits=httpx.Limits(max_connections=512, max_keepalive_connections=128),
            follow_redirects=False,
        )

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> AgentResponse:
        """Send the request and return once the response headers arrived (body unread)."""
        request = self._client.build_request(
            "POST", url, content=body, headers={"Content-Type": "application/json", **headers}
        )
        with trio.move_on_after(self.header_timeout) as scope:
            response = await self._client.send(request, stream=True)
        if scope.cancelled_caught:
            raise ResponseHeaderTimeout(f"no response headers within {self.header_timeout:g}s")
        content_type = response.headers.get("content-type", "")
        return AgentResponse(response.status_code, content_type, response)

    async def aclose(self) -> None:
        await self._client.aclose()
