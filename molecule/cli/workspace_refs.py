"""A workspace named on the command line: by its id, or by its name when that is unique.

`molecule chat echo` is easier to type than a UUID. A UUID is used as given; anything else
is looked up among the live workspaces (GET /workspaces, admin) and must name exactly one.
Shell completion offers the ids with their names.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import click
from click.shell_completion import CompletionItem

from molecule.cli import connection
from molecule.cli.http_client import PlatformClient
from molecule.errors import CommandFailed

COMPLETION_TIMEOUT = 2.0
F = TypeVar("F", bound=Callable[..., Any])


def is_uuid(value: str) -> bool:
    try:
        return len(value) == 36 and str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def resolve_id(client: PlatformClient, ref: str) -> str:
    """The workspace id `ref` names (an id as given, or the id of the one workspace so named)."""
    ref = ref.strip()
    if is_uuid(ref):
        return ref.lower()
    rows: list[dict[str, Any]] = client.get("/workspaces")
    found = [r for r in rows if r.get("name") == ref]
    if len(found) == 1:
        return str(found[0]["id"])
    if not found:
        raise CommandFailed(f"no workspace is named {ref!r} (give its id or its exact name)")
    ids = ", ".join(str(r["id"]) for r in found)
    raise CommandFailed(f"{len(found)} workspaces are named {ref!r}: give the id ({ids})")


def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Live workspaces whose id (or name) starts with what was typed; nothing on any error."""
    try:
        opts = connection.resolve(ctx.meta.get(connection.META, {}), os.environ)
        with PlatformClient(opts.api_url, opts.credential, timeout=COMPLETION_TIMEOUT) as c:
            rows = c.get("/workspaces")
    except Exception:
        return []
    items = []
    for row in rows:
        wid, name = str(row.get("id", "")), str(row.get("name") or "")
        if wid.startswith(incomplete):
            items.append(CompletionItem(wid, help=name))
        elif name.startswith(incomplete) and " " not in name:
            items.append(CompletionItem(name, help=wid))
    return items


def workspace_argument(name: str = "workspace") -> Callable[[F], F]:
    """The WORKSPACE argument (an id or a unique name), completed from the live ones."""
    return click.argument(name, metavar="WORKSPACE", shell_complete=complete)
