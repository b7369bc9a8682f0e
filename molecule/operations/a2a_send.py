"""The A2A proxy pipeline shared by every sender (HTTP, delegation, scheduler, restarts).

Access is checked here, the payload normalised, then the target's WorkspaceActor decides:
poll record, mock reply, or a push dispatch in its own nursery.
"""

from __future__ import annotations

from typing import Any

from molecule.actors.directory import Directory
from molecule.actors.dispatch import A2ARequest, ProxyResult
from molecule.actors.messages import Dispatch
from molecule.errors import Forbidden, NotFound
from molecule.models import SYSTEM_CALLER_PREFIXES
from molecule.operations.access import can_communicate
from molecule.store.workspaces import Workspaces

ACCESS_DENIED = "access denied: workspaces cannot communicate per hierarchy rules"


async def send_a2a(
    directory: Directory,
    workspaces: Workspaces,
    target_id: str,
    envelope: dict[str, Any],
    method: str,
    caller_id: str | None,
    *,
    log_activity: bool = True,
    timeout: float | None = None,
    a2a_version: str | None = None,
    raw: bytes | None = None,
) -> ProxyResult:
    """Deliver an already-normalised envelope to `target_id` as `caller_id`.

    `raw`, when given, is the body exactly as the caller sent it and normalising left it
    unchanged: it is forwarded as is. Raises a MoleculeError for every refusal or failure
    (docs/architecture.md §4.1).
    """
    system = caller_id is not None and caller_id.startswith(SYSTEM_CALLER_PREFIXES)
    if caller_id and not system and caller_id != target_id:
        if not await can_communicate(workspaces, caller_id, target_id):
            raise Forbidden(ACCESS_DENIED)
    ref = await directory.get(target_id)
    if ref is None:
        raise NotFound("workspace not found")
    request = A2ARequest(
        envelope=envelope,
        method=method,
        caller_id=caller_id,
        log_activity=log_activity,
        timeout=timeout,
        a2a_version=a2a_version,
        raw=raw,
    )
    # No ask deadline: the dispatch is bounded by its idle timer, ceilings and X-Timeout, and
    # the actor answers even when its incarnation ends mid-dispatch.
    result: ProxyResult = await ref.ask(Dispatch(request), None)
    return result
