"""`molecule org templates` and `molecule org import <dir> | --file org.yaml`.

POST /org/import creates a whole team; it answers 412 naming the environment variables the
template needs that are not set yet, and this command shows them as the `molecule secret
set` lines that fix it. A partial import (207) lists what was created and what was not, and
exits 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import yaml

from molecule.cli import connection
from molecule.cli.connection import client_options
from molecule.cli.output import key, note, rows_table, show, status_text
from molecule.errors import CommandFailed

IMPORT_TIMEOUT = 660.0  # the platform allows an import 600 s
MAX_FILE = 1024 * 1024


@click.group("org")
def group() -> None:
    """Org templates: whole teams of workspaces in one call."""


def _env_names(entries: Any) -> list[str]:
    """`["A", {"any_of": ["B", "C"]}]` as `["A", "B | C"]`."""
    names = []
    for entry in entries or []:
        if isinstance(entry, dict) and isinstance(entry.get("any_of"), list):
            names.append(" | ".join(str(n) for n in entry["any_of"]))
        else:
            names.append(str(entry))
    return names


@group.command("templates")
@client_options
def templates() -> None:
    """List the org templates and the environment each needs."""
    opts = connection.current()
    with connection.client() as c:
        rows = c.get("/org/templates")
    show(
        rows,
        opts.output,
        lambda data: rows_table(
            data,
            [
                ("DIR", key("dir")),
                ("NAME", key("name")),
                ("WORKSPACES", key("workspaces")),
                ("REQUIRES", lambda r: ", ".join(_env_names(r.get("required_env")))),
            ],
            "No org templates found.",
        ),
    )


def _template_file(path: Path) -> Any:
    try:
        if path.stat().st_size > MAX_FILE:
            raise CommandFailed(f"{path}: larger than {MAX_FILE} bytes")
        return yaml.safe_load(path.read_text())
    except OSError as exc:
        raise CommandFailed(f"{path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise CommandFailed(f"{path}: not YAML or JSON: {exc}") from None


def missing_env_failure(exc: CommandFailed) -> CommandFailed:
    """A 412's missing variables, and the commands that set them."""
    missing = _env_names(exc.extra.get("missing_env"))
    if not missing:
        return exc
    lines = [f"{exc.message}: {', '.join(missing)}", "set them as global secrets, then retry:"]
    for name in missing:
        first = name.split(" | ")[0]
        alternatives = " (or one of: " + name + ")" if " | " in name else ""
        lines.append(f"  molecule secret set {first}{alternatives}")
    return CommandFailed("\n".join(lines), status=412, extra=exc.extra)


@group.command("import")
@click.argument("directory", required=False)
@click.option(
    "-f",
    "--file",
    "file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="An org template (YAML or JSON) to send inline instead of a template directory name.",
)
@client_options
def import_org(directory: str | None, file: Path | None) -> None:
    """Create a team from an org template (by its directory name, or --file)."""
    if (directory is None) == (file is None):
        raise click.UsageError("give a template directory name or --file, one of them")
    body: dict[str, Any] = (
        {"template": _template_file(file)} if file is not None else {"dir": directory}
    )
    opts = connection.current()
    with connection.client(timeout=IMPORT_TIMEOUT) as c:
        try:
            response = c.request("POST", "/org/import", json_body=body)
        except CommandFailed as exc:
            raise (missing_env_failure(exc) if exc.status == 412 else exc) from None
    answer: dict[str, Any] = response.json()
    show(answer, opts.output, _imported_table)
    if response.status_code == 207:
        raise CommandFailed(
            str(answer.get("error") or "some workspaces were not created"), status=207
        )


def _imported_table(answer: dict[str, Any]) -> None:
    click.echo(f"Imported {answer.get('org')}: {answer.get('count', 0)} workspace(s).")
    rows_table(
        answer.get("workspaces") or [],
        [
            ("ID", key("id")),
            ("NAME", key("name")),
            ("STATUS", lambda r: status_text("skipped" if r.get("skipped") else r.get("status"))),
            ("RUNTIME", key("runtime")),
            ("TIER", key("tier")),
            ("PARENT", key("parent_id")),
        ],
        "No workspaces created.",
    )
    for failed in answer.get("failed") or []:
        note(f"not created: {failed.get('name', '?')}: {failed.get('error', '')}")
