"""Bundles: a workspace subtree exported as one JSON document and recreated from it, on this
platform under another parent or on another platform (the document: bundle_spec.py).

Export reads the live subtree in one query, each platform-run workspace's configs directory
through the Provisioner protocol (text files only, hidden files and the platform's
credential files never; bounded per file and per bundle, what is left out is listed in
`files_skipped`), the names of its own secrets (values never leave the platform), and its
schedules and memories where this platform keeps them (molecule/operations/workspace_extras.py).

Import creates the tree parents before children, each workspace through the shared creation
operation with its files seeded before its first start, so every one starts through the
same pipeline as POST /workspaces; then its schedules and memories. Secrets cannot travel
without their values: each workspace's answer lists the names to set (`secrets_to_set`).
Plugin trees do not travel either: a `local://` plugin is seeded from this platform's
registry when it holds the same version (plugin_seeds.py); any other, or one the org
allowlist leaves out, is listed in `plugins_skipped` with the reason.
A workspace that cannot be created is reported with its subtree and the rest goes on (207).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

from molecule.errors import (
    DatastoreUnavailable,
    MoleculeError,
    NotFound,
    PathRefused,
    PayloadTooLarge,
    Unprocessable,
)
from molecule.models import EXTERNAL_RUNTIMES, WorkspaceStatus
from molecule.operations.bundle_spec import (
    MAX_BUNDLE_FILE_BYTES,
    MAX_FILE_BYTES,
    MAX_FILES,
    MAX_PLUGINS,
    MAX_WORKSPACES,
    SCHEMA,
    Bundle,
    BundleNode,
    files_of,
    runtime_of,
)
from molecule.operations.creation import SEED_FAILED, CreateRequest, WorkspaceCreation
from molecule.operations.org_plan import grid_slots
from molecule.operations.plugin_seeds import RUNS_ELSEWHERE, PluginSeeds, not_allowed
from molecule.operations.workspace_extras import (
    KeyValueSeed,
    MemorySeedRow,
    ScheduleSeed,
    WorkspaceExtras,
    seed_extras,
)
from molecule.provision.org_templates import copy_files
from molecule.provision.pipeline import Pipeline
from molecule.provision.plugins_registry import PluginRegistry
from molecule.provision.plugins_staging import StagedPlugin
from molecule.provision.runtimes import platform_runs
from molecule.store.plugins import PluginRows
from molecule.store.secrets import Secrets
from molecule.store.subtrees import Subtrees

log = logging.getLogger("molecule.operations.bundles")

CREATE_FAILED = "failed to create the workspace — see the platform log"
PARENT_FAILED = "not created: its parent could not be created"
FILE_DEPTH = 8
OTHER_SOURCE = (
    "only plugins of the registry are installed from a bundle: install it from its source"
)
OTHER_VERSION = "the registry holds another version (the sha256 of its plugin.yaml differs)"


@dataclass
class _Budget:
    left: int = MAX_BUNDLE_FILE_BYTES


@dataclass(frozen=True)
class PlannedNode:
    request: CreateRequest
    plugins_skipped: list[dict[str, str]] = field(default_factory=list)


class Bundles:
    def __init__(
        self,
        creation: WorkspaceCreation,
        secrets: Secrets,
        subtrees: Subtrees,
        pipeline: Pipeline,
        extras: WorkspaceExtras,
        plugin_rows: PluginRows,
        plugin_registry: PluginRegistry,
    ) -> None:
        self.creation, self.secrets, self.subtrees = creation, secrets, subtrees
        self.pipeline, self.extras = pipeline, extras
        self.plugin_rows, self.plugin_registry = plugin_rows, plugin_registry

    # -- export ---------------------------------------------------------------------------

    async def export(self, root_id: str) -> dict[str, Any]:
        rows = await self.subtrees.subtree(root_id, MAX_WORKSPACES)
        if not rows:
            raise NotFound("workspace not found")
        if len(rows) > MAX_WORKSPACES:
            raise Unprocessable(f"the subtree holds more than {MAX_WORKSPACES} workspaces")
        budget = _Budget()
        nodes: dict[str, dict[str, Any]] = {}
        for row in rows:
            node = await self._export_node(row, budget)
            nodes[str(row["id"])] = node
            parent = nodes.get(str(row["parent_id"])) if row["depth"] else None
            if parent is not None:
                parent["sub_workspaces"].append(node)
        return {"schema": SCHEMA, **nodes[str(rows[0]["id"])]}

    async def _export_node(self, row: dict[str, Any], budget: _Budget) -> dict[str, Any]:
        wid, runtime = str(row["id"]), str(row["runtime"])
        external = runtime in EXTERNAL_RUNTIMES
        files, skipped = await self._files(wid, runtime, budget)
        keys = await self.secrets.list_keys(wid)
        node: dict[str, Any] = {
            "id": wid,
            "name": row["name"],
            "role": row["role"] or "",
            "tier": row["tier"],
            "runtime": runtime,
            "template": row["template"] or "",
            "external": external,
            "url": (row["url"] or "") if external else "",
            "delivery_mode": row["delivery_mode"],
            "max_concurrent_tasks": row["max_concurrent_tasks"],
            "budget_limit": row["budget_limit"],
            "workspace_dir": row["workspace_dir"] or "",
            "workspace_access": row["workspace_access"],
            "files": files,
            "secrets": sorted(k["key"] for k in keys if k["scope"] == "workspace"),
            "plugins": [
                {"name": p["plugin_name"], "source": p["source_raw"]}
                | ({"sha256": p["manifest_sha256"]} if p["manifest_sha256"] else {})
                for p in (await self.plugin_rows.installed(wid))[:MAX_PLUGINS]
            ],
        }
        if skipped:
            node["files_skipped"] = skipped
        node.update(await self.extras.export(wid))
        node["sub_workspaces"] = []
        return node

    async def _files(
        self, wid: str, runtime: str, budget: _Budget
    ) -> tuple[dict[str, str], list[dict[str, str]]]:
        provisioner = self.pipeline.provisioner
        if provisioner is None or not platform_runs(runtime):
            return {}, []
        try:
            entries = await provisioner.list_files(wid, "/configs", FILE_DEPTH, MAX_FILES + 1)
        except OSError:
            return {}, []  # no configs directory: it never started
        files: dict[str, str] = {}
        skipped: list[dict[str, str]] = []
        for entry in entries:
            if entry.dir or any(p.startswith(".") for p in entry.path.split("/")):
                continue
            reason = None
            if len(files) >= MAX_FILES:
                reason = f"more than {MAX_FILES} files"
            else:
                try:
                    data = await provisioner.read_file(
                        wid, f"/configs/{entry.path}", max_bytes=MAX_FILE_BYTES
                    )
                except PayloadTooLarge:
                    reason = f"larger than {MAX_FILE_BYTES} bytes"
                except (OSError, PathRefused):
                    continue  # gone meanwhile, or a name the agent itself would refuse
                else:
                    reason = self._take(files, entry.path, data, budget)
            if reason:
                skipped.append({"path": entry.path, "reason": reason})
        return files, skipped

    @staticmethod
    def _take(files: dict[str, str], path: str, data: bytes, budget: _Budget) -> str | None:
        if len(data) > budget.left:
            return f"the bundle's files exceed {MAX_BUNDLE_FILE_BYTES} bytes"
        try:
            files[path] = data.decode()
        except UnicodeDecodeError:
            return "not UTF-8 text"
        budget.left -= len(data)
        return None

    # -- import ---------------------------------------------------------------------------

    def plugin_seeds(self) -> PluginSeeds:
        """The registry reader of one import (blocking, as `request_for`)."""
        return PluginSeeds(self.plugin_registry)

    def request_for(
        self, node: BundleNode, where: str, x: float, y: float, seeds: PluginSeeds
    ) -> PlannedNode:
        """What the creation operation gets for `node` (its parent filled in later)."""
        templates = self.pipeline.templates
        named = templates.get(node.template or None)
        runtime = runtime_of(node, named.runtime if named else None)
        external = node.external or runtime in EXTERNAL_RUNTIMES
        files = files_of(node, where)  # checked in any case
        if not platform_runs(runtime):
            files = {}
        template = templates.for_workspace(node.template or None, runtime)
        if files and "config.yaml" not in files and template is not None:
            # Complete the seed, or the template copied at the first start would overwrite
            # the bundle's files of the same names.
            files = {**copy_files(template.path, f"template {template.id}"), **files}
        plugins, skipped = self._plugins(node, seeds, platform_runs(runtime))
        request = CreateRequest(
            name=node.name.strip(),
            role=node.role or node.description or None,
            tier=node.tier or 3,
            runtime=runtime,
            external=external,
            url=(node.url or None) if external else None,
            template=node.template or None,
            workspace_dir=node.workspace_dir or None,
            workspace_access=node.workspace_access or "none",
            budget_limit=node.budget_limit,
            max_concurrent_tasks=node.max_concurrent_tasks or 1,
            delivery_mode=node.delivery_mode or "push",
            x=x,
            y=y,
            config_files=files,
            plugins=plugins,
        )
        return PlannedNode(request, skipped)

    @staticmethod
    def _plugins(
        node: BundleNode, seeds: PluginSeeds, runs_here: bool
    ) -> tuple[list[StagedPlugin], list[dict[str, str]]]:
        staged, skipped = [], []
        for plugin in node.plugins:
            reason = None
            if not runs_here:
                reason = RUNS_ELSEWHERE
            elif plugin.source != f"local://{plugin.name}":
                reason = OTHER_SOURCE
            else:
                try:
                    tree = seeds.get(plugin.name)
                except MoleculeError as exc:
                    if exc.status >= 500:
                        raise  # the registry could not be read: not the bundle's fault
                    reason = exc.message
                else:
                    if plugin.sha256 and tree.manifest_sha256() != plugin.sha256.lower():
                        reason = OTHER_VERSION
                    else:
                        staged.append(tree)
            if reason:
                skipped.append({"plugin": plugin.name, "source": plugin.source, "reason": reason})
        return staged, skipped

    async def import_bundle(
        self,
        bundle: Bundle,
        requests: dict[str, PlannedNode],
        parent_id: str | None,
    ) -> tuple[int, dict[str, Any]]:
        """Create the tree (`requests` by the node's place, from `request_for`): (201 or
        207, the original's answer `{workspace_id, name, status, error?, children}`)."""
        failures: list[str] = []
        result = await self._create(bundle, "bundle", requests, parent_id, failures)
        result["count"] = self._count(result)
        if failures:
            result["failed_count"] = len(failures)
            return 207, result
        return 201, result

    def _count(self, result: dict[str, Any]) -> int:
        own = 1 if result.get("workspace_id") else 0
        return own + sum(self._count(c) for c in result.get("children", []))

    async def _create(
        self,
        node: BundleNode,
        where: str,
        requests: dict[str, PlannedNode],
        parent_id: str | None,
        failures: list[str],
    ) -> dict[str, Any]:
        planned = requests[where]
        req = planned.request
        try:
            created = await self.creation.create(replace(req, parent_id=parent_id))
        except DatastoreUnavailable:
            raise
        except MoleculeError as exc:
            return self._failed(node, where, exc.message, failures)
        except Exception:
            log.exception("bundle import: creating %r failed", node.name)
            return self._failed(node, where, CREATE_FAILED, failures)
        wid = created.id
        result: dict[str, Any] = {
            "workspace_id": wid,
            "name": created.name,
            "status": str(created.status),
        }
        if created.status == WorkspaceStatus.FAILED:
            result["error"] = SEED_FAILED
            failures.append(where)
        if node.secrets:
            result["secrets_to_set"] = list(node.secrets)
        skipped = planned.plugins_skipped + [
            {"plugin": name, "source": f"local://{name}", "reason": not_allowed(name)}
            for name in created.plugins_blocked
        ]
        if skipped:
            result["plugins_skipped"] = skipped
        schedules = [
            ScheduleSeed(s.name, s.cron_expr, s.timezone, s.prompt, s.enabled)
            for s in node.schedules
        ]
        memories = [MemorySeedRow(m.content, m.scope, m.namespace) for m in node.memories]
        kv = [KeyValueSeed(e.key, e.value) for e in node.kv]
        problem = await seed_extras(
            wid,
            lambda: self.extras.add_schedules(wid, schedules),
            lambda: self.extras.add_memories(wid, memories),
            lambda: self.extras.add_kv(wid, kv),
        )
        if problem and "error" not in result:
            result["error"] = problem
            failures.append(where)
        result["children"] = [
            await self._create(child, f"{where}.sub_workspaces[{i}]", requests, wid, failures)
            for i, child in enumerate(node.sub_workspaces)
        ]
        return result

    def _failed(
        self, node: BundleNode, where: str, error: str, failures: list[str]
    ) -> dict[str, Any]:
        failures.append(where)
        children = [
            self._failed(c, f"{where}.sub_workspaces[{i}]", PARENT_FAILED, failures)
            for i, c in enumerate(node.sub_workspaces)
        ]
        return {
            "workspace_id": None,
            "name": node.name,
            "status": "failed",
            "error": error,
            "children": children,
        }


def layout(bundle: Bundle, x: float, y: float) -> dict[str, tuple[float, float]]:
    """Canvas positions by node place: the root at (x, y), children on the grid."""
    placed: dict[str, tuple[float, float]] = {}

    def visit(node: BundleNode, where: str, at: tuple[float, float]) -> None:
        placed[where] = at
        slots = grid_slots(node.sub_workspaces, lambda n: n.sub_workspaces)
        for i, (child, (sx, sy)) in enumerate(zip(node.sub_workspaces, slots, strict=True)):
            visit(child, f"{where}.sub_workspaces[{i}]", (at[0] + sx, at[1] + sy))

    visit(bundle, "bundle", (x, y))
    return placed
