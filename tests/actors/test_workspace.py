"""WorkspaceActor driven directly: liveness in virtual time, supervision, boot activation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from molecule.actors.directory import GAVE_UP_REASON
from molecule.actors.dispatch import A2ARequest, Dispatcher, ProxyResult, Target
from molecule.actors.messages import Heartbeat, Pause, Register, Resume, Snapshot
from molecule.actors.registration import Registration
from molecule.actors.workspace import WorkspaceActor
from molecule.errors import ActorError, ActorStopped, BadRequest, Conflict
from molecule.models import HeartbeatPayload, WorkspaceStatus
from molecule.operations.a2a_send import send_a2a
from molecule.platform import running_platform
from molecule.services import Services
from molecule.store.workspaces import NewWorkspace
from tests.conftest import drain, make_settings

CARD = {"name": "agent"}


@pytest.fixture
async def svc(aio_loop: object, dsn: str, tmp_path: Path) -> AsyncIterator[Services]:
    async with running_platform(make_settings(tmp_path, dsn), dsn) as services:
        yield services


async def new_workspace(
    svc: Services,
    name: str,
    runtime: str = "external",
    status: WorkspaceStatus = WorkspaceStatus.AWAITING_AGENT,
) -> str:
    created = await svc.workspaces.insert(
        NewWorkspace(name=name, role=None, tier=3, runtime=runtime, status=status)
    )
    return str(created["id"])


async def ask(svc: Services, wid: str, msg: Any) -> Any:
    ref = await svc.directory.get(wid)
    assert ref is not None
    return await ref.ask(msg, 10)


async def settle() -> None:
    await trio.testing.wait_all_tasks_blocked()


async def status_row(svc: Services, wid: str) -> str | None:
    return await svc.workspaces.status_of(wid)


async def test_register_arms_liveness_and_expiry_sends_external_to_awaiting_agent(
    svc: Services, mock_clock: trio.testing.MockClock
) -> None:
    wid = await new_workspace(svc, "ext")
    reply = await ask(svc, wid, Register("http://localhost:9000", CARD, None))
    assert reply["status"] == "registered" and reply["auth_token"]
    snap = await ask(svc, wid, Snapshot())
    assert snap["status"] == "online" and snap["liveness_remaining"] == pytest.approx(180)

    with svc.bus.subscribe(wid) as sub:
        mock_clock.jump(179)
        await settle()
        assert (await ask(svc, wid, Snapshot()))["status"] == "online"
        mock_clock.jump(2)
        await settle()
        snap = await ask(svc, wid, Snapshot())
        assert snap["status"] == "awaiting_agent" and snap["liveness_remaining"] is None
        event = sub.receive.receive_nowait()
        assert (event.type, event.payload) == ("WORKSPACE_OFFLINE", {"status": "awaiting_agent"})
    assert await status_row(svc, wid) == "awaiting_agent"

    # A later heartbeat recovers it.
    await ask(svc, wid, Heartbeat(HeartbeatPayload(workspace_id=wid)))
    assert await status_row(svc, wid) == "online"


async def test_heartbeats_keep_it_alive_and_managed_goes_offline(
    svc: Services, mock_clock: trio.testing.MockClock
) -> None:
    wid = await new_workspace(
        svc, "managed", runtime="langgraph", status=WorkspaceStatus.PROVISIONING
    )
    await ask(svc, wid, Heartbeat(HeartbeatPayload(workspace_id=wid)))
    assert await status_row(svc, wid) == "online"
    for _ in range(5):  # 5 x 100 s, each beat re-arms the 180 s deadline
        mock_clock.jump(100)
        await settle()
        await ask(svc, wid, Heartbeat(HeartbeatPayload(workspace_id=wid)))
    assert await status_row(svc, wid) == "online"
    mock_clock.jump(181)
    await settle()
    assert (await ask(svc, wid, Snapshot()))["status"] == "offline"
    assert await status_row(svc, wid) == "offline"
    recorded = await svc.store.fetch(
        "SELECT event_type, payload FROM structure_events WHERE workspace_id = $1"
        " ORDER BY created_at",
        wid,
    )
    assert [r["event_type"] for r in recorded][-1] == "WORKSPACE_OFFLINE"
    assert recorded[-1]["payload"] == {}


async def test_status_writes_are_conditional(svc: Services) -> None:
    """A row moved behind the actor's back (here: paused) is not overwritten by a heartbeat."""
    wid = await new_workspace(svc, "racy", status=WorkspaceStatus.OFFLINE)
    await ask(svc, wid, Snapshot())  # activate with the cached status "offline"
    await svc.store.execute("UPDATE workspaces SET status = 'paused' WHERE id = $1", wid)
    await ask(svc, wid, Heartbeat(HeartbeatPayload(workspace_id=wid)))
    assert await status_row(svc, wid) == "paused"
    assert (await ask(svc, wid, Snapshot()))["status"] == "paused"  # reloaded, not guessed


async def test_client_errors_do_not_crash_the_actor(svc: Services) -> None:
    wid = await new_workspace(svc, "strict")
    with pytest.raises(BadRequest, match="url is required for push-mode workspaces"):
        await ask(svc, wid, Register(None, CARD, "push"))
    assert (await ask(svc, wid, Snapshot()))["status"] == "awaiting_agent"


async def test_repeated_crashes_mark_the_workspace_failed_with_a_reason(
    svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    wid = await new_workspace(svc, "crashy", status=WorkspaceStatus.ONLINE)
    other = await new_workspace(svc, "bystander", status=WorkspaceStatus.ONLINE)
    await ask(svc, other, Snapshot())

    async def broken(self: Registration, *args: Any) -> None:
        if self.actor.workspace_id == wid:
            raise RuntimeError("bug in the status evaluation")

    monkeypatch.setattr(Registration, "_evaluate_status", broken)
    for _ in range(6):  # five restarts are allowed in the window; the sixth crash gives up
        with pytest.raises(ActorError):
            await ask(svc, wid, Heartbeat(HeartbeatPayload(workspace_id=wid)))
    with trio.fail_after(5):
        while await status_row(svc, wid) != "failed":
            await trio.sleep(0.01)
    row = await svc.workspaces.get(wid)
    assert row is not None and row["status"] == "failed"
    assert row["last_sample_error"] == GAVE_UP_REASON
    assert svc.directory.running(wid) is None
    # The neighbour is untouched and still answers.
    assert (await ask(svc, other, Snapshot()))["status"] == "online"


async def test_boot_activates_only_watched_workspaces(
    aio_loop: object, dsn: str, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, dsn)
    ids: dict[WorkspaceStatus, str] = {}
    async with running_platform(settings, dsn) as first:
        for status in WorkspaceStatus:
            ids[status] = await new_workspace(first, f"ws-{status}", status=status)
    async with running_platform(settings, dsn) as svc:
        active = {s for s, wid in ids.items() if svc.directory.running(wid) is not None}
        assert active == {
            WorkspaceStatus.ONLINE,
            WorkspaceStatus.DEGRADED,
            WorkspaceStatus.PROVISIONING,
            WorkspaceStatus.OFFLINE,
            WorkspaceStatus.AWAITING_AGENT,
        }
        # Others activate on demand; removed ones never do.
        assert await svc.directory.get(ids[WorkspaceStatus.PAUSED]) is not None
        from molecule.errors import Gone

        with pytest.raises(Gone):
            await svc.directory.get(ids[WorkspaceStatus.REMOVED])


async def test_liveness_expiry_does_not_fail_a_workspace_this_platform_cannot_run(
    svc: Services, mock_clock: trio.testing.MockClock
) -> None:
    """An agent that self-registered under an unknown id gets the default runtime; when it
    stops heartbeating it goes offline and stays there (no restart we cannot perform)."""
    wid = await new_workspace(
        svc, "self-registered", runtime="langgraph", status=WorkspaceStatus.ONLINE
    )
    await ask(svc, wid, Heartbeat(HeartbeatPayload(workspace_id=wid)))
    mock_clock.jump(181)
    await settle()
    snap = await ask(svc, wid, Snapshot())
    assert snap["status"] == "offline" and snap["restart_cycles"] == 0
    assert await status_row(svc, wid) == "offline"


async def test_push_dispatch_skips_the_mailbox_and_answers_when_the_actor_dies(
    svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A push to an idle actor is started from the sender's task (handle_now); when the
    incarnation running it ends mid-flight, the sender gets an error, not an endless wait
    (the A2A ask has no deadline of its own)."""
    wid = await new_workspace(svc, "hung")
    await ask(svc, wid, Register("http://localhost:9000", CARD, None))
    handled: list[str] = []
    original_handle = WorkspaceActor.handle

    async def spy(self: WorkspaceActor, msg: object) -> None:
        handled.append(type(msg).__name__)
        await original_handle(self, msg)

    async def hang(self: Dispatcher, target: Target, req: A2ARequest) -> ProxyResult:
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    async def broken(self: Registration, *args: Any) -> None:
        raise RuntimeError("crash while a dispatch is in flight")

    async def routable(url: str, policy: object) -> None:
        return None

    monkeypatch.setattr(WorkspaceActor, "handle", spy)
    monkeypatch.setattr(Dispatcher, "forward", hang)
    monkeypatch.setattr("molecule.actors.delivery.check_outbound_url", routable)
    envelope = {"jsonrpc": "2.0", "id": "1", "method": "message/send", "params": {}}
    errors: list[BaseException] = []
    with trio.fail_after(10):  # a lost reply would hang here
        async with trio.open_nursery() as nursery:

            async def call() -> None:
                try:
                    await send_a2a(
                        svc.directory, svc.workspaces, wid, envelope, "message/send", None
                    )
                except ActorError as exc:
                    errors.append(exc)

            # Once the actor answered this it waits on an empty mailbox (anything Register
            # queued came first).
            await ask(svc, wid, Snapshot())
            handled.clear()
            nursery.start_soon(call)
            await settle()
            assert handled == []  # the dispatch never went through the mailbox
            monkeypatch.setattr(Registration, "_evaluate_status", broken)
            with pytest.raises(ActorError):
                await ask(svc, wid, Heartbeat(HeartbeatPayload(workspace_id=wid)))
    assert len(errors) == 1 and isinstance(errors[0], ActorStopped)


@pytest.mark.parametrize(
    "asleep",
    [WorkspaceStatus.HIBERNATED, WorkspaceStatus.HIBERNATING, WorkspaceStatus.PAUSED],
)
async def test_a_late_register_does_not_revive_an_agent_the_platform_stopped(
    svc: Services, asleep: WorkspaceStatus
) -> None:
    """A register in flight when hibernate or pause stopped the agent lands afterwards: the
    workspace stays asleep (a restart, resume or wake starts the next agent)."""
    wid = await new_workspace(svc, "sleeper", runtime="echo", status=asleep)
    assert svc.pipeline.can_start("echo")
    with pytest.raises(Conflict, match=f"workspace is {asleep}"):
        await ask(svc, wid, Register("http://127.0.0.1:9000", CARD, None))
    assert await status_row(svc, wid) == str(asleep)
    assert (await ask(svc, wid, Snapshot()))["status"] == str(asleep)


async def test_an_external_agent_registering_while_hibernated_comes_online(
    svc: Services,
) -> None:
    """The platform stops no external agent, so its register is its own wake-up, as in the
    original."""
    wid = await new_workspace(svc, "remote", status=WorkspaceStatus.HIBERNATED)
    reply = await ask(svc, wid, Register("http://localhost:9000", CARD, None))
    assert reply["status"] == "registered"
    assert await status_row(svc, wid) == "online"


@pytest.mark.parametrize(
    ("runtime", "resumed", "event"),
    [("external", "awaiting_agent", "WORKSPACE_OFFLINE"), ("mock", "online", "WORKSPACE_ONLINE")],
)
async def test_resuming_an_agent_the_platform_does_not_run_is_recorded(
    svc: Services, runtime: str, resumed: str, event: str
) -> None:
    """Nothing starts, so there is no WORKSPACE_PROVISIONING: without an event of its own, a
    canvas that saw the pause would show the workspace paused until it reloads."""
    wid = await new_workspace(svc, runtime, runtime=runtime)
    assert await ask(svc, wid, Pause()) is True
    assert await status_row(svc, wid) == "paused"
    with svc.bus.subscribe(wid) as sub:
        assert await ask(svc, wid, Resume()) is True
        await settle()
        got = sub.receive.receive_nowait()
        assert (got.type, got.payload) == (event, {"status": resumed})
    assert await status_row(svc, wid) == resumed
    assert [e["event_type"] for e in await svc.bus.rows.recent(wid, 1)] == [event]  # stored


async def test_a_heartbeat_event_carries_the_last_error_only_when_it_changed(
    svc: Services,
) -> None:
    """An agent failing under the degrade threshold stays online; its new last error still
    reaches an open canvas (docs/compatibility.md#d54)."""
    wid = await new_workspace(svc, "flaky")

    async def beat(**fields: Any) -> list[tuple[str, dict[str, Any]]]:
        with svc.bus.subscribe(wid) as sub:
            await ask(svc, wid, Heartbeat(HeartbeatPayload(workspace_id=wid, **fields)))
            await settle()
            return [(e.type, e.payload) for e in drain(sub) if e.type == "WORKSPACE_HEARTBEAT"]

    plain = {"active_tasks": 0, "uptime_seconds": 0}
    assert await beat() == [("WORKSPACE_HEARTBEAT", plain)]
    err = {"error_rate": 0.2, "sample_error": "timeout"}
    assert await beat(**err) == [("WORKSPACE_HEARTBEAT", {**plain, "sample_error": "timeout"})]
    assert await beat(**err) == [("WORKSPACE_HEARTBEAT", plain)]  # unchanged: the original's shape
    assert await status_row(svc, wid) == "online"
    assert await beat() == [("WORKSPACE_HEARTBEAT", {**plain, "sample_error": ""})]  # cleared
    # Degraded, then recovered: the canvas clears the error on WORKSPACE_ONLINE, so the
    # recovering beat sends the error it still reports again.
    assert await beat(error_rate=0.9, sample_error="boom") == [
        ("WORKSPACE_HEARTBEAT", {**plain, "sample_error": "boom"})
    ]
    assert await status_row(svc, wid) == "degraded"
    assert await beat(error_rate=0.05, sample_error="boom") == [
        ("WORKSPACE_HEARTBEAT", {**plain, "sample_error": "boom"})
    ]
    assert await status_row(svc, wid) == "online"
