"""`molecule platform health`: is the platform serving, and which build.

GET /health (open) says it serves; GET /buildinfo (open) adds the version, the Python it runs
on, the commit and which backend runs the agents. A platform that does not answer exits 3.
"""

from __future__ import annotations

from typing import Any

import click

from molecule.cli import connection
from molecule.cli.connection import client_options
from molecule.cli.output import fields_table, show, status_text
from molecule.errors import CommandFailed


@click.group("platform")
def group() -> None:
    """Platform-level checks."""


@group.command("health")
@client_options
def health() -> None:
    """Check that the platform answers, and show its build."""
    opts = connection.current()
    with connection.client(timeout=10.0) as c:
        answer: dict[str, Any] = c.get("/health")
        try:
            build: dict[str, Any] = c.get("/buildinfo")
        except CommandFailed:
            build = {}  # an older platform without /buildinfo still answers /health
    report = {"api_url": opts.api_url, **answer, **build}
    show(
        report,
        opts.output,
        lambda r: fields_table(
            [
                ("Status", status_text(r.get("status"))),
                ("URL", r.get("api_url")),
                ("Version", r.get("version")),
                ("Python", r.get("python")),
                ("Provisioner", r.get("provisioner")),
                ("Git SHA", r.get("git_sha")),
            ]
        ),
    )
    if answer.get("status") != "ok":
        raise CommandFailed(f"the platform reports {answer.get('status')!r}")
