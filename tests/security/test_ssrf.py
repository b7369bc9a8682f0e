"""SSRF guards: the original's exact messages, every range, both relaxations, and DNS.

Hostname cases use a fake resolver installed through trio's own hook, so they never touch
the network; numeric hosts (`2130706433`) never reach it because trio resolves them itself.
Only `localhost` and a `.invalid` name go to the machine's real resolver.
"""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import AsyncIterator, Mapping
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

import pytest
import trio

from molecule.errors import UnsafeURL
from molecule.security.ssrf import (
    URLPolicy,
    check_outbound_url,
    dev_mode,
    saas_mode,
    validate_agent_url,
)

STRICT = URLPolicy()
SAAS = URLPolicy(saas=True)
DEV = URLPolicy(dev=True)

_FAKE_ZONE: Mapping[str, list[str]] = {
    "public.test": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
    "metadata.test": ["169.254.169.254"],
    "private.test": ["10.1.2.3"],
    "bridge.test": ["172.18.0.5"],
    "ula.test": ["fd12::5"],
    "fc.test": ["fc00::5"],
    "loop.test": ["127.0.0.1"],
    "mapped.test": ["::ffff:127.0.0.1"],
    "cgnat.test": ["100.64.0.1"],
    "doc6.test": ["2001:db8::1"],
    "mixed.test": ["93.184.216.34", "10.0.0.7"],
    "mixedmeta.test": ["93.184.216.34", "169.254.169.254"],
    "v6first.test": ["2606:4700:4700::1111", "93.184.216.34"],
    "nat64loop.test": ["64:ff9b::7f00:1"],
    "nat64private.test": ["64:ff9b::a00:1"],
    "nat64public.test": ["64:ff9b::808:808", "93.184.216.34"],
    "sixtofourmeta.test": ["2002:a9fe:a9fe::1"],
    "teredoloop.test": ["2001:0:4136:e378:8000:63bf:80ff:fffe"],
    "bench.test": ["93.184.216.34", "198.18.0.1"],
    "broadcast.test": ["255.255.255.255"],
    "empty.test": [],
}


class FakeResolver(trio.abc.HostnameResolver):
    """Answers from `_FAKE_ZONE`; `hang.test` never answers; anything else is NXDOMAIN."""

    def __init__(self) -> None:
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
        if name == "hang.test":
            await trio.sleep_forever()
        if name not in _FAKE_ZONE:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        out: list[Any] = []
        for addr in _FAKE_ZONE[name]:
            if ":" in addr:
                out.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (addr, 0, 0, 0)))
            else:
                out.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (addr, 0)))
        return out

    async def getnameinfo(self, sockaddr: Any, flags: int) -> tuple[str, str]:
        # Part of trio's resolver interface; the SSRF checks only resolve names forward.
        raise NotImplementedError("the fake resolver answers forward lookups only")


@pytest.fixture
async def fake_dns() -> AsyncIterator[FakeResolver]:
    resolver = FakeResolver()
    previous = trio.socket.set_custom_hostname_resolver(resolver)
    try:
        yield resolver
    finally:
        trio.socket.set_custom_hostname_resolver(previous)


async def _agent_error(url: str, policy: URLPolicy) -> str | None:
    try:
        await validate_agent_url(url, policy)
    except UnsafeURL as exc:
        assert str(exc) == exc.message
        return exc.message
    return None


async def _outbound_error(url: str, policy: URLPolicy) -> str | None:
    try:
        await check_outbound_url(url, policy)
    except UnsafeURL as exc:
        assert str(exc) == exc.message
        return exc.message
    return None


# --- validate_agent_url ------------------------------------------------------------------

_BLOCKED = "url targets a blocked address: "


@pytest.mark.parametrize(
    ("url", "policy", "expected"),
    [
        # loopback, always (no dev relaxation here)
        ("http://127.0.0.1:8000", STRICT, _BLOCKED + "loopback"),
        ("http://127.8.9.10/", SAAS, _BLOCKED + "loopback"),
        ("http://127.0.0.1:8000", DEV, _BLOCKED + "loopback"),
        ("http://[::1]:8000/", STRICT, _BLOCKED + "loopback"),
        ("http://[::ffff:127.0.0.1]/", DEV, _BLOCKED + "loopback"),
        ("http://[::ffff:7f00:1]/", STRICT, _BLOCKED + "loopback"),
        # unspecified: stricter than the original
        ("http://0.0.0.0:8000", STRICT, _BLOCKED + "unspecified"),
        ("http://0.1.2.3", SAAS, _BLOCKED + "unspecified"),
        ("http://[::]/", STRICT, _BLOCKED + "unspecified"),
        # link-local / metadata
        ("http://169.254.169.254/latest/meta-data", SAAS, _BLOCKED + "link-local/metadata"),
        ("http://[::ffff:169.254.169.254]/", STRICT, _BLOCKED + "link-local/metadata"),
        ("http://[fe80::1]/", SAAS, _BLOCKED + "link-local"),
        ("http://[fe80::1%25eth0]:80/", STRICT, _BLOCKED + "link-local"),
        # TEST-NETs, CGNAT, multicast, documentation, fc00::/8
        ("http://192.0.2.1", SAAS, _BLOCKED + "TEST-NET"),
        ("http://198.51.100.7", SAAS, _BLOCKED + "TEST-NET"),
        ("https://203.0.113.9:443/x", SAAS, _BLOCKED + "TEST-NET"),
        ("http://100.64.0.1", SAAS, _BLOCKED + "CGNAT"),
        ("http://100.127.255.255", STRICT, _BLOCKED + "CGNAT"),
        ("http://224.0.0.1", SAAS, _BLOCKED + "multicast"),
        ("http://239.255.255.250", STRICT, _BLOCKED + "multicast"),
        ("http://[fc00::1]", SAAS, _BLOCKED + "unique-local"),
        ("http://[2001:db8::1]", SAAS, _BLOCKED + "documentation"),
        # private ranges: blocked unless saas (dev does not matter)
        ("http://10.0.0.1", STRICT, _BLOCKED + "private (RFC1918)"),
        ("http://10.0.0.1", DEV, _BLOCKED + "private (RFC1918)"),
        ("http://10.0.0.1", SAAS, None),
        ("http://172.16.0.1", STRICT, _BLOCKED + "private (RFC1918)"),
        ("http://172.31.255.255", STRICT, _BLOCKED + "private (RFC1918)"),
        ("http://172.20.0.1", SAAS, None),
        ("http://192.168.1.1:8000", STRICT, _BLOCKED + "private (RFC1918)"),
        ("http://192.168.1.1:8000", SAAS, None),
        ("http://[fd00::1]", STRICT, _BLOCKED + "unique-local"),
        ("http://[fd00::1]", SAAS, None),
        ("http://[::ffff:10.0.0.1]", STRICT, _BLOCKED + "private (RFC1918)"),
        ("http://[::ffff:10.0.0.1]", SAAS, None),
        # public, and just outside the blocked ranges
        ("http://8.8.8.8", STRICT, None),
        ("https://[2606:4700:4700::1111]:8443/a2a", STRICT, None),
        ("http://172.32.0.1", STRICT, None),
        ("http://100.128.0.1", STRICT, None),
        ("http://11.0.0.1", STRICT, None),
        ("http://[fe00::1]", STRICT, None),
    ],
)
async def test_validate_agent_url_ip_literals(
    url: str, policy: URLPolicy, expected: str | None, fake_dns: FakeResolver
) -> None:
    assert await _agent_error(url, policy) == expected
    assert fake_dns.lookups == []  # literals are never looked up


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("", "url is required"),
        ("   ", "url is required"),
        ("ftp://example.com/x", 'url scheme must be http or https, got "ftp"'),
        ("file:///etc/passwd", 'url scheme must be http or https, got "file"'),
        ("example.com:8000", 'url scheme must be http or https, got "example.com"'),
        ("//public.test/x", 'url scheme must be http or https, got ""'),
        ("http://[::1", "url is not valid: Invalid IPv6 URL"),
        ("http://public.test:abc/", "url is not valid: Port could not be cast to integer"),
        ("http://public.test:99999/", "url is not valid: Port out of range"),
        ("http://exa mple.test/", "url is not valid: whitespace in URL"),
        (" http://public.test/", "url is not valid: whitespace in URL"),
        ("http://public.test/\n", "url is not valid: invalid control character in URL"),
        ("http://pub\tlic.test/", "url is not valid: invalid control character in URL"),
        ("http:///path", "url is not valid: missing host"),
        ("http://:8000/", "url is not valid: missing host"),
    ],
)
async def test_validate_agent_url_rejects_malformed(
    url: str, expected: str, fake_dns: FakeResolver
) -> None:
    message = await _agent_error(url, STRICT)
    assert message is not None and message.startswith(expected), message
    assert fake_dns.lookups == []


async def test_validate_agent_url_allows_localhost_without_lookup(fake_dns: FakeResolver) -> None:
    # The fake resolver does not know "localhost": a lookup would fail the check.
    for url in ("http://localhost:8000", "https://LOCALHOST/a2a", "http://localhost"):
        assert await _agent_error(url, STRICT) is None
    assert fake_dns.lookups == []


def _resolved_to(host: str, label: str) -> str:
    return f'hostname "{host}" resolves to forbidden address: {_BLOCKED}{label}'


@pytest.mark.parametrize(
    ("url", "policy", "expected"),
    [
        ("http://public.test:8000/", STRICT, None),
        ("HTTPS://Public.Test/", STRICT, None),
        ("http://metadata.test/", SAAS, _resolved_to("metadata.test", "link-local/metadata")),
        ("http://loop.test/", DEV, _resolved_to("loop.test", "loopback")),
        ("http://mapped.test/", STRICT, _resolved_to("mapped.test", "loopback")),
        ("http://cgnat.test/", SAAS, _resolved_to("cgnat.test", "CGNAT")),
        ("http://doc6.test/", SAAS, _resolved_to("doc6.test", "documentation")),
        ("http://fc.test/", SAAS, _resolved_to("fc.test", "unique-local")),
        ("http://private.test/", STRICT, _resolved_to("private.test", "private (RFC1918)")),
        ("http://private.test/", DEV, _resolved_to("private.test", "private (RFC1918)")),
        ("http://private.test/", SAAS, None),
        ("http://bridge.test:8000/", STRICT, _resolved_to("bridge.test", "private (RFC1918)")),
        ("http://bridge.test:8000/", SAAS, None),
        ("http://ula.test/", STRICT, _resolved_to("ula.test", "unique-local")),
        ("http://ula.test/", SAAS, None),
        # every address counts, not just the first
        ("http://mixed.test/", STRICT, _resolved_to("mixed.test", "private (RFC1918)")),
        ("http://mixed.test/", SAAS, None),
        ("http://mixedmeta.test/", SAAS, _resolved_to("mixedmeta.test", "link-local/metadata")),
        # numeric spellings glibc accepts resolve to what they mean
        ("http://2130706433/", STRICT, _resolved_to("2130706433", "loopback")),
        ("http://0x7f.1:8000/", STRICT, _resolved_to("0x7f.1", "loopback")),
        ("http://127.1/", STRICT, _resolved_to("127.1", "loopback")),
        # DNS failures
        (
            "http://nx.test/",
            STRICT,
            'hostname "nx.test" cannot be resolved (DNS error): Name or service not known',
        ),
        (
            "http://empty.test/",
            STRICT,
            'hostname "empty.test" cannot be resolved (DNS error): no addresses found',
        ),
    ],
)
async def test_validate_agent_url_hostnames(
    url: str, policy: URLPolicy, expected: str | None, fake_dns: FakeResolver
) -> None:
    assert await _agent_error(url, policy) == expected


async def test_validate_agent_url_dns_timeout(
    fake_dns: FakeResolver, autojump_clock: trio.abc.Clock
) -> None:
    policy = URLPolicy(dns_timeout=0.5)
    assert await _agent_error("http://hang.test/", policy) == (
        'hostname "hang.test" cannot be resolved (DNS error): lookup timed out after 0.5s'
    )
    assert await _outbound_error("http://hang.test/", policy) == (
        "DNS resolution blocked for hostname: hang.test"
    )


async def test_validate_agent_url_real_resolver_invalid_tld() -> None:
    message = await _agent_error("http://no-such-agent.invalid:8000/", STRICT)
    assert message is not None
    assert message.startswith('hostname "no-such-agent.invalid" cannot be resolved (DNS error): ')


# --- check_outbound_url ------------------------------------------------------------------

_LL = "forbidden loopback/unspecified/link-local IP: "
_PRIV = "forbidden private/metadata IP: "


@pytest.mark.parametrize(
    ("url", "policy", "expected"),
    [
        # loopback: only dev relaxes it
        ("http://127.0.0.1:8000/", STRICT, _LL + "127.0.0.1"),
        ("http://127.0.0.1:8000/", SAAS, _LL + "127.0.0.1"),
        ("http://127.0.0.1:8000/", DEV, None),
        ("http://127.9.9.9/", DEV, None),
        ("http://[::1]:8000/", STRICT, _LL + "::1"),
        ("http://[::1]:8000/", DEV, None),
        ("http://[::ffff:127.0.0.1]/", STRICT, _LL + "127.0.0.1"),
        ("http://[::ffff:127.0.0.1]/", DEV, None),
        # unspecified, link-local, link-local and interface-local multicast: never relaxed
        ("http://0.0.0.0:8000/", DEV, _LL + "0.0.0.0"),
        ("http://0.1.2.3/", DEV, _LL + "0.1.2.3"),
        ("http://[::]/", DEV, _LL + "::"),
        ("http://169.254.169.254/latest/meta-data", DEV, _LL + "169.254.169.254"),
        ("http://169.254.169.254/", SAAS, _LL + "169.254.169.254"),
        ("http://[::ffff:169.254.169.254]/", STRICT, _LL + "169.254.169.254"),
        ("http://[fe80::1]/", DEV, _LL + "fe80::1"),
        ("http://[fe80::1%25eth0]/", STRICT, _LL + "fe80::1"),
        ("http://224.0.0.251/", DEV, _LL + "224.0.0.251"),
        ("http://[ff02::1]/", DEV, _LL + "ff02::1"),
        ("http://[ff01::1]/", DEV, _LL + "ff01::1"),
        # TEST-NETs and CGNAT: never relaxed
        ("http://192.0.2.1/", DEV, _PRIV + "192.0.2.1"),
        ("http://198.51.100.1/", SAAS, _PRIV + "198.51.100.1"),
        ("http://203.0.113.1/", STRICT, _PRIV + "203.0.113.1"),
        ("http://100.64.0.1/", DEV, _PRIV + "100.64.0.1"),
        ("http://100.127.0.1/", SAAS, _PRIV + "100.127.0.1"),
        # RFC 1918: saas or dev relax it
        ("http://10.0.0.1/", STRICT, _PRIV + "10.0.0.1"),
        ("http://10.0.0.1/", SAAS, None),
        ("http://10.0.0.1/", DEV, None),
        ("http://172.16.0.1/", STRICT, _PRIV + "172.16.0.1"),
        ("http://172.31.0.1/", DEV, None),
        ("http://192.168.0.1/", STRICT, _PRIV + "192.168.0.1"),
        ("http://192.168.0.1/", SAAS, None),
        ("http://[::ffff:10.0.0.1]/", STRICT, _PRIV + "10.0.0.1"),
        ("http://[::ffff:10.0.0.1]/", SAAS, None),
        # fc00::/7: only fd00::/8 is relaxed
        ("http://[fc00::1]/", STRICT, _PRIV + "fc00::1"),
        ("http://[fc00::1]/", SAAS, _PRIV + "fc00::1"),
        ("http://[fc00::1]/", DEV, _PRIV + "fc00::1"),
        ("http://[fd00::1]/", STRICT, _PRIV + "fd00::1"),
        ("http://[fdff::1]/", SAAS, None),
        ("http://[fd00::1]/", DEV, None),
        # public and neighbours
        ("http://8.8.8.8/", STRICT, None),
        ("https://[2606:4700:4700::1111]/", STRICT, None),
        ("http://172.32.0.1/", STRICT, None),
        ("http://100.128.0.1/", STRICT, None),
        ("http://[fe00::1]/", STRICT, None),
    ],
)
async def test_check_outbound_url_ip_literals(
    url: str, policy: URLPolicy, expected: str | None, fake_dns: FakeResolver
) -> None:
    assert await _outbound_error(url, policy) == expected
    assert fake_dns.lookups == []


def _resolves(host: str, ip: str) -> str:
    return f"hostname {host} resolves to forbidden address {ip}"


@pytest.mark.parametrize(
    ("url", "policy", "expected"),
    [
        ("http://public.test/", STRICT, None),
        ("http://metadata.test/", DEV, _resolves("metadata.test", "169.254.169.254")),
        ("http://loop.test/", STRICT, _resolves("loop.test", "127.0.0.1")),
        ("http://loop.test/", DEV, None),
        ("http://mapped.test/", STRICT, _resolves("mapped.test", "127.0.0.1")),
        ("http://mapped.test/", DEV, None),
        ("http://private.test/", STRICT, _resolves("private.test", "10.1.2.3")),
        ("http://private.test/", SAAS, None),
        ("http://bridge.test:8000/", DEV, None),
        ("http://cgnat.test/", DEV, _resolves("cgnat.test", "100.64.0.1")),
        ("http://ula.test/", STRICT, _resolves("ula.test", "fd12::5")),
        ("http://ula.test/", SAAS, None),
        ("http://fc.test/", DEV, _resolves("fc.test", "fc00::5")),
        ("http://mixed.test/", STRICT, _resolves("mixed.test", "10.0.0.7")),
        ("http://mixed.test/", DEV, None),
        ("http://mixedmeta.test/", SAAS, _resolves("mixedmeta.test", "169.254.169.254")),
        ("http://2130706433/", STRICT, _resolves("2130706433", "127.0.0.1")),
        ("http://2130706433/", DEV, None),
        ("http://nx.test/", DEV, "DNS resolution blocked for hostname: nx.test"),
        ("http://empty.test/", DEV, "DNS resolution blocked for hostname: empty.test"),
    ],
)
async def test_check_outbound_url_hostnames(
    url: str, policy: URLPolicy, expected: str | None, fake_dns: FakeResolver
) -> None:
    assert await _outbound_error(url, policy) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ftp://public.test/", "forbidden scheme: ftp"),
        ("file:///etc/passwd", "forbidden scheme: file"),
        ("gopher://public.test:70/", "forbidden scheme: gopher"),
        ("", "forbidden scheme: "),
        ("http://", "empty hostname"),
        ("https:///path", "empty hostname"),
        ("http://[::1", "invalid URL: Invalid IPv6 URL"),
        ("http://public.test/\r\n", "invalid URL: invalid control character in URL"),
    ],
)
async def test_check_outbound_url_rejects_malformed(
    url: str, expected: str, fake_dns: FakeResolver
) -> None:
    assert await _outbound_error(url, DEV) == expected
    assert fake_dns.lookups == []


async def test_check_outbound_url_localhost_is_a_hostname() -> None:
    # Real resolver: localhost resolves to loopback, blocked unless dev.
    message = await _outbound_error("http://localhost:8000/", STRICT)
    assert message is not None
    assert re.fullmatch(
        r"hostname localhost resolves to forbidden address (127\.\d+\.\d+\.\d+|::1)", message
    )
    assert await _outbound_error("http://localhost:8000/", SAAS) == message
    assert await _outbound_error("http://localhost:8000/", DEV) is None


async def test_check_outbound_url_real_resolver_invalid_tld() -> None:
    assert await _outbound_error("http://no-such-agent.invalid/", DEV) == (
        "DNS resolution blocked for hostname: no-such-agent.invalid"
    )


# --- ranges added after review: IPv4 inside IPv6, and IPv4 that is never an agent ----------

_MODES = {"strict": STRICT, "saas": SAAS, "dev": DEV}

# What the address (or the IPv4 address it carries) is, and so how each check and mode treats
# it: the same as the direct form would be.
_KINDS: dict[str, tuple[str | None, dict[str, str | None]]] = {
    # kind: (validate_agent_url label, None = allowed; check_outbound_url class per mode)
    "loopback": ("loopback", {"strict": _LL, "saas": _LL, "dev": None}),
    "metadata": ("link-local/metadata", {"strict": _LL, "saas": _LL, "dev": _LL}),
    "rfc1918": ("private (RFC1918)", {"strict": _PRIV, "saas": None, "dev": None}),
    "public": (None, {"strict": None, "saas": None, "dev": None}),
    "benchmarking": ("benchmarking", {"strict": _PRIV, "saas": _PRIV, "dev": _PRIV}),
    "reserved": ("reserved", {"strict": _PRIV, "saas": _PRIV, "dev": _PRIV}),
    "IETF": ("IETF protocol assignments", {"strict": _PRIV, "saas": _PRIV, "dev": _PRIV}),
}

# (host as Python spells it, kind, transition mechanism or None for a direct IPv4 address).
# Teredo carries the client XOR 0xffffffff: 80ff:fffe is 127.0.0.1, 5601:5601 is
# 169.254.169.254, f5ff:fffe is 10.0.0.1, f7f7:f7f7 is 8.8.8.8.
_NEW_RANGES: list[tuple[str, str, str | None]] = [
    ("64:ff9b::7f00:1", "loopback", "NAT64"),
    ("64:ff9b::a9fe:a9fe", "metadata", "NAT64"),
    ("64:ff9b::a00:1", "rfc1918", "NAT64"),
    ("64:ff9b::c0a8:101", "rfc1918", "NAT64"),
    ("64:ff9b::c612:1", "benchmarking", "NAT64"),
    ("64:ff9b::808:808", "public", "NAT64"),
    ("64:ff9b:1:2:3:4:7f00:1", "loopback", "NAT64"),
    ("64:ff9b:1::a9fe:a9fe", "metadata", "NAT64"),
    ("64:ff9b:1::ac10:1", "rfc1918", "NAT64"),
    ("64:ff9b:1::808:808", "public", "NAT64"),
    ("2002:7f00:1::", "loopback", "6to4"),
    ("2002:a9fe:a9fe::1", "metadata", "6to4"),
    ("2002:ac10:1::", "rfc1918", "6to4"),
    ("2002:ffff:ffff::", "reserved", "6to4"),
    ("2002:808:808::1", "public", "6to4"),
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback", "Teredo"),
    ("2001:0:4136:e378:8000:63bf:5601:5601", "metadata", "Teredo"),
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "rfc1918", "Teredo"),
    ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", "public", "Teredo"),
    ("::7f00:1", "loopback", "IPv4-compatible"),
    ("::a9fe:a9fe", "metadata", "IPv4-compatible"),
    ("::a00:1", "rfc1918", "IPv4-compatible"),
    ("::808:808", "public", "IPv4-compatible"),
    ("::ffff:0:7f00:1", "loopback", "IPv4-translated"),
    ("::ffff:0:a9fe:a9fe", "metadata", "IPv4-translated"),
    ("::ffff:0:808:808", "public", "IPv4-translated"),
    ("198.18.0.1", "benchmarking", None),
    ("198.19.255.255", "benchmarking", None),
    ("255.255.255.255", "reserved", None),
    ("240.0.0.1", "reserved", None),
    ("250.1.2.3", "reserved", None),
    ("192.0.0.1", "IETF", None),
    ("192.0.0.170", "IETF", None),
    ("::ffff:198.18.0.1", "benchmarking", None),
    # neighbours just outside the new ranges
    ("198.17.255.255", "public", None),
    ("198.20.0.1", "public", None),
    ("192.0.1.1", "public", None),
    ("223.255.255.255", "public", None),
    ("64:ff9b::1:808:808", "public", None),  # in 64:ff9b::/32 but outside the /96
]
_NEW_RANGE_CASES = [
    pytest.param(host, kind, form, mode, id=f"{host}-{mode}")
    for host, kind, form in _NEW_RANGES
    for mode in _MODES
]


def _url(host: str) -> str:
    return f"http://[{host}]:8000/a2a" if ":" in host else f"http://{host}:8000/a2a"


@pytest.mark.parametrize(("host", "kind", "form", "mode"), _NEW_RANGE_CASES)
async def test_validate_agent_url_new_ranges(
    host: str, kind: str, form: str | None, mode: str, fake_dns: FakeResolver
) -> None:
    label, _ = _KINDS[kind]
    if label == "private (RFC1918)" and mode == "saas":
        label = None  # relaxed exactly where the direct form is
    if label is not None and form is not None:
        label = f"{label} via {form}"
    expected = None if label is None else _BLOCKED + label
    assert await _agent_error(_url(host), _MODES[mode]) == expected
    assert fake_dns.lookups == []


@pytest.mark.parametrize(("host", "kind", "form", "mode"), _NEW_RANGE_CASES)
async def test_check_outbound_url_new_ranges(
    host: str, kind: str, form: str | None, mode: str, fake_dns: FakeResolver
) -> None:
    violation = _KINDS[kind][1][mode]
    shown = ip_address(host)
    if isinstance(shown, IPv6Address) and shown.ipv4_mapped is not None:
        shown = shown.ipv4_mapped
    expected = None if violation is None else f"{violation}{shown}"
    assert await _outbound_error(_url(host), _MODES[mode]) == expected
    if expected is None:  # the address to dial is the literal itself
        assert await check_outbound_url(_url(host), _MODES[mode]) == shown
    assert fake_dns.lookups == []


@pytest.mark.parametrize(
    ("host", "policy", "agent_label", "outbound_ip"),
    [
        ("nat64loop.test", STRICT, "loopback via NAT64", "64:ff9b::7f00:1"),
        ("nat64loop.test", DEV, "loopback via NAT64", None),
        ("nat64private.test", STRICT, "private (RFC1918) via NAT64", "64:ff9b::a00:1"),
        ("nat64private.test", SAAS, None, None),
        ("nat64private.test", DEV, "private (RFC1918) via NAT64", None),
        ("nat64public.test", STRICT, None, None),
        ("sixtofourmeta.test", DEV, "link-local/metadata via 6to4", "2002:a9fe:a9fe::1"),
        ("teredoloop.test", SAAS, "loopback via Teredo", "2001:0:4136:e378:8000:63bf:80ff:fffe"),
        ("bench.test", DEV, "benchmarking", "198.18.0.1"),
        ("broadcast.test", SAAS, "reserved", "255.255.255.255"),
    ],
)
async def test_new_ranges_behind_a_hostname(
    host: str,
    policy: URLPolicy,
    agent_label: str | None,
    outbound_ip: str | None,
    fake_dns: FakeResolver,
) -> None:
    url = f"http://{host}:8000/"
    expected_agent = None if agent_label is None else _resolved_to(host, agent_label)
    assert await _agent_error(url, policy) == expected_agent
    expected_outbound = None if outbound_ip is None else _resolves(host, outbound_ip)
    assert await _outbound_error(url, policy) == expected_outbound


# --- check_outbound_url: the address to dial ----------------------------------------------


@pytest.mark.parametrize(
    ("url", "policy", "expected"),
    [
        ("http://8.8.8.8:8000/", STRICT, IPv4Address("8.8.8.8")),
        ("https://[2606:4700:4700::1111]/", STRICT, IPv6Address("2606:4700:4700::1111")),
        ("http://[::ffff:10.0.0.1]/", SAAS, IPv4Address("10.0.0.1")),
        ("http://[fd00::1%25eth0]/", SAAS, IPv6Address("fd00::1")),
        ("http://127.0.0.1:8000/", DEV, IPv4Address("127.0.0.1")),
        # a name: the first address of the answer, all of which passed
        ("http://public.test:8000/", STRICT, IPv4Address("93.184.216.34")),
        ("http://v6first.test/", STRICT, IPv6Address("2606:4700:4700::1111")),
        ("http://mixed.test/", DEV, IPv4Address("93.184.216.34")),
        ("http://mapped.test/", DEV, IPv4Address("127.0.0.1")),
        ("http://nat64public.test/", STRICT, IPv6Address("64:ff9b::808:808")),
    ],
)
async def test_check_outbound_url_returns_the_vetted_address(
    url: str, policy: URLPolicy, expected: IPv4Address | IPv6Address, fake_dns: FakeResolver
) -> None:
    assert await check_outbound_url(url, policy) == expected


# --- environment -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, False),
        ({"MOLECULE_DEPLOY_MODE": "saas"}, True),
        ({"MOLECULE_DEPLOY_MODE": "  SaaS \n"}, True),
        ({"MOLECULE_DEPLOY_MODE": "self-hosted", "MOLECULE_ORG_ID": "org-1"}, False),
        ({"MOLECULE_DEPLOY_MODE": "SelfHosted", "MOLECULE_ORG_ID": "org-1"}, False),
        ({"MOLECULE_DEPLOY_MODE": "standalone", "MOLECULE_ORG_ID": "org-1"}, False),
        ({"MOLECULE_DEPLOY_MODE": "", "MOLECULE_ORG_ID": "org-1"}, True),
        ({"MOLECULE_DEPLOY_MODE": "   ", "MOLECULE_ORG_ID": "org-1"}, True),
        ({"MOLECULE_ORG_ID": "org-1"}, True),
        ({"MOLECULE_ORG_ID": ""}, False),
        ({"MOLECULE_ORG_ID": "  "}, False),
    ],
)
def test_saas_mode(env: dict[str, str], expected: bool) -> None:
    assert saas_mode(env) is expected


def test_saas_mode_unknown_value_is_strict_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    env = {"MOLECULE_DEPLOY_MODE": "cloudy-with-a-typo", "MOLECULE_ORG_ID": "org-1"}
    with caplog.at_level(logging.WARNING, logger="molecule.security.ssrf"):
        assert saas_mode(env) is False
        assert saas_mode(env) is False
        assert saas_mode({"MOLECULE_DEPLOY_MODE": " CLOUDY-with-a-typo "}) is False
    warnings = [r for r in caplog.records if "MOLECULE_DEPLOY_MODE" in r.getMessage()]
    assert len(warnings) == 1
    assert "cloudy-with-a-typo" in warnings[0].getMessage()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False),
        ("", False),
        ("development", True),
        ("dev", True),
        ("  Development ", True),
        ("DEV", True),
        ("production", False),
        ("prod", False),
        ("develop", False),
        ("test", False),
    ],
)
def test_dev_mode(value: str | None, expected: bool) -> None:
    env = {} if value is None else {"MOLECULE_ENV": value}
    assert dev_mode(env) is expected


def test_policy_defaults_are_strict() -> None:
    policy = URLPolicy()
    assert policy.saas is False and policy.dev is False and policy.dns_timeout > 0
    with pytest.raises(AttributeError):
        policy.dev = True  # type: ignore[misc]


def test_unsafe_url_carries_message() -> None:
    exc = UnsafeURL("url is required")
    assert exc.message == "url is required" == str(exc)
    assert not isinstance(exc, OSError)
