"""Running `molecule` in-process against a real platform.

The platform fixture serves from the test's Trio loop, so the command (synchronous HTTP)
runs in a worker thread, through Click's test runner: its exit code, stdout and stderr are
those a user would see.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import trio
from click.testing import CliRunner, Result

from molecule.cli import cli
from tests.conftest import ADMIN_TOKEN, Harness

# Variables that would otherwise choose the platform or the credential for the command.
CLEAN_ENV: dict[str, str | None] = {
    name: None
    for name in (
        "MOLECULE_API_URL", "MOLECULE_PLATFORM_URL", "PLATFORM_URL", "MOLECULE_TOKEN",
        "MOLECULE_API_TOKEN", "ADMIN_TOKEN", "MOL_OUTPUT", "MOLECULE_HOME", "MOLECULE_HOST",
        "MOLECULE_PORT",
    )
}  # fmt: skip


def invoke(
    args: list[str], stdin: str | None = None, env: Mapping[str, str] | None = None
) -> Result:
    runner = CliRunner(env={**CLEAN_ENV, **(env or {})})
    return runner.invoke(cli, args, input=stdin, catch_exceptions=False)


async def molecule(
    h: Harness,
    *args: str,
    stdin: str | None = None,
    token: str | None = ADMIN_TOKEN,
    env: Mapping[str, str] | None = None,
) -> Result:
    """`molecule <args>` against the platform (`--api-url`, `--token` first)."""
    argv = ["--api-url", h.base_url.rstrip("/")]
    if token is not None:
        argv += ["--token", token]
    argv += list(args)
    return await trio.to_thread.run_sync(lambda: invoke(argv, stdin, env))


async def wait_status(h: Harness, wid: str, status: str = "online", timeout: float = 30) -> Any:
    with trio.fail_after(timeout):
        while True:
            r = await h.client.get(f"/workspaces/{wid}", headers=h.admin)
            if r.json()["status"] == status:
                return r.json()
            await trio.sleep(0.1)
