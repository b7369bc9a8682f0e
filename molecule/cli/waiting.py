"""`--wait`: follow a workspace from `provisioning` to `online`, showing each step.

The workspace is read (GET /workspaces/:id) twice a second; every change of status is a line
on stderr (`workspace <id>: provisioning`, then `online (3.2 s)`), with a spinner in
between when stderr is a terminal. `online` and `degraded` end the wait; `failed` and
`paused` end it as an error naming what to look at next; anything else waits, up to the
timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from molecule.cli.http_client import PlatformClient
from molecule.cli.output import console, note
from molecule.errors import CommandFailed

UP = frozenset({"online", "degraded"})
POLL_INTERVAL = 0.5
DEFAULT_TIMEOUT = 600.0


def wait_until_up(
    client: PlatformClient,
    workspace_id: str,
    timeout: float = DEFAULT_TIMEOUT,
    *,
    interval: float = POLL_INTERVAL,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """The workspace once it is up; CommandFailed if it fails, is paused, or takes too long."""
    started = clock()
    last: str | None = None
    err = console(stderr=True)
    spinner: AbstractContextManager[Any] = (
        err.status("waiting for the workspace…") if err.is_terminal else nullcontext()
    )
    with spinner as live:
        while True:
            row: dict[str, Any] = client.get(f"/workspaces/{workspace_id}")
            status = str(row.get("status"))
            elapsed = clock() - started
            if status != last:
                suffix = f" ({elapsed:.1f} s)" if last is not None else ""
                note(f"workspace {workspace_id}: {status}{suffix}")
                last = status
            if status in UP:
                return row
            if status == "awaiting_agent":
                note(f"waiting for an external agent: molecule connect {workspace_id}")
                return row
            if status == "failed":
                raise CommandFailed(
                    f"workspace {workspace_id} failed to start: "
                    f"see `molecule workspace logs {workspace_id}`"
                )
            if status == "paused":
                raise CommandFailed(
                    f"workspace {workspace_id} is paused: `molecule workspace resume` starts it"
                )
            if elapsed >= timeout:
                raise CommandFailed(
                    f"workspace {workspace_id} is still {status} after {timeout:g} s "
                    f"(see `molecule workspace logs {workspace_id}`)"
                )
            if live is not None:
                live.update(f"{status}… {elapsed:.0f} s")
            sleep(interval)
