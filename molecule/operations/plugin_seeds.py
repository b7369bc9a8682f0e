"""Registry plugins an import seeds into the workspaces it creates (org import, bundles).

Each named plugin is read from the plugin registry (GET /plugins) and checked as an install
checks it (molecule/operations/plugins.py), once per import however many workspaces name
it. An import holds every tree in memory until its workspaces are created, so all of them
together stay within one install's bound (PLUGIN_INSTALL_MAX_DIR_BYTES). Blocking: run it in
a worker thread, as the planning it is part of.
"""

from __future__ import annotations

from molecule.errors import MoleculeError, NotFound, PayloadTooLarge
from molecule.provision.plugins_registry import PluginRegistry
from molecule.provision.plugins_staging import Limits, StagedPlugin

NOT_IN_REGISTRY = "not in the plugin registry (GET /plugins)"


def not_allowed(name: str) -> str:
    """Why a seed was left out: the install route's 403 message."""
    return f'plugin "{name}" is not in the org allowlist'


class PluginSeeds:
    def __init__(self, registry: PluginRegistry) -> None:
        self.registry = registry
        self.limits = Limits.from_env()
        self._staged: dict[str, StagedPlugin] = {}
        self._bytes = 0

    def get(self, name: str) -> StagedPlugin:
        """The registry's `name`, checked; a MoleculeError whose message says why not."""
        if name in self._staged:
            return self._staged[name]
        try:
            plugin = self.registry.stage(name, self.limits)
            plugin.verify_integrity()
        except NotFound:
            raise NotFound(NOT_IN_REGISTRY) from None
        except OSError:
            raise MoleculeError("the plugin registry could not be read") from None
        size = sum(len(b) for b in plugin.files.values())
        if self._bytes + size > self.limits.max_bytes:
            raise PayloadTooLarge(f"the plugins of one import exceed {self.limits.max_bytes} bytes")
        self._bytes += size
        self._staged[name] = plugin
        return plugin
