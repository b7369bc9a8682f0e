"""End to end with a real echo agent: installing and uninstalling a plugin restarts the
workspace through its actor (one more cycle each, provisioning → online), the agent comes
back with the plugin in its /plugins, and answers again."""

from __future__ import annotations

from typing import Any

import trio

from molecule.actors.messages import Snapshot
from tests.conftest import Harness
from tests.http.plugins_support import (
    echo_workspace,
    plugins_dir,
    shipped,
    status,
    tree,
)


async def cycles(h: Harness, wid: str) -> int:
    ref = await h.svc.directory.get(wid)
    assert ref is not None
    snapshot: dict[str, Any] = await ref.ask(Snapshot(), 10)
    return int(snapshot["restart_cycles"])


async def restarted(h: Harness, wid: str, expected_cycles: int) -> list[str]:
    """The statuses seen until the workspace went through `provisioning` and is online
    again after the actor ran `expected_cycles` (a restart requested while the creation's
    cycle still runs coalesces into one more cycle of it)."""
    seen: list[str] = []
    with trio.fail_after(60):
        while True:
            current = await status(h, wid)
            if not seen or seen[-1] != current:
                seen.append(current)
            if (
                "provisioning" in seen
                and current == "online"
                and await cycles(h, wid) >= expected_cycles
            ):
                return seen
            await trio.sleep(0.02)


async def echo(h: Harness, wid: str, text: str) -> str:
    body = {"method": "message/send", "params": {"message": {"role": "user", "content": text}}}
    r = await h.client.post(f"/workspaces/{wid}/a2a", json=body, headers=h.admin)
    assert r.status_code == 200, r.text
    return str(r.json()["result"]["parts"][0]["text"])


async def test_install_and_uninstall_restart_the_workspace(platform: Harness) -> None:
    h = platform
    wid, _ = await echo_workspace(h, "restarts", paused=False)
    before = await cycles(h, wid)

    r = await h.client.post(
        f"/workspaces/{wid}/plugins", json={"source": "local://standup-report"}, headers=h.admin
    )
    assert r.status_code == 200, r.text
    seen = await restarted(h, wid, before + 1)
    assert "provisioning" in seen and seen[-1] == "online", seen
    assert await cycles(h, wid) == before + 1
    assert tree(plugins_dir(h, wid) / "standup-report") == shipped("standup-report")
    assert await echo(h, wid, "after install") == "echo: after install"

    r = await h.client.delete(f"/workspaces/{wid}/plugins/standup-report", headers=h.admin)
    assert r.status_code == 200, r.text
    seen = await restarted(h, wid, before + 2)
    assert "provisioning" in seen and seen[-1] == "online", seen
    assert not (plugins_dir(h, wid) / "standup-report").exists()
    assert await echo(h, wid, "after uninstall") == "echo: after uninstall"
