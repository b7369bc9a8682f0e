"""The workspace lifecycle with the real local-process provisioner.

The agent here is a plain long-running (or crashing) Python process: these tests are about
the platform's side of the lifecycle (cycles, coalescing, auto-restart, files, statuses);
the agent runtime's own behaviour is tested end to end elsewhere.
"""

from __future__ import annotations

import ast
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio

from molecule.actors.lifecycle import AUTO_RESTART_LIMIT
from molecule.actors.messages import Hibernate, Pause, Restart, Resume, Snapshot
from molecule.models import WorkspaceStatus
from molecule.platform import running_platform
from molecule.provision.local import LocalProcessProvisioner
from molecule.services import Services
from molecule.store.workspaces import NewWorkspace
from tests.conftest import make_settings

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]
CRASHER = [sys.executable, "-c", "import sys; sys.exit(3)"]


@pytest.fixture
async def svc(aio_loop: object, dsn: str, tmp_path: Path) -> AsyncIterator[Services]:
    async with running_platform(make_settings(tmp_path, dsn), dsn) as services:
        yield services


def use_command(svc: Services, command: list[str]) -> LocalProcessProvisioner:
    provisioner = svc.pipeline.provisioner
    assert isinstance(provisioner, LocalProcessProvisioner)
    provisioner.command = command
    return provisioner


async def echo_workspace(svc: Services, name: str = "echo", **extra: Any) -> str:
    created = await svc.workspaces.insert(
        NewWorkspace(
            name=name,
            role=None,
            tier=3,
            runtime="echo",
            status=WorkspaceStatus.PROVISIONING,
            **extra,
        )
    )
    return str(created["id"])


async def ask(svc: Services, wid: str, msg: Any) -> Any:
    ref = await svc.directory.get(wid)
    assert ref is not None
    return await ref.ask(msg, 10)


async def until(predicate: Any, timeout: float = 15) -> None:
    with trio.fail_after(timeout):
        while not await predicate():  # noqa: ASYNC110
            await trio.sleep(0.02)


async def restart_settled(svc: Services, wid: str) -> None:
    """Until the actor's restart cycle is over: the agent process runs before the cycle has
    written its outcome (status, url), so a test writing the row must wait for this."""

    async def settled() -> bool:
        snap = await ask(svc, wid, Snapshot())
        return not snap["restart_running"] and snap["restart_cycles"] > 0

    await until(settled)


async def test_a_burst_of_restarts_during_a_cycle_gives_exactly_one_more(svc: Services) -> None:
    provisioner = use_command(svc, SLEEPER)
    wid = await echo_workspace(svc)
    ref = await svc.directory.get(wid)
    assert ref is not None
    for _ in range(10):
        ref.tell(Restart("burst"))

    await restart_settled(svc, wid)
    snap = await ask(svc, wid, Snapshot())
    assert snap["restart_cycles"] == 2
    assert await provisioner.is_running(wid)
    row = await svc.workspaces.get(wid)
    assert row is not None and row["status"] == "provisioning"
    assert row["url"] and row["url"].startswith("http://127.0.0.1:")
    events = await svc.store.fetch(
        "SELECT event_type FROM structure_events WHERE workspace_id = $1", wid
    )
    assert [e["event_type"] for e in events].count("WORKSPACE_PROVISIONING") == 2


async def test_start_writes_fresh_credentials_for_the_agent(svc: Services) -> None:
    provisioner = use_command(svc, SLEEPER)
    wid = await echo_workspace(svc)
    await ask(svc, wid, Restart("create"))
    await until(lambda: provisioner.is_running(wid))
    configs = provisioner.workspace_dir(wid) / "configs"

    async def files_written() -> bool:
        return (configs / ".platform_inbound_secret").exists()

    await until(files_written)
    token = (configs / ".auth_token").read_text()
    secret = (configs / ".platform_inbound_secret").read_text()
    assert oct((configs / ".auth_token").stat().st_mode & 0o777) == "0o600"
    assert oct((configs / ".platform_inbound_secret").stat().st_mode & 0o777) == "0o600"
    assert await svc.tokens.validate_for(token, wid)
    row = await svc.workspaces.get(wid)
    assert row is not None and row["platform_inbound_secret"] == secret
    assert "runtime: echo" in (configs / "config.yaml").read_text(), (
        configs / "config.yaml"
    ).read_text()
    for sub in ("workspace", "home", "plugins"):
        assert (provisioner.workspace_dir(wid) / sub).is_dir()


async def test_a_dying_agent_is_restarted_then_failed_with_a_reason(svc: Services) -> None:
    use_command(svc, CRASHER)
    wid = await echo_workspace(svc)
    await ask(svc, wid, Restart("create"))

    async def failed() -> bool:
        return await svc.workspaces.status_of(wid) == "failed"

    await until(failed, timeout=30)
    row = await svc.workspaces.get(wid)
    assert row is not None and "automatic restarts" in row["last_sample_error"]
    snap = await ask(svc, wid, Snapshot())
    assert snap["restart_cycles"] == 1 + AUTO_RESTART_LIMIT
    # It stays failed: no further cycles start by themselves.
    await trio.sleep(0.5)
    assert (await ask(svc, wid, Snapshot()))["restart_cycles"] == 1 + AUTO_RESTART_LIMIT


async def test_required_env_preflight_fails_with_the_canned_message(svc: Services) -> None:
    use_command(svc, SLEEPER)
    created = await svc.workspaces.insert(
        NewWorkspace(
            name="llm", role=None, tier=3, runtime="llm", status=WorkspaceStatus.PROVISIONING
        )
    )
    wid = str(created["id"])
    with svc.bus.subscribe(wid) as sub:
        await ask(svc, wid, Restart("create"))
        with trio.fail_after(10):
            async for event in sub:
                if event.type == "WORKSPACE_PROVISION_FAILED":
                    break
    message = (
        'missing required env var "OPENAI_API_KEY" — add it under Config → Env Vars '
        "(or as a Global secret) and retry"
    )
    assert event.payload == {"error": message, "missing": ["OPENAI_API_KEY"]}
    row = await svc.workspaces.get(wid)
    assert row is not None and row["status"] == "failed" and row["last_sample_error"] == message
    # With the secret set the same workspace starts.
    await svc.secrets.set_global("OPENAI_API_KEY", "sk-test")
    await svc.store.execute("UPDATE workspaces SET status = 'provisioning' WHERE id = $1", wid)
    await ask(svc, wid, Snapshot())  # the actor reloads on its next transition
    assert await ask(svc, wid, Restart("retry")) is True
    provisioner = svc.pipeline.provisioner
    assert provisioner is not None
    await until(lambda: provisioner.is_running(wid))


async def test_pause_resume_and_hibernate(svc: Services) -> None:
    provisioner = use_command(svc, SLEEPER)
    wid = await echo_workspace(svc)
    await ask(svc, wid, Restart("create"))
    await until(lambda: provisioner.is_running(wid))

    assert await ask(svc, wid, Pause()) is True
    assert await svc.workspaces.status_of(wid) == "paused"
    assert not await provisioner.is_running(wid)
    assert await ask(svc, wid, Restart("ignored while paused")) is False

    assert await ask(svc, wid, Resume()) is True
    await restart_settled(svc, wid)
    assert await provisioner.is_running(wid)

    # Hibernate needs an online workspace: pretend its agent registered.
    await svc.store.execute("UPDATE workspaces SET status = 'online' WHERE id = $1", wid)
    await ask(svc, wid, Snapshot())
    ref = await svc.directory.get(wid)
    assert ref is not None
    await ref.ask(Pause(), 10)
    await ref.ask(Resume(), 10)
    await restart_settled(svc, wid)
    assert await provisioner.is_running(wid)
    await svc.store.execute("UPDATE workspaces SET status = 'online' WHERE id = $1", wid)
    from molecule.actors.messages import Reload

    ref.tell(Reload())
    assert await ask(svc, wid, Hibernate()) is True
    row = await svc.workspaces.get(wid)
    assert row is not None and row["status"] == "hibernated" and row["url"] is None
    assert not await provisioner.is_running(wid)


def test_every_start_path_mints_credentials() -> None:
    """Mint gate: any function that starts an agent through a provisioner must also call
    mint_workspace_secrets (so no start path hands an agent stale credentials)."""
    root = Path(__file__).resolve().parents[2] / "molecule"
    offenders = []
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            calls = [n for n in ast.walk(fn) if isinstance(n, ast.Call)]
            starts = any(
                isinstance(c.func, ast.Attribute)
                and c.func.attr == "start"
                and "provisioner" in ast.unparse(c.func.value)
                for c in calls
            )
            mints = any(
                isinstance(c.func, ast.Attribute) and c.func.attr == "mint_workspace_secrets"
                for c in calls
            )
            if starts and not mints:
                offenders.append(f"{path.name}:{fn.name}")
    assert offenders == []
    assert os.path.exists(root / "provision" / "pipeline.py")


async def test_idle_workspaces_hibernate_and_stuck_ones_time_out(svc: Services) -> None:
    from molecule.actors.sweepers import sweep_hibernation, sweep_provisioning

    provisioner = use_command(svc, SLEEPER)
    idle = await echo_workspace(svc, "idle")
    await ask(svc, idle, Restart("create"))
    await restart_settled(svc, idle)
    assert await provisioner.is_running(idle)
    await svc.store.execute(
        "UPDATE workspaces SET status = 'online', hibernation_idle_minutes = 5,"
        " updated_at = now() - interval '10 minutes' WHERE id = $1",
        idle,
    )
    from molecule.actors.messages import Reload

    (await svc.directory.get(idle)).tell(Reload())  # type: ignore[union-attr]
    busy = await echo_workspace(svc, "recently-active")
    await svc.store.execute(
        "UPDATE workspaces SET status = 'online', hibernation_idle_minutes = 5,"
        " updated_at = now() - interval '10 minutes' WHERE id = $1",
        busy,
    )
    await svc.store.execute(
        "INSERT INTO activity_logs (workspace_id, activity_type) VALUES ($1, 'a2a_receive')", busy
    )
    assert await sweep_hibernation(svc.pipeline, svc.directory) == 1

    async def hibernated() -> bool:
        return await svc.workspaces.status_of(idle) == "hibernated"

    await until(hibernated)
    assert not await provisioner.is_running(idle)
    assert await svc.workspaces.status_of(busy) == "online"

    stuck = await echo_workspace(svc, "stuck")
    await svc.store.execute(
        "UPDATE workspaces SET updated_at = now() - interval '2 minutes' WHERE id = $1", stuck
    )
    await ask(svc, stuck, Snapshot())
    # echo's template declares 60 s; PROVISION_TIMEOUT_SECONDS (here 600) would win over it.
    assert await sweep_provisioning(svc.pipeline, svc.directory, 600) == 0
    assert await sweep_provisioning(svc.pipeline, svc.directory, None) == 1

    async def failed() -> bool:
        return await svc.workspaces.status_of(stuck) == "failed"

    await until(failed)
    event = await svc.store.fetchrow(
        "SELECT payload FROM structure_events WHERE workspace_id = $1"
        " AND event_type = 'WORKSPACE_PROVISION_FAILED'",
        stuck,
    )
    assert event is not None
    assert event["payload"]["source"] == "provision_timeout_sweep"
    assert event["payload"]["timeout_secs"] == 60 and event["payload"]["runtime"] == "echo"


async def test_a_crash_inside_a_cycle_is_recovered_by_supervision(
    svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    provisioner = use_command(svc, SLEEPER)
    wid = await echo_workspace(svc)
    real_start = svc.pipeline.start
    calls = 0

    async def flaky_start(workspace_id: str) -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("bug in the middle of a cycle")
        return await real_start(workspace_id)

    monkeypatch.setattr(svc.pipeline, "start", flaky_start)
    ref = await svc.directory.get(wid)
    assert ref is not None
    ref.tell(Restart("first"))

    async def restarted_clean() -> bool:
        try:
            snap = await ask(svc, wid, Snapshot())
        except Exception:
            return False
        return snap["restart_cycles"] == 0 and not snap["restart_running"]

    await until(restarted_clean)  # a fresh incarnation: flags reset by supervision
    assert await ask(svc, wid, Restart("second")) is True
    await until(lambda: provisioner.is_running(wid))
    assert calls == 2
