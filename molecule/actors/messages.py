"""Messages to actors: frozen dataclasses. A message that needs an answer carries a `reply`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from molecule.actors.dispatch import A2ARequest, ProxyResult
from molecule.actors.runtime import Reply
from molecule.models import HeartbeatPayload


@dataclass(frozen=True)
class Register:
    url: str | None
    agent_card: Any
    delivery_mode: str | None
    reply: Reply[dict[str, Any]] = field(default_factory=Reply)


@dataclass(frozen=True)
class Heartbeat:
    payload: HeartbeatPayload
    reply: Reply[dict[str, Any]] = field(default_factory=Reply)


@dataclass(frozen=True)
class UpdateCard:
    agent_card: Any
    reply: Reply[None] = field(default_factory=Reply)


@dataclass(frozen=True)
class Snapshot:
    """Ask for the actor's live view (status, liveness, capabilities, load); used by tests,
    diagnostics and the cron scheduler, never to mutate."""

    reply: Reply[dict[str, Any]] = field(default_factory=Reply)


@dataclass(frozen=True)
class Reload:
    """The row changed outside the actor (PATCH): refresh cached fields."""


@dataclass(frozen=True)
class Removed:
    """The row was marked removed by a cascade delete: stop watching, then stop."""


@dataclass(frozen=True)
class Dispatch:
    """Deliver an A2A request to this workspace (poll record, mock, or push forward)."""

    request: A2ARequest
    reply: Reply[ProxyResult] = field(default_factory=Reply)


@dataclass(frozen=True)
class DrainQueue:
    """Spare capacity may exist: dispatch queued A2A items (from heartbeats and the sweeper)."""


@dataclass(frozen=True)
class Restart:
    """Run a start cycle (create, manual or programmatic restart, resume, wake).

    Requests during a running cycle coalesce into exactly one more cycle."""

    reason: str
    explicit: bool = False  # a user asked for this start (create, expand): see Lifecycle
    wake: bool = False  # a hibernated workspace is started too (a manual restart)
    reply: Reply[bool] = field(default_factory=Reply)


@dataclass(frozen=True)
class ProcessExited:
    """The provisioner saw the agent process exit without being asked to."""

    code: int | None


@dataclass(frozen=True)
class AgentDown:
    """A dispatch found the agent not running (its provisioner said so)."""


@dataclass(frozen=True)
class ProvisionTimedOut:
    """The provisioning sweep found this workspace provisioning past `timeout` seconds."""

    timeout: float


@dataclass(frozen=True)
class Pause:
    """Stop the agent and park the workspace (`paused`); answers whether it changed."""

    reply: Reply[bool] = field(default_factory=Reply)


@dataclass(frozen=True)
class Resume:
    """paused -> provisioning, then the start pipeline; answers whether it changed."""

    reply: Reply[bool] = field(default_factory=Reply)


@dataclass(frozen=True)
class Hibernate:
    """Stop an idle agent to save resources; the next A2A message wakes it.

    See docs/compatibility.md#d30 (hibernation) and #d1 (waking).
    """

    force: bool = False
    reply: Reply[bool] = field(default_factory=Reply)
