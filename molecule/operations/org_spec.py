"""The org template as data (upstream-april §8.4, upstream-may §12.2): what POST /org/import
accepts inline or reads from an org.yaml, and the environment such an org needs.

Parsing checks shapes, types and bounds, and refuses with `invalid org template` plus a
`detail` naming the place (`workspaces[0].children[1].tier: ...`). The rules a workspace's
fields share with POST /workspaces are applied by the route (molecule/http/org_checks.py):
the caller validates at its edge, creation decides the rest (molecule/operations/creation.py).
Unknown keys are ignored, as the original's YAML binding ignored them.

Environment needs (`collect_env`) are the union of `required_env` / `recommended_env`
declared anywhere in the template plus the `required_env` of every workspace template the
org uses, deduplicated by member set; a strict requirement wins over any group or
recommendation naming the same variable, as in the original's aggregation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic import field_validator as validates

from molecule.provision.org_templates import check_size, invalid_template

ENV_NAME = r"^[A-Z][A-Z0-9_]{0,127}$"
MAX_WORKSPACES = 200  # per import
MAX_DEPTH = 10  # levels of children below a root
MAX_TEXT = 64 * 1024  # one prompt, memory or description
DEFAULT_TIER = 2  # the original's org-import default (POST /workspaces defaults to 3 here)

EnvName = Annotated[str, StringConstraints(pattern=ENV_NAME)]
Short = Annotated[str, StringConstraints(max_length=255)]
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT)]


class _Spec(BaseModel):
    """A YAML `key:` with no value (null) means the key's default."""

    model_config = ConfigDict(extra="ignore")

    @validates("*", mode="before")
    @classmethod
    def _null_is_default(cls, value: Any, info: Any) -> Any:
        if value is None and info.field_name in cls.model_fields:
            field = cls.model_fields[info.field_name]
            if not field.is_required():
                return field.get_default(call_default_factory=True)
        return value


class AnyOf(_Spec):
    any_of: list[EnvName] = Field(min_length=1, max_length=32)


EnvRequirement = EnvName | AnyOf
EnvList = Annotated[list[EnvRequirement], Field(max_length=64)]


class Schedule(_Spec):
    name: str = Field(min_length=1, max_length=200)
    cron_expr: str = Field(min_length=1, max_length=200)
    timezone: Annotated[str, StringConstraints(max_length=64)] = ""
    prompt: Text = ""
    prompt_file: Short = ""
    enabled: bool = True


class MemorySeed(_Spec):
    content: Text = Field(min_length=1)
    scope: Annotated[str, StringConstraints(pattern=r"^(LOCAL|TEAM|GLOBAL)$")] = "LOCAL"
    namespace: Annotated[str, StringConstraints(max_length=50)] = "general"

    @validates("content", mode="after")
    @classmethod
    def _bytes(cls, value: str) -> str:
        return memory_content(value)


def memory_content(value: str) -> str:
    """A memory's content within the memories feature's bound (bytes, not characters)."""
    if len(value.encode()) > MAX_TEXT:
        raise ValueError(f"content must be at most {MAX_TEXT} bytes")
    return value


class Channel(_Spec):
    """Accepted for compatibility; channels do not exist here, so each is reported skipped."""

    type: Annotated[str, StringConstraints(max_length=64)] = ""


class Canvas(_Spec):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)
    x: float = Field(default=0.0, ge=-1e7, le=1e7)
    y: float = Field(default=0.0, ge=-1e7, le=1e7)


class _Shared(_Spec):
    """Fields a workspace and the defaults both carry; the workspace's value wins."""

    model: Annotated[str, StringConstraints(max_length=100)] = ""
    plugins: Annotated[list[Short], Field(max_length=64)] = []
    initial_prompt: Text = ""
    initial_prompt_file: Short = ""
    idle_prompt: Text = ""
    idle_prompt_file: Short = ""
    idle_interval_seconds: int = Field(default=0, ge=0, le=7 * 24 * 3600)
    category_routing: Annotated[dict[Short, list[Short]], Field(max_length=64)] = {}
    initial_memories: Annotated[list[MemorySeed], Field(max_length=100)] = []
    required_env: EnvList = []
    recommended_env: EnvList = []


class OrgDefaults(_Shared):
    runtime: Annotated[str, StringConstraints(max_length=100)] = ""
    tier: int = Field(default=0, ge=0, le=4)


class OrgWorkspace(_Shared):
    name: str = Field(min_length=1, max_length=255)
    role: Annotated[str, StringConstraints(max_length=1000)] = ""
    runtime: Annotated[str, StringConstraints(max_length=100)] = ""
    tier: int = Field(default=0, ge=0, le=4)
    template: Short = ""
    files_dir: Short = ""
    system_prompt: Text = ""
    workspace_dir: Annotated[str, StringConstraints(max_length=4096)] = ""
    workspace_access: Annotated[str, StringConstraints(max_length=20)] = ""
    max_concurrent_tasks: int = Field(default=0, ge=0, le=1000)
    schedules: Annotated[list[Schedule], Field(max_length=50)] = []
    channels: Annotated[list[Channel], Field(max_length=20)] = []
    external: bool = False
    url: Annotated[str, StringConstraints(max_length=2048)] = ""
    canvas: Canvas = Canvas()
    spawning: bool = True  # false: this workspace and its subtree are left out (§12.2)
    children: Annotated[list[OrgWorkspace], Field(max_length=100)] = []

    @validates("name", mode="after")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()


class OrgTemplate(_Spec):
    name: str = Field(min_length=1, max_length=255)
    description: Text = ""
    defaults: OrgDefaults = OrgDefaults()
    workspaces: list[OrgWorkspace] = Field(min_length=1, max_length=MAX_WORKSPACES)
    global_memories: Annotated[list[MemorySeed], Field(max_length=100)] = []
    required_env: EnvList = []
    recommended_env: EnvList = []


def _place(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("str", "constrained-str", "AnyOf") or part.startswith("function-"):
            continue  # pydantic's name for a union branch, not a place in the document
        else:
            out += f".{part}" if out else str(part)
    return out or "template"


def parse_org(document: Any) -> OrgTemplate:
    """The template, or the 400 naming the first problems found."""
    check_size(document)
    if not isinstance(document, dict):
        raise invalid_template("the template must be an object (name, workspaces, ...)")
    try:
        return OrgTemplate.model_validate(document)
    except ValidationError as exc:
        problems = [f"{_place(e['loc'])}: {e['msg']}" for e in exc.errors()[:3]]
        raise invalid_template("; ".join(problems)) from None


@dataclass(frozen=True)
class Placed:
    """A workspace of the template with where it sits: `path` names it in messages."""

    spec: OrgWorkspace
    path: str
    depth: int  # 0 for a root
    parent: Placed | None


def walk(org: OrgTemplate) -> Iterator[Placed]:
    """Every workspace, parents before children (depth first), `spawning: false` subtrees
    included (they are validated too)."""
    stack = [Placed(ws, f"workspaces[{i}]", 0, None) for i, ws in enumerate(org.workspaces)]
    stack.reverse()
    while stack:
        placed = stack.pop()
        yield placed
        kids = placed.spec.children
        for i in range(len(kids) - 1, -1, -1):
            path = f"{placed.path}.children[{i}]"
            stack.append(Placed(kids[i], path, placed.depth + 1, placed))


@dataclass(frozen=True)
class Requirement:
    members: tuple[str, ...]  # sorted
    single: bool

    def wire(self) -> str | dict[str, list[str]]:
        """As the original serialises it: a name, or `{"any_of": [...]}`."""
        return self.members[0] if self.single else {"any_of": list(self.members)}

    def satisfied_by(self, keys: set[str]) -> bool:
        return any(m in keys for m in self.members)


def _requirement(entry: EnvRequirement) -> Requirement:
    if isinstance(entry, AnyOf):
        return Requirement(tuple(sorted(set(entry.any_of))), False)
    return Requirement((entry,), True)


@dataclass(frozen=True)
class EnvNeeds:
    required: list[Requirement]
    recommended: list[Requirement]

    def missing(self, keys: set[str]) -> list[Requirement]:
        return [r for r in self.required if not r.satisfied_by(keys)]


def _ordered(found: dict[tuple[str, ...], Requirement]) -> list[Requirement]:
    return sorted(found.values(), key=lambda r: (not r.single, r.members))


def _prune(tier: dict[tuple[str, ...], Requirement], strict: set[str]) -> None:
    for key, req in list(tier.items()):
        if not req.single and any(m in strict for m in req.members):
            del tier[key]


def collect_env(org: OrgTemplate, template_env: Callable[[OrgWorkspace], list[str]]) -> EnvNeeds:
    """Required and recommended variables of the whole org (`template_env` gives the
    `required_env` of the workspace template a workspace would start from)."""
    required: dict[tuple[str, ...], Requirement] = {}
    recommended: dict[tuple[str, ...], Requirement] = {}

    def accept(into: dict[tuple[str, ...], Requirement], entries: list[EnvRequirement]) -> None:
        for entry in entries:
            req = _requirement(entry)
            into.setdefault(req.members, req)

    accept(required, [*org.required_env, *org.defaults.required_env])
    accept(recommended, [*org.recommended_env, *org.defaults.recommended_env])
    for placed in walk(org):
        accept(required, [*placed.spec.required_env, *template_env(placed.spec)])
        accept(recommended, placed.spec.recommended_env)
    strict = {r.members[0] for r in required.values() if r.single}
    for key, req in list(recommended.items()):
        if any(m in strict for m in req.members):
            del recommended[key]
    _prune(required, strict)
    _prune(recommended, {r.members[0] for r in recommended.values() if r.single})
    return EnvNeeds(_ordered(required), _ordered(recommended))
