"""The Supervisor of actors: OTP-style restarts on Trio nurseries.

Each child runs in its own nursery; a crash is logged with its traceback and the child is
rebuilt from its factory, so state is reloaded (from Postgres) rather than trusted after a
fault. A sliding restart-intensity window turns a crash loop into an explicit "given up"
instead. The mailbox belongs to the child, not to one incarnation (molecule.actors.runtime),
so `ActorRef`s stay valid and queued messages survive a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from molecule.actors.runtime import (
    _NOTHING,
    Actor,
    ActorRef,
    ChildSpec,
    Reply,
    RestartType,
    _Child,
)
from molecule.errors import ActorCrashed, ActorStopped, MoleculeError, StopActor
from molecule.observability import logs

log = logging.getLogger("molecule.actors")


def _waiting(child: _Child) -> int:
    """Messages in the child's mailbox, read from the channel's buffer: its public
    `statistics()` builds an object per call, about 100 times the cost, and a scrape reads
    10,000 mailboxes in one go (100 ms instead of 1). Falls back to it if trio changes."""
    data = getattr(getattr(child.recv, "_state", None), "data", None)
    return len(data) if data is not None else child.recv.statistics().current_buffer_used


def _unwrap(exc: BaseException) -> BaseException:
    """Strip the single-exception groups nurseries wrap a crash in, so logs show the cause."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


class Supervisor:
    """Runs children, each in its own scope, so one child's crash never touches another.

    A child keeps its name (and counts in len()) until it is completely gone, i.e. after
    stopping() or on_give_up have returned, so two incarnations owning the same state never
    overlap; meanwhile its mailbox is already closed (`ActorRef.alive` is False).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._nursery: trio.Nursery | None = None
        self._children: dict[str, _Child] = {}
        self.crashes = 0  # incarnations that ended in a crash (the metrics read it)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Host the children until cancelled; cancelling it stops every child."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                task_status.started()
                await trio.sleep_forever()
            finally:
                self._nursery = None

    def start_child(self, spec: ChildSpec) -> ActorRef:
        if self._nursery is None:
            raise RuntimeError(f"supervisor {self.name!r} is not running")
        if spec.name in self._children:
            raise ValueError(f"child {spec.name!r} already exists in supervisor {self.name!r}")
        child = _Child(spec)
        self._children[spec.name] = child
        self._nursery.start_soon(self._supervise, child, name=f"actor:{spec.name}")
        return ActorRef(child)

    def get(self, name: str) -> ActorRef | None:
        child = self._children.get(name)
        return None if child is None else ActorRef(child)

    def stop_child(self, name: str) -> None:
        """Stop after the message in hand; no restart. Unknown names are ignored (idempotent)."""
        child = self._children.get(name)
        if child is None or child.stop_requested:
            return
        child.stop_requested = True
        # Later tell() -> ActorStopped; an idle receive() wakes with EndOfChannel.
        child.send.close()

    def __len__(self) -> int:
        return len(self._children)

    def names(self) -> list[str]:
        return list(self._children)

    def mailbox_figures(self) -> tuple[int, int, int]:
        """(children, messages waiting in all their mailboxes, the fullest mailbox's)."""
        waiting = deepest = 0
        for child in self._children.values():
            depth = _waiting(child)
            waiting += depth
            deepest = max(deepest, depth)
        return len(self._children), waiting, deepest

    # --- internals ------------------------------------------------------------------------

    async def _supervise(self, child: _Child) -> None:
        """Run incarnations until the restart policy says stop; must never raise itself."""
        spec = child.spec
        error: Callable[[str], BaseException] = ActorStopped
        logs.detach()  # started from some request's task: its records are not that request's
        try:
            while True:
                crash = await self._incarnation(child)
                if crash is not None:
                    self.crashes += 1
                    log.error("actor %r crashed", spec.name, exc_info=crash)
                    error = ActorCrashed
                if not self._wants_restart(child, crash):
                    return
                if not self._admit_restart(child):
                    child.close(ActorCrashed)
                    await self._give_up(child, crash)
                    return
                log.info("restarting actor %r", spec.name)
                error = ActorStopped
        finally:
            if not child.closed:
                child.close(error)
            if self._children.get(spec.name) is child:
                del self._children[spec.name]
            if spec.on_exit is not None:
                try:
                    spec.on_exit(spec.name)
                except Exception:
                    log.exception("on_exit hook failed for actor %r", spec.name)

    def _wants_restart(self, child: _Child, crash: BaseException | None) -> bool:
        if child.stop_requested:
            return False
        if child.spec.restart is RestartType.PERMANENT:
            return True
        return child.spec.restart is RestartType.TRANSIENT and crash is not None

    def _admit_restart(self, child: _Child) -> bool:
        """Sliding window: refuse a restart that would exceed max_restarts within `within`."""
        now = trio.current_time()
        while child.restarts and child.restarts[0] <= now - child.spec.within:
            child.restarts.popleft()
        if len(child.restarts) >= child.spec.max_restarts:
            return False
        child.restarts.append(now)
        return True

    async def _give_up(self, child: _Child, crash: BaseException | None) -> None:
        spec = child.spec
        log.error(
            "actor %r exceeded %d restarts in %gs; giving up",
            spec.name,
            spec.max_restarts,
            spec.within,
            exc_info=crash,
        )
        if spec.on_give_up is not None:
            try:
                await spec.on_give_up(spec.name, crash)
            except Exception:
                log.exception("on_give_up hook failed for actor %r", spec.name)

    async def _incarnation(self, child: _Child) -> BaseException | None:
        """Run one actor instance to its end; return its crash, or None on a normal exit."""
        try:
            async with trio.open_nursery() as nursery:
                actor = child.spec.factory()
                actor.name = child.spec.name
                actor.nursery = nursery
                try:
                    await actor.started()
                    await self._loop(child, actor)
                except StopActor:
                    pass
                child.fail_in_hand(ActorStopped(child.spec.name))
                try:
                    await actor.stopping()
                except Exception:
                    log.exception("stopping() failed for actor %r", child.spec.name)
                nursery.cancel_scope.cancel()
        except Exception as exc:
            cause = _unwrap(exc)
            if isinstance(cause, StopActor):  # one of the actor's own tasks ended it
                child.fail_in_hand(ActorStopped(child.spec.name))
                return None
            child.fail_in_hand(ActorCrashed(child.spec.name))
            return cause
        return None

    async def _loop(self, child: _Child, actor: Actor) -> None:
        while not child.stop_requested:
            msg = _NOTHING
            try:  # a busy actor takes the next message without arming its timer again
                msg = child.recv.receive_nowait()
            except trio.WouldBlock:
                with trio.move_on_at(actor.deadline()) as waiting:
                    child.waiting, child.wait_scope = actor, waiting
                    try:
                        msg = await child.recv.receive()
                    except trio.EndOfChannel:  # stop_child() closed the mailbox
                        return
                    finally:
                        child.waiting = child.wait_scope = None
            except trio.EndOfChannel:
                return
            else:
                # Still one yield per message, as receive() had: what a message started (a
                # restart cycle, say) gets to run before the next one is handled. Shielded,
                # like receive()'s own after it dequeued: a message in hand is never lost.
                await trio.lowlevel.cancel_shielded_checkpoint()
            if msg is _NOTHING:
                if child.stop_requested:
                    return
                try:
                    await actor.timeout()
                except StopActor:
                    raise  # the actor ends itself: not an error to answer
                except MoleculeError as exc:
                    log.warning("actor %r: timeout() raised %r", child.spec.name, exc)
                continue
            child.in_hand = msg
            try:
                await actor.handle(msg)
            except StopActor:
                raise
            except MoleculeError as exc:
                # An expected, client-facing error: it is the answer, not a fault.
                reply = getattr(msg, "reply", None)
                if isinstance(reply, Reply) and not reply.done:
                    reply.fail(exc)
                else:
                    log.warning("actor %r: handle(%r) raised %r", child.spec.name, msg, exc)
            child.in_hand = _NOTHING
