"""`molecule schedule list|add|rm <workspace>`: prompts sent to a workspace on a cron.

Over /workspaces/:id/schedules (GET, POST) and /workspaces/:id/schedules/:sid (DELETE). A
schedule is five cron fields in an IANA time zone (UTC unless `--timezone`); the platform
checks both and answers 400 with what is wrong.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import click

from molecule.cli import connection
from molecule.cli.connection import client_options
from molecule.cli.output import key, rows_table, show, when
from molecule.cli.workspace_refs import resolve_id, workspace_argument


@click.group("schedule")
def group() -> None:
    """Scheduled prompts of a workspace (cron)."""


@group.command("list")
@workspace_argument()
@client_options
def list_schedules(workspace: str) -> None:
    """List a workspace's schedules."""
    opts = connection.current()
    with connection.client() as c:
        rows: list[dict[str, Any]] = c.get(f"/workspaces/{resolve_id(c, workspace)}/schedules")
    show(
        rows,
        opts.output,
        lambda data: rows_table(
            data,
            [
                ("ID", key("id")),
                ("NAME", key("name")),
                ("CRON", key("cron_expr")),
                ("TIMEZONE", key("timezone")),
                ("ENABLED", key("enabled")),
                ("NEXT RUN", lambda r: when(r.get("next_run_at"))),
                ("LAST", lambda r: r.get("last_status") or ""),
                ("RUNS", key("run_count")),
            ],
            "No schedules.",
        ),
    )


@group.command("add")
@workspace_argument()
@click.option("--cron", "cron_expr", required=True, help='Five cron fields, e.g. "0 9 * * 1-5".')
@click.option("--prompt", required=True, help="What is sent to the agent at each run.")
@click.option("--name", help="A name for it (unique in the workspace).")
@click.option("--timezone", help="IANA time zone (default UTC).")
@click.option("--disabled", is_flag=True, help="Create it switched off.")
@client_options
def add(
    workspace: str,
    cron_expr: str,
    prompt: str,
    name: str | None,
    timezone: str | None,
    disabled: bool,
) -> None:
    """Add a schedule to a workspace."""
    body: dict[str, Any] = {"cron_expr": cron_expr, "prompt": prompt}
    if name is not None:
        body["name"] = name
    if timezone is not None:
        body["timezone"] = timezone
    if disabled:
        body["enabled"] = False
    opts = connection.current()
    with connection.client() as c:
        answer = c.post(f"/workspaces/{resolve_id(c, workspace)}/schedules", body)
    show(
        answer,
        opts.output,
        lambda a: click.echo(
            f"Schedule {a.get('id')} added; next run {when(a.get('next_run_at'))}."
        ),
    )


@group.command("rm")
@workspace_argument()
@click.argument("schedule_id", metavar="SCHEDULE_ID")
@client_options
def remove(workspace: str, schedule_id: str) -> None:
    """Delete a schedule (its run history stays readable)."""
    opts = connection.current()
    with connection.client() as c:
        wid = resolve_id(c, workspace)
        answer = c.delete(f"/workspaces/{wid}/schedules/{quote(schedule_id, safe='')}")
    show(answer, opts.output, lambda _: click.echo(f"Schedule {schedule_id} deleted."))
