"""A workspace's model and LLM provider: workspace secrets its agent starts with.

As in the original (upstream-may §0): the model is the secret `MODEL` (it was
`MODEL_PROVIDER` until May 2026; the start pipeline hands `MODEL` to the agent as `MODEL` and
`MOLECULE_MODEL`), the provider the secret `LLM_PROVIDER`. Saving one stores it sealed like
any secret, or deletes it when the value is empty, and then asks the workspace's actor for a
restart, so the agent runs with it. That restart goes through the coalescing path
(docs/compatibility.md#d11) and happens only for an agent this platform runs: an external or
self-registered agent reads its settings itself and is never restarted or failed for it
(docs/compatibility.md#d33).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from molecule.actors.directory import Directory
from molecule.actors.messages import Restart
from molecule.errors import DecryptError, MoleculeError
from molecule.store.secrets import Secrets

log = logging.getLogger("molecule.operations.workspace_settings")

MAX_VALUE_CHARS = 256


@dataclass(frozen=True)
class Setting:
    key: str  # the workspace secret holding it
    field: str  # its name on the wire


MODEL = Setting("MODEL", "model")
PROVIDER = Setting("LLM_PROVIDER", "provider")


async def read_setting(secrets: Secrets, workspace_id: str, setting: Setting) -> dict[str, str]:
    """`{<field>: value, source: "workspace_secrets"}`, or `""` and `"default"` when unset."""
    try:
        value = await secrets.get_workspace(workspace_id, setting.key)
    except DecryptError:
        log.error("workspace %s: secret %s cannot be decrypted", workspace_id, setting.key)
        raise MoleculeError("failed to decrypt") from None
    if value is None:
        return {setting.field: "", "source": "default"}
    return {setting.field: value, "source": "workspace_secrets"}


async def save_setting(
    secrets: Secrets, directory: Directory, workspace_id: str, setting: Setting, value: str
) -> None:
    """Store (or clear, for "") the setting, then request the restart that applies it."""
    if value:
        await secrets.set_workspace(workspace_id, setting.key, value)
    else:
        await secrets.delete_workspace(workspace_id, setting.key)
    reason = f"{setting.field} {'saved' if value else 'cleared'}"
    await request_restart(directory, workspace_id, reason)


async def request_restart(directory: Directory, workspace_id: str, reason: str) -> None:
    """Tell the workspace's actor to restart; the actor decides whether it runs this agent.
    The setting is stored either way, so a busy actor only means a later restart applies it."""
    try:
        ref = await directory.get(workspace_id)
        if ref is not None:
            ref.tell(Restart(reason))
    except MoleculeError:
        log.warning("workspace %s: restart after %s not requested", workspace_id, reason)
