"""The MCP bridge's bounded state on an injected clock: the per-credential rate limiter (fixed
one-minute windows, a bounded key table) and the sessions (owner binding, per-owner LRU,
the global cap, idle expiry that spares open streams, the SSE outbox)."""

from __future__ import annotations

import pytest

from molecule.errors import ServiceUnavailable
from molecule.http.mcp_sessions import OUTBOX, RateLimiter, Sessions, fingerprint


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_limiter_fixed_windows_per_key() -> None:
    clock = Clock()
    limiter = RateLimiter(limit=3, window=60.0, clock=clock)
    assert [limiter.check("a") for _ in range(3)] == [None, None, None]
    assert limiter.check("a") == 60
    assert limiter.check("b") is None  # its own window
    clock.now += 59.2
    assert limiter.check("a") == 1  # rounded up, never 0
    clock.now += 0.8
    assert limiter.check("a") is None  # a new window
    assert [limiter.check("a") for _ in range(3)] == [None, None, 60]


def test_limiter_key_table_is_bounded() -> None:
    clock = Clock()
    limiter = RateLimiter(limit=1, window=60.0, max_keys=3, clock=clock)
    for key in ("a", "b", "c"):
        assert limiter.check(key) is None
    assert limiter.check("d") is None  # the oldest window ("a") made room
    assert len(limiter._windows) == 3
    assert limiter.check("a") is None  # forgotten: a fresh window ("b" goes)
    assert limiter.check("c") == 60  # still counted
    clock.now += 61
    assert limiter.check("e") is None  # finished windows are dropped first
    assert set(limiter._windows) == {"e"}


def test_fingerprint_never_holds_the_credential() -> None:
    token = "tok-secret-value"
    mark = fingerprint(token, None)
    assert token not in mark and mark.startswith("bearer:")
    assert fingerprint(None, "cookie") != fingerprint("cookie", None)
    assert fingerprint(None, None) == "anonymous"


def test_sessions_belong_to_their_owner_and_workspace() -> None:
    sessions = Sessions(clock=Clock())
    s = sessions.open("alice", "ws-1", "http", "2025-06-18")
    assert len(s.id) == 32 and s.id != sessions.open("alice", "ws-1", "http", "x").id
    assert sessions.find(s.id, "alice", "ws-1", "http") is s
    assert sessions.find(s.id, "bob", "ws-1", "http") is None
    assert sessions.find(s.id, "alice", "ws-2", "http") is None
    assert sessions.find(s.id, "alice", "ws-1", "sse") is None
    assert sessions.find("nope", "alice", "ws-1", "http") is None
    sessions.close(s)
    assert s.closed.is_set() and sessions.find(s.id, "alice", "ws-1", "http") is None
    sessions.close(s)  # twice is fine


def test_per_owner_cap_closes_the_least_recently_used() -> None:
    clock = Clock()
    sessions = Sessions(per_owner=3, clock=clock)
    a, b, c = (sessions.open("alice", "w", "http", "v") for _ in range(3))
    other = sessions.open("bob", "w", "http", "v")
    clock.now += 1
    assert sessions.find(a.id, "alice", "w", "http") is a  # a is now the most recent
    d = sessions.open("alice", "w", "http", "v")
    assert b.closed.is_set() and not a.closed.is_set() and not other.closed.is_set()
    assert {s.id for s in (a, c, d, other)} == set(sessions._sessions)


def test_total_cap_and_idle_expiry() -> None:
    clock = Clock()
    sessions = Sessions(per_owner=10, total=2, idle_ttl=60.0, clock=clock)
    idle = sessions.open("alice", "w", "http", "v")
    streaming = sessions.open("bob", "w", "http", "v")
    streaming.streams = 1
    with pytest.raises(ServiceUnavailable) as refused:
        sessions.open("carol", "w", "http", "v")
    assert refused.value.status == 503 and refused.value.headers["Retry-After"] == "5"
    clock.now += 61
    fresh = sessions.open("carol", "w", "http", "v")  # the idle one made room
    assert idle.closed.is_set() and not streaming.closed.is_set()
    assert sessions.find(fresh.id, "carol", "w", "http") is fresh
    streaming.streams = 0
    clock.now += 61
    assert sessions.find(streaming.id, "bob", "w", "http") is None


def test_sse_outbox_room_counts_answers_on_their_way() -> None:
    sessions = Sessions(clock=Clock())
    plain = sessions.open("alice", "w", "http", "v")
    assert not plain.room()  # a Streamable HTTP session has no outbox
    s = sessions.open("alice", "w", "sse", "v")
    assert s.outbox is not None and s.inbox is not None
    for i in range(OUTBOX - 1):
        s.outbox.send_nowait({"n": i})
    assert s.room()
    s.pending = 1
    assert not s.room()
    sessions.close(s)
    assert s.inbox.receive_nowait() == {"n": 0}  # what was queued is still read, then the end
