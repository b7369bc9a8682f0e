"""`molecule workspace list|create|inspect|delete|restart|pause|resume|logs`.

The original CLI's commands and flags (`create --name/-n --role --runtime --template
--parent-id --workspace-dir --tier`), over the same routes: GET/POST /workspaces,
GET/DELETE /workspaces/:id, POST /workspaces/:id/restart|pause|resume, and
GET /workspaces/:id/console for `logs`. `create --wait` (and `restart`/`resume --wait`)
follows the workspace to `online` (molecule.cli.waiting).

`delete` asks before removing a workspace that has children (the platform answers 409
`confirmation_required`); `--yes` answers for a script.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from molecule.cli import connection
from molecule.cli.connection import client_options
from molecule.cli.output import (
    fields_table,
    key,
    note,
    rows_table,
    show,
    status_text,
    when,
)
from molecule.cli.waiting import DEFAULT_TIMEOUT, wait_until_up
from molecule.cli.workspace_refs import resolve_id, workspace_argument
from molecule.errors import CommandFailed

WAIT = click.option("--wait", is_flag=True, help="Wait until it is online, showing progress.")
TIMEOUT = click.option(
    "--timeout",
    type=float,
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Give up waiting after this many seconds.",
)


@click.group("workspace")
def group() -> None:
    """Manage workspaces: list, create, inspect, delete, restart, pause, resume, logs."""


@group.command("list")
@client_options
def list_workspaces() -> None:
    """List the workspaces that are not removed."""
    opts = connection.current()
    with connection.client() as c:
        rows = c.get("/workspaces")
    show(
        rows,
        opts.output,
        lambda data: rows_table(
            data,
            [
                ("ID", key("id")),
                ("NAME", key("name")),
                ("STATUS", lambda r: status_text(r.get("status"))),
                ("ROLE", key("role")),
                ("RUNTIME", key("runtime")),
                ("CREATED AT", lambda r: when(r.get("created_at"))),
            ],
            "No workspaces found.",
        ),
    )


@group.command("create")
@click.option("-n", "--name", required=True, help="Workspace name.")
@click.option("--role", help="Role (e.g. pm, researcher).")
@click.option("--runtime", help="Runtime: echo, llm, mock, external, ...")
@click.option("--template", help="Template name.")
@click.option("--model", help="Model the agent uses.")
@click.option("--parent-id", help="Parent workspace id.")
@click.option("--workspace-dir", help="Host directory mounted as the agent's workspace.")
@click.option("--tier", type=int, help="Tier (1-4).")
@click.option("--external", is_flag=True, help="Bring your own agent (like --runtime external).")
@WAIT
@TIMEOUT
@client_options
def create(wait: bool, timeout: float, **fields: Any) -> None:
    """Create a workspace (and start its agent, or wait for an external one)."""
    opts = connection.current()
    body = {k: v for k, v in fields.items() if v not in (None, False)}
    with connection.client() as c:
        created: dict[str, Any] = c.post("/workspaces", body)
        wid = str(created.get("id"))
        if wait:
            row = wait_until_up(c, wid, timeout)
            created = {**created, "status": row.get("status")}
    if opts.output != "table":
        show(created, opts.output, lambda _: None)
        return
    click.echo(f"Workspace created: {fields['name']} ({wid})")
    connection_block = created.get("connection") or {}
    fields_table(
        [
            ("Status", status_text(created.get("status"))),
            ("Auth token", connection_block.get("auth_token")),
        ]
    )
    if connection_block:
        note("Save the auth token now: it is shown once. Connect an agent with:")
        note(f"  molecule connect {wid} --token <auth token>")


def _detail_pairs(row: dict[str, Any]) -> list[tuple[str, Any]]:
    card = row.get("agent_card") if isinstance(row.get("agent_card"), dict) else {}
    return [
        ("ID", row.get("id")),
        ("Name", row.get("name")),
        ("Status", status_text(row.get("status"))),
        ("Role", row.get("role")),
        ("Runtime", row.get("runtime")),
        ("Tier", row.get("tier")),
        ("Parent ID", row.get("parent_id")),
        ("URL", row.get("url")),
        ("Delivery", row.get("delivery_mode")),
        ("Agent", (card or {}).get("name")),
        ("Active tasks", row.get("active_tasks")),
        ("Uptime", f"{row['uptime_seconds']} s" if row.get("uptime_seconds") else None),
        ("Last heartbeat", when(row.get("last_heartbeat_at"))),
        ("Created", when(row.get("created_at"))),
        ("Updated", when(row.get("updated_at"))),
    ]


@group.command("inspect")
@workspace_argument()
@client_options
def inspect(workspace: str) -> None:
    """Show a workspace's details."""
    opts = connection.current()
    with connection.client() as c:
        row = c.get(f"/workspaces/{resolve_id(c, workspace)}")
    show(row, opts.output, lambda data: fields_table(_detail_pairs(data)))


@group.command("delete")
@workspace_argument()
@click.option(
    "-y", "--yes", "--confirm", "yes", is_flag=True, help="Also remove its children, unasked."
)
@client_options
def delete(workspace: str, yes: bool) -> None:
    """Remove a workspace and its subtree (irreversible)."""
    opts = connection.current()
    with connection.client() as c:
        wid = resolve_id(c, workspace)
        response = c.request("DELETE", f"/workspaces/{wid}", params=_confirm(yes), ok=(409,))
        answer: dict[str, Any] = response.json()
        if response.status_code == 409:
            count = answer.get("children_count", "some")
            prompt = f"Workspace {wid} has {count} child workspace(s). Remove them all?"
            if not _interactive() or not click.confirm(prompt, err=True):
                raise CommandFailed(
                    f"workspace has {count} child workspace(s): pass --yes to remove them all",
                    status=409,
                )
            answer = c.request("DELETE", f"/workspaces/{wid}", params=_confirm(True)).json()
    if opts.output != "table":
        show(answer, opts.output, lambda _: None)
        return
    children = answer.get("cascade_deleted") or 0
    more = f" with {children} descendant(s)" if children else ""
    click.echo(f"Workspace {wid} removed{more}.")


def _confirm(yes: bool) -> dict[str, str] | None:
    return {"confirm": "true"} if yes else None


def _interactive() -> bool:
    stdin = sys.stdin
    return stdin.isatty()


def _lifecycle(
    action: str, workspace: str, wait: bool = False, timeout: float = DEFAULT_TIMEOUT
) -> tuple[str, dict[str, Any]]:
    with connection.client() as c:
        wid = resolve_id(c, workspace)
        answer: dict[str, Any] = c.post(f"/workspaces/{wid}/{action}")
        if wait and answer.get("status") not in ("noop",):
            row = wait_until_up(c, wid, timeout)
            answer = {**answer, "status": row.get("status")}
    return wid, answer


@group.command("restart")
@workspace_argument()
@WAIT
@TIMEOUT
@client_options
def restart(workspace: str, wait: bool, timeout: float) -> None:
    """Restart a workspace's agent."""
    opts = connection.current()
    wid, answer = _lifecycle("restart", workspace, wait, timeout)
    if opts.output != "table":
        show(answer, opts.output, lambda _: None)
    elif answer.get("status") == "noop":
        click.echo(str(answer.get("message") or "Nothing to restart."))
    elif wait:
        click.echo(f"Workspace {wid} restarted: {answer.get('status')}.")
    else:
        click.echo(f"Restart triggered for workspace {wid}.")


@group.command("pause")
@workspace_argument()
@client_options
def pause(workspace: str) -> None:
    """Stop a workspace's agent and park it (and its descendants)."""
    opts = connection.current()
    wid, answer = _lifecycle("pause", workspace)
    show(
        answer,
        opts.output,
        lambda a: click.echo(f"Paused {a.get('paused_count', 0)} workspace(s) from {wid}."),
    )


@group.command("resume")
@workspace_argument()
@WAIT
@TIMEOUT
@client_options
def resume(workspace: str, wait: bool, timeout: float) -> None:
    """Start a paused workspace (and its paused descendants)."""
    opts = connection.current()
    wid, answer = _lifecycle("resume", workspace, wait, timeout)
    show(
        answer,
        opts.output,
        lambda a: click.echo(f"Resumed {a.get('resumed_count', 0)} workspace(s) from {wid}."),
    )


@group.command("logs")
@workspace_argument()
@click.option("-n", "--tail", type=click.IntRange(min=1), help="Only the last N lines.")
@client_options
def logs(workspace: str, tail: int | None) -> None:
    """Print the tail of the agent's own output (secrets redacted by the platform)."""
    opts = connection.current()
    with connection.client() as c:
        answer: dict[str, Any] = c.get(f"/workspaces/{resolve_id(c, workspace)}/console")
    output = str(answer.get("output") or "")
    if tail is not None:
        output = "\n".join(output.splitlines()[-tail:])
        answer = {**answer, "output": output}
    if opts.output != "table":
        show(answer, opts.output, lambda _: None)
    elif output:
        click.echo(output.rstrip("\n"))
    else:
        note("(no output yet)")
