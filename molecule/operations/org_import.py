"""A whole team from one template: GET /org/templates and POST /org/import (upstream-april
§1.10 and §8.4, upstream-may §12.2).

The steps, each finished before the next begins, so every refusal leaves nothing behind:
1. load: a shipped or operator template by its directory name (includes expanded), or an
   inline one; parse it (molecule/operations/org_spec.py);
2. the route checks each workspace's fields with POST /workspaces' rules;
3. plan: every value decided and every referenced file read (org_plan.py);
4. preflight: every required variable (declared by the org, or by a workspace template it
   uses) must be a global secret or set by the template's `.env` files, else 412. The
   original's `force` bypass was removed upstream (#2290): it is ignored here too;
5. create, parents before children, each through the shared creation operation, so every
   workspace starts through the same pipeline as POST /workspaces. A live workspace of the
   same name under the same parent is kept and reported `skipped` (a re-import completes an
   org instead of duplicating it). A workspace that cannot be created is reported with its
   subtree, the others go on: 207 with what was created and what failed. A workspace's
   plugins are seeded before its first start; one the registry does not hold, or that the
   allowlist of the org it joins leaves out, is reported in `plugins_skipped`.

`org.import.started` and `org.import.completed` are recorded around step 5 (workspace_id
null), with the original's payloads.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import trio

from molecule.errors import BadRequest, DatastoreUnavailable, MoleculeError
from molecule.events import ORG_IMPORT_COMPLETED, ORG_IMPORT_STARTED, EventBus
from molecule.models import WorkspaceStatus
from molecule.operations.creation import SEED_FAILED, WorkspaceCreation
from molecule.operations.org_plan import OrgPlan, PlannedWorkspace, plan_org, template_env
from molecule.operations.org_spec import EnvNeeds, OrgTemplate, collect_env, parse_org, walk
from molecule.operations.plugin_seeds import PluginSeeds, not_allowed
from molecule.operations.workspace_extras import WorkspaceExtras, seed_extras
from molecule.provision.org_templates import OrgTemplates
from molecule.provision.plugins_registry import PluginRegistry
from molecule.provision.templates import Templates
from molecule.store.secrets import Secrets
from molecule.store.subtrees import Subtrees

log = logging.getLogger("molecule.operations.org_import")

MISSING_ENV = "missing required environment variables"
SUGGESTION = "set these as global secrets (POST /settings/secrets) before importing"
NO_SOURCE = "provide 'dir' or 'template'"
CREATE_FAILED = "failed to create the workspace — see the platform log"
PARENT_FAILED = "not created: its parent could not be created"


@dataclass
class _Run:
    results: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    created: int = 0
    skipped: int = 0

    def fail(self, node: PlannedWorkspace, parent_id: str | None, error: str) -> None:
        self.failed.append({"name": node.request.name, "parent_id": parent_id, "error": error})
        for child in node.children:
            self.fail(child, None, PARENT_FAILED)


@dataclass(frozen=True)
class Source:
    org: OrgTemplate
    base: Path | None  # the template's directory; None for an inline template
    dir: str


class OrgImport:
    def __init__(
        self,
        creation: WorkspaceCreation,
        secrets: Secrets,
        bus: EventBus,
        subtrees: Subtrees,
        templates: Templates,
        catalogue: OrgTemplates,
        extras: WorkspaceExtras,
        plugin_registry: PluginRegistry,
    ) -> None:
        self.creation, self.secrets, self.bus = creation, secrets, bus
        self.subtrees, self.templates, self.catalogue = subtrees, templates, catalogue
        self.extras = extras
        self.plugin_registry = plugin_registry

    def env_needs(self, org: OrgTemplate) -> EnvNeeds:
        return collect_env(org, lambda ws: template_env(ws, org.defaults, self.templates))

    def _parse_dir(self, name: str) -> Source:
        loaded = self.catalogue.load(name)
        return Source(parse_org(loaded.document), loaded.base, name)

    async def listing(self) -> list[dict[str, Any]]:
        """Every template that loads, with its workspace count and environment needs; one
        that does not is logged and left out (as the original's palette did)."""
        out = []
        for name in await trio.to_thread.run_sync(lambda: list(self.catalogue.available())):
            try:
                source = await trio.to_thread.run_sync(self._parse_dir, name)
            except MoleculeError as exc:
                log.warning("org template %s left out of the listing: %s", name, exc.body())
                continue
            needs = self.env_needs(source.org)
            out.append(
                {
                    "dir": name,
                    "name": source.org.name,
                    "description": source.org.description,
                    "workspaces": sum(1 for _ in walk(source.org)),
                    "required_env": [r.wire() for r in needs.required],
                    "recommended_env": [r.wire() for r in needs.recommended],
                }
            )
        return out

    async def load(self, dir_name: str | None, inline: Any) -> Source:
        if dir_name:
            return await trio.to_thread.run_sync(self._parse_dir, dir_name)
        if inline is not None:
            return Source(await trio.to_thread.run_sync(parse_org, inline), None, "")
        raise BadRequest(NO_SOURCE)

    async def plan(self, source: Source) -> OrgPlan:
        return await trio.to_thread.run_sync(
            plan_org,
            source.org,
            source.base,
            source.dir,
            self.templates,
            self.extras,
            PluginSeeds(self.plugin_registry),
        )

    async def preflight(self, source: Source, plan: OrgPlan) -> None:
        """412 unless every required variable is set (a global secret or the template's
        `.env`); the original's fields and words (upstream-may §12.2)."""
        needs = self.env_needs(source.org)
        if not needs.required:
            return
        keys = {row["key"] for row in await self.secrets.list_keys(None)} | plan.env_keys
        missing = needs.missing(keys)
        if missing:
            raise MoleculeError(  # 412: what the import needs is not in place yet
                MISSING_ENV,
                status=412,
                extra={
                    "missing_env": [r.wire() for r in missing],
                    "required_env": [r.wire() for r in needs.required],
                    "template": source.dir or source.org.name,
                    "suggestion": SUGGESTION,
                },
            )

    async def run(self, plan: OrgPlan, mode: str = "") -> tuple[int, dict[str, Any]]:
        """Create the planned tree: (201 or 207, the answer)."""
        started = time.monotonic()
        header = {"name": plan.name, "dir": plan.dir, "mode": mode}
        await self.bus.record(ORG_IMPORT_STARTED, None, header)
        run = _Run()
        error = ""
        try:
            for root in plan.roots:
                await self._create(root, None, run)
            first = run.results[0] if run.results else None
            if plan.global_memories and first is not None and not first.get("skipped"):
                wid = first["id"]
                problem = await seed_extras(
                    wid, lambda: self.extras.add_memories(wid, plan.global_memories)
                )
                if problem:
                    run.failed.append({"name": first["name"], "id": wid, "error": problem})
        except MoleculeError as exc:
            error = exc.message
            raise
        finally:
            if run.failed and not error:
                error = f"{run.failed[0]['name']}: {run.failed[0]['error']}"
            await self.bus.record(
                ORG_IMPORT_COMPLETED,
                None,
                {
                    **header,
                    "created_count": run.created,
                    "skipped_count": run.skipped,
                    "reconcile_removed_count": 0,
                    "reconcile_errors": 0,
                    "duration_ms": int((time.monotonic() - started) * 1000),
                    "create_error": error,
                },
            )
        body: dict[str, Any] = {"org": plan.name, "workspaces": run.results}
        body["count"] = len(run.results)
        if not run.failed:
            return 201, body
        body["error"] = f"{len(run.failed)} workspace(s) failed; the first: {error}"
        body["failed"] = run.failed
        return 207, body

    async def _create(self, node: PlannedWorkspace, parent_id: str | None, run: _Run) -> None:
        req = node.request
        existing = await self.subtrees.child_named(parent_id, req.name)
        if existing is not None:
            wid = str(existing["id"])
            run.skipped += 1
            run.results.append(
                {
                    "id": wid,
                    "name": existing["name"],
                    "tier": existing["tier"],
                    "runtime": existing["runtime"],
                    "status": existing["status"],
                    "parent_id": parent_id,
                    "skipped": True,
                }
            )
        else:
            try:
                created = await self.creation.create(replace(req, parent_id=parent_id))
            except DatastoreUnavailable:
                raise  # a retry completes the org: what exists is skipped
            except MoleculeError as exc:
                run.fail(node, parent_id, exc.message)
                return
            except Exception:
                log.exception("org import: creating %r failed", req.name)
                run.fail(node, parent_id, CREATE_FAILED)
                return
            wid = created.id
            run.created += 1
            entry: dict[str, Any] = {
                "id": wid,
                "name": created.name,
                "tier": req.tier,
                "runtime": created.runtime,
                "status": str(created.status),
                "parent_id": parent_id,
            }
            if node.channels_skipped:
                entry["channels_skipped"] = node.channels_skipped
            plugins_skipped = node.plugins_skipped + [
                {"workspace": created.name, "plugin": name, "reason": not_allowed(name)}
                for name in created.plugins_blocked
            ]
            if plugins_skipped:
                entry["plugins_skipped"] = plugins_skipped
            run.results.append(entry)
            if created.status == WorkspaceStatus.FAILED:
                run.failed.append({"name": created.name, "parent_id": parent_id, "id": wid})
                run.failed[-1]["error"] = SEED_FAILED
            problem = await seed_extras(
                wid,
                lambda: self.extras.add_schedules(wid, node.schedules),
                lambda: self.extras.add_memories(wid, node.memories),
            )
            if problem:
                run.failed.append({"name": created.name, "parent_id": parent_id, "id": wid})
                run.failed[-1]["error"] = problem
        for child in node.children:
            await self._create(child, wid, run)
