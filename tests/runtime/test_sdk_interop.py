"""The a2a-sdk client (1.x) talks to the runtime: v0.3 and v1.0, plain and streaming, using
the card the runtime serves (its `JSONRPC` interfaces make it resolvable)."""

from __future__ import annotations

import uuid
from contextlib import aclosing
from typing import Any

import httpx
import pytest
import trio

from tests.runtime.conftest import Harness

pytest.importorskip("a2a.client")


async def sdk_send(url: str, text: str, *, version: str, streaming: bool) -> list[Any]:
    from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
    from a2a.types.a2a_pb2 import AgentInterface, Message, Part, Role, SendMessageRequest

    async with httpx.AsyncClient(timeout=10) as http:
        card = await A2ACardResolver(http, url).get_agent_card()
        # keep only the interface of the version under test, pointed at the loopback URL
        wanted = [i for i in card.supported_interfaces if i.protocol_version == version]
        assert wanted and wanted[0].protocol_binding == "JSONRPC"
        del card.supported_interfaces[:]
        card.supported_interfaces.append(
            AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version=version)
        )
        client = ClientFactory(ClientConfig(streaming=streaming, httpx_client=http)).create(card)
        request = SendMessageRequest(
            message=Message(
                role=Role.ROLE_USER, message_id=str(uuid.uuid4()), parts=[Part(text=text)]
            )
        )
        events = []
        with trio.fail_after(10):
            async with aclosing(client.send_message(request)) as stream:
                async for event in stream:
                    events.append(event)
        await client.close()
        return events


# a2a-sdk's client returns from its stream loop at the first Message without closing the
# transport's generators (a2a/client/base_client.py `_process_stream`); their GC warnings
# are the SDK's, not ours.
SDK_STREAM_LEAK = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.mark.parametrize("version", ["0.3", "1.0"])
@pytest.mark.parametrize("streaming", [False, pytest.param(True, marks=SDK_STREAM_LEAK)])
async def test_a2a_sdk_client(harness: Harness, version: str, streaming: bool) -> None:
    async with harness.runtime() as running:
        events = await sdk_send(running.url, f"hi {version}", version=version, streaming=streaming)
    messages = [e.message for e in events if e.HasField("message")]
    assert [p.text for p in messages[-1].parts] == [f"echo: hi {version}"]
    if streaming:
        assert any(e.HasField("status_update") for e in events)
