"""Backup and restore of agent memories across rebuilt workspaces (the original's
`/admin/memories/export` and `/import`, upstream-april §1.1).

- Export: every memory of every workspace that is not removed, with its workspace's name,
  oldest first; the content is scrubbed of credential-looking values once more on the way out
  (memories stored before redaction existed must not leak through a backup). GLOBAL content is
  the stored text, not the `[MEMORY …]` wrapping a recall adds.
- Import: each entry goes to the live workspace of that name. It is skipped when no live
  workspace has the name, when several do (the original took any one of them; a backup must not
  land in the wrong agent), when it is GLOBAL and that workspace has a parent (GLOBAL is
  written only by roots), and when the workspace already holds the same content in the same
  scope (so importing a backup twice adds nothing). Content is redacted, and GLOBAL content has
  its `[MEMORY ` delimiter escaped, exactly as a commit does; an entry's `created_at` is kept.
  All inserts are one transaction, durable before the answer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from molecule.security.redact import redact_memory_secrets
from molecule.store.memory_transfer import MemoryTransferRows, NewMemory
from molecule.store.pool import Store

log = logging.getLogger("molecule.operations.memory_transfer")


@dataclass(frozen=True)
class MemoryEntry:
    """One validated entry of an import (the export's shape, without the id)."""

    workspace_name: str
    content: str
    scope: str
    namespace: str
    created_at: datetime | None = None


async def export_memories(store: Store) -> list[dict[str, Any]]:
    found = await MemoryTransferRows(store).export()
    for memory in found:
        memory["content"], _ = redact_memory_secrets(memory["content"])
    return found


async def import_memories(store: Store, entries: list[MemoryEntry]) -> dict[str, int]:
    """Restore `entries`; `{imported, skipped, errors, total}` (errors is always 0: a bad
    entry refuses the whole import before anything is written)."""
    rows = MemoryTransferRows(store)
    named = await rows.live_named(sorted({e.workspace_name for e in entries}))
    restore: list[NewMemory] = []
    for entry in entries:
        candidates = named.get(entry.workspace_name, [])
        if len(candidates) != 1:
            continue  # no live workspace of that name, or an ambiguous one
        workspace = candidates[0]
        if entry.scope == "GLOBAL" and workspace["parent_id"] is not None:
            continue
        content, fired = redact_memory_secrets(entry.content)
        if fired:
            log.warning("memory import: redacted %s in %s", ",".join(fired), workspace["id"])
        if entry.scope == "GLOBAL":
            content = content.replace("[MEMORY ", "[_MEMORY ")
        restore.append(
            NewMemory(str(workspace["id"]), content, entry.scope, entry.namespace, entry.created_at)
        )
    imported = await rows.insert_new(restore)
    total = len(entries)
    return {"imported": imported, "skipped": total - imported, "errors": 0, "total": total}
