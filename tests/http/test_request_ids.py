"""X-Request-ID on every response, and in the JSON log lines of that request.

Over real HTTP, for Quart routes and the raw ASGI routes alike:
- every answer carries an id (a fresh one per request), refusals, unknown paths and the
  WebSocket handshake included;
- a well-formed incoming id is echoed; a malicious one (too long, spaces, control characters,
  non-ASCII) is replaced;
- the JSON log lines written while handling a request carry its id, its operation and the
  workspace; an actor activated by a request does not keep logging with that request's id.
"""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import trio

from molecule.actors.messages import Snapshot
from molecule.observability.logs import JsonFormatter
from tests.a2a.agents import free_port
from tests.conftest import ADMIN_TOKEN, Harness

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the platform logs meanwhile, as `molecule serve --log-format json` writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("molecule")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = stream.getvalue().splitlines()
    parsed = [json.loads(line) for line in lines]  # every line is one JSON object
    for entry in parsed:
        assert {"time", "level", "logger", "message"} <= entry.keys(), entry
    return parsed


async def test_every_answer_has_a_fresh_request_id(platform: Harness) -> None:
    h = platform
    answers = [
        await h.client.get("/health"),  # Quart
        await h.client.get("/workspaces"),  # Quart, refused
        await h.client.get("/no/such/route"),  # nobody
        await h.client.post(f"/workspaces/{uuid.uuid4()}/a2a", content=b"{}"),  # raw, refused
        await h.client.get(f"/workspaces/{uuid.uuid4()}/a2a"),  # raw path, wrong method
    ]
    assert [r.status_code for r in answers] == [200, 401, 404, 401, 405]
    ids = [r.headers["x-request-id"] for r in answers]
    assert all(GENERATED.fullmatch(i) for i in ids), ids
    assert len(set(ids)) == len(ids)
    assert all(len(r.headers.get_list("x-request-id")) == 1 for r in answers)


async def test_a_well_formed_incoming_id_is_echoed(platform: Harness) -> None:
    h = platform
    for incoming in (str(uuid.uuid4()), "nginx-7f3a9c01:req/42+x=", "a" * 128):
        sent = {"X-Request-ID": incoming}
        assert (await h.client.get("/health", headers=sent)).headers["x-request-id"] == incoming
        r = await h.client.post(f"/workspaces/{uuid.uuid4()}/a2a", content=b"{}", headers=sent)
        assert r.status_code == 401 and r.headers["x-request-id"] == incoming


async def test_a_malicious_incoming_id_is_replaced(platform: Harness) -> None:
    h = platform
    for incoming in ("a" * 129, "x" * 5000, "two words", "tab\there", b"caf\xc3\xa9", "-lead"):
        for r in (
            await h.client.get("/health", headers={"X-Request-ID": incoming}),
            await h.client.post(
                f"/workspaces/{uuid.uuid4()}/a2a",
                content=b"{}",
                headers={"X-Request-ID": incoming},
            ),
        ):
            assert GENERATED.fullmatch(r.headers["x-request-id"]), (incoming, r.headers)


async def test_control_characters_never_reach_a_response(platform: Harness) -> None:
    """A raw request whose id holds a control character: the server refuses the request
    outright or the id is replaced; it is never written back."""
    host, port = platform.base_url.removeprefix("http://").rsplit(":", 1)
    stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        await stream.send_all(
            b"GET /health HTTP/1.1\r\nHost: x\r\nX-Request-ID: evil\x01\x1b[31m\r\n"
            b"Connection: close\r\n\r\n"
        )
        answer = b""
        with trio.fail_after(10):  # the head is enough (the server may keep the socket)
            while b"\r\n\r\n" not in answer and (chunk := await stream.receive_some(65536)):
                answer += chunk
    head = answer.split(b"\r\n\r\n", 1)[0]
    assert b"evil" not in answer and b"\x1b" not in answer
    if head.startswith(b"HTTP/1.1 200"):
        ids = [line for line in head.split(b"\r\n") if line.lower().startswith(b"x-request-id:")]
        assert len(ids) == 1 and GENERATED.fullmatch(ids[0].split(b":", 1)[1].strip().decode())
    else:
        assert head.startswith(b"HTTP/1.1 400"), head


async def test_json_log_lines_carry_the_request_id(
    dev_platform: Harness, json_lines: io.StringIO
) -> None:
    h = dev_platform
    # A Quart route that logs: its line names the request, the route and the workspace.
    created = await h.create_external("logged")
    wid = str(created["id"])
    rotated = await h.client.post(f"/workspaces/{wid}/external/rotate", headers=ADMIN)
    assert rotated.status_code == 200, rotated.text
    [rotate_line] = [r for r in records(json_lines) if "credentials rotated" in r["message"]]
    assert rotate_line["request_id"] == rotated.headers["x-request-id"]
    assert rotate_line["workspace_id"] == wid
    assert rotate_line["operation"] == "external.rotate"
    assert rotate_line["level"] == "INFO" and rotate_line["logger"] == "molecule.http.external"

    # The raw A2A route: the forward runs in the actor's nursery, and still logs as the request.
    token = rotated.json()["connection"]["auth_token"]
    r = await h.client.post(
        "/registry/register",
        json={"id": wid, "url": f"http://localhost:{free_port()}", "agent_card": {"name": "x"}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text
    incoming = str(uuid.uuid4())
    sent = await h.client.post(
        f"/workspaces/{wid}/a2a",
        json={"method": "message/send", "params": {"message": {"content": "hi"}}},
        headers={**ADMIN, "X-Request-ID": incoming},
    )
    assert sent.status_code == 502 and sent.headers["x-request-id"] == incoming
    [failed] = [r for r in records(json_lines) if "A2A message/send failed" in r["message"]]
    assert failed["request_id"] == incoming
    assert failed["workspace_id"] == wid and failed["operation"] == "a2a"
    assert failed["logger"] == "molecule.actors.dispatch"

    # The actor was activated by a request; what it logs by itself later is not that request's.
    ref = h.svc.directory.running(wid)
    assert ref is not None
    ref.tell(object())  # an unknown message: logged by the actor
    await ref.ask(Snapshot(), 5)
    [unknown] = [r for r in records(json_lines) if "unknown message" in r["message"]]
    assert unknown["workspace_id"] == wid and "request_id" not in unknown


async def test_a_websocket_handshake_carries_the_request_id(platform: Harness) -> None:
    host, port = platform.base_url.removeprefix("http://").rsplit(":", 1)
    stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        await stream.send_all(
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            b"Authorization: Bearer " + ADMIN_TOKEN.encode() + b"\r\n"
            b"X-Request-ID: ws-handshake-1\r\n\r\n"
        )
        answer = b""
        with trio.fail_after(10):
            while b"\r\n\r\n" not in answer and (chunk := await stream.receive_some(65536)):
                answer += chunk
    head = answer.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 101"), head
    assert b"\r\nx-request-id: ws-handshake-1" in head
