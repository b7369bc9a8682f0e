"""CanCommunicate: who may talk to whom in the org chart (the original's rule).

Allowed: self; siblings (same non-null parent); two roots; parent <-> child; any ancestor <->
descendant on one line. Denied: cousins, uncle <-> nephew. An unknown id is denied.
Where it applies: docs/compatibility.md §3.3.
"""

from __future__ import annotations

from molecule.store.workspaces import Workspaces


def chains_allow(
    caller: str, target: str, caller_chain: list[str | None], target_chain: list[str | None]
) -> bool:
    """The rule itself, over each side's ancestry ([parent, grandparent, ...])."""
    if caller == target:
        return True
    caller_parent = caller_chain[0] if caller_chain else None
    target_parent = target_chain[0] if target_chain else None
    if caller_parent == target_parent:  # siblings, or both roots
        return True
    if target in caller_chain:  # target is the parent or an ancestor of the caller
        return True
    return caller in target_chain  # caller is the parent or an ancestor of the target


async def can_communicate(workspaces: Workspaces, caller: str, target: str) -> bool:
    if caller == target:
        return True
    chains = await workspaces.ancestry([caller, target])
    if caller not in chains or target not in chains:
        return False
    return chains_allow(caller, target, chains[caller], chains[target])
