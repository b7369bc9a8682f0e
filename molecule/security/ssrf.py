"""SSRF guards for agent URLs.

The platform makes HTTP calls to URLs that agents hand it (register, create, agent cards), so
a hostile or careless agent could aim the platform at its own loopback services, at a cloud
metadata endpoint, or into the private network it runs in. Two checks exist, as in the
original, and they deliberately differ (what each blocks beyond the original:
docs/compatibility.md#d25):

- `validate_agent_url` runs when a URL is *stored* (register, create). It never relaxes for
  development, and lets the literal hostname `localhost` through without a lookup.
- `check_outbound_url` (the original's `isSafeURL`) runs before *every* outbound dispatch, so
  a name that resolved to a public address at register time but points inward now (DNS
  rebinding, an edited record) is still caught. Development mode relaxes loopback and
  RFC 1918 here, because a local platform reaches its agents on 127.0.0.1 or a Docker bridge.

Both take an explicit `URLPolicy` instead of reading the environment, so callers decide once
(see `saas_mode` / `dev_mode`) and tests can state the mode they exercise. DNS goes through
`trio.socket.getaddrinfo`, which honours trio's custom hostname resolver hook. An IPv6
address carrying an IPv4 one (NAT64, 6to4, Teredo, ...) is judged as that IPv4 address.

Residual risk: `check_outbound_url` returns the address it vetted and the dispatcher connects
to exactly that one (`AgentClient.post(..., address=)`; Host and TLS name stay the URL's), so
a record changed after the check (DNS rebinding) is not followed. Left: a name is pinned to
its first address, no fallback; NAT64 local-use is read with IPv4 in the last 32 bits only
(RFC 6052 allows others); a caller connecting to a stored URL without this check and pin
reopens both holes.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from urllib.parse import urlsplit

import trio

from molecule.errors import DNSLookupFailed, UnsafeURL

_log = logging.getLogger(__name__)

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

DNS_TIMEOUT_SECONDS = 5.0
"""Bound on one name lookup. getaddrinfo can hang for a long time on a broken resolver, and
every outbound call must have a timeout; an unanswered lookup is treated as a DNS failure."""


@dataclass(frozen=True)
class URLPolicy:
    """Which relaxations apply; build it from `saas_mode` / `dev_mode` at startup.

    `saas`: the platform runs as a SaaS tenant whose agents live on the provider's private
    network, so RFC 1918 and fd00::/8 are allowed by both checks.
    `dev`: local development; `check_outbound_url` only allows loopback and RFC 1918.
    `validate_agent_url` ignores it, as the original does.
    """

    saas: bool = False
    dev: bool = False
    dns_timeout: float = DNS_TIMEOUT_SECONDS


# --- environment -------------------------------------------------------------------------

_SAAS_VALUES = frozenset({"saas"})
_SELF_HOSTED_VALUES = frozenset({"self-hosted", "selfhosted", "standalone"})
_DEV_VALUES = frozenset({"development", "dev"})
_warned_deploy_modes: set[str] = set()


def saas_mode(env: Mapping[str, str]) -> bool:
    """Whether SaaS SSRF relaxations apply, as the original's `saasMode()` decides it.

    `MOLECULE_DEPLOY_MODE` wins when set; an unknown value falls back to strict (an operator
    typo must not open the private network) and is logged once per distinct value so it is
    noticed without flooding the log. When unset, a non-empty `MOLECULE_ORG_ID` means a SaaS
    tenant.
    """
    raw = env.get("MOLECULE_DEPLOY_MODE", "")
    mode = raw.strip().lower()
    if mode in _SAAS_VALUES:
        return True
    if mode in _SELF_HOSTED_VALUES:
        return False
    if mode:
        if mode not in _warned_deploy_modes:
            _warned_deploy_modes.add(mode)
            _log.warning(
                "MOLECULE_DEPLOY_MODE=%r is not one of saas, self-hosted, selfhosted, "
                "standalone; applying strict (self-hosted) SSRF rules",
                raw,
            )
        return False
    return env.get("MOLECULE_ORG_ID", "").strip() != ""


def dev_mode(env: Mapping[str, str]) -> bool:
    """Whether `MOLECULE_ENV` names development (`development` or `dev`, any case)."""
    return env.get("MOLECULE_ENV", "").strip().lower() in _DEV_VALUES


# --- address tables ----------------------------------------------------------------------


def _nets(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ip_network(c) for c in cidrs)


# validate_agent_url: (network, label). 0.0.0.0/8 and :: are not in the original's list; we
# block them too (stricter than the original) because connecting to 0.0.0.0 or :: reaches
# the local host on Linux, which makes them loopback in disguise.
_AGENT_ALWAYS_BLOCKED: tuple[tuple[IPNetwork, str], ...] = (
    (ip_network("0.0.0.0/8"), "unspecified"),
    (ip_network("::/128"), "unspecified"),
    (ip_network("127.0.0.0/8"), "loopback"),
    (ip_network("::1/128"), "loopback"),
    (ip_network("169.254.0.0/16"), "link-local/metadata"),
    (ip_network("fe80::/10"), "link-local"),
    (ip_network("192.0.2.0/24"), "TEST-NET"),
    (ip_network("198.51.100.0/24"), "TEST-NET"),
    (ip_network("203.0.113.0/24"), "TEST-NET"),
    (ip_network("100.64.0.0/10"), "CGNAT"),
    (ip_network("224.0.0.0/4"), "multicast"),
    (ip_network("198.18.0.0/15"), "benchmarking"),
    (ip_network("240.0.0.0/4"), "reserved"),  # includes broadcast, 255.255.255.255
    (ip_network("192.0.0.0/24"), "IETF protocol assignments"),
    (ip_network("fc00::/8"), "unique-local"),
    (ip_network("2001:db8::/32"), "documentation"),
)
_AGENT_BLOCKED_UNLESS_SAAS: tuple[tuple[IPNetwork, str], ...] = (
    (ip_network("10.0.0.0/8"), "private (RFC1918)"),
    (ip_network("172.16.0.0/12"), "private (RFC1918)"),
    (ip_network("192.168.0.0/16"), "private (RFC1918)"),
    (ip_network("fd00::/8"), "unique-local"),
)

# check_outbound_url, first class ("loopback/unspecified/link-local"), mirroring Go's
# IsLoopback / IsUnspecified / IsLinkLocalUnicast / IsLinkLocalMulticast /
# IsInterfaceLocalMulticast. Go's IsUnspecified is only 0.0.0.0 and ::; we take all of
# 0.0.0.0/8 (stricter than the original, same reason as above).
_LOOPBACK = _nets("127.0.0.0/8", "::1/128")
_UNSPECIFIED_OR_LINK_LOCAL = _nets(
    "0.0.0.0/8",
    "::/128",
    "169.254.0.0/16",  # link-local unicast, including the cloud metadata address
    "fe80::/10",
    "224.0.0.0/24",  # IPv4 link-local multicast
    "ff02::/16",  # IPv6 link-local multicast
    "ff01::/16",  # IPv6 interface-local multicast
)
# Second class ("private/metadata"); the second line is stricter than the original.
_ALWAYS_PRIVATE = _nets("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "100.64.0.0/10")
_ALWAYS_PRIVATE += _nets("198.18.0.0/15", "240.0.0.0/4", "192.0.0.0/24")
_RFC1918 = _nets("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
_UNIQUE_LOCAL = ip_network("fc00::/7")
_UNIQUE_LOCAL_RELAXABLE = ip_network("fd00::/8")
# IPv6 prefixes whose last 32 bits are an IPv4 address: a gateway on the path delivers there.
_LOW32_EMBEDDING: tuple[tuple[IPv6Network, str], ...] = (
    (IPv6Network("64:ff9b::/96"), "NAT64"),
    (IPv6Network("64:ff9b:1::/48"), "NAT64"),
    (IPv6Network("::ffff:0:0:0/96"), "IPv4-translated"),
    (IPv6Network("::/96"), "IPv4-compatible"),
)


def _in_any(ip: IPAddress, nets: Iterable[IPNetwork]) -> bool:
    return any(ip.version == net.version and ip in net for net in nets)


def _embedded_ipv4(ip: IPAddress) -> tuple[IPv4Address, str] | None:
    """The IPv4 address `ip` reaches through a transition mechanism, and that mechanism.

    No such prefix overlaps a blocked IPv6 range, so the embedded address alone decides;
    `::` and `::1` (in `::/96`) are left to the direct rules."""
    if not isinstance(ip, IPv6Address) or int(ip) <= 1:
        return None
    if ip.sixtofour is not None:
        return ip.sixtofour, "6to4"
    if ip.teredo is not None:
        return ip.teredo[1], "Teredo"  # the client, de-obfuscated: where the traffic ends up
    for net, form in _LOW32_EMBEDDING:
        if ip in net:
            return IPv4Address(int(ip) & 0xFFFF_FFFF), form
    return None


def _normalize(ip: IPAddress) -> IPAddress:
    """Map `::ffff:a.b.c.d` to `a.b.c.d` and drop any zone id.

    A v4-mapped address reaches the embedded IPv4 host, so `::ffff:127.0.0.1` must be judged
    as 127.0.0.1 (Go's net.IP does the same implicitly). Zone ids (`fe80::1%eth0`) do not
    change which range an address is in, and dropping them keeps messages stable.
    """
    if isinstance(ip, IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.scope_id is not None:
            return IPv6Address(ip.packed)
    return ip


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return _normalize(ip_address(host))
    except ValueError:
        return None


# --- URL parsing and DNS -----------------------------------------------------------------


def _split(url: str) -> tuple[str, str]:
    """Return `(scheme, hostname)`, lower-cased; hostname may be empty.

    Raises ValueError with a short detail when the URL cannot be parsed. Control characters
    and whitespace are rejected outright (Go's url.Parse refuses them too), because Python's
    parser silently strips some of them and a URL that means one thing to us and another to
    the HTTP client is exactly what an SSRF check must not accept.
    """
    for ch in url:
        if ord(ch) < 0x20 or ord(ch) == 0x7F:
            raise ValueError("invalid control character in URL")
        if ch.isspace():
            raise ValueError("whitespace in URL")
    parts = urlsplit(url)  # may raise ValueError (bad IPv6 brackets)
    _ = parts.port  # raises ValueError for a non-numeric or out-of-range port
    return parts.scheme.lower(), (parts.hostname or "")


async def _resolve(host: str, timeout: float) -> list[IPAddress]:
    """Every address `host` resolves to, normalized; raises `DNSLookupFailed`.

    An empty answer counts as a failure: a check that passes because there was nothing to
    check would let the connection-time lookup decide on its own.
    """
    infos: list[tuple[object, ...]] = []
    try:
        with trio.move_on_after(timeout) as scope:
            infos = list(await trio.socket.getaddrinfo(host, None, type=socket.SOCK_STREAM))
    except socket.gaierror as exc:
        raise DNSLookupFailed(exc.strerror or str(exc)) from exc
    except (OSError, UnicodeError, ValueError) as exc:
        raise DNSLookupFailed(str(exc) or type(exc).__name__) from exc
    if scope.cancelled_caught:
        raise DNSLookupFailed(f"lookup timed out after {timeout:g}s")
    addrs: list[IPAddress] = []
    for info in infos:
        sockaddr = info[4]
        if not isinstance(sockaddr, tuple) or not sockaddr or not isinstance(sockaddr[0], str):
            continue
        try:
            addrs.append(_normalize(ip_address(sockaddr[0])))
        except ValueError:
            # An answer we cannot classify must not be waved through.
            raise DNSLookupFailed(f"unparseable address {sockaddr[0]!r}") from None
    if not addrs:
        raise DNSLookupFailed("no addresses found")
    return addrs


# --- validate_agent_url ------------------------------------------------------------------


def _agent_block_label(ip: IPAddress, policy: URLPolicy) -> str | None:
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        label = _agent_block_label(embedded[0], policy)
        return None if label is None else f"{label} via {embedded[1]}"
    for net, label in _AGENT_ALWAYS_BLOCKED:
        if ip.version == net.version and ip in net:
            return label
    if not policy.saas:
        for net, label in _AGENT_BLOCKED_UNLESS_SAAS:
            if ip.version == net.version and ip in net:
                return label
    return None


async def validate_agent_url(url: str, policy: URLPolicy) -> None:
    """Refuse to store an agent URL that points somewhere the platform must never call.

    Used at register and create. Raises `UnsafeURL` with the original's exact message.
    `policy.dev` is ignored on purpose: the stored URL outlives the mode it was stored in.
    The hostname `localhost` passes without a lookup (as in the original), so local agents can
    register; `check_outbound_url` still blocks it outside development.
    """
    if not url.strip():
        raise UnsafeURL("url is required")
    try:
        scheme, host = _split(url)
    except ValueError as exc:
        raise UnsafeURL(f"url is not valid: {exc}") from None
    if scheme not in ("http", "https"):
        raise UnsafeURL(f'url scheme must be http or https, got "{scheme}"')
    if not host:
        # The original would fail the lookup of "" instead; saying what is wrong is clearer.
        raise UnsafeURL("url is not valid: missing host")

    literal = _ip_literal(host)
    if literal is not None:
        label = _agent_block_label(literal, policy)
        if label is not None:
            raise UnsafeURL(f"url targets a blocked address: {label}")
        return
    if host == "localhost":
        return
    try:
        addrs = await _resolve(host, policy.dns_timeout)
    except DNSLookupFailed as exc:
        detail = exc.message
        raise UnsafeURL(f'hostname "{host}" cannot be resolved (DNS error): {detail}') from None
    for ip in addrs:
        label = _agent_block_label(ip, policy)
        if label is not None:
            raise UnsafeURL(
                f'hostname "{host}" resolves to forbidden address: '
                f"url targets a blocked address: {label}"
            )


# --- check_outbound_url (isSafeURL) ------------------------------------------------------


def _outbound_violation(ip: IPAddress, policy: URLPolicy) -> str | None:
    """The class of rule `ip` breaks for an outbound call, or None if it may be called."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return _outbound_violation(embedded[0], policy)
    relaxed = policy.saas or policy.dev
    if _in_any(ip, _LOOPBACK):
        return None if policy.dev else "forbidden loopback/unspecified/link-local IP"
    if _in_any(ip, _UNSPECIFIED_OR_LINK_LOCAL):
        return "forbidden loopback/unspecified/link-local IP"
    if _in_any(ip, _ALWAYS_PRIVATE):
        return "forbidden private/metadata IP"
    if _in_any(ip, _RFC1918) and not relaxed:
        return "forbidden private/metadata IP"
    if isinstance(ip, IPv6Address) and ip in _UNIQUE_LOCAL:
        if relaxed and ip in _UNIQUE_LOCAL_RELAXABLE:
            return None
        return "forbidden private/metadata IP"
    return None


async def check_outbound_url(url: str, policy: URLPolicy) -> IPAddress:
    """Refuse an outbound call to an agent URL (`isSafeURL`), or return the address to call.

    Run before every dispatch, not only at register, because what a name resolves to can
    change. Every resolved address is checked (one bad answer is enough to refuse: it shows
    the name may point inward) and a failed lookup refuses too. Raises `UnsafeURL`.

    Connect to the returned address rather than resolve the name again, which could answer
    differently (DNS rebinding): the literal host itself (`::ffff:a.b.c.d` as `a.b.c.d`), or
    for a name the first address of the lookup, in the resolver's order of preference.
    """
    try:
        scheme, host = _split(url)
    except ValueError as exc:
        raise UnsafeURL(f"invalid URL: {exc}") from None
    if scheme not in ("http", "https"):
        raise UnsafeURL(f"forbidden scheme: {scheme}")
    if not host:
        raise UnsafeURL("empty hostname")

    literal = _ip_literal(host)
    if literal is not None:
        violation = _outbound_violation(literal, policy)
        if violation is not None:
            raise UnsafeURL(f"{violation}: {literal}")
        return literal
    try:
        addrs = await _resolve(host, policy.dns_timeout)
    except DNSLookupFailed:
        raise UnsafeURL(f"DNS resolution blocked for hostname: {host}") from None
    for ip in addrs:
        if _outbound_violation(ip, policy) is not None:
            raise UnsafeURL(f"hostname {host} resolves to forbidden address {ip}")
    return addrs[0]
