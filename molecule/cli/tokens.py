"""`molecule token`: the admin token (or login URL), and workspace tokens.

- `molecule token [--url] [--host H] [--port P]`: as before, the admin token this machine's
  platform uses (ADMIN_TOKEN, else the one kept in $MOLECULE_HOME/admin_token, made on first
  use) or the login URL that sets the browser session.
- `molecule token create|list|revoke <workspace>`: a workspace's bearer tokens, over
  /workspaces/:id/tokens (a new token is shown once; the list shows prefixes only).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import click

from molecule.cli import connection
from molecule.cli.connection import client_options
from molecule.cli.output import fields_table, key, note, rows_table, show, when
from molecule.cli.workspace_refs import resolve_id, workspace_argument


@click.group("token", invoke_without_command=True)
@click.option("--url", is_flag=True, help="Print the login URL instead.")
@connection.listen_options("of the login URL")
@click.pass_context
def group(ctx: click.Context, url: bool, host: str, port: int) -> None:
    """Print the admin token (or --url, the login URL); manage workspace tokens."""
    if ctx.invoked_subcommand is not None:
        return
    from molecule.config import Settings
    from molecule.platform import load_admin_token, login_url

    settings = Settings.from_env(host=host, port=port)
    token = load_admin_token(settings)
    click.echo(login_url(settings, token) if url else token)


@group.command("create")
@workspace_argument()
@client_options
def create(workspace: str) -> None:
    """Mint a bearer token for a workspace (shown once)."""
    opts = connection.current()
    with connection.client() as c:
        answer: dict[str, Any] = c.post(f"/workspaces/{resolve_id(c, workspace)}/tokens")
    if opts.output != "table":
        show(answer, opts.output, lambda _: None)
        return
    click.echo(str(answer.get("auth_token")))
    note("Save this token now: it cannot be retrieved again.")


@group.command("list")
@workspace_argument()
@client_options
def list_tokens(workspace: str) -> None:
    """List a workspace's live tokens (their prefixes)."""
    opts = connection.current()
    with connection.client() as c:
        answer: dict[str, Any] = c.get(f"/workspaces/{resolve_id(c, workspace)}/tokens")
    show(
        answer,
        opts.output,
        lambda a: rows_table(
            a.get("tokens") or [],
            [
                ("ID", key("id")),
                ("PREFIX", key("prefix")),
                ("CREATED AT", lambda r: when(r.get("created_at"))),
                ("LAST USED", lambda r: when(r.get("last_used_at")) or "never"),
            ],
            "No live tokens.",
        ),
    )


@group.command("revoke")
@workspace_argument()
@click.argument("token_id", metavar="TOKEN_ID")
@client_options
def revoke(workspace: str, token_id: str) -> None:
    """Revoke one of a workspace's tokens (by the id `token list` shows)."""
    opts = connection.current()
    with connection.client() as c:
        wid = resolve_id(c, workspace)
        answer = c.delete(f"/workspaces/{wid}/tokens/{quote(token_id, safe='')}")
    show(answer, opts.output, lambda _: fields_table([("Revoked", token_id)]))
