"""Fixtures: a workspace root on disk, a fake platform, and the runtime started in-process."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from molecule.runtime.main import Running, run_runtime
from molecule.runtime.settings import load_settings
from tests.runtime.fakes import FakePlatform, serve_app

DEFAULT_CONFIG = """\
name: test-agent
description: runtime under test
skills:
  - research
  - id: summarise
    name: Summarise
    description: writes summaries
    tags: [text]
"""


def make_root(base: Path) -> Path:
    root = base / "ws"
    for sub in ("configs", "workspace", "home", "plugins"):
        (root / sub).mkdir(parents=True)
    (root / "configs" / "config.yaml").write_text(DEFAULT_CONFIG)
    return root


@dataclass
class Harness:
    root: Path
    workspace_id: str
    platform: FakePlatform
    platform_url: str
    http: httpx.AsyncClient

    @property
    def configs(self) -> Path:
        return self.root / "configs"

    def write_config(self, text: str) -> None:
        (self.configs / "config.yaml").write_text(text)

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            "WORKSPACE_ID": self.workspace_id,
            "PLATFORM_URL": self.platform_url,
            "MOLECULE_WORKSPACE_ROOT": str(self.root),
            "MOLECULE_AGENT_PORT": "0",
            "HOSTNAME": "localhost",
        }
        env.update(extra)
        return env

    @asynccontextmanager
    async def runtime(self, **extra_env: str) -> AsyncIterator[Running]:
        settings = load_settings(self.env(**extra_env))
        shutdown = trio.Event()
        async with trio.open_nursery() as nursery:
            with trio.fail_after(15):
                running: Running = await nursery.start(partial(run_runtime, settings, shutdown))
            try:
                yield running
            finally:
                shutdown.set()

    async def rpc(
        self,
        running: Running,
        method: str,
        params: Any,
        *,
        version: str | None = None,
        rid: Any = 1,
    ) -> httpx.Response:
        headers = {"A2A-Version": version} if version else {}
        body = {"jsonrpc": "2.0", "id": rid, "method": method, "params": params}
        return await self.http.post(running.url + "/", json=body, headers=headers)


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll `predicate` until true; fail after `timeout` seconds."""
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.02)


def text_message(text: str, **extra: Any) -> dict[str, Any]:
    msg = {
        "role": "user",
        "messageId": str(uuid.uuid4()),
        "parts": [{"kind": "text", "text": text}],
    }
    msg.update(extra)
    return {"message": msg}


def sse_events(body: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: ")]


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    workspace_id = str(uuid.uuid4())
    platform = FakePlatform(workspace_id)
    async with httpx.AsyncClient(timeout=10) as http:
        platform.http = http
        async with serve_app(platform) as url:
            yield Harness(make_root(tmp_path), workspace_id, platform, url, http)
