"""The Provisioner protocol: what every backend (local process, Docker, remote) offers.

The workspace lifecycle (restart, pause, hibernate, delete) is written once against this
protocol. A backend that is not wired answers with the typed `NoBackend` error, never a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

NO_BACKEND_MESSAGE = (
    "no provisioning backend available — workspace requires either a Docker daemon "
    "(self-hosted) or control-plane provisioner (SaaS)"
)


@dataclass(frozen=True)
class StartSpec:
    workspace_id: str
    runtime: str
    env: Mapping[str, str]
    config_files: Mapping[str, bytes] = field(default_factory=dict)  # relative path -> bytes
    template_dir: str | None = None


@dataclass(frozen=True)
class Started:
    url: str  # where the platform reaches the agent


ExitCallback = Callable[[str, int | None], None]


class Provisioner(Protocol):
    async def start(self, spec: StartSpec) -> Started: ...

    async def stop(self, workspace_id: str) -> None: ...

    async def is_running(self, workspace_id: str) -> bool: ...

    async def read_file(self, workspace_id: str, path: str) -> bytes: ...

    async def write_file(self, workspace_id: str, path: str, data: bytes) -> None: ...

    async def volume_has_file(self, workspace_id: str, path: str) -> bool: ...

    async def remove_volume(self, workspace_id: str) -> None: ...
