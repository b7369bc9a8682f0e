"""Helpers of the plugin tests: workspaces to install into, and what a refusal must leave
unchanged (the plugin rows, and every file under the platform's home)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import trio

from molecule.provision.local import LocalProcessProvisioner
from molecule.provision.plugins_registry import BUILTIN_PLUGINS_DIR
from tests.conftest import Harness
from tests.http.footprint import files

PLUGIN_TABLES = ("workspace_plugins", "org_plugin_allowlist")


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def status(h: Harness, wid: str) -> str:
    r = await h.client.get(f"/workspaces/{wid}", headers=h.admin)
    return str(r.json()["status"])


async def wait_status(h: Harness, wid: str, wanted: str, timeout: float = 30) -> None:
    with trio.fail_after(timeout):
        while await status(h, wid) != wanted:  # noqa: ASYNC110
            await trio.sleep(0.05)


async def echo_workspace(
    h: Harness, name: str, *, paused: bool = True, parent_id: str | None = None
) -> tuple[str, dict[str, str]]:
    """An echo workspace (online, then paused unless asked otherwise: no agent writes files
    meanwhile) and a token of its own."""
    body: dict[str, Any] = {"name": name, "runtime": "echo"}
    if parent_id:
        body["parent_id"] = parent_id
    r = await h.client.post("/workspaces", json=body, headers=h.admin)
    assert r.status_code == 201, r.text
    wid = str(r.json()["id"])
    await wait_status(h, wid, "online")
    if paused:
        r = await h.client.post(f"/workspaces/{wid}/pause", headers=h.admin)
        assert r.status_code == 200, r.text
        await wait_status(h, wid, "paused")
    r = await h.client.post(f"/workspaces/{wid}/tokens", headers=h.admin)
    assert r.status_code == 201, r.text
    return wid, auth(r.json()["auth_token"])


def plugins_dir(h: Harness, wid: str) -> Path:
    provisioner = h.svc.pipeline.provisioner
    assert isinstance(provisioner, LocalProcessProvisioner)
    return provisioner.workspace_dir(wid) / "plugins"


def tree(root: Path) -> dict[str, bytes]:
    """Every regular file under `root`, by its path relative to it."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def shipped(name: str) -> dict[str, bytes]:
    return tree(BUILTIN_PLUGINS_DIR / name)


def untar(data: bytes) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar:
            assert not member.name.startswith(("/", "..")) and (member.isfile() or member.isdir())
            if member.isfile():
                extracted = tar.extractfile(member)
                assert extracted is not None
                found[member.name] = extracted.read()
    return found


async def plugin_rows(h: Harness) -> dict[str, list[str]]:
    found = {}
    for table in PLUGIN_TABLES:
        rows = await h.svc.store.fetch(f'SELECT t::text AS row FROM "{table}" t')  # noqa: S608
        found[table] = sorted(r["row"] for r in rows)
    return found


async def state(h: Harness) -> tuple[dict[str, list[str]], dict[str, str]]:
    return await plugin_rows(h), files(h.svc.settings.home)
