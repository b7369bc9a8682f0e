"""From an org template to the workspaces it creates: every value decided, every file read.

Planning happens before anything is written, so a prompt file that is missing, a
`files_dir` that is too large or an `.env` line that cannot be parsed is a 400 with nothing
created. It reads files (run it in a worker thread) and holds, for each workspace, the
`CreateRequest` the creation operation gets (its parent filled in at creation time), the
schedules and memories to seed, and what the original reported per workspace.

Decisions, as in the original (upstream-april §8.4) unless noted:
- a workspace's value, else the defaults', else: runtime from its `template`, else
  `langgraph`; tier 2; max_concurrent_tasks 1;
- roots keep their `canvas` position; children are laid out on the canvas's 2-column grid,
  each slot as large as the subtree it holds (the canvas draws children inside parents);
- config files are seeded only when the template adds something: the workspace template's
  files (or the runtime's `<runtime>-default`), `files_dir` over them, and a config.yaml
  carrying the name, role, model, prompts and `category_routing`; an inline
  `system_prompt` becomes `system-prompt.md`, listed in `prompt_files`;
- `.env` at the template's root, then in `files_dir`, become the workspace's secrets (and
  count as set for the required-environment preflight);
- `plugins`: the defaults' and the workspace's, a workspace's `!name` or `-name` leaving one
  of the defaults out; each comes from the plugin registry (plugin_seeds.py) and is seeded
  into every workspace this platform runs that names it; one the registry does not hold,
  or named by an external or mock workspace (no files here), is reported skipped;
- the original's default model (`anthropic:claude-opus-4-7`) is not invented: the local
  runtimes take the model from config or the `MODEL` secret.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from molecule.errors import MoleculeError, NotFound
from molecule.models import EXTERNAL_RUNTIMES
from molecule.operations.creation import DEFAULT_RUNTIME, CreateRequest
from molecule.operations.org_spec import (
    DEFAULT_TIER,
    MemorySeed,
    OrgDefaults,
    OrgTemplate,
    OrgWorkspace,
)
from molecule.operations.plugin_seeds import RUNS_ELSEWHERE, PluginSeeds
from molecule.operations.workspace_extras import MemorySeedRow, ScheduleSeed, WorkspaceExtras
from molecule.provision.org_templates import (
    copy_files,
    inside,
    invalid_template,
    parse_env,
    read_text,
)
from molecule.provision.plugins_registry import valid_name
from molecule.provision.plugins_staging import StagedPlugin
from molecule.provision.runtimes import LOCAL_ADAPTERS
from molecule.provision.templates import Templates

T = TypeVar("T")
MAX_SEED_BYTES = 16 * 1024 * 1024  # config files of every workspace of one import
CHILD_W, CHILD_H, GUTTER, HEADER, SIDE, COLUMNS = 240.0, 130.0, 14.0, 130.0, 16.0, 2


@dataclass
class PlannedWorkspace:
    request: CreateRequest
    schedules: list[ScheduleSeed] = field(default_factory=list)
    memories: list[MemorySeedRow] = field(default_factory=list)
    channels_skipped: list[dict[str, str]] = field(default_factory=list)
    plugins_skipped: list[dict[str, str]] = field(default_factory=list)
    children: list[PlannedWorkspace] = field(default_factory=list)

    def count(self) -> int:
        return 1 + sum(c.count() for c in self.children)


@dataclass
class OrgPlan:
    name: str
    dir: str  # "" for an inline template
    roots: list[PlannedWorkspace]
    env_keys: set[str]  # variables the template's .env files set
    global_memories: list[MemorySeedRow]


def runtime_of(ws: OrgWorkspace, defaults: OrgDefaults, templates: Templates) -> str:
    if ws.external:
        return ws.runtime if ws.runtime in EXTERNAL_RUNTIMES else "external"
    template = templates.get(ws.template)
    return ws.runtime or defaults.runtime or (template.runtime if template else DEFAULT_RUNTIME)


def template_env(ws: OrgWorkspace, defaults: OrgDefaults, templates: Templates) -> list[str]:
    """The `required_env` of the workspace template the workspace starts from."""
    if ws.external:
        return []
    template = templates.for_workspace(ws.template or None, runtime_of(ws, defaults, templates))
    return template.required_env if template else []


def _size(node: T, kids: Callable[[T], Sequence[T]]) -> tuple[float, float]:
    children = kids(node)
    if not children:
        return CHILD_W, CHILD_H
    sizes = [_size(c, kids) for c in children]
    cols = min(COLUMNS, len(sizes))
    width = max(w for w, _ in sizes)
    rows = [max(h for _, h in sizes[r : r + cols]) for r in range(0, len(sizes), cols)]
    return (
        SIDE * 2 + width * cols + GUTTER * (cols - 1),
        HEADER + sum(rows) + GUTTER * (len(rows) - 1) + SIDE,
    )


def grid_slots(
    children: Sequence[T], kids: Callable[[T], Sequence[T]]
) -> list[tuple[float, float]]:
    """Parent-relative positions of `children` on the canvas's own grid: two columns, each
    slot as large as the subtree it holds (`kids` gives a node's children)."""
    sizes = [_size(c, kids) for c in children]
    if not sizes:
        return []
    cols = min(COLUMNS, len(sizes))
    width = max(w for w, _ in sizes)
    rows = [max(h for _, h in sizes[r : r + cols]) for r in range(0, len(sizes), cols)]
    slots = []
    for i in range(len(sizes)):
        row = i // cols
        y = HEADER + sum(rows[:row]) + GUTTER * row
        slots.append((SIDE + (i % cols) * (width + GUTTER), y))
    return slots


def _memories(seeds: list[MemorySeed], scope: str | None = None) -> list[MemorySeedRow]:
    return [MemorySeedRow(m.content, scope or m.scope, m.namespace) for m in seeds]


def plugin_names(defaults: list[str], own: list[str], where: str) -> list[str]:
    """The defaults' plugins, less the workspace's opt-outs (`!x`, `-x`), then its own."""
    opted_out = {p[1:] for p in own if p[:1] in ("!", "-")}
    names: list[str] = []
    for name in [*defaults, *own]:
        if name[:1] in ("!", "-") or name in opted_out or name in names:
            continue
        if not valid_name(name):
            raise invalid_template(f"{where}.plugins: invalid plugin name {name!r}")
        names.append(name)
    return names


class Planner:
    def __init__(
        self,
        org: OrgTemplate,
        base: Path | None,
        templates: Templates,
        extras: WorkspaceExtras,
        plugins: PluginSeeds,
    ) -> None:
        self.org, self.base, self.templates, self.extras = org, base, templates, extras
        self.defaults = org.defaults
        self.plugins = plugins
        self.seed_bytes = 0
        self.env_keys: set[str] = set()
        self.root_env = self._env("", ".env")

    def plan(self, dir_name: str) -> OrgPlan:
        roots = [
            self._node(ws, f"workspaces[{i}]", ws.canvas.x, ws.canvas.y, root=True)
            for i, ws in enumerate(self.org.workspaces)
            if ws.spawning
        ]
        memories = _memories(self.org.global_memories, "GLOBAL")
        return OrgPlan(self.org.name, dir_name, roots, self.env_keys, memories)

    def _file(self, files_dir: str, rel: str, what: str) -> str:
        if self.base is None:
            raise invalid_template(f"{what}: file references need a directory template")
        return read_text(self.base, self.base / files_dir, rel, what)

    def _env(self, files_dir: str, what: str) -> dict[str, str]:
        if self.base is None:
            return {}
        path = inside(self.base, self.base / files_dir, ".env")
        if path is None or not path.is_file():
            return {}
        env = parse_env(self._file(files_dir, ".env", what), what)
        self.env_keys.update(env)
        return env

    def _prompt(self, ws: OrgWorkspace, name: str, where: str) -> str:
        """Inline wins, then the workspace's file (under its files_dir), then the defaults'
        inline text, then their file (at the template's root)."""
        inline, ref = getattr(ws, name), getattr(ws, f"{name}_file")
        if inline:
            return str(inline).strip()
        if ref:
            return self._file(ws.files_dir, ref, f"{where}.{name}_file").strip()
        d_inline, d_ref = getattr(self.defaults, name), getattr(self.defaults, f"{name}_file")
        if d_inline:
            return str(d_inline).strip()
        return self._file("", d_ref, f"defaults.{name}_file").strip() if d_ref else ""

    def _config(self, ws: OrgWorkspace, runtime: str, where: str) -> dict[str, bytes]:
        if ws.files_dir and self.base is None:
            raise invalid_template(f"{where}.files_dir: needs a directory template")
        model = ws.model or self.defaults.model
        routing = {**self.defaults.category_routing, **ws.category_routing}
        routing = {k: v for k, v in routing.items() if v}
        prompts = {k: self._prompt(ws, k, where) for k in ("initial_prompt", "idle_prompt")}
        if not (model or routing or ws.system_prompt or ws.files_dir or any(prompts.values())):
            return {}
        template = self.templates.for_workspace(ws.template or None, runtime)
        files = copy_files(template.path, f"template {template.id}") if template else {}
        if ws.files_dir:
            top = inside(self.base, self.base, ws.files_dir) if self.base else None
            if top is None or not top.is_dir():
                raise invalid_template(f"{where}.files_dir {ws.files_dir!r}: no such directory")
            files.update(copy_files(top, f"{where}.files_dir"))
        config = self._base_config(files.get("config.yaml"), ws, runtime, where)
        config["name"] = ws.name
        if ws.role:
            config["description"] = ws.role
        if model:
            config["model"] = model
        if routing:
            config["category_routing"] = routing
        if prompts["initial_prompt"]:
            config["initial_prompt"] = prompts["initial_prompt"]
        if prompts["idle_prompt"]:
            interval = ws.idle_interval_seconds or self.defaults.idle_interval_seconds
            config["idle_interval_seconds"] = interval or 600
            config["idle_prompt"] = prompts["idle_prompt"]
        if ws.system_prompt:
            files["system-prompt.md"] = ws.system_prompt.encode()
            listed = config.get("prompt_files")
            listed = [str(x) for x in listed] if isinstance(listed, list) else []
            if "system-prompt.md" not in listed:
                listed.append("system-prompt.md")
            config["prompt_files"] = listed
        files["config.yaml"] = yaml.safe_dump(config, sort_keys=False, allow_unicode=True).encode()
        self.seed_bytes += sum(len(b) for b in files.values())
        if self.seed_bytes > MAX_SEED_BYTES:
            raise invalid_template(f"the org's config files exceed {MAX_SEED_BYTES} bytes")
        return files

    @staticmethod
    def _base_config(
        raw: bytes | None, ws: OrgWorkspace, runtime: str, where: str
    ) -> dict[str, Any]:
        if raw is None:
            config: dict[str, Any] = {"name": ws.name, "version": "1.0.0", "runtime": runtime}
            if runtime in LOCAL_ADAPTERS:
                config["runtime_config"] = {"adapter": LOCAL_ADAPTERS[runtime]}
            return config
        try:
            loaded = yaml.safe_load(raw)
        except (yaml.YAMLError, RecursionError):
            raise invalid_template(f"{where}: its config.yaml is not valid YAML") from None
        if not isinstance(loaded, dict):
            raise invalid_template(f"{where}: its config.yaml is not a mapping")
        return dict(loaded)

    def _plugins(
        self, ws: OrgWorkspace, where: str, runs_here: bool
    ) -> tuple[list[StagedPlugin], list[dict[str, str]]]:
        """(the trees to seed, what is left out and why). A name the registry does not hold
        is left out, so a template written for another platform's plugins still imports; a
        name that could never be a plugin, an unsafe tree or too many bytes is the 400."""
        staged, skipped = [], []
        for name in plugin_names(self.defaults.plugins, ws.plugins, where):
            reason = RUNS_ELSEWHERE
            if runs_here:
                try:
                    staged.append(self.plugins.get(name))
                    continue
                except NotFound as exc:
                    reason = exc.message
                except MoleculeError as exc:
                    if exc.status >= 500:
                        raise  # the registry could not be read: not the template's fault
                    raise invalid_template(f"{where}.plugins: {name}: {exc.message}") from None
            skipped.append({"workspace": ws.name, "plugin": name, "reason": reason})
        return staged, skipped

    def _schedules(self, ws: OrgWorkspace, where: str) -> list[ScheduleSeed]:
        planned = []
        for i, s in enumerate(ws.schedules):
            what = f"{where}.schedules[{i}]"
            prompt = s.prompt or (
                self._file(ws.files_dir, s.prompt_file, f"{what}.prompt_file")
                if s.prompt_file
                else ""
            )
            if not prompt.strip():
                raise invalid_template(f"{what}: prompt or prompt_file is required")
            seed = ScheduleSeed(s.name, s.cron_expr, s.timezone or "UTC", prompt, s.enabled)
            problem = self.extras.check_schedule(seed)
            if problem:
                raise invalid_template(f"{what}: {problem}")
            planned.append(seed)
        return planned

    def _node(
        self, ws: OrgWorkspace, where: str, x: float, y: float, root: bool = False
    ) -> PlannedWorkspace:
        runtime = runtime_of(ws, self.defaults, self.templates)
        memories = _memories(ws.initial_memories or self.defaults.initial_memories)
        if not root and any(m.scope == "GLOBAL" for m in memories):
            raise invalid_template(f"{where}: only a root workspace may hold GLOBAL memories")
        runs_here = not ws.external and runtime not in EXTERNAL_RUNTIMES and runtime != "mock"
        secrets = {**self.root_env, **self._env(ws.files_dir, f"{where}.files_dir/.env")}
        files = self._config(ws, runtime, where)  # its file references checked in any case
        plugins, plugins_skipped = self._plugins(ws, where, runs_here)
        request = CreateRequest(
            name=ws.name,
            role=ws.role or None,
            tier=ws.tier or self.defaults.tier or DEFAULT_TIER,
            runtime=runtime,
            external=ws.external or runtime in EXTERNAL_RUNTIMES,
            url=ws.url or None,
            template=ws.template or None,
            workspace_dir=ws.workspace_dir or None,
            workspace_access=ws.workspace_access or "none",
            max_concurrent_tasks=ws.max_concurrent_tasks or 1,
            x=x,
            y=y,
            config_files=files if runs_here else {},
            secrets=secrets if not ws.external else {},
            plugins=plugins,
        )
        node = PlannedWorkspace(
            request,
            schedules=self._schedules(ws, where),
            memories=memories,
            channels_skipped=[
                {"workspace": ws.name, "type": c.type, "reason": "channels are not available"}
                for c in ws.channels
            ],
            plugins_skipped=plugins_skipped,
        )
        slots = grid_slots(ws.children, lambda w: w.children)
        for i, (child, (sx, sy)) in enumerate(zip(ws.children, slots, strict=True)):
            if child.spawning:
                node.children.append(self._node(child, f"{where}.children[{i}]", x + sx, y + sy))
        return node


def plan_org(
    org: OrgTemplate,
    base: Path | None,
    dir_name: str,
    templates: Templates,
    extras: WorkspaceExtras,
    plugins: PluginSeeds,
) -> OrgPlan:
    """The whole import decided; raises the 400 `invalid org template` on a bad reference."""
    return Planner(org, base, templates, extras, plugins).plan(dir_name)
