"""The data of one A2A call: the request on its way to its target, the target's routing
facts, and what the caller gets back (molecule.actors.dispatch forwards it)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from molecule.jsontext import dumpb
from molecule.models import SYSTEM_CALLER_PREFIXES
from molecule.store.activity_rows import ActivityEntry


@dataclass(frozen=True)
class A2ARequest:
    """A normalised request on its way to one target."""

    envelope: dict[str, Any]
    method: str
    caller_id: str | None  # None: the canvas/user; "system:..." for platform-internal callers
    log_activity: bool = True
    # X-Timeout seconds, bounds the whole upstream call (docs/compatibility.md#d7)
    timeout: float | None = None
    a2a_version: str | None = None  # sent on as A2A-Version (docs/compatibility.md#d6)
    queue_id: str | None = None  # set when this is a queue drain of that item
    raw: bytes | None = None  # the caller's bytes, when they are exactly `envelope`

    @property
    def body(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return dumpb(self.envelope)

    @property
    def agent_caller(self) -> bool:
        return bool(self.caller_id) and not str(self.caller_id).startswith(SYSTEM_CALLER_PREFIXES)

    def receipt(self, workspace_id: str, summary: str, **fields: Any) -> ActivityEntry:
        """The `a2a_receive` activity row this request leaves on its target."""
        return ActivityEntry(
            workspace_id=workspace_id,
            activity_type="a2a_receive",
            source_id=self.caller_id if self.agent_caller else None,
            target_id=workspace_id,
            method=self.method,
            summary=summary,
            request_body=self.envelope,
            **fields,
        )


@dataclass
class ProxyResult:
    """What the caller gets back: a buffered body, or an SSE stream passed through."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    stream: AsyncIterator[bytes] | None = None
    outcome: str = "ok"  # for the metrics: ok, queued (busy agent), poll (stored for it)

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def json_result(
    status: int, body: Any, headers: dict[str, str] | None = None, outcome: str = "ok"
) -> ProxyResult:
    return ProxyResult(status, dumpb(body), headers=headers or {}, outcome=outcome)


@dataclass(frozen=True)
class Target:
    """The target's routing facts, snapshotted by its actor for one dispatch."""

    workspace_id: str
    name: str
    url: str
    runtime: str
    session_capable: bool
    idle_timeout: float
    trusted: bool = False  # a URL the platform itself assigned (local provisioner)
    address: IPv4Address | IPv6Address | None = None  # SSRF-vetted IP to dial instead of DNS
