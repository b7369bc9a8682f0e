"""The bundle document: a workspace subtree as one JSON value (GET /bundles/export/:id,
POST /bundles/import).

Every node carries what recreates the workspace elsewhere: its identity and place (name,
role, tier, runtime, template, external URL, delivery mode, limits), the text files of its
configs directory, the names of its own secrets (never a value), its schedules and memories
when this platform keeps them, the plugins it has installed (`{name, source, sha256?}`: an
import installs a `local://` one from its own registry when that holds the same version),
and its children in `sub_workspaces`. `id` is the exported
workspace's id, for reference only: an import always mints new ones.

The original's bundle fields are read too (`description` for the role, `system_prompt`,
`prompts` of file contents, `skills[{id, files}]`, the runtime in `prompts["config.yaml"]`),
so one of its bundles imports here.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from molecule.errors import BadRequest, PathRefused
from molecule.operations.creation import DEFAULT_RUNTIME
from molecule.operations.org_spec import memory_content
from molecule.provision.plugins_registry import valid_name
from molecule.workspace_paths import validate_virtual

SCHEMA = "1.0"
MAX_WORKSPACES = 200
MAX_DEPTH = 10
MAX_FILES = 200  # per workspace
MAX_PLUGINS = 1000  # per workspace; export writes at most as many
MAX_FILE_BYTES = 256 * 1024
MAX_BUNDLE_FILE_BYTES = 4 * 1024 * 1024  # every file of one bundle
MAX_BODY = 8 * 1024 * 1024  # an import's JSON body
INVALID_BUNDLE = "invalid bundle"
PLATFORM_FILES = frozenset({".auth_token", ".platform_inbound_secret"})

Short = Annotated[str, StringConstraints(max_length=255)]
FileText = Annotated[str, StringConstraints(max_length=MAX_FILE_BYTES)]
Files = Annotated[
    dict[Annotated[str, StringConstraints(max_length=1024)], FileText], Field(max_length=MAX_FILES)
]


def invalid_bundle(detail: str) -> BadRequest:
    return BadRequest(INVALID_BUNDLE, extra={"detail": detail})


class _Node(BaseModel):
    model_config = ConfigDict(extra="ignore")


class BundleSchedule(_Node):
    name: str = Field(min_length=1, max_length=200)
    cron_expr: str = Field(min_length=1, max_length=200)
    timezone: Annotated[str, StringConstraints(max_length=64)] = "UTC"
    prompt: Annotated[str, StringConstraints(min_length=1, max_length=64 * 1024)]
    enabled: bool = True


class BundleMemory(_Node):
    content: Annotated[str, StringConstraints(min_length=1, max_length=64 * 1024)]
    scope: Annotated[str, StringConstraints(pattern=r"^(LOCAL|TEAM|GLOBAL)$")] = "LOCAL"
    namespace: Annotated[str, StringConstraints(max_length=50)] = "general"

    @field_validator("content", mode="after")
    @classmethod
    def _bytes(cls, value: str) -> str:
        return memory_content(value)


class BundleKeyValue(_Node):
    key: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    value: Any


class BundlePlugin(_Node):
    name: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    source: Annotated[str, StringConstraints(max_length=1024)] = ""
    sha256: Annotated[str, StringConstraints(pattern=r"^([0-9a-fA-F]{64})?$")] = ""

    @field_validator("name", mode="after")
    @classmethod
    def _name(cls, value: str) -> str:
        if not valid_name(value):
            raise ValueError("invalid plugin name")
        return value


class BundleSkill(_Node):
    id: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    files: Files = {}


class BundleNode(_Node):
    id: Short = ""
    name: str = Field(min_length=1, max_length=255)
    role: Annotated[str, StringConstraints(max_length=1000)] = ""
    description: Annotated[str, StringConstraints(max_length=1000)] = ""  # the original's role
    tier: int = Field(default=0, ge=0, le=4)
    runtime: Annotated[str, StringConstraints(max_length=100)] = ""
    template: Short = ""
    external: bool = False
    url: Annotated[str, StringConstraints(max_length=2048)] = ""
    delivery_mode: Annotated[str, StringConstraints(pattern=r"^(push|poll)?$")] = ""
    max_concurrent_tasks: int = Field(default=0, ge=0, le=1000)
    budget_limit: int | None = Field(default=None, ge=0, le=2**63 - 1)
    workspace_dir: Annotated[str, StringConstraints(max_length=4096)] = ""
    workspace_access: Annotated[str, StringConstraints(max_length=20)] = ""
    files: Files = {}
    system_prompt: FileText = ""
    prompts: Files = {}
    skills: Annotated[list[BundleSkill], Field(max_length=100)] = []
    secrets: Annotated[
        list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,255}$")]],
        Field(max_length=200),
    ] = []
    schedules: Annotated[list[BundleSchedule], Field(max_length=50)] = []
    memories: Annotated[list[BundleMemory], Field(max_length=1000)] = []
    kv: Annotated[list[BundleKeyValue], Field(max_length=1000)] = []
    plugins: Annotated[list[BundlePlugin], Field(max_length=MAX_PLUGINS)] = []
    sub_workspaces: Annotated[list[BundleNode], Field(max_length=100)] = []


class Bundle(BundleNode):
    """A workspace subtree: the root's fields, its children in `sub_workspaces`."""

    schema_: str = Field(default=SCHEMA, alias="schema", max_length=20)


def parse_bundle(data: Any) -> Bundle:
    """The bundle, or the 400 naming its first problems."""
    if not isinstance(data, dict):
        raise invalid_bundle("a bundle is a JSON object")
    try:
        return Bundle.model_validate(data)
    except ValidationError as exc:
        where = [
            ".".join(str(p) for p in e["loc"] if p != "constrained-str") + ": " + e["msg"]
            for e in exc.errors()[:3]
        ]
        raise invalid_bundle("; ".join(where)) from None


@dataclass(frozen=True)
class PlacedNode:
    node: BundleNode
    path: str
    parent: str | None
    depth: int


def walk(bundle: BundleNode) -> Iterator[PlacedNode]:
    """Parents before children, depth first."""
    stack = [PlacedNode(bundle, "bundle", None, 0)]
    while stack:
        placed = stack.pop()
        yield placed
        kids = placed.node.sub_workspaces
        for i in range(len(kids) - 1, -1, -1):
            path = f"{placed.path}.sub_workspaces[{i}]"
            stack.append(PlacedNode(kids[i], path, placed.path, placed.depth + 1))


def files_of(node: BundleNode, where: str) -> dict[str, bytes]:
    """The node's config files (the original's fields folded in), each path one the agent
    accepts under /configs and not one of the platform's credential files."""
    files: dict[str, str] = dict(node.prompts)
    if node.system_prompt:
        files["system-prompt.md"] = node.system_prompt
    for skill in node.skills:
        for rel, text in skill.files.items():
            files[f"skills/{skill.id}/{rel}"] = text
    files.update(node.files)
    out: dict[str, bytes] = {}
    total = 0
    for rel, text in files.items():
        try:
            validate_virtual("/configs/" + rel)
        except PathRefused as exc:
            raise invalid_bundle(f"{where}: file {rel[:100]!r}: {exc.message}") from None
        if any(part.startswith(".") for part in rel.split("/")) or rel in PLATFORM_FILES:
            raise invalid_bundle(f"{where}: file {rel[:100]!r}: hidden files are not imported")
        data = text.encode()
        total += len(data)
        out[posixpath.normpath(rel)] = data
    if len(out) > MAX_FILES or total > MAX_BUNDLE_FILE_BYTES:
        raise invalid_bundle(
            f"{where}: more than {MAX_FILES} files or {MAX_BUNDLE_FILE_BYTES} bytes of them"
        )
    return out


def runtime_of(node: BundleNode, template_runtime: str | None) -> str:
    """Its `runtime`, else the one its config.yaml names (the original's bundles), else its
    template's, else the original's default."""
    if node.runtime:
        return node.runtime
    if node.external:
        return "external"
    config = node.files.get("config.yaml") or node.prompts.get("config.yaml")
    if config:
        try:
            parsed: Any = yaml.safe_load(config)
        except (yaml.YAMLError, RecursionError):  # nesting deeper than the parser's stack
            parsed = None
        if isinstance(parsed, dict) and isinstance(parsed.get("runtime"), str):
            return str(parsed["runtime"])
    return template_runtime or DEFAULT_RUNTIME
