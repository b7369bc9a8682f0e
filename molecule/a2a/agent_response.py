"""An agent's response once its headers arrived: the body, read whole or as it streams.

The body has no read timeout of its own: the dispatcher's idle timer and the request's
ceiling bound it. Reading it to its end hands the connection back to the pool at once
(before the caller even closes the response), so the next request can reuse it; a body
left unread, cut off or broken closes the connection instead. A cut or broken body is
`AgentConnectionLost`, a body past the size limit `ResponseTooLarge`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import trio

from molecule.a2a.connection_pool import READ_SIZE, Connection, ConnectionPool
from molecule.a2a.http11 import END, NEED_DATA
from molecule.errors import AgentConnectionLost, ResponseTooLarge

MAX_RESPONSE_BYTES = 10 * 1024 * 1024


class AgentResponse:
    """A response whose headers arrived; the body is read with `read()` or `iter_raw()`.

    Always call `aclose()`: it closes the connection when the body was not read to its end.
    """

    __slots__ = ("status", "content_type", "headers", "_pool", "_conn", "_done", "__weakref__")

    def __init__(
        self,
        status: int,
        content_type: str,
        headers: list[tuple[bytes, bytes]],
        pool: ConnectionPool,
        conn: Connection,
    ) -> None:
        self.status = status
        self.content_type = content_type
        self.headers = headers
        self._pool = pool
        self._conn: Connection | None = conn
        self._done = False

    async def _next_chunk(self) -> bytes | None:
        """The next piece of body as it arrives, None at its end."""
        conn = self._conn
        if conn is None:
            if self._done:
                return None
            raise AgentConnectionLost("response already closed")
        try:
            while True:
                piece = conn.parser.next_body()
                if piece is END:
                    self._done = True
                    self._conn = None
                    self._pool.release(conn)
                    return None
                if piece is NEED_DATA:
                    conn.parser.feed(bytes(await conn.stream.receive_some(READ_SIZE)))
                    continue
                assert isinstance(piece, bytes)
                if piece:
                    return piece
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            self._fail()
            raise AgentConnectionLost(str(exc) or type(exc).__name__) from exc
        except BaseException:  # the parser's AgentConnectionLost, a cancellation
            self._fail()
            raise

    def _fail(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool.discard(conn)

    async def read(self, limit: int = MAX_RESPONSE_BYTES) -> bytes:
        for name, value in self.headers:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                raise ResponseTooLarge(f"agent response exceeds {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        while (chunk := await self._next_chunk()) is not None:
            size += len(chunk)
            if size > limit:
                raise ResponseTooLarge(f"agent response exceeds {limit} bytes")
            chunks.append(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def iter_raw(self) -> AsyncIterator[bytes]:
        """Body chunks as they arrive (an SSE event is passed on as soon as it is read)."""
        return _BodyIterator(self)

    async def aclose(self) -> None:
        self._fail()

    def __del__(self) -> None:  # a response dropped without aclose(): free its slot
        if self._conn is not None:
            try:
                self._fail()
            except Exception:  # pragma: no cover - interpreter shutdown
                pass


class _BodyIterator:
    """A plain async iterator (not an async generator: nothing to finalize if abandoned)."""

    __slots__ = ("_response",)

    def __init__(self, response: AgentResponse) -> None:
        self._response = response

    def __aiter__(self) -> _BodyIterator:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self._response._next_chunk()
        if chunk is None:
            raise StopAsyncIteration
        return chunk
