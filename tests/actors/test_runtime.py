"""Behaviour of the actor runtime: mailboxes, ask/tell, supervision and timers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio
import trio.testing

from molecule.actors.runtime import Actor, ActorRef, ChildSpec, Reply, RestartType
from molecule.actors.supervisor import Supervisor
from molecule.errors import (
    ActorCrashed,
    ActorStopped,
    AskTimeout,
    Conflict,
    MailboxFull,
    StopActor,
)

# --- messages --------------------------------------------------------------------------


@dataclass(frozen=True)
class Incr:
    n: int = 1


@dataclass(frozen=True)
class Get:
    reply: Reply[int] = field(default_factory=Reply)


@dataclass(frozen=True)
class Reject:
    reply: Reply[int] = field(default_factory=Reply)


@dataclass(frozen=True)
class Boom:
    reply: Reply[int] = field(default_factory=Reply)
    gate: trio.Event | None = None


@dataclass(frozen=True)
class Ignore:
    reply: Reply[int] = field(default_factory=Reply)


@dataclass(frozen=True)
class Slow:
    gate: trio.Event
    reply: Reply[int] = field(default_factory=Reply)


@dataclass(frozen=True)
class Stop:
    reply: Reply[str] = field(default_factory=Reply)


class Counter(Actor):
    def __init__(self, log: list[str] | None = None) -> None:
        self.count = 0
        self.log = log if log is not None else []

    async def started(self) -> None:
        self.log.append("started")

    async def handle(self, msg: object) -> None:
        match msg:
            case Incr(n=n):
                self.count += n
            case Get(reply=reply):
                reply.set(self.count)
            case Reject():
                raise Conflict("nope")
            case Boom(gate=gate):
                if gate is not None:
                    await gate.wait()
                raise RuntimeError("boom")
            case Slow(gate=gate, reply=reply):
                await gate.wait()
                self.count += 1
                reply.set(self.count)
            case Ignore():
                pass
            case Stop(reply=reply):
                reply.set("bye")
                raise StopActor

    async def stopping(self) -> None:
        self.log.append("stopping")


class Factory:
    """Counts incarnations and keeps every instance so tests can inspect old ones."""

    def __init__(self, make: Callable[[], Actor] | None = None) -> None:
        self.instances: list[Actor] = []
        self.log: list[str] = []
        self._make = make

    def __call__(self) -> Actor:
        actor = self._make() if self._make else Counter(self.log)
        self.instances.append(actor)
        return actor


@pytest.fixture
async def sup(nursery: trio.Nursery) -> Supervisor:
    s = Supervisor("test")
    await nursery.start(s.run)
    return s


async def settle() -> None:
    await trio.testing.wait_all_tasks_blocked()


async def gone(sup: Supervisor, name: str) -> None:
    """Wait until the child is completely gone (it keeps its name until then)."""
    for _ in range(500):
        if name not in sup.names():
            return
        await trio.sleep(0.01)
    raise AssertionError(f"child {name!r} never went away")


# --- basics ----------------------------------------------------------------------------


async def test_tell_ask_round_trip(sup: Supervisor) -> None:
    ref = sup.start_child(ChildSpec("c", Counter))
    ref.tell(Incr(2))
    ref.tell(Incr(3))
    assert await ref.ask(Get(), timeout=1) == 5
    assert ref.alive and ref.name == "c"
    assert sup.get("c") is not None and sup.get("nope") is None
    assert len(sup) == 1 and sup.names() == ["c"]


async def test_reply_first_answer_wins() -> None:
    r: Reply[int] = Reply()
    assert not r.done
    r.set(1)
    r.set(2)
    r.fail(RuntimeError())
    assert r.done and await r.wait() == 1
    f: Reply[int] = Reply()
    f.fail(Conflict("x"))
    f.set(3)
    with pytest.raises(Conflict):
        await f.wait()


async def test_ask_requires_reply_slot(sup: Supervisor) -> None:
    ref = sup.start_child(ChildSpec("c", Counter))
    with pytest.raises(TypeError):
        await ref.ask(Incr(), timeout=1)


async def test_ask_timeout(sup: Supervisor, autojump_clock: Any) -> None:
    ref = sup.start_child(ChildSpec("c", Counter))
    start = trio.current_time()
    with pytest.raises(AskTimeout) as ei:
        await ref.ask(Ignore(), timeout=2.5)
    assert trio.current_time() - start == pytest.approx(2.5)
    assert ei.value.actor == "c" and ei.value.timeout == 2.5


async def test_full_mailbox_raises_immediately(sup: Supervisor) -> None:
    gate = trio.Event()

    class Slow(Counter):
        async def started(self) -> None:
            await gate.wait()

    ref = sup.start_child(ChildSpec("c", Slow, mailbox_size=2))
    ref.tell(Incr())
    ref.tell(Incr())
    with pytest.raises(MailboxFull) as ei:
        ref.tell(Incr())  # sync call: it cannot have waited
    assert ei.value.actor == "c" and ei.value.headers["Retry-After"] == "1"
    gate.set()
    await settle()
    assert await ref.ask(Get(), timeout=1) == 2  # the refused message was not queued


async def test_start_child_rules() -> None:
    s = Supervisor("idle")
    with pytest.raises(RuntimeError):
        s.start_child(ChildSpec("c", Counter))
    async with trio.open_nursery() as n:
        await n.start(s.run)
        s.start_child(ChildSpec("c", Counter))
        with pytest.raises(ValueError):
            s.start_child(ChildSpec("c", Counter))
        n.cancel_scope.cancel()


# --- stopping --------------------------------------------------------------------------


async def test_stop_child_then_tell_raises_actor_stopped(sup: Supervisor) -> None:
    fac = Factory()
    exits: list[str] = []
    ref = sup.start_child(ChildSpec("c", fac, restart=RestartType.PERMANENT, on_exit=exits.append))
    ref.tell(Incr())
    assert await ref.ask(Get(), timeout=1) == 1
    sup.stop_child("c")
    assert not ref.alive
    with pytest.raises(ActorStopped):
        ref.tell(Incr())
    await gone(sup, "c")
    assert fac.log == ["started", "stopping"]  # permanent, yet not restarted
    assert exits == ["c"] and len(sup) == 0
    sup.stop_child("c")  # idempotent


async def test_stop_child_finishes_message_in_hand(sup: Supervisor) -> None:
    gate = trio.Event()
    fac = Factory()
    ref = sup.start_child(ChildSpec("c", fac, restart=RestartType.PERMANENT))
    in_hand = Slow(gate)
    ref.tell(in_hand)
    await settle()  # in_hand is being handled, blocked on the gate
    queued = Get()
    ref.tell(queued)
    sup.stop_child("c")
    assert fac.log == ["started"]  # stopping() waits for the message in hand
    gate.set()
    assert await in_hand.reply.wait() == 1
    with pytest.raises(ActorStopped):
        await queued.reply.wait()  # never handled: failed, not left hanging
    await gone(sup, "c")
    assert fac.log == ["started", "stopping"] and len(fac.instances) == 1


async def test_stop_actor_ends_normally(sup: Supervisor, caplog: Any) -> None:
    fac = Factory()
    exits: list[str] = []
    ref = sup.start_child(ChildSpec("c", fac, on_exit=exits.append))
    assert await ref.ask(Stop(), timeout=1) == "bye"
    await gone(sup, "c")
    assert fac.log == ["started", "stopping"]
    assert exits == ["c"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    with pytest.raises(ActorStopped):
        ref.tell(Incr())


async def test_supervisor_cancel_stops_children() -> None:
    s = Supervisor("s")
    exits: list[str] = []
    async with trio.open_nursery() as inner:
        await inner.start(s.run)
        gate = trio.Event()

        class Stuck(Counter):
            async def started(self) -> None:
                await gate.wait()

        a = s.start_child(ChildSpec("a", Stuck, on_exit=exits.append))
        b = s.start_child(ChildSpec("b", Counter, on_exit=exits.append))
        pending = Get()
        a.tell(pending)
        await settle()
        inner.cancel_scope.cancel()
    assert sorted(exits) == ["a", "b"] and len(s) == 0
    assert not a.alive and not b.alive
    with pytest.raises(ActorStopped):
        await pending.reply.wait()


# --- errors and crashes ----------------------------------------------------------------


async def test_molecule_error_goes_to_reply_and_state_is_kept(sup: Supervisor) -> None:
    fac = Factory()
    ref = sup.start_child(ChildSpec("c", fac))
    ref.tell(Incr(7))
    with pytest.raises(Conflict, match="nope"):
        await ref.ask(Reject(), timeout=1)
    ref.tell(Reject())  # no reply to carry it: logged, still no crash
    assert await ref.ask(Get(), timeout=1) == 7
    assert len(fac.instances) == 1


async def test_crash_restarts_with_fresh_state_and_keeps_queue(
    sup: Supervisor, caplog: Any
) -> None:
    fac = Factory()
    ref = sup.start_child(ChildSpec("worker-1", fac))
    ref.tell(Incr(10))
    gate = trio.Event()
    boom = Boom(gate=gate)
    ref.tell(boom)
    await settle()  # boom is in hand, blocked on the gate
    ref.tell(Incr(1))
    ref.tell(Incr(2))
    after = Get()
    ref.tell(after)
    gate.set()
    with pytest.raises(ActorCrashed) as ei:
        await boom.reply.wait()
    assert ei.value.actor == "worker-1"
    assert await after.reply.wait() == 3  # fresh state (10 lost), queued messages handled
    assert len(fac.instances) == 2 and fac.instances[0] is not fac.instances[1]
    assert fac.log == ["started", "started"]  # no stopping() on crash
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "worker-1" in errors[0].getMessage()
    assert errors[0].exc_info is not None and isinstance(errors[0].exc_info[1], RuntimeError)
    assert "boom" in caplog.text and "Traceback" in caplog.text
    assert ref.alive and sup.get("worker-1") is not None


async def test_crash_in_started_is_restarted(sup: Supervisor) -> None:
    attempts: list[int] = []

    class Flaky(Counter):
        async def started(self) -> None:
            attempts.append(1)
            if len(attempts) < 3:
                raise OSError("db down")

    ref = sup.start_child(ChildSpec("c", Flaky))
    assert await ref.ask(Get(), timeout=1) == 0
    assert len(attempts) == 3


async def test_background_crash_is_actor_crash(sup: Supervisor) -> None:
    class Spawner(Counter):
        async def handle(self, msg: object) -> None:
            if isinstance(msg, Incr):
                self.nursery.start_soon(self._fail)
            else:
                await super().handle(msg)

        async def _fail(self) -> None:
            raise ValueError("background")

    fac = Factory(Spawner)
    ref = sup.start_child(ChildSpec("c", fac))
    ref.tell(Incr())
    await settle()
    assert len(fac.instances) == 2
    assert await ref.ask(Get(), timeout=1) == 0


async def test_stop_actor_from_a_background_task_ends_normally(
    sup: Supervisor, caplog: Any
) -> None:
    """A task of the actor (a restart cycle finding its row removed) may end it too."""

    class Ender(Counter):
        async def handle(self, msg: object) -> None:
            if isinstance(msg, Incr):
                self.nursery.start_soon(self._end)
            else:
                await super().handle(msg)

        async def _end(self) -> None:
            raise StopActor

    fac = Factory(Ender)
    exits: list[str] = []
    ref = sup.start_child(ChildSpec("c", fac, on_exit=exits.append))
    ref.tell(Incr())
    await gone(sup, "c")
    assert len(fac.instances) == 1 and exits == ["c"] and sup.crashes == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_actor_tasks_cancelled_on_crash(sup: Supervisor) -> None:
    cancelled: list[int] = []

    class Background(Counter):
        async def started(self) -> None:
            self.nursery.start_soon(self._forever)

        async def _forever(self) -> None:
            try:
                await trio.sleep_forever()
            except trio.Cancelled:
                cancelled.append(1)
                raise

    fac = Factory(Background)
    ref = sup.start_child(ChildSpec("c", fac))
    await settle()
    assert cancelled == []
    with pytest.raises(ActorCrashed):
        await ref.ask(Boom(), timeout=1)
    await settle()
    assert cancelled == [1] and len(fac.instances) == 2
    sup.stop_child("c")  # normal stop cancels them too
    await gone(sup, "c")
    assert cancelled == [1, 1]


async def test_crash_leaves_sibling_untouched(sup: Supervisor) -> None:
    fa, fb = Factory(), Factory()
    a = sup.start_child(ChildSpec("a", fa))
    b = sup.start_child(ChildSpec("b", fb))
    b.tell(Incr(4))
    with pytest.raises(ActorCrashed):
        await a.ask(Boom(), timeout=1)
    assert await b.ask(Get(), timeout=1) == 4
    assert len(fb.instances) == 1 and len(fa.instances) == 2
    assert sorted(sup.names()) == ["a", "b"]


# --- restart types ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("restart", "crash", "restarted"),
    [
        (RestartType.PERMANENT, False, True),
        (RestartType.PERMANENT, True, True),
        (RestartType.TRANSIENT, False, False),
        (RestartType.TRANSIENT, True, True),
        (RestartType.TEMPORARY, False, False),
        (RestartType.TEMPORARY, True, False),
    ],
)
async def test_restart_types(
    sup: Supervisor, restart: RestartType, crash: bool, restarted: bool
) -> None:
    fac = Factory()
    exits: list[str] = []
    ref = sup.start_child(ChildSpec("c", fac, restart=restart, on_exit=exits.append))
    ref.tell(Incr(5))
    msg: Boom | Stop = Boom() if crash else Stop()
    ref.tell(msg)
    await settle()
    assert msg.reply.done
    if restarted:
        assert len(fac.instances) == 2 and ref.alive and exits == []
        assert await ref.ask(Get(), timeout=1) == 0  # fresh state
    else:
        await gone(sup, "c")
        assert len(fac.instances) == 1 and not ref.alive and exits == ["c"]
        with pytest.raises(ActorStopped):
            ref.tell(Incr())


# --- restart intensity -----------------------------------------------------------------


async def test_intensity_exceeded_gives_up(sup: Supervisor, autojump_clock: Any) -> None:
    fac = Factory()
    given_up: list[tuple[str, BaseException | None]] = []
    exits: list[str] = []

    async def on_give_up(name: str, exc: BaseException | None) -> None:
        await trio.sleep(1)  # may await (e.g. a DB write)
        given_up.append((name, exc))

    ref = sup.start_child(ChildSpec("w", fac, on_give_up=on_give_up, on_exit=exits.append))
    for i in range(6):
        with pytest.raises(ActorCrashed):
            await ref.ask(Boom(), timeout=1)
        if i < 5:
            await trio.sleep(2)  # 6 crashes within ~10 s
    queued = Get()
    with pytest.raises(ActorStopped):
        ref.tell(queued)  # mailbox closed at once, before on_give_up returns
    await gone(sup, "w")
    assert len(fac.instances) == 6  # 1 start + 5 restarts, no 7th
    assert len(given_up) == 1 and given_up[0][0] == "w"
    assert isinstance(given_up[0][1], RuntimeError) and str(given_up[0][1]) == "boom"
    assert exits == ["w"] and sup.get("w") is None
    with pytest.raises(ActorStopped):
        ref.tell(Incr())


async def test_give_up_fails_queued_replies(sup: Supervisor) -> None:
    class Broken(Counter):
        async def started(self) -> None:
            raise OSError("always")

    given_up: list[BaseException | None] = []

    async def on_give_up(name: str, exc: BaseException | None) -> None:
        given_up.append(exc)

    ref = sup.start_child(ChildSpec("b", Broken, max_restarts=2, on_give_up=on_give_up))
    q = Get()
    ref.tell(q)
    with pytest.raises(ActorCrashed):
        await q.reply.wait()
    await gone(sup, "b")
    assert len(given_up) == 1 and isinstance(given_up[0], OSError)


async def test_permanent_exit_loop_gives_up(sup: Supervisor) -> None:
    class Quitter(Counter):
        async def started(self) -> None:
            raise StopActor

    given_up: list[BaseException | None] = []

    async def on_give_up(name: str, exc: BaseException | None) -> None:
        given_up.append(exc)

    fac = Factory(Quitter)
    sup.start_child(ChildSpec("q", fac, restart=RestartType.PERMANENT, on_give_up=on_give_up))
    await gone(sup, "q")
    assert given_up == [None] and len(fac.instances) == 6


async def test_spread_out_crashes_keep_restarting(sup: Supervisor, autojump_clock: Any) -> None:
    fac = Factory()
    given_up: list[Any] = []

    async def on_give_up(name: str, exc: BaseException | None) -> None:
        given_up.append(exc)

    ref = sup.start_child(ChildSpec("w", fac, on_give_up=on_give_up))
    for _ in range(20):
        await trio.sleep(7)  # at most 5 crashes in any 30 s window
        with pytest.raises(ActorCrashed):
            await ref.ask(Boom(), timeout=1)
    assert given_up == [] and len(fac.instances) == 21
    assert await ref.ask(Get(), timeout=1) == 0


# --- timers ----------------------------------------------------------------------------


async def test_deadline_fires_and_rearms(sup: Supervisor, autojump_clock: Any) -> None:
    fired: list[float] = []

    @dataclass(frozen=True)
    class Postpone:
        seconds: float

    class Ticker(Actor):
        async def started(self) -> None:
            self.next = trio.current_time() + 5

        def deadline(self) -> float:
            return self.next

        async def timeout(self) -> None:
            fired.append(trio.current_time())
            self.next = trio.current_time() + 5

        async def handle(self, msg: object) -> None:
            if isinstance(msg, Postpone):
                self.next = trio.current_time() + msg.seconds

    t0 = trio.current_time()
    ref = sup.start_child(ChildSpec("t", Ticker))
    await trio.sleep(16)
    assert [round(t - t0, 6) for t in fired] == [5, 10, 15]
    ref.tell(Postpone(100))  # the new deadline is re-read before the next receive
    await trio.sleep(50)
    assert len(fired) == 3
    await trio.sleep(52)  # now t0 + 118
    assert [round(t - t0, 6) for t in fired] == [5, 10, 15, 116]


async def test_timeout_can_stop_actor(sup: Supervisor, autojump_clock: Any) -> None:
    log: list[str] = []

    class Idle(Counter):
        def deadline(self) -> float:
            return self.t0 + 60

        async def started(self) -> None:
            self.t0 = trio.current_time()

        async def timeout(self) -> None:
            raise StopActor

    fac = Factory(lambda: Idle(log))
    ref: ActorRef = sup.start_child(ChildSpec("i", fac))
    await trio.sleep(59)
    assert ref.alive
    await trio.sleep(2)
    assert not ref.alive and log == ["stopping"]


# --- handle_now: the sender's task handles what needs no await -------------------------


@dataclass(frozen=True)
class Quick:
    """Handled by handle_now when the actor is free, else queued (then by handle)."""

    reply: Reply[str] = field(default_factory=Reply)
    refuse: bool = False
    wake_in: float | None = None  # move the actor's timer


class QuickCounter(Counter):
    def __init__(self, log: list[str] | None = None) -> None:
        super().__init__(log)
        self.timer = float("inf")

    def handle_now(self, msg: object) -> bool:
        if not isinstance(msg, Quick):
            return False
        if msg.refuse:
            raise Conflict("refused now")
        if msg.wake_in is not None:
            self.timer = trio.current_time() + msg.wake_in
        self.log.append(f"now {self.count}")
        msg.reply.set("now")
        return True

    async def handle(self, msg: object) -> None:
        if isinstance(msg, Quick):
            self.log.append(f"queued {self.count}")
            msg.reply.set("queued")
            return
        await super().handle(msg)

    def deadline(self) -> float:
        return self.timer

    async def timeout(self) -> None:
        self.timer = float("inf")
        self.log.append(f"timeout at {trio.current_time():g}")


async def test_handle_now_runs_in_the_senders_task_when_the_actor_waits(
    sup: Supervisor,
) -> None:
    log: list[str] = []
    factory = Factory(lambda: QuickCounter(log))
    ref = sup.start_child(ChildSpec("q", factory))
    await settle()
    msg = Quick()
    assert await ref.ask(msg, timeout=1) == "now"
    assert log[-1] == "now 0"
    # Other messages still go through the mailbox.
    ref.tell(Incr(2))
    assert await ref.ask(Get(), timeout=1) == 2


async def test_handle_now_waits_its_turn_behind_a_busy_actor(sup: Supervisor) -> None:
    """While a handler is running (or messages are queued) the message is queued: it must
    see the state every earlier message left."""
    log: list[str] = []
    factory = Factory(lambda: QuickCounter(log))
    ref = sup.start_child(ChildSpec("q", factory))
    gate = trio.Event()
    slow = Slow(gate)
    ref.tell(slow)
    await settle()  # the actor is inside handle(Slow)
    async with trio.open_nursery() as nursery:
        answers: list[str] = []

        async def ask_quick() -> None:
            answers.append(await ref.ask(Quick(), timeout=1))

        nursery.start_soon(ask_quick)
        await settle()
        assert answers == []
        gate.set()
    assert answers == ["queued"]
    assert log[-1] == "queued 1"  # after Slow's increment


async def test_handle_now_never_overtakes_a_message_already_sent(sup: Supervisor) -> None:
    """A tell() to a waiting actor hands it the message before the actor runs again; a
    message sent right after, with no checkpoint between, must still come second."""
    log: list[str] = []
    ref = sup.start_child(ChildSpec("q", Factory(lambda: QuickCounter(log))))
    await settle()
    ref.tell(Incr(5))
    assert await ref.ask(Quick(), timeout=1) == "queued"
    assert log[-1] == "queued 5"


async def test_handle_now_error_answers_the_message(sup: Supervisor) -> None:
    log: list[str] = []
    factory = Factory(lambda: QuickCounter(log))
    ref = sup.start_child(ChildSpec("q", factory))
    await settle()
    with pytest.raises(Conflict, match="refused now"):
        await ref.ask(Quick(refuse=True), timeout=1)
    assert ref.alive and len(factory.instances) == 1  # an answer, not a crash


async def test_handle_now_rereads_the_timer(sup: Supervisor, autojump_clock: Any) -> None:
    log: list[str] = []
    factory = Factory(lambda: QuickCounter(log))
    ref = sup.start_child(ChildSpec("q", factory))
    await settle()
    start = trio.current_time()
    assert await ref.ask(Quick(wake_in=5), timeout=1) == "now"
    await trio.sleep(6)
    assert log[-1] == f"timeout at {start + 5:g}"


async def test_ask_without_deadline_fails_when_the_actor_stops(sup: Supervisor) -> None:
    ref = sup.start_child(ChildSpec("c", Counter))
    async with trio.open_nursery() as nursery:
        errors: list[BaseException] = []

        async def ask_forever() -> None:
            try:
                await ref.ask(Ignore(), timeout=None)
            except ActorStopped as exc:
                errors.append(exc)

        gate = trio.Event()
        ref.tell(Slow(gate))
        await settle()
        nursery.start_soon(ask_forever)  # queued behind Slow
        await settle()
        sup.stop_child("c")
        gate.set()
    assert len(errors) == 1
