"""Actors on Trio: the actor base class, its mailbox and the references that talk to it.

An actor owns its state and a bounded mailbox; nothing else touches the state, everything else
sends it a message. `tell` never blocks (a full mailbox is a typed, retryable error, so an HTTP
handler is never stuck behind a busy actor) and `ask` has a deadline unless its caller bounds
the work otherwise. An actor may take a message it can decide without awaiting through
`handle_now`, straight from the sender, but only while it waits on an empty mailbox: exactly
when the mailbox would have handed it that message next.

Supervision (restarts, restart intensity) is in molecule.actors.supervisor; the state a child
keeps across incarnations (`_Child`: the mailbox and the restart history) is here, because
`ActorRef` and the supervisor both work on it.
"""

from __future__ import annotations

import enum
import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import trio

from molecule.errors import (
    ActorStopped,
    AskTimeout,
    MailboxFull,
    MoleculeError,
)

__all__ = ["Actor", "ActorRef", "ChildSpec", "Reply", "RestartType"]

T = TypeVar("T")
log = logging.getLogger("molecule.actors")
_NOTHING: Any = object()  # "no message in hand": distinct from any message, including None


class Reply(Generic[T]):
    """One-shot answer slot carried inside a message.

    The first `set`/`fail` wins and later ones are ignored, because the runtime fails pending
    replies on crash or stop and must not race an actor (or its background task) that answers
    at the same moment. Not thread-safe: use it from the Trio thread only.
    """

    def __init__(self) -> None:
        self._event = trio.Event()
        self._value: T | None = None
        self._error: BaseException | None = None

    def set(self, value: T) -> None:
        if not self._event.is_set():
            self._value = value
            self._event.set()

    def fail(self, exc: BaseException) -> None:
        if not self._event.is_set():
            self._error = exc
            self._event.set()

    @property
    def done(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> T:
        await self._event.wait()
        if self._error is not None:
            raise self._error
        return cast(T, self._value)


class Actor:
    """Base class for actors; a fresh instance per incarnation so no state outlives a crash."""

    name: str  # set by the runtime before started()
    nursery: trio.Nursery  # this incarnation's nursery: its tasks die with it

    async def started(self) -> None:
        """Load state (e.g. from Postgres). An exception here is a crash."""

    async def handle(self, msg: object) -> None:
        """Handle one message; answer `msg.reply` now or later (e.g. from a background task)."""

    def handle_now(self, msg: object) -> bool:
        """Handle `msg` without awaiting, or return False to have it queued for `handle`.

        Called from the sender's task, only while this actor waits on an empty mailbox, so
        it sees the same state `handle` would (the hot A2A path skips a task switch and the
        mailbox this way). A MoleculeError raised here answers the message, as from
        `handle`; work that must wait goes to `self.nursery`.
        """
        return False

    def deadline(self) -> float:
        """Trio clock time of the next timer; re-read before every receive."""
        return math.inf

    async def timeout(self) -> None:
        """Called when deadline() passes with no message in between."""

    async def stopping(self) -> None:
        """Called on a normal stop only (best effort: a crashed actor's state is suspect)."""


def _fail_reply(msg: object, exc: BaseException) -> None:
    reply = getattr(msg, "reply", None)
    if isinstance(reply, Reply) and not reply.done:
        reply.fail(exc)


class RestartType(enum.Enum):
    """OTP restart types."""

    PERMANENT = "permanent"  # always restarted, even after a normal exit
    TRANSIENT = "transient"  # restarted only after a crash
    TEMPORARY = "temporary"  # never restarted


@dataclass
class ChildSpec:
    name: str
    factory: Callable[[], Actor]  # fresh instance per incarnation; state reloaded in started()
    restart: RestartType = RestartType.TRANSIENT
    mailbox_size: int = 64
    max_restarts: int = 5  # restart intensity: at most this many restarts ...
    within: float = 30.0  # ... in this sliding window of seconds (trio clock)
    # Awaited when intensity is exceeded (e.g. mark the workspace failed with a reason).
    on_give_up: Callable[[str, BaseException | None], Awaitable[None]] | None = None
    # Called once when the child is finally gone (stopped, given up, or not restarted).
    on_exit: Callable[[str], None] | None = None


class _Child:
    """Per-child state that outlives incarnations: the mailbox and the restart history."""

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.send, self.recv = trio.open_memory_channel[object](spec.mailbox_size)
        self.restarts: deque[float] = deque()
        self.in_hand: object = _NOTHING
        self.stop_requested = False
        self.closed = False
        # The incarnation while it waits on an empty mailbox, and the scope of that wait.
        self.waiting: Actor | None = None
        self.wait_scope: trio.CancelScope | None = None

    def fail_in_hand(self, exc: BaseException) -> None:
        if self.in_hand is not _NOTHING:
            _fail_reply(self.in_hand, exc)
            self.in_hand = _NOTHING

    def close(self, error: Callable[[str], BaseException]) -> None:
        """Refuse new messages and fail every queued reply, so no asker waits on a dead actor."""
        self.closed = True
        self.send.close()
        self.fail_in_hand(error(self.spec.name))
        while True:
            try:
                msg = self.recv.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                break
            _fail_reply(msg, error(self.spec.name))
        self.recv.close()


class ActorRef:
    """Handle to a supervised child; stays valid across restarts (the mailbox is the child's)."""

    def __init__(self, child: _Child) -> None:
        self._child = child
        self.name = child.spec.name

    def tell(self, msg: object) -> None:
        """Enqueue without ever blocking: a full mailbox is MailboxFull (HTTP 503), not a wait."""
        child = self._child
        try:
            child.send.send_nowait(msg)
        except trio.WouldBlock:
            raise MailboxFull(self.name) from None
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise ActorStopped(self.name) from None
        # The message may be in the actor's hands before it runs again: from now on it is
        # not waiting on an empty mailbox, and handle_now would overtake this message.
        child.waiting = None

    async def ask(self, msg: object, timeout: float | None) -> Any:
        """Deliver `msg` and wait for `msg.reply`; a slow actor becomes AskTimeout.

        `timeout=None` waits without a deadline of its own: only for work that is bounded
        anyway (an A2A dispatch has its idle timer and ceilings), and it saves a cancel scope
        on the hot path. A crashed or stopped actor still fails the reply.
        """
        reply = getattr(msg, "reply", None)
        if not isinstance(reply, Reply):
            raise TypeError(f"ask() needs a message with a Reply in .reply, got {msg!r}")
        if not self._handled_now(msg, reply):
            self.tell(msg)
        if timeout is None:
            return await reply.wait()
        try:
            with trio.fail_after(timeout):
                return await reply.wait()
        except trio.TooSlowError:
            raise AskTimeout(self.name, timeout) from None

    def _handled_now(self, msg: object, reply: Reply[Any]) -> bool:
        child = self._child
        actor = child.waiting
        if actor is None or child.stop_requested:
            return False
        try:
            if not actor.handle_now(msg):
                return False
        except MoleculeError as exc:
            reply.fail(exc)
        # The wait's deadline was read before this message: re-read it, as the loop would.
        scope = child.wait_scope
        if scope is not None and scope.deadline != (deadline := actor.deadline()):
            scope.deadline = deadline
        return True

    @property
    def alive(self) -> bool:
        return not (self._child.closed or self._child.stop_requested)
