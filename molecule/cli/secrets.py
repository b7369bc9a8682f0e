"""`molecule secret set|list|delete`: global secrets, or one workspace's with `--workspace`.

Global: /settings/secrets (admin). A workspace's: /workspaces/:id/secrets (its list also
shows the global keys it inherits). Values are never shown (the platform returns none).
`secret set KEY` without a value reads it from stdin (hidden when typed at a terminal), so it
stays out of the shell history and the process list.
"""

from __future__ import annotations

import sys
from typing import Any
from urllib.parse import quote

import click

from molecule.cli import connection
from molecule.cli.connection import client_options
from molecule.cli.http_client import PlatformClient
from molecule.cli.output import key, rows_table, show, when
from molecule.cli.workspace_refs import complete, resolve_id
from molecule.errors import CommandFailed

WORKSPACE_OPTION = click.option(
    "-w",
    "--workspace",
    metavar="WORKSPACE",
    shell_complete=complete,
    help="The workspace (id or name); without it, the global secrets.",
)


@click.group("secret")
def group() -> None:
    """Secrets the agents run with: global, or one workspace's (--workspace)."""


def _base(c: PlatformClient, workspace: str | None) -> str:
    if workspace is None:
        return "/settings/secrets"
    return f"/workspaces/{resolve_id(c, workspace)}/secrets"


def _read_value() -> str:
    stdin = sys.stdin
    if stdin.isatty():
        value: str = click.prompt("Value", hide_input=True, err=True)
        return value
    value = stdin.read()
    return value[:-1] if value.endswith("\n") else value


@group.command("set")
@click.argument("name")
@click.argument("value", required=False)
@WORKSPACE_OPTION
@client_options
def set_secret(name: str, value: str | None, workspace: str | None) -> None:
    """Set a secret (VALUE omitted: read from stdin)."""
    if value is None:
        value = _read_value()
    if not value:
        raise CommandFailed("the value is empty")
    opts = connection.current()
    with connection.client() as c:
        answer = c.post(_base(c, workspace), {"key": name, "value": value})
    scope = "global" if workspace is None else f"workspace {workspace}"
    show(answer, opts.output, lambda _: click.echo(f"Secret {name} saved ({scope})."))


@group.command("list")
@WORKSPACE_OPTION
@client_options
def list_secrets(workspace: str | None) -> None:
    """List secret names (never their values)."""
    opts = connection.current()
    with connection.client() as c:
        rows: list[dict[str, Any]] = c.get(_base(c, workspace))
    show(
        rows,
        opts.output,
        lambda data: rows_table(
            data,
            [
                ("KEY", key("key")),
                ("SCOPE", key("scope")),
                ("UPDATED AT", lambda r: when(r.get("updated_at"))),
            ],
            "No secrets set.",
        ),
    )


@group.command("delete")
@click.argument("name")
@WORKSPACE_OPTION
@client_options
def delete_secret(name: str, workspace: str | None) -> None:
    """Delete a secret."""
    opts = connection.current()
    with connection.client() as c:
        answer = c.delete(f"{_base(c, workspace)}/{quote(name, safe='')}")
    show(answer, opts.output, lambda _: click.echo(f"Secret {name} deleted."))
