"""The adapter interface: what turns an inbound A2A message into the agent's reply.

An adapter declares what it does natively (`RuntimeCapabilities`, the original's
`adapter_base.py` flags) and may override the platform's per-dispatch silence window
(`idle_timeout_override`); both travel in every heartbeat's `runtime_metadata`. `setup()`
runs once at boot: if it raises, the runtime stays up in "not configured" mode, as the
original runtime does. An adapter that notices it can no longer make progress marks itself wedged;
the heartbeat then reports `runtime_state: "wedged"` with the reason as `sample_error`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from molecule.models import CAPABILITY_KEYS
from molecule.runtime.a2a_wire import WireMessage
from molecule.runtime.platform_client import PlatformClient
from molecule.runtime.settings import Settings


@dataclass(frozen=True)
class RuntimeCapabilities:
    """What the adapter's SDK owns natively; all false by default (platform does it)."""

    provides_native_heartbeat: bool = False
    provides_native_scheduler: bool = False
    provides_native_session: bool = False
    provides_native_status_mgmt: bool = False
    provides_native_retry: bool = False
    provides_activity_decoration: bool = False
    provides_channel_dispatch: bool = False

    def to_dict(self) -> dict[str, bool]:
        """The wire map the original sends as `runtime_metadata.capabilities`:
        `{"heartbeat": ..., "scheduler": ..., ...}`."""
        values = [getattr(self, f.name) for f in fields(self)]
        return dict(zip(CAPABILITY_KEYS, values, strict=True))


@dataclass(frozen=True)
class AgentRequest:
    """One inbound message, with the task and context ids the server assigned."""

    message: WireMessage
    task_id: str
    context_id: str

    @property
    def text(self) -> str:
        return self.message.text


@dataclass(frozen=True)
class AgentReply:
    text: str
    parts: tuple[dict[str, Any], ...] = ()  # extra v0.3 parts (files, data) after the text


@dataclass(frozen=True)
class AdapterContext:
    settings: Settings
    platform: PlatformClient


class Adapter(ABC):
    name: ClassVar[str] = "adapter"

    def __init__(self, ctx: AdapterContext) -> None:
        self.ctx = ctx
        self._wedged: str | None = None

    @property
    def runtime_config(self) -> dict[str, Any]:
        return dict(self.ctx.settings.config.runtime_config)

    def capabilities(self) -> RuntimeCapabilities:
        return RuntimeCapabilities()

    def idle_timeout_override(self) -> int | None:
        """Seconds of silence the platform should tolerate per dispatch; None = its default.

        Configurable per workspace with `runtime_config.idle_timeout_seconds`.
        """
        value = self.runtime_config.get("idle_timeout_seconds")
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return int(value) if value > 0 else None

    async def setup(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """Prepare (check credentials, load prompts). Raising = not-configured mode."""

    @abstractmethod
    async def handle(self, request: AgentRequest) -> AgentReply:
        """Answer one message. Raising makes the request a JSON-RPC internal error."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """Release resources at shutdown."""

    @property
    def wedged_reason(self) -> str | None:
        return self._wedged

    def mark_wedged(self, reason: str) -> None:
        self._wedged = reason or "wedged"

    def clear_wedged(self) -> None:
        self._wedged = None
