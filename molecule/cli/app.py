"""The `molecule` command: its root, the commands it gathers, and how it ends.

Commands (Click): `serve`, `migrate [--status]`, `images build`, `doctor`, `backup`,
`restore` run here; `agent` and
`connect` hand their arguments to their own programs; the rest are clients of a running
platform's HTTP API (`workspace`, `chat`, `org`, `secret`, `schedule`, `token`, `platform`,
`agent peers`). `completion bash|zsh|fish` prints the shell completion script.

Exit codes: 0 done; 1 the platform refused (the HTTP status is printed: `error: 404
workspace not found`) or the command failed; 2 a usage or configuration error; 3 the
platform could not be reached; 130 interrupted.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click
from click.shell_completion import get_completion_class

from molecule.cli import (
    backup,
    chat,
    doctor,
    org,
    platform_commands,
    programs,
    schedules,
    secrets,
    server_commands,
    tokens,
    workspaces,
)
from molecule.cli.connection import client_options
from molecule.cli.output import show_error
from molecule.errors import CommandFailed, ConfigError

INTERRUPTED = 130


class MoleculeGroup(click.Group):
    """The root: every way a command can end becomes an exit code (module docstring)."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> int:
        try:
            result = super().main(
                args=list(args) if args is not None else None,
                prog_name=prog_name or "molecule",
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
            code = result if isinstance(result, int) else 0
        except click.ClickException as exc:
            exc.show()
            code = exc.exit_code
        except click.Abort as exc:
            interrupted = isinstance(exc.__context__, KeyboardInterrupt)
            click.echo("interrupted" if interrupted else "aborted", err=True)
            code = INTERRUPTED if interrupted else 1
        except CommandFailed as exc:
            show_error(exc)
            code = exc.exit_code
        except ConfigError as exc:
            click.echo(f"molecule: {exc}", err=True)
            code = 2
        if standalone_mode:
            sys.exit(code)
        return code


@click.group(
    "molecule",
    cls=MoleculeGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option("--log-level", default="INFO", show_default=True, help="Log level of serve/migrate.")
@client_options
def cli(log_level: str) -> None:
    """Molecule: a control plane for teams of AI agents.

    \b
    Quick start:
      molecule serve                       run the platform here
      molecule workspace create -n echo --runtime echo --wait
      molecule chat echo                   talk to it (Ctrl-D ends)
      molecule doctor                      what blocks serving, if anything
    """


@cli.command("completion")
@click.argument("shell", type=click.Choice(("bash", "zsh", "fish")))
def completion(shell: str) -> None:
    """Print the shell completion script: eval "$(molecule completion bash)"."""
    cls = get_completion_class(shell)
    assert cls is not None  # the choices are the shells Click supports
    click.echo(cls(cli, {}, "molecule", "_MOLECULE_COMPLETE").source())


for command in (
    server_commands.serve,
    server_commands.migrate,
    server_commands.images,
    doctor.doctor,
    backup.backup,
    backup.restore,
    workspaces.group,
    chat.chat,
    org.group,
    secrets.group,
    schedules.group,
    tokens.group,
    platform_commands.group,
    programs.agent,
    programs.connect,
):
    cli.add_command(command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run `molecule` with `argv` (default: the process's arguments); the exit code."""
    return cli.main(argv, prog_name="molecule", standalone_mode=False)
