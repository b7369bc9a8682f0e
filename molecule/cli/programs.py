"""`molecule agent` and `molecule connect`: the two programs that run beside the platform.

Both keep their own argument parsers (molecule.runtime.main, molecule.connect.main): what
follows the command word is handed to them untouched, `--help` included, so
`molecule connect --help` is connect's own help.

`molecule agent peers <workspace>` is the original CLI's peer listing (GET
/registry/:id/peers); any other `molecule agent ...` runs the agent runtime as before.
"""

from __future__ import annotations

from typing import Any

import click

from molecule.cli import connection
from molecule.cli.connection import client_options
from molecule.cli.output import key, rows_table, show, status_text
from molecule.cli.workspace_refs import resolve_id, workspace_argument

_RUNTIME_ARGS = "molecule.cli.runtime_args"
PASS_THROUGH = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}


class RuntimeOrSubcommand(click.Group):
    """A group whose own subcommands are taken by name; anything else is the runtime's."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] in self.commands:
            return super().parse_args(ctx, args)
        ctx.meta[_RUNTIME_ARGS] = list(args)
        ctx.args = []
        return []


@click.group(
    "agent",
    cls=RuntimeOrSubcommand,
    invoke_without_command=True,
    context_settings={"help_option_names": []},
    short_help="Run the agent runtime (`molecule agent --help`), or `agent peers <id>`.",
)
@click.pass_context
def agent(ctx: click.Context) -> int | None:
    """Run the agent runtime (configured by WORKSPACE_ID, PLATFORM_URL, ...; its options are
    listed by `molecule agent --help`), or list a workspace's peers (`agent peers <id>`)."""
    if ctx.invoked_subcommand is not None:
        return None
    from molecule.runtime.main import main as agent_main

    return agent_main(ctx.meta.get(_RUNTIME_ARGS, []))


@agent.command("peers", context_settings={"help_option_names": ["-h", "--help"]})
@workspace_argument()
@client_options
def peers(workspace: str) -> None:
    """List the workspaces a workspace may talk to (parent, siblings, children)."""
    opts = connection.current()
    with connection.client() as c:
        rows: list[dict[str, Any]] = c.get(f"/registry/{resolve_id(c, workspace)}/peers")
    show(
        rows,
        opts.output,
        lambda data: rows_table(
            data,
            [
                ("ID", key("id")),
                ("NAME", key("name")),
                ("ROLE", key("role")),
                ("STATUS", lambda r: status_text(r.get("status"))),
                ("TIER", key("tier")),
                ("ACTIVE TASKS", key("active_tasks")),
            ],
            "No peers found.",
        ),
    )


@click.command(
    "connect",
    context_settings=PASS_THROUGH,
    short_help="Bridge an external workspace to a local backend (molecule connect <id>).",
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def connect(args: tuple[str, ...]) -> int:
    """Bridge an external workspace to a local backend: `molecule connect --help`."""
    from molecule.connect.main import main as connect_main

    return int(connect_main(list(args)))
