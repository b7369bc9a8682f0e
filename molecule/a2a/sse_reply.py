"""The reply a streamed (SSE) answer amounts to, for the activity log.

The proxy passes an SSE answer through event by event (docs/compatibility.md#d6); the
activity row written when it ends should still hold the agent's answer, so that a reader of
the log (the canvas rebuilding a conversation after a reload) sees what was said. A copy of
the body is kept while it streams, bounded, and reduced to one event: the last one carrying a
text part the way a message reply does, else the last one (the rule delegations use).
"""

from __future__ import annotations

from typing import Any

from molecule.a2a.classify import reply_text
from molecule.errors import JSONRejected
from molecule.jsontext import loads

MAX_KEPT_BYTES = 1024 * 1024
"""An answer longer than this is logged without its body (the stream itself is not cut)."""


class StreamCopy:
    """The bytes of a streamed answer seen so far; `reply()` once it ended."""

    __slots__ = ("_chunks", "_size")

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._size = 0

    def keep(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size <= MAX_KEPT_BYTES:
            self._chunks.append(chunk)
        else:
            self._chunks.clear()

    def reply(self) -> dict[str, Any] | None:
        """The JSON object of the event that answers, or None (too long, none, not JSON)."""
        if self._size > MAX_KEPT_BYTES:
            return None
        events = [
            line[len(b"data:") :].strip()
            for line in b"".join(self._chunks).splitlines()
            if line.startswith(b"data:")
        ]
        events = [e for e in events if e]
        chosen = next(
            (e for e in reversed(events) if reply_text(e) != e.decode(errors="replace")),
            events[-1] if events else b"",
        )
        try:  # bounded like any JSON the platform stores (depth, NUL, lone surrogates)
            parsed = loads(chosen)
        except JSONRejected:
            return None
        return parsed if isinstance(parsed, dict) else None
