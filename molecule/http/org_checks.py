"""The edge checks of a whole tree of new workspaces (org import, bundle import).

Each workspace's fields pass the rules POST /workspaces applies (molecule/http/validation.py),
and the tree as a whole is bounded: how many workspaces, how deep, no two siblings of one
name, runtimes this platform can run (or external and mock), templates that exist, and
external URLs that pass the SSRF guard. A refusal is a 400 whose `detail` names the
workspace by its place in the document, before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from molecule.errors import BadRequest
from molecule.http import validation as v
from molecule.models import EXTERNAL_RUNTIMES
from molecule.provision.pipeline import Pipeline
from molecule.provision.runtimes import LOCAL_ADAPTERS
from molecule.provision.templates import Templates
from molecule.security.ssrf import URLPolicy, validate_agent_url

T = TypeVar("T")


@dataclass(frozen=True)
class NewNode:
    """One workspace of a tree, as the checks see it."""

    where: str  # its place in the document, for messages
    parent: str | None  # the parent's `where`; None for a root
    depth: int
    name: str
    role: str | None
    runtime: str
    template: str | None
    model: str | None = None
    workspace_dir: str | None = None
    workspace_access: str | None = None
    url: str | None = None
    external: bool = False


def runtime_allowed(pipeline: Pipeline) -> Callable[[str], bool]:
    """Can a new workspace have this runtime here: external and mock always, others when the
    backend can run them (without a backend: the ones a local process or a template names,
    which then fail at start with the "no provisioning backend" message, as on create)."""
    known = set(LOCAL_ADAPTERS) | pipeline.templates.known_runtimes()

    def allowed(runtime: str) -> bool:
        if runtime in EXTERNAL_RUNTIMES or runtime == "mock":
            return True
        if pipeline.provisioner is None:
            return runtime in known
        return pipeline.can_start(runtime)

    return allowed


def _available(allowed: Callable[[str], bool], templates: Templates) -> str:
    candidates = set(LOCAL_ADAPTERS) | templates.known_runtimes() | EXTERNAL_RUNTIMES
    return ", ".join(sorted(r for r in candidates | {"mock"} if allowed(r)))


def _rule(
    refusal: Callable[[str], BadRequest], where: str, check: Callable[..., T], *args: Any
) -> T:
    try:
        return check(*args)
    except BadRequest as exc:
        raise refusal(f"{where}: {exc.message}") from None


async def check_tree(
    nodes: list[NewNode],
    templates: Templates,
    url_policy: URLPolicy,
    refusal: Callable[[str], BadRequest],
    allowed: Callable[[str], bool],
    *,
    max_count: int,
    max_depth: int,
) -> None:
    """Refuse the tree (with `refusal(detail)`) at its first problem."""
    if len(nodes) > max_count:
        raise refusal(f"more than {max_count} workspaces")
    names: set[tuple[str | None, str]] = set()
    for n in nodes:
        where = f'{n.where} ("{n.name[:60]}")'
        if n.depth > max_depth:
            raise refusal(f"{where}: nested more than {max_depth} levels below a root")
        name = _rule(refusal, where, v.check_name, n.name)
        if (n.parent, name) in names:
            raise refusal(f"{where}: another workspace under the same parent has this name")
        names.add((n.parent, name))
        _rule(refusal, where, v.check_role, n.role)
        _rule(refusal, where, v.check_model, n.model)
        if not allowed(_rule(refusal, where, v.check_runtime, n.runtime) or ""):
            raise refusal(
                f"{where}: runtime {n.runtime!r} cannot run on this platform "
                f"(available: {_available(allowed, templates)})"
            )
        template = _rule(refusal, where, v.check_template, n.template)
        if template is not None and templates.get(template) is None:
            raise refusal(f"{where}: no workspace template named {template!r}")
        workspace_dir = _rule(refusal, where, v.check_workspace_dir, n.workspace_dir)
        _rule(refusal, where, v.check_workspace_access, n.workspace_access, workspace_dir)
        if n.external and n.url:
            try:
                await validate_agent_url(n.url, url_policy)
            except BadRequest as exc:  # UnsafeURL, DNSLookupFailed
                raise refusal(f"{where}: unsafe workspace URL: {exc.message}") from None
