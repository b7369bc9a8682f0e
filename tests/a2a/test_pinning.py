"""DNS rebinding: an outbound A2A call goes to the address the SSRF guard vetted.

A hostile agent's name can answer the guard's lookup with one address and the HTTP client's
own lookup, a moment later, with another (a zero-TTL record flipped in between). The guard
returns the address it vetted and the client dials exactly that one, keeping the name for the
Host header and TLS.

Two real agents share one port: the vetted one on 127.0.0.2 and the one a rebound name points
to on 127.0.0.3. `RebindingResolver`, installed through trio's resolver hook, answers the
first lookup of a name with 127.0.0.2 and every later one with 127.0.0.3; numeric hosts never
reach it (trio resolves them itself), so its log shows every name lookup that happened.
"""

from __future__ import annotations

import datetime
import json
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from molecule.a2a.client import AgentClient
from molecule.errors import AgentUnreachable
from molecule.security.ssrf import URLPolicy, check_outbound_url
from tests.a2a.agents import ScriptedAgent
from tests.conftest import Harness, make_settings, start_platform

NAME = "agent.rebind.test"
VETTED = IPv4Address("127.0.0.2")
REBOUND = IPv4Address("127.0.0.3")
DEV = URLPolicy(dev=True)  # loopback agents allowed, as on a developer's machine
BODY = json.dumps({"jsonrpc": "2.0", "id": "1", "method": "message/send", "params": {}}).encode()


class RebindingResolver(trio.abc.HostnameResolver):
    """`name` resolves to 127.0.0.2 the first time and to 127.0.0.3 ever after."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lookups: list[str] = []

    async def getaddrinfo(
        self,
        host: bytes | None,
        port: bytes | str | int | None,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[Any]:
        name = (host or b"").decode("ascii")
        self.lookups.append(name)
        if name != self.name:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        answer = VETTED if self.lookups.count(name) == 1 else REBOUND
        sockaddr = (str(answer), int(port or 0))
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr)]

    async def getnameinfo(self, sockaddr: Any, flags: int) -> tuple[str, str]:
        # Part of trio's resolver interface; nothing here resolves addresses back to names.
        raise NotImplementedError("the rebinding resolver answers forward lookups only")


@pytest.fixture
async def rebinding_dns() -> AsyncIterator[RebindingResolver]:
    resolver = RebindingResolver(NAME)
    previous = trio.socket.set_custom_hostname_resolver(resolver)
    try:
        yield resolver
    finally:
        trio.socket.set_custom_hostname_resolver(previous)


async def serve_on(
    nursery: trio.Nursery,
    agent: ScriptedAgent,
    host: str,
    port: int = 0,
    tls: tuple[Path, Path] | None = None,
) -> int:
    """Serve `agent` on `host:port` in `nursery`; returns the bound port."""
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.graceful_timeout = 0.1
    if tls is not None:
        config.certfile, config.keyfile = str(tls[0]), str(tls[1])
    binds = await nursery.start(
        lambda task_status: serve(agent, config, task_status=task_status)  # type: ignore[arg-type]
    )
    return int(binds[0].rsplit(":", 1)[1])


@dataclass
class Pair:
    vetted: ScriptedAgent  # on 127.0.0.2: what the guard approved
    rebound: ScriptedAgent  # on 127.0.0.3, same port: where the name points afterwards
    port: int


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    async with trio.open_nursery() as nursery:
        vetted, rebound = ScriptedAgent(reply_text="vetted"), ScriptedAgent(reply_text="rebound")
        port = await serve_on(nursery, vetted, str(VETTED))
        await serve_on(nursery, rebound, str(REBOUND), port)
        yield Pair(vetted, rebound, port)
        nursery.cancel_scope.cancel()


def reply_text(body: bytes) -> str:
    return str(json.loads(body)["result"]["parts"][0]["text"])


async def post(client: AgentClient, url: str, address: IPv4Address | IPv6Address | None) -> str:
    """One request through `client`; the text of the agent that answered."""
    with trio.fail_after(10):
        response = await client.post(url, BODY, {}, address=address)
        try:
            assert response.status == 200
            return reply_text(await response.read())
        finally:
            await response.aclose()


# -- the client dials the vetted address ------------------------------------------------


async def test_pinned_post_reaches_the_vetted_address_after_a_rebind(
    rebinding_dns: RebindingResolver, pair: Pair
) -> None:
    url = f"http://{NAME}:{pair.port}/a2a"
    address = await check_outbound_url(url, DEV)
    assert address == VETTED
    client = AgentClient(header_timeout=5)
    try:
        assert await post(client, url, address) == "vetted"
        [received] = pair.vetted.received
        assert received.headers["host"] == f"{NAME}:{pair.port}"
        assert received.path == "/a2a"
        assert pair.rebound.received == []
        assert rebinding_dns.lookups == [NAME]  # the guard's lookup only

        # What the pin prevents: a client that resolves the name itself follows the rebind.
        assert await post(client, url, None) == "rebound"
        assert len(pair.vetted.received) == 1
        assert rebinding_dns.lookups == [NAME, NAME]
    finally:
        await client.aclose()


async def test_keepalive_pool_never_mixes_pinned_addresses(
    rebinding_dns: RebindingResolver, pair: Pair
) -> None:
    url = f"http://{NAME}:{pair.port}/a2a"
    client = AgentClient(header_timeout=5)
    try:
        assert await post(client, url, VETTED) == "vetted"
        assert client.idle_connections(url, VETTED) == 1
        # Same origin, other address: the idle connection to 127.0.0.2 must not be used.
        assert await post(client, url, REBOUND) == "rebound"
        assert await post(client, url, VETTED) == "vetted"
        assert await post(client, url, REBOUND) == "rebound"
        assert client.connections_opened == 2  # one per address, each reused once
        assert client.idle_connections(url, VETTED) == 1
        assert client.idle_connections(url, REBOUND) == 1
        assert client.idle_connections(url) == 0  # unpinned requests have a pool of their own
        assert len(pair.vetted.received) == len(pair.rebound.received) == 2
        assert rebinding_dns.lookups == []
    finally:
        await client.aclose()


def certificate_for(name: str, directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate valid for the DNS name `name` only (no IP address)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_pinned_https_verifies_the_url_hostname(
    rebinding_dns: RebindingResolver, tmp_path: Path
) -> None:
    cert, key = certificate_for(NAME, tmp_path)
    client = AgentClient(header_timeout=5, ssl_context=ssl.create_default_context(cafile=cert))
    agent = ScriptedAgent(reply_text="tls")
    async with trio.open_nursery() as nursery:
        port = await serve_on(nursery, agent, str(VETTED), tls=(cert, key))
        try:
            # The certificate names NAME, not 127.0.0.2: this only works if TLS checks NAME.
            assert await post(client, f"https://{NAME}:{port}/a2a", VETTED) == "tls"
            assert agent.received[0].headers["host"] == f"{NAME}:{port}"
            # Another name pinned to the same server is refused: the name is what is verified.
            with pytest.raises(AgentUnreachable):
                await post(client, f"https://other.rebind.test:{port}/a2a", VETTED)
            assert len(agent.received) == 1
            assert client.open_connections() == 1
        finally:
            await client.aclose()
            nursery.cancel_scope.cancel()
    assert rebinding_dns.lookups == []


# -- the proxy: workspace actor and dispatcher ------------------------------------------


async def test_proxy_dispatch_is_pinned_to_the_checked_address(
    aio_loop: object, dsn: str, tmp_path: Path, pair: Pair
) -> None:
    """Through the platform: register, then two A2A messages, both to the vetted agent.

    `localhost` is the name that rebinds here, because registration accepts it without a
    lookup; development mode lets the outbound check allow loopback.
    """
    resolver = RebindingResolver("localhost")
    previous = trio.socket.set_custom_hostname_resolver(resolver)
    settings = make_settings(tmp_path, dsn, dev_mode=True)
    try:
        async with trio.open_nursery() as nursery:
            svc, base, stop = await start_platform(settings, dsn, nursery)
            async with httpx.AsyncClient(base_url=base, timeout=15) as http:
                h = Harness(svc, base, http)
                created = await h.create_external("pinned")
                connection = created["connection"]
                assert isinstance(connection, dict)
                r = await http.post(
                    "/registry/register",
                    json={
                        "id": created["id"],
                        "url": f"http://localhost:{pair.port}",
                        "agent_card": {"name": "agent", "description": "d", "version": "1"},
                    },
                    headers={"Authorization": f"Bearer {connection['auth_token']}"},
                )
                assert r.status_code == 200, r.text
                for _ in range(2):
                    r = await http.post(
                        f"/workspaces/{created['id']}/a2a", content=BODY, headers=h.admin
                    )
                    assert r.status_code == 200, r.text
                    assert reply_text(r.content) == "vetted"
            stop.set()
    finally:
        trio.socket.set_custom_hostname_resolver(previous)
    assert len(pair.vetted.received) == 2
    assert pair.rebound.received == []
    assert {r.headers["host"] for r in pair.vetted.received} == {f"localhost:{pair.port}"}
    # One check, reused within URL_CHECK_TTL; the client never looked the name up.
    assert resolver.lookups == ["localhost"]
