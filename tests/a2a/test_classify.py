"""Busy versus unreachable: every transport error type and the proxy's outcome for it.

First the rule itself (`molecule.a2a.classify`), for every type of the "talking to agents"
section of the exception tree; then the same outcomes through the real `Dispatcher`: a real
platform (its store, queue and bus), a real `AgentClient`, and loopback agents that provoke
each failure on the wire.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio

from molecule.a2a.classify import failure_outcome, is_busy
from molecule.a2a.client import AgentClient
from molecule.actors.dispatch import A2ARequest, Dispatcher, ProxyResult, Target
from molecule.errors import (
    AgentBusy,
    AgentConnectionLost,
    AgentUnreachable,
    CeilingTimeout,
    IdleTimeout,
    MoleculeError,
    PoolTimeout,
    ResponseHeaderTimeout,
    StillBusy,
)
from molecule.models import WorkspaceStatus
from molecule.platform import running_platform
from molecule.services import Services
from molecule.store.delegations import DelegationRows
from molecule.store.workspaces import NewWorkspace
from tests.a2a.test_client import raw_server, read_request
from tests.conftest import make_settings

UNREACHABLE = "failed to reach workspace agent"
RESTARTING = "workspace agent unreachable — container restart triggered"
NATIVE = "workspace agent busy — adapter handles retry (native_session)"
BUSY_TYPES = [
    AgentConnectionLost,
    PoolTimeout,
    ResponseHeaderTimeout,
    IdleTimeout,
    CeilingTimeout,
    StillBusy,
]


# -- the rule ---------------------------------------------------------------------------


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_every_busy_type_is_listed_here() -> None:
    """A new busy type added to the tree gets its classification checked below."""
    assert _subclasses(AgentBusy) == set(BUSY_TYPES)
    assert _subclasses(AgentUnreachable) == set()


@pytest.mark.parametrize("kind", BUSY_TYPES, ids=lambda k: k.__name__)
def test_busy_types_queue_or_answer_native_session(kind: type[AgentBusy]) -> None:
    exc = kind("detail")
    assert is_busy(exc)
    assert failure_outcome(exc, dead=False, session_capable=False) is None  # -> the queue
    native = failure_outcome(exc, dead=False, session_capable=True)
    assert native is not None
    assert native.status == 503
    assert native.body() == {
        "error": NATIVE,
        "busy": True,
        "retry_after": 30,
        "native_session": True,
    }
    assert native.headers == {"Retry-After": "30"}


@pytest.mark.parametrize("session_capable", [False, True])
def test_unreachable_is_502_never_queued(session_capable: bool) -> None:
    exc = AgentUnreachable("[Errno 111] Connection refused")
    assert not is_busy(exc)
    outcome = failure_outcome(exc, dead=False, session_capable=session_capable)
    assert outcome is not None
    assert (outcome.status, outcome.body(), outcome.headers) == (502, {"error": UNREACHABLE}, {})


@pytest.mark.parametrize("kind", [*BUSY_TYPES, AgentUnreachable], ids=lambda k: k.__name__)
@pytest.mark.parametrize("session_capable", [False, True])
def test_a_dead_agent_is_503_restarting_whatever_the_error(
    kind: type[AgentBusy | AgentUnreachable], session_capable: bool
) -> None:
    outcome = failure_outcome(kind("detail"), dead=True, session_capable=session_capable)
    assert outcome is not None
    assert outcome.status == 503
    assert outcome.body() == {"error": RESTARTING, "restarting": True}
    assert outcome.headers == {}


# -- through the dispatcher -------------------------------------------------------------


@pytest.fixture
async def svc(aio_loop: object, dsn: str, tmp_path: Path) -> AsyncIterator[Services]:
    async with running_platform(make_settings(tmp_path, dsn), dsn) as services:
        yield services


async def silent(stream: trio.SocketStream, index: int) -> None:
    """Takes the request, never answers."""
    await read_request(stream, bytearray())
    await trio.sleep_forever()


async def hang_up(stream: trio.SocketStream, index: int) -> None:
    """Takes the request and closes the connection without a byte of answer."""
    await read_request(stream, bytearray())


def refused_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    return f"http://127.0.0.1:{port}/a2a"


Scenario = Callable[[], AbstractAsyncContextManager[tuple[AgentClient, str, dict[str, Any]]]]


@asynccontextmanager
async def header_timeout() -> AsyncIterator[tuple[AgentClient, str, dict[str, Any]]]:
    async with raw_server(silent) as (_, url):
        yield AgentClient(header_timeout=0.3), url, {}


@asynccontextmanager
async def idle_timeout() -> AsyncIterator[tuple[AgentClient, str, dict[str, Any]]]:
    async with raw_server(silent) as (_, url):
        yield AgentClient(header_timeout=30), url, {"idle_timeout": 0.3}


@asynccontextmanager
async def ceiling() -> AsyncIterator[tuple[AgentClient, str, dict[str, Any]]]:
    async with raw_server(silent) as (_, url):
        yield AgentClient(header_timeout=30), url, {"timeout": 0.3}


@asynccontextmanager
async def connection_lost() -> AsyncIterator[tuple[AgentClient, str, dict[str, Any]]]:
    async with raw_server(hang_up) as (_, url):
        yield AgentClient(header_timeout=5), url, {}


@asynccontextmanager
async def pool_timeout() -> AsyncIterator[tuple[AgentClient, str, dict[str, Any]]]:
    """The only connection allowed to the agent is held by another, unanswered request."""
    client = AgentClient(header_timeout=30, max_per_host=1, pool_timeout=0.3)
    async with raw_server(silent) as (server, url), trio.open_nursery() as nursery:
        nursery.start_soon(partial(client.post, url, b"{}", {}))
        with trio.fail_after(5):
            while server.accepted == 0:
                await trio.sleep(0.01)
        yield client, url, {}
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def unreachable() -> AsyncIterator[tuple[AgentClient, str, dict[str, Any]]]:
    yield AgentClient(header_timeout=5), refused_url(), {}


BUSY_SCENARIOS = {
    "ResponseHeaderTimeout": header_timeout,
    "IdleTimeout": idle_timeout,
    "CeilingTimeout": ceiling,
    "AgentConnectionLost": connection_lost,
    "PoolTimeout": pool_timeout,
}


async def dispatch(
    svc: Services, scenario: Scenario, *, session_capable: bool = False, queue_id: str | None = None
) -> tuple[str, ProxyResult]:
    """Forward one message to a fresh workspace's agent as `scenario` sets it up."""
    row = await svc.workspaces.insert(
        NewWorkspace(
            name=f"target-{uuid.uuid4().hex[:6]}",
            role=None,
            tier=3,
            runtime="external",
            status=WorkspaceStatus.ONLINE,
        )
    )
    wid = str(row["id"])
    async with scenario() as (client, url, knobs):
        dispatcher = Dispatcher(
            client, svc.bus, svc.activity, svc.queue, svc.workspaces, DelegationRows(svc.store)
        )
        target = Target(
            workspace_id=wid,
            name="target",
            url=url,
            runtime="external",
            session_capable=session_capable,
            idle_timeout=knobs.get("idle_timeout", 30.0),
        )
        envelope = {
            "jsonrpc": "2.0",
            "id": "1",
            "method": "message/send",
            "params": {"message": {"role": "user", "messageId": str(uuid.uuid4()), "parts": []}},
        }
        request = A2ARequest(
            envelope=envelope,
            method="message/send",
            caller_id=None,
            timeout=knobs.get("timeout"),
            queue_id=queue_id,
        )
        # Caught here and raised below: out of the servers' nurseries, not in an ExceptionGroup.
        try:
            with trio.fail_after(10):
                result: ProxyResult | MoleculeError = await dispatcher.forward(target, request)
        except MoleculeError as exc:
            result = exc
        finally:
            await client.aclose()
    if isinstance(result, MoleculeError):
        raise result
    return wid, result


@pytest.mark.parametrize("name", list(BUSY_SCENARIOS))
async def test_busy_on_the_wire_is_queued_202(svc: Services, name: str) -> None:
    wid, result = await dispatch(svc, BUSY_SCENARIOS[name])
    assert result.status == 202
    body = result.json()
    assert body["queued"] is True and body["queue_depth"] == 1
    item = await svc.queue.get(body["queue_id"])
    assert item is not None
    assert str(item["workspace_id"]) == wid
    assert item["status"] == "queued"


@pytest.mark.parametrize("name", list(BUSY_SCENARIOS))
async def test_busy_on_the_wire_is_503_native_session(svc: Services, name: str) -> None:
    with pytest.raises(MoleculeError) as caught:
        await dispatch(svc, BUSY_SCENARIOS[name], session_capable=True)
    assert caught.value.status == 503
    assert caught.value.extra["native_session"] is True
    assert await svc.queue.workspaces_with_ready_items() == []


@pytest.mark.parametrize("name", list(BUSY_SCENARIOS))
async def test_busy_again_while_draining_is_still_busy(svc: Services, name: str) -> None:
    with pytest.raises(StillBusy):
        await dispatch(svc, BUSY_SCENARIOS[name], queue_id=str(uuid.uuid4()))
    assert await svc.queue.workspaces_with_ready_items() == []


@pytest.mark.parametrize("session_capable", [False, True])
async def test_unreachable_on_the_wire_is_502_and_not_queued(
    svc: Services, session_capable: bool
) -> None:
    with pytest.raises(MoleculeError) as caught:
        await dispatch(svc, unreachable, session_capable=session_capable)
    assert (caught.value.status, caught.value.body()) == (502, {"error": UNREACHABLE})
    assert await svc.queue.workspaces_with_ready_items() == []
