"""What a refused request must leave unchanged: the rows the configuration routes write and
every file under the platform's home (workspace directories, imported templates)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from tests.conftest import Harness

TABLES = ("workspaces", "workspace_secrets", "workspace_config", "workspace_token_usage")


async def rows(h: Harness) -> dict[str, Any]:
    await h.svc.heartbeats.flush()
    found: dict[str, Any] = {}
    for table in TABLES:
        records = await h.svc.store.fetch(f"SELECT * FROM {table} ORDER BY 1")  # noqa: S608
        found[table] = [dict(r) for r in records]
    return found


def files(home: Path) -> dict[str, str]:
    """Every file and link under `home` but the database's own, with a digest of its bytes
    (or where a link points)."""
    seen: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(home):
        dirnames[:] = [d for d in dirnames if d != "postgres"]
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            key = str(path.relative_to(home))
            if path.is_symlink():
                seen[key] = "-> " + os.readlink(path)
            elif path.is_file():
                seen[key] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                seen[key] = "dir"
    return seen


async def footprint(h: Harness) -> tuple[dict[str, Any], dict[str, str]]:
    return await rows(h), files(h.svc.settings.home)
