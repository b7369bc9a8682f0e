"""Names and labels of what the Docker backend creates, as the original named them
(upstream-april §8.1), so its tooling and its operators' habits keep working.

The id prefix is the first 12 characters of the workspace UUID, dash included. Every
container and volume carries `molecule.platform.managed=true` and the full workspace id, so
a sweep never has to guess from a prefix. It also carries the platform instance that made it
(`molecule.platform.instance`, derived from the platform's data directory): an Engine may be
shared with other stacks or other platforms (and test runs), and a platform only ever sweeps,
follows or refreshes its own objects. A platform whose database was wiped keeps its data
directory, so it still finds and sweeps its old containers (the original's wiped-DB case).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

MANAGED_LABEL = "molecule.platform.managed"
WORKSPACE_LABEL = "molecule.workspace.id"
RUNTIME_LABEL = "molecule.workspace.runtime"
VOLUME_ROOT_LABEL = "molecule.volume.root"
INSTANCE_LABEL = "molecule.platform.instance"
SOURCE_LABEL = "molecule.image.source"  # the built-in image's source digest
AGENT_PORT = 8000  # the agent's port inside its container (bridge network)
NETWORK_ALIAS_PREFIX = "ws-"
_PREFIX = re.compile(r"^[0-9a-f-]{12}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def id_prefix(workspace_id: str) -> str:
    return workspace_id[:12]


def container_name(workspace_id: str) -> str:
    return f"ws-{id_prefix(workspace_id)}"


def files_container_name(workspace_id: str, nonce: str) -> str:
    """A throwaway container that only mounts the volumes (file access), one per operation."""
    return f"ws-{id_prefix(workspace_id)}-files-{nonce}"


def volume_names(workspace_id: str) -> dict[str, str]:
    """Mount point -> volume name. `/configs` and `/workspace` as the original named them;
    `/home` and `/plugins` are ours (the original baked them into its images)."""
    short = id_prefix(workspace_id)
    return {
        "/configs": f"ws-{short}-configs",
        "/workspace": f"ws-{workspace_id}-workspace",
        "/home": f"ws-{short}-home",
        "/plugins": f"ws-{short}-plugins",
    }


def instance_id(data_dir: Path) -> str:
    """This platform's instance label: stable for its data directory."""
    return hashlib.sha256(str(data_dir.absolute()).encode()).hexdigest()[:16]


def labels(workspace_id: str, instance: str, **extra: str) -> dict[str, str]:
    return {
        MANAGED_LABEL: "true",
        INSTANCE_LABEL: instance,
        WORKSPACE_LABEL: workspace_id,
        **extra,
    }


def owned_filter(instance: str) -> dict[str, list[str]]:
    """The Engine filter for this platform's labelled objects (the labels are ANDed)."""
    return {"label": [f"{MANAGED_LABEL}=true", f"{INSTANCE_LABEL}={instance}"]}


def prefix_of_name(name: str) -> str | None:
    """The id prefix in a container name `ws-<prefix>` (a leading `/` as the Engine lists
    names), or None for any other name."""
    name = name.lstrip("/")
    if not name.startswith("ws-"):
        return None
    prefix = name[3:]
    return prefix if _PREFIX.match(prefix) else None


def workspace_of(obj: dict[str, Any]) -> str | None:
    """The full workspace id on a listed container or volume (its label), if well formed."""
    found = (obj.get("Labels") or {}).get(WORKSPACE_LABEL)
    return found if isinstance(found, str) and _UUID.match(found) else None
