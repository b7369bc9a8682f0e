"""Adapter registry: `config.yaml` names an adapter (`runtime_config.adapter` or `adapter`).

Built in: `echo` and `openai` (aliases `openai_compat`, `openai-compatible`, `llm`). Tests
and embedders may `register()` more factories.
"""

from __future__ import annotations

from collections.abc import Callable

from molecule.errors import UnknownAdapter
from molecule.runtime.adapters.base import (
    Adapter,
    AdapterContext,
    AgentReply,
    AgentRequest,
    RuntimeCapabilities,
)
from molecule.runtime.adapters.echo import EchoAdapter
from molecule.runtime.adapters.openai_compat import OpenAICompatAdapter

AdapterFactory = Callable[[AdapterContext], Adapter]

_REGISTRY: dict[str, AdapterFactory] = {
    "echo": EchoAdapter,
    "openai": OpenAICompatAdapter,
    "openai_compat": OpenAICompatAdapter,
    "openai-compatible": OpenAICompatAdapter,
    "llm": OpenAICompatAdapter,
}


def register(name: str, factory: AdapterFactory) -> None:
    _REGISTRY[name.strip().lower()] = factory


def known() -> list[str]:
    return sorted(_REGISTRY)


def create_adapter(name: str, ctx: AdapterContext) -> Adapter:
    factory = _REGISTRY.get(name.strip().lower())
    if factory is None:
        raise UnknownAdapter(f"unknown adapter {name!r} (known: {', '.join(known())})")
    return factory(ctx)


__all__ = [
    "Adapter",
    "AdapterContext",
    "AgentReply",
    "AgentRequest",
    "RuntimeCapabilities",
    "create_adapter",
    "known",
    "register",
]
