"""Creating a workspace: the one place that decides its first status and starts it.

Every creator goes through here (POST /workspaces, org import, bundle import): the caller
validates the fields at its edge, this decides the rest. A creator may seed the workspace's
own secrets, config files and plugins; they are stored before anything starts it.

- mock: online at once (the platform itself answers for it), nothing to start;
- external with a url: online at once (its agent runs elsewhere and is already reachable);
- external without one: awaiting_agent until the agent registers or heartbeats;
- anything else: provisioning, and its actor runs the shared start pipeline.

Every workspace gets its token at creation (docs/compatibility.md#d13): nobody can register
as it, or act as it, without holding one. Platform-run agents get a fresh one at every start.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from molecule.actors.directory import Directory
from molecule.actors.messages import Restart
from molecule.errors import DatastoreUnavailable
from molecule.events import (
    WORKSPACE_AWAITING_AGENT,
    WORKSPACE_ONLINE,
    WORKSPACE_PROVISIONING,
    EventBus,
)
from molecule.models import EXTERNAL_RUNTIMES, WorkspaceStatus
from molecule.operations.plugin_seeds import installed_row, write_tree
from molecule.provision.plugins_staging import StagedPlugin
from molecule.store.plugins import PluginRows
from molecule.store.token_rows import WorkspaceTokens
from molecule.store.workspaces import NewWorkspace, Workspaces

log = logging.getLogger("molecule.operations.creation")

DEFAULT_RUNTIME = "langgraph"  # the original's default when none is named
SEED_FAILED = "could not write the workspace's configuration — see the platform log"


@dataclass(frozen=True)
class CreateRequest:
    """A validated request for a new workspace."""

    name: str
    role: str | None = None
    tier: int = 3
    runtime: str | None = None
    external: bool = False
    url: str | None = None
    parent_id: str | None = None
    template: str | None = None
    workspace_dir: str | None = None
    workspace_access: str = "none"
    budget_limit: int | None = None
    max_concurrent_tasks: int = 1
    delivery_mode: str = "push"
    x: float = 0.0
    y: float = 0.0
    # Seeded before the first start (org import, bundles): files for its configs directory
    # (relative paths; a config.yaml among them replaces the template's) and its own secrets.
    config_files: Mapping[str, bytes] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)
    # Registry plugins delivered into its /plugins/<name>/ and listed as installed from
    # `local://<name>`, as POST /workspaces/:id/plugins would, unless the allowlist of the
    # org it joins leaves one out (org import, bundles).
    plugins: Sequence[StagedPlugin] = ()


@dataclass(frozen=True)
class Created:
    id: str
    name: str  # as stored (a taken name gets a ` (n)` suffix)
    status: WorkspaceStatus
    runtime: str
    external: bool
    token: str  # shown once, in the caller's answer
    plugins_blocked: tuple[str, ...] = ()  # seeds the org allowlist left out


class WorkspaceCreation:
    def __init__(
        self,
        workspaces: Workspaces,
        tokens: WorkspaceTokens,
        bus: EventBus,
        directory: Directory,
        plugin_rows: PluginRows,
    ) -> None:
        self.workspaces = workspaces
        self.tokens = tokens
        self.bus = bus
        self.directory = directory
        self.plugin_rows = plugin_rows

    async def create(self, req: CreateRequest) -> Created:
        """Insert, record, mint the token and start it; raises NameTaken (409)."""
        external = req.external or req.runtime in EXTERNAL_RUNTIMES
        runtime = req.runtime or ("external" if external else DEFAULT_RUNTIME)
        mock = runtime == "mock"
        if external:
            status = WorkspaceStatus.ONLINE if req.url else WorkspaceStatus.AWAITING_AGENT
        else:
            status = WorkspaceStatus.ONLINE if mock else WorkspaceStatus.PROVISIONING
        new = NewWorkspace(
            name=req.name,
            role=req.role,
            tier=req.tier,
            runtime=runtime,
            status=status,
            parent_id=req.parent_id,
            url=req.url if external else None,
            template=req.template,
            workspace_dir=req.workspace_dir,
            workspace_access=req.workspace_access,
            budget_limit=req.budget_limit,
            max_concurrent_tasks=req.max_concurrent_tasks,
            delivery_mode=req.delivery_mode,
            x=req.x,
            y=req.y,
        )
        plugins, blocked = await self._allowed_plugins(req)  # before anything is written
        row = await self.workspaces.insert(new)
        wid, name = row["id"], row["name"]
        log.info("workspace %s created (%s, runtime %s)", wid, name, runtime)
        await self.bus.record(
            WORKSPACE_PROVISIONING, wid, {"name": name, "tier": req.tier, "runtime": runtime}
        )
        token = await self.tokens.mint(wid)
        seeds = req.config_files or req.secrets or plugins
        if seeds and not await self._seed(wid, replace(req, plugins=plugins), external or mock):
            return Created(wid, name, WorkspaceStatus.FAILED, runtime, external, token, blocked)
        if external:
            event = WORKSPACE_ONLINE if req.url else WORKSPACE_AWAITING_AGENT
            await self.bus.record(event, wid, {"name": name, "external": True})
            await self.directory.get(wid)  # its actor watches the liveness from now on
        elif mock:
            await self.bus.record(
                WORKSPACE_ONLINE, wid, {"name": name, "mock": True, "runtime": runtime}
            )
            await self.directory.get(wid)
        else:
            ref = await self.directory.get(wid)
            if ref is not None:
                ref.tell(Restart("created", explicit=True))  # the shared start pipeline
        return Created(wid, name, status, runtime, external, token, blocked)

    async def _allowed_plugins(
        self, req: CreateRequest
    ) -> tuple[tuple[StagedPlugin, ...], tuple[str, ...]]:
        """(the plugins to seed, the names the allowlist of the org it joins leaves out); a
        new root starts an org of its own, with no allowlist yet."""
        if not req.plugins or req.parent_id is None:
            return tuple(req.plugins), ()
        org = await self.plugin_rows.org_of(req.parent_id)
        kept, blocked = [], []
        for plugin in req.plugins:
            if org is not None and await self.plugin_rows.blocked(org, plugin.name):
                blocked.append(plugin.name)
            else:
                kept.append(plugin)
        return tuple(kept), tuple(blocked)

    async def _seed(self, wid: str, req: CreateRequest, runs_elsewhere: bool) -> bool:
        """Store its secrets and write its config files and plugins before anything starts
        it; on a failure it is marked failed (the files stay out of a half-written start)."""
        pipeline = self.directory.deps.pipeline
        try:
            for key, value in req.secrets.items():
                await pipeline.secrets.set_workspace(wid, key, value)
            provisioner = pipeline.provisioner
            if provisioner is not None and not runs_elsewhere:
                for rel, data in req.config_files.items():
                    await provisioner.write_file(wid, f"/configs/{rel}", data)
                for plugin in req.plugins:
                    await self.plugin_rows.record(
                        installed_row(wid, plugin, f"local://{plugin.name}")
                    )
                    await write_tree(provisioner, wid, plugin)
        except DatastoreUnavailable:
            raise
        except Exception:
            log.exception("workspace %s: seeding its secrets, config files or plugins failed", wid)
            await self._unseed_plugins(wid, req.plugins)
            await pipeline.mark_failed(wid, SEED_FAILED)
            return False
        return True

    async def _unseed_plugins(self, wid: str, plugins: Sequence[StagedPlugin]) -> None:
        """A failed seed lists no plugin as installed, and leaves none half-written."""
        provisioner = self.directory.deps.pipeline.provisioner
        for plugin in plugins:
            try:
                await self.plugin_rows.forget(wid, plugin.name)
                if provisioner is not None:
                    await provisioner.delete_file(wid, f"/plugins/{plugin.name}")
            except FileNotFoundError:
                pass
            except Exception:
                log.exception(
                    "workspace %s: removing the seed of plugin %s failed", wid, plugin.name
                )
