"""The Provisioner protocol: what every backend (local process, Docker, remote) offers.

The workspace lifecycle (restart, pause, hibernate, delete) is written once against this
protocol. A backend that is not wired answers with the typed `NoBackend` error, never a crash.

File access takes the agent's virtual paths (`/configs/...`, `/workspace/...`, `/home/...`,
`/plugins/...`), checked with `molecule.workspace_paths.validate_virtual` (`PathRefused`);
below them a backend applies the agent's own rules: no symbolic link is followed at any
depth, and anything but a regular file or a directory is refused. Those refusals are
`OSError`s as the filesystem names them (`FileNotFoundError`, `IsADirectoryError`, `ELOOP`
for a link, `EINVAL` for a special file); a file over the size asked for is `PayloadTooLarge`.
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


@dataclass(frozen=True)
class FileEntry:
    """One entry of a directory listing, its path relative to the listed directory."""

    path: str
    size: int
    dir: bool


ExitCallback = Callable[[str, int | None], None]


class Provisioner(Protocol):
    kind: str  # "local" or "docker": which backend is live (GET /buildinfo names it)

    def can_run(self, runtime: str) -> bool:
        """Can this backend start an agent of `runtime`?"""
        ...

    async def start(self, spec: StartSpec) -> Started: ...

    async def stop(self, workspace_id: str) -> None: ...

    async def stop_all(self) -> None:
        """At shutdown: stop every agent this backend runs (the caller bounds it)."""
        ...

    async def is_running(self, workspace_id: str) -> bool: ...

    async def read_file(
        self, workspace_id: str, path: str, *, max_bytes: int | None = None
    ) -> bytes:
        """A regular file of the workspace, by its virtual path (`/configs/...`).

        Anything else (missing, a directory, a device or pipe) is an `OSError`. With
        `max_bytes`, a larger file is `PayloadTooLarge` and is not read whole.
        """
        ...

    async def write_file(self, workspace_id: str, path: str, data: bytes) -> None: ...

    async def volume_has_file(self, workspace_id: str, path: str) -> bool: ...

    async def list_files(
        self, workspace_id: str, path: str, depth: int, limit: int
    ) -> list[FileEntry]:
        """Entries down to `depth` levels below the directory `path`, at most `limit`,
        without links and tool clutter (`.git`, `__pycache__`, ...). A workspace or root
        with no files yet lists as empty; a missing sub-directory is `FileNotFoundError`."""
        ...

    async def delete_file(self, workspace_id: str, path: str) -> None:
        """Remove a file, or a directory with everything in it (links are removed, never
        followed); a link as the target is refused."""
        ...

    async def read_console(self, workspace_id: str, max_bytes: int) -> bytes:
        """The last `max_bytes` of the agent's own output (empty when there is none)."""
        ...

    async def remove_volume(self, workspace_id: str) -> None: ...
