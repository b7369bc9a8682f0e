"""The MCP bridge's transport state: its per-credential rate limiter and its sessions.

Both live in the app (`app.config[BRIDGE_KEY]`, made on first use) and both are bounded:

- `RateLimiter`: 120 requests a minute per credential, in fixed one-minute windows, as the
  original's MCP limiter (a 429 says when the window ends). At most `MAX_KEYS` credentials
  are tracked; past that, finished windows are dropped first, then the oldest.
- `Sessions`: what `initialize` opens on the Streamable HTTP transport (`Mcp-Session-Id`) and
  what `GET /workspaces/:id/mcp/stream` opens on the 2024-11-05 SSE transport. A session
  belongs to one credential and one workspace: asked for with anything else it does not exist
  (404). A credential holds at most `PER_OWNER` sessions (opening one more closes its least
  recently used); the platform at most `TOTAL` (503 beyond, once idle ones are gone). A session
  nobody used for `IDLE_TTL` ends, unless a stream of it is open. An SSE session's outbox
  holds at most `OUTBOX` answers the client has not read yet.

Time comes from an injectable clock (Trio's by default), so tests use virtual time.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from molecule.errors import ServiceUnavailable

Clock = Callable[[], float]

RATE_LIMIT = 120
RATE_WINDOW = 60.0
MAX_KEYS = 10_000
PER_OWNER = 16
TOTAL = 4096
IDLE_TTL = 30 * 60.0
OUTBOX = 64
TOO_MANY = "too many MCP sessions — retry shortly"


def fingerprint(bearer: str | None, cookie: str | None) -> str:
    """Who holds a session or a rate-limit window: a digest of the credential presented (never
    the credential itself); `anonymous` in development's fail-open."""
    if bearer is not None:
        return "bearer:" + hashlib.sha256(bearer.encode()).hexdigest()
    if cookie is not None:
        return "session:" + hashlib.sha256(cookie.encode()).hexdigest()
    return "anonymous"


class RateLimiter:
    def __init__(
        self,
        limit: int = RATE_LIMIT,
        window: float = RATE_WINDOW,
        max_keys: int = MAX_KEYS,
        clock: Clock = trio.current_time,
    ) -> None:
        self.limit, self.window, self.max_keys, self.clock = limit, window, max_keys, clock
        self._windows: OrderedDict[str, list[float]] = OrderedDict()  # key -> [ends, count]

    def check(self, key: str) -> int | None:
        """Count one request of `key`: None when allowed, else the seconds until its window
        ends (at least 1)."""
        now = self.clock()
        found = self._windows.get(key)
        if found is None or found[0] <= now:
            self._make_room(now)
            found = self._windows[key] = [now + self.window, 0.0]
            self._windows.move_to_end(key)
        if found[1] >= self.limit:
            return max(1, math.ceil(found[0] - now))
        found[1] += 1
        return None

    def _make_room(self, now: float) -> None:
        if len(self._windows) < self.max_keys:
            return
        for key in [k for k, (ends, _) in self._windows.items() if ends <= now]:
            del self._windows[key]
        while len(self._windows) >= self.max_keys:
            self._windows.popitem(last=False)


@dataclass(eq=False)
class Session:
    id: str
    workspace_id: str
    owner: str
    kind: str  # "http": Streamable HTTP (Mcp-Session-Id); "sse": the 2024-11-05 SSE transport
    protocol_version: str
    last_used: float
    streams: int = 0  # open streams: an SSE session's own, or a Streamable HTTP GET
    pending: int = 0  # answers being computed for the SSE outbox
    closed: trio.Event = field(default_factory=trio.Event)
    outbox: trio.MemorySendChannel[dict[str, Any]] | None = None
    inbox: trio.MemoryReceiveChannel[dict[str, Any]] | None = None

    def room(self) -> bool:
        """Whether the SSE outbox can take one more answer (counting those on their way)."""
        if self.outbox is None:
            return False
        return self.outbox.statistics().current_buffer_used + self.pending < OUTBOX


class Sessions:
    def __init__(
        self,
        per_owner: int = PER_OWNER,
        total: int = TOTAL,
        idle_ttl: float = IDLE_TTL,
        clock: Clock = trio.current_time,
    ) -> None:
        self.per_owner, self.total, self.idle_ttl, self.clock = per_owner, total, idle_ttl, clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()  # least recently used first

    def __len__(self) -> int:
        return len(self._sessions)

    def open(self, owner: str, workspace_id: str, kind: str, protocol_version: str) -> Session:
        """A new session (its id: 32 random hex digits); may close the owner's oldest one."""
        now = self.clock()
        self._expire(now)
        mine = [s for s in self._sessions.values() if s.owner == owner]
        for old in mine[: max(0, len(mine) - self.per_owner + 1)]:
            self.close(old)
        if len(self._sessions) >= self.total:
            raise ServiceUnavailable(TOO_MANY, retry_after=5)
        session = Session(secrets.token_hex(16), workspace_id, owner, kind, protocol_version, now)
        if kind == "sse":
            session.outbox, session.inbox = trio.open_memory_channel[dict[str, Any]](OUTBOX)
        self._sessions[session.id] = session
        return session

    def find(self, session_id: str, owner: str, workspace_id: str, kind: str) -> Session | None:
        """The live session with this id, if it is this owner's for this workspace."""
        now = self.clock()
        self._expire(now)
        session = self._sessions.get(session_id)
        if session is None or (session.owner, session.workspace_id, session.kind) != (
            owner,
            workspace_id,
            kind,
        ):
            return None
        self.touch(session)
        return session

    def touch(self, session: Session) -> None:
        session.last_used = self.clock()
        if session.id in self._sessions:
            self._sessions.move_to_end(session.id)

    def close(self, session: Session) -> None:
        if self._sessions.pop(session.id, None) is None:
            return
        session.closed.set()
        if session.outbox is not None:
            session.outbox.close()

    def _expire(self, now: float) -> None:
        """Close the sessions unused for `idle_ttl` (without an open stream). The table is in
        order of last use, so the walk stops at the first recent one."""
        expired = []
        for session in self._sessions.values():
            if now - session.last_used <= self.idle_ttl:
                break
            if session.streams == 0:
                expired.append(session)
        for session in expired:
            self.close(session)


@dataclass
class Bridge:
    """The app's MCP transport state."""

    limiter: RateLimiter = field(default_factory=RateLimiter)
    sessions: Sessions = field(default_factory=Sessions)


BRIDGE_KEY = "MCP_BRIDGE"
