"""Agent memories (HMA): commit, recall and forget, for the HTTP routes and the MCP tools.

Scopes, as in the original:
- LOCAL: private to the workspace;
- TEAM: shared with the team: a child's team is its parent and its siblings, a root's team is
  itself and its children; removed workspaces are left out, and every member must pass
  CanCommunicate with the reader (molecule.operations.access);
- GLOBAL: readable by everyone, written only by root workspaces (403 otherwise).

Every write is scrubbed of credential-looking values first (`redact_memory_secrets`). A
GLOBAL write also escapes the `[MEMORY ` delimiter in its content and records a
`memory_write_global` activity row carrying the sha256 of what was stored, in the same
transaction as the memory (the original wrote that row afterwards and ignored its failure).
GLOBAL content is returned wrapped as `[MEMORY id=<id> scope=GLOBAL from=<workspace>]: …`, so
a stored text cannot pose as instructions in an agent's context.

Search is full-text only (docs/compatibility.md#d39): no embeddings, no `similarity_score`.
Refusals are `MoleculeError`s with the original's messages (400, 403, 404), so each caller
answers them its own way: the routes as HTTP errors, the MCP tools as tool errors.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from molecule.errors import BadRequest, Forbidden, NotFound
from molecule.events.activity_log import ActivityLog
from molecule.models import is_uuid
from molecule.operations.access import chains_allow
from molecule.security.redact import redact_memory_secrets
from molecule.store.activity_rows import ActivityEntry
from molecule.store.memories import MemoryQuery, MemoryRows
from molecule.store.pool import Connection, Store
from molecule.store.workspaces import Workspaces

log = logging.getLogger("molecule.operations.memories")

SCOPES = ("LOCAL", "TEAM", "GLOBAL")
DEFAULT_NAMESPACE = "general"
MAX_NAMESPACE = 50
MAX_CONTENT_BYTES = 64 * 1024
MAX_QUERY = 1000
RECALL_LIMIT = 50
"""The most rows a recall returns (the original's ceiling)."""

MSG_SCOPE = "scope must be LOCAL, TEAM, or GLOBAL"
MSG_NAMESPACE = "namespace must be <= 50 characters"
MSG_GLOBAL_ROOT_ONLY = "only root workspaces can write GLOBAL memories"
MSG_NOT_OWNED = "memory not found or not owned by this workspace"
GLOBAL_DELIMITER = "[MEMORY id={id} scope=GLOBAL from={workspace}]: {content}"


@dataclass(frozen=True)
class Committed:
    """A stored memory: the `{id, scope, namespace}` the write route answers."""

    id: str
    scope: str
    namespace: str
    redacted: tuple[str, ...] = ()  # labels of the secret patterns that were replaced


def check_namespace(namespace: str | None) -> str | None:
    if namespace is not None and len(namespace) > MAX_NAMESPACE:
        raise BadRequest(MSG_NAMESPACE)
    return namespace or None


class Memories:
    def __init__(self, store: Store, workspaces: Workspaces, activity: ActivityLog) -> None:
        self.store = store
        self.rows = MemoryRows(store)
        self.workspaces = workspaces
        self.activity = activity

    async def commit(
        self, workspace_id: str, content: str, scope: str, namespace: str | None = None
    ) -> Committed:
        """Store a memory of the workspace; durable when this returns.

        Raises BadRequest (empty or oversized content, unknown scope, namespace over 50
        characters), NotFound (unknown or removed workspace), Forbidden (GLOBAL from a
        workspace that has a parent).
        """
        if not content:
            raise BadRequest("invalid request body")
        if scope not in SCOPES:
            raise BadRequest(MSG_SCOPE)
        namespace = check_namespace(namespace) or DEFAULT_NAMESPACE
        if len(content.encode("utf-8")) > MAX_CONTENT_BYTES:
            raise BadRequest(f"content must be at most {MAX_CONTENT_BYTES} bytes")
        row = await self.workspaces.live(workspace_id)
        if scope == "GLOBAL" and row["parent_id"] is not None:
            raise Forbidden(MSG_GLOBAL_ROOT_ONLY)
        content, fired = redact_memory_secrets(content)
        for label in fired:
            log.warning("workspace %s: commit_memory: redacted a %s pattern", workspace_id, label)
        if scope == "GLOBAL":
            content = content.replace("[MEMORY ", "[_MEMORY ")
        entry: list[ActivityEntry] = []

        async def work(conn: Connection) -> str:
            memory_id = await self.rows.insert_in(conn, workspace_id, content, scope, namespace)
            if scope == "GLOBAL":
                audit = _global_write_entry(workspace_id, memory_id, namespace, content)
                await self.activity.log_in(conn, audit)
                entry.append(audit)
            return memory_id

        memory_id = await self.store.unit(work)
        for audit in entry:
            self.activity.broadcast(audit)
        return Committed(memory_id, scope, namespace, tuple(fired))

    async def recall(
        self,
        workspace_id: str,
        scope: str | None = None,
        query: str = "",
        namespace: str | None = None,
        limit: int = RECALL_LIMIT,
    ) -> list[dict[str, Any]]:
        """The memories the workspace may read, best match (or newest) first.

        `scope` None: the workspace's own, every scope. LOCAL: its own LOCAL ones. TEAM: the
        TEAM memories of its team. GLOBAL: every GLOBAL memory. `query` of 2+ characters is
        a full-text search, one character a substring match. Rows are `{id, workspace_id,
        content, scope, namespace, created_at}`, GLOBAL content wrapped (module doc).
        Raises BadRequest (scope, namespace, query over 1000 characters), NotFound.
        """
        if scope is not None and scope not in SCOPES:
            raise BadRequest(MSG_SCOPE)
        namespace = check_namespace(namespace)
        if len(query) > MAX_QUERY:
            raise BadRequest(f"q must be at most {MAX_QUERY} characters")
        limit = max(1, min(limit, RECALL_LIMIT))
        row = await self.workspaces.live(workspace_id)
        ids: list[str] | None = [workspace_id]
        if scope == "TEAM":
            ids = await self._team(workspace_id, row["parent_id"])
        elif scope == "GLOBAL":
            ids = None
        found = await self.rows.search(MemoryQuery(ids, scope, namespace, query, limit))
        for memory in found:
            if memory["scope"] == "GLOBAL":
                memory["content"] = GLOBAL_DELIMITER.format(
                    id=memory["id"], workspace=memory["workspace_id"], content=memory["content"]
                )
        return found

    async def _team(self, workspace_id: str, parent_id: str | None) -> list[str]:
        """The team's members that the workspace may communicate with (itself included)."""
        members = await self.rows.team_members(parent_id or workspace_id)
        others = [m for m in members if m != workspace_id]
        if not others:
            return [workspace_id]
        chains = await self.workspaces.ancestry([workspace_id, *others])
        mine = chains.get(workspace_id, [])
        allowed = [
            m for m in others if m in chains and chains_allow(workspace_id, m, mine, chains[m])
        ]
        return [workspace_id, *allowed]

    async def forget(self, workspace_id: str, memory_id: str) -> None:
        """Delete one of the workspace's own memories; NotFound for anyone else's or none,
        BadRequest for an id that is not a UUID."""
        if not is_uuid(memory_id):
            raise BadRequest("invalid memory ID")
        await self.workspaces.live(workspace_id)
        if not await self.rows.delete(workspace_id, memory_id):
            raise NotFound(MSG_NOT_OWNED)


def _global_write_entry(
    workspace_id: str, memory_id: str, namespace: str, content: str
) -> ActivityEntry:
    """The audit row of a GLOBAL write: what was stored is proven by its hash, never shown."""
    digest = hashlib.sha256(content.encode("utf-8")).hexdigest()
    return ActivityEntry(
        workspace_id=workspace_id,
        activity_type="memory_write_global",
        source_id=workspace_id,
        summary=f"GLOBAL memory written: id={memory_id} namespace={namespace}",
        request_body={"memory_id": memory_id, "namespace": namespace, "content_sha256": digest},
        status="ok",
    )
