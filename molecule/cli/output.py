"""How client commands answer: Rich tables for people, JSON or YAML for scripts.

`-o json` prints the platform's answer as it came (indented), `-o yaml` the same as YAML;
`-o table` (the default) a table or a list of fields. Notes and progress go to stderr, so a
script reading stdout gets only the answer. Off a terminal the table is never wrapped or
cut to 80 columns (a pipe gets whole UUIDs) and carries no colour.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click
import yaml
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from molecule.errors import CommandFailed

# A column: its header and how a row gives its cell.
Column = tuple[str, Callable[[dict[str, Any]], Any]]

STATUS_STYLES = {
    "ok": "green",
    "online": "green",
    "degraded": "yellow",
    "provisioning": "yellow",
    "hibernating": "yellow",
    "awaiting_agent": "cyan",
    "paused": "dim",
    "hibernated": "dim",
    "offline": "red",
    "failed": "bold red",
    "removed": "dim",
}
PIPE_WIDTH = 1000  # off a terminal: wide enough that no table is wrapped


def console(stderr: bool = False) -> Console:
    """A console on the current stdout/stderr (a test runner may have replaced them)."""
    stream = sys.stderr if stderr else sys.stdout
    tty = stream.isatty()
    return Console(
        file=stream,
        width=None if tty else PIPE_WIDTH,
        no_color=not tty,
        highlight=False,
        soft_wrap=not tty,
    )


def render(renderable: Any) -> None:
    """Print a Rich renderable; off a terminal without the padding that ends its lines."""
    out = console()
    if out.is_terminal:
        out.print(renderable)
        return
    with out.capture() as captured:
        out.print(renderable)
    click.echo("\n".join(line.rstrip() for line in captured.get().splitlines()))


def key(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda row: row.get(name)


def when(value: Any) -> str:
    """An ISO timestamp as `2026-01-02 03:04:05` (seconds are enough to read)."""
    if not isinstance(value, str) or len(value) < 19:
        return "" if value is None else str(value)
    return value[:10] + " " + value[11:19]


def cell(value: Any) -> Text:
    if value is None:
        return Text("")
    if isinstance(value, Text):
        return value
    if isinstance(value, bool):
        return Text("yes" if value else "no")
    if isinstance(value, dict | list):
        return Text(json.dumps(value, separators=(",", ":")))
    return Text(str(value))


def status_text(value: Any) -> Text:
    text = "" if value is None else str(value)
    return Text(text, style=STATUS_STYLES.get(text, ""))


def dump(data: Any, fmt: str) -> None:
    """The data as JSON or YAML on stdout."""
    if fmt == "json":
        click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        click.echo(
            yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False),
            nl=False,
        )


def show(data: Any, fmt: str, table: Callable[[Any], None]) -> None:
    """`table(data)` for people, else the data itself."""
    if fmt == "table":
        table(data)
    else:
        dump(data, fmt)


def rows_table(rows: Sequence[dict[str, Any]], columns: Sequence[Column], empty: str) -> None:
    if not rows:
        click.echo(empty)
        return
    # A rule under the header for people; a pipe gets plain columns (as the original's).
    ruled = console().is_terminal
    table = Table(box=box.SIMPLE_HEAD if ruled else None, pad_edge=False, show_edge=False)
    for header, _ in columns:
        table.add_column(header, no_wrap=header in ("ID", "STATUS"), overflow="fold")
    for row in rows:
        table.add_row(*(cell(get(row)) for _, get in columns))
    render(table)


def fields_table(pairs: Sequence[tuple[str, Any]]) -> None:
    """Label/value lines; empty values are left out (as the original's `inspect`)."""
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for label, value in pairs:
        if value is None or value == "":
            continue
        table.add_row(f"{label}:", cell(value))
    render(table)


def note(message: str) -> None:
    """A line for the person at the terminal (stderr: never mixed into an answer)."""
    click.echo(message, err=True)


def error_line(exc: CommandFailed) -> str:
    """`error: 404 workspace not found` (the HTTP status when the platform answered one)."""
    prefix = f"{exc.status} " if exc.status else ""
    return f"error: {prefix}{exc.message}"


def show_error(exc: CommandFailed) -> None:
    click.echo(error_line(exc), err=True)
