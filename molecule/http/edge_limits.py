"""Per-client rate limits: the original's `RATE_LIMIT`, requests per minute per client.

As in the original (upstream-may, "Rate limiter"), a fixed window per client, where the
client is the credential the request carries, else its address: the platform's own agents
all come from 127.0.0.1, and keyed by address alone they would share one allowance. Here a
credential is the bearer token or, for the canvas, the session cookie; the original's first
key, the `X-Molecule-Org-Id` header, is not used (nothing here checks that header, so any
caller could name a fresh org per request and never be limited: docs/compatibility.md#d50).

A credential is only a claim until the platform has accepted it once, and a client that
made up a new bearer per request would otherwise get a fresh allowance each time. So a
credential that has not been accepted yet also spends from its address's allowance: a flood
of made-up tokens from one address is limited like that address, while a token the platform
has accepted (a response other than 401) spends only its own. A 401 makes it a claim again.

The table of clients is bounded (`max_clients`, least recently seen dropped first): a flood
of new clients costs the clients it evicts nothing worse than a fresh window. Time is
`trio.current_time()` unless a clock is given, so tests run windows in virtual time.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import trio

WINDOW = 60.0  # seconds: the limit is per minute
MAX_CLIENTS = 10_000  # ~1.5 MB of windows at most


@dataclass(slots=True)
class _Window:
    start: float
    reset: bytes  # when it ends, in Unix seconds (for X-RateLimit-Reset)
    count: int = 0
    accepted: bool = False  # the platform has accepted this credential (not for addresses)


def _reset_at(seconds: float) -> bytes:
    return str(math.ceil(time.time() + seconds)).encode()


class Verdict(NamedTuple):  # a tuple: built on every request
    allowed: bool
    limit: int
    remaining: int  # requests left in the window after this one
    reset_in: float  # seconds until the window ends
    reset: bytes  # the window's end in Unix seconds

    @property
    def retry_after(self) -> int:
        """Whole seconds a refused client should wait (at least 1)."""
        return max(1, math.ceil(self.reset_in))


class RateLimiter:
    """Fixed one-minute windows per client key, with the credential/address rule above."""

    def __init__(
        self,
        per_minute: int,
        *,
        max_clients: int = MAX_CLIENTS,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        if per_minute <= 0 or max_clients <= 0:
            raise ValueError("a rate limit needs a positive limit and table size")
        self.limit = per_minute
        self.max_clients = max_clients
        self._clock = clock
        self._clients: OrderedDict[bytes, _Window] = OrderedDict()
        self.refused = 0  # requests answered 429 so far

    def __len__(self) -> int:
        return len(self._clients)

    def take(self, key: bytes, address: bytes | None = None) -> Verdict:
        """Spend one request of `key`'s window. `address` is given when `key` is a
        credential: while the credential is unaccepted, the address's window pays too, and
        a refusal there refuses the request (and records nothing for the credential)."""
        now = self._clock()
        if address is not None:
            known = self._clients.get(key)
            if known is None or not known.accepted:
                verdict = self._spend(address, now)
                if not verdict.allowed:
                    self.refused += 1
                    return verdict
        verdict = self._spend(key, now)
        if not verdict.allowed:
            self.refused += 1
        return verdict

    def answered(self, key: bytes, status: int) -> None:
        """The platform answered a request of credential `key` with `status`: a 401 means
        the credential was refused, anything else that it was accepted."""
        window = self._clients.get(key)
        if window is not None:
            window.accepted = status != 401

    def _spend(self, key: bytes, now: float) -> Verdict:
        clients = self._clients
        window = clients.get(key)
        if window is None:
            if len(clients) >= self.max_clients:
                clients.popitem(last=False)  # the least recently seen
            window = clients[key] = _Window(now, _reset_at(WINDOW))
        else:
            clients.move_to_end(key)
            if now - window.start >= WINDOW:
                window.start = now
                window.reset = _reset_at(WINDOW)
                window.count = 0
        reset_in = window.start + WINDOW - now
        if window.count >= self.limit:
            return Verdict(False, self.limit, 0, reset_in, window.reset)
        window.count += 1
        return Verdict(True, self.limit, self.limit - window.count, reset_in, window.reset)
