"""A workspace's shared context: the files its `config.yaml` lists under `shared_context:`.

The original read `/configs/config.yaml` and then each listed file (relative to `/configs`)
from the running container, skipping whatever could not be read; so does this, through the
provisioner, so any backend serves it. Everything the agent controls is bounded: the config
file's size, how many entries are looked at, each file's size and the total. A listed path
must stay inside `/configs` by the virtual-path rules (molecule.workspace_paths); the files
that hold the workspace's own credentials are never returned. Anything that cannot be read or
parsed is left out, never an error: the answer is always a list (the original's `[]`).
"""

from __future__ import annotations

import logging
from typing import Any

import trio
import yaml

from molecule.errors import MoleculeError
from molecule.provision.base import Provisioner
from molecule.workspace_paths import validate_virtual

log = logging.getLogger("molecule.operations.shared_context")

CONFIG_PATH = "/configs/config.yaml"
MAX_CONFIG_BYTES = 256 * 1024
MAX_ENTRIES = 50
MAX_PATH = 1024
MAX_FILE_BYTES = 256 * 1024
MAX_TOTAL_BYTES = 1024 * 1024
READ_TIMEOUT = 10.0
# Credentials the platform writes into the config directory (docs/architecture.md §4.4).
NEVER_SHARED = frozenset({".auth_token", ".platform_inbound_secret"})


def shared_path(entry: object) -> str | None:
    """The virtual path of a `shared_context` entry, or None when it may not be served."""
    if not isinstance(entry, str) or not entry or len(entry) > MAX_PATH:
        return None
    if entry.startswith("/") or entry.rsplit("/", 1)[-1] in NEVER_SHARED:
        return None
    try:
        return validate_virtual("/configs/" + entry)
    except MoleculeError:
        return None


def listed_files(config: bytes) -> list[Any]:
    """The `shared_context` list of a config.yaml ([] for anything else)."""
    try:
        data = yaml.safe_load(config.decode("utf-8", "replace"))
    except yaml.YAMLError:
        return []
    listed = data.get("shared_context") if isinstance(data, dict) else None
    return listed[:MAX_ENTRIES] if isinstance(listed, list) else []


class SharedContext:
    def __init__(self, provisioner: Provisioner | None) -> None:
        self.provisioner = provisioner

    async def files(self, workspace_id: str) -> list[dict[str, str]]:
        """`[{path, content}]` for the listed files that could be read, in listed order."""
        config = await self._read(workspace_id, CONFIG_PATH, MAX_CONFIG_BYTES)
        if config is None:
            return []
        entries = await trio.to_thread.run_sync(listed_files, config)
        found: list[dict[str, str]] = []
        budget = MAX_TOTAL_BYTES
        for entry in entries:
            path = shared_path(entry)
            if path is None or budget <= 0:
                continue
            data = await self._read(workspace_id, path, min(MAX_FILE_BYTES, budget))
            if data is None:
                continue
            budget -= len(data)
            found.append({"path": entry, "content": data.decode("utf-8", "replace")})
        return found

    async def _read(self, workspace_id: str, path: str, limit: int) -> bytes | None:
        if self.provisioner is None:
            return None
        try:
            with trio.fail_after(READ_TIMEOUT):
                return await self.provisioner.read_file(workspace_id, path, max_bytes=limit)
        except (OSError, MoleculeError, trio.TooSlowError) as exc:
            log.info("workspace %s: shared context %s not read: %s", workspace_id, path, exc)
            return None
