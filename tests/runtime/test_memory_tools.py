"""The LLM adapter's memory tools: the model's `commit_memory` / `recall_memory` calls become
the platform's memories routes with the workspace's token, first against the fake platform
(the whole tool loop with the fake model), then against a real platform."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from molecule.runtime.credentials import Credentials
from molecule.runtime.platform_client import PlatformClient
from molecule.runtime.settings import load_settings
from molecule.runtime.tools import PlatformTools
from tests.conftest import Harness as PlatformHarness
from tests.runtime.conftest import Harness, make_root, text_message
from tests.runtime.fakes import tool_call
from tests.runtime.test_llm_adapter import llm_runtime, reply


def together(*messages: dict[str, Any]) -> dict[str, Any]:
    """One assistant message making several tool calls."""
    calls = [c for m in messages for c in m["tool_calls"]]
    return {"role": "assistant", "content": None, "tool_calls": calls}


def tool_results(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [json.loads(m["content"]) for m in messages if m["role"] == "tool"]


async def test_the_model_commits_and_recalls(harness: Harness) -> None:
    path = f"/workspaces/{harness.workspace_id}/memories"
    async with llm_runtime(harness) as (running, llm):
        llm.script.extend(
            [
                tool_call(
                    "commit_memory",
                    {"content": "the build uses make", "scope": "team", "namespace": "build"},
                ),
                tool_call("recall_memory", {"query": "build"}),
                together(  # one round, three calls (the loop allows 4 rounds)
                    tool_call("commit_memory", {"content": "company fact", "scope": "GLOBAL"}),
                    tool_call("commit_memory", {"content": "x", "scope": "PLANET"}),
                    tool_call("recall_memory", {"query": 42}),
                ),
                reply("Noted."),
            ]
        )
        resp = await harness.rpc(running, "message/send", text_message("remember this"))
        assert resp.json()["result"]["parts"][0]["text"] == "Noted."

        platform = harness.platform
        posts = [c for c in platform.on(path) if c.method == "POST"]
        gets = [c for c in platform.on(path) if c.method == "GET"]
        assert len(posts) == 2 and len(gets) == 1  # the bad arguments never left the agent
        first = posts[0]
        assert first.json() == {
            "content": "the build uses make",
            "scope": "TEAM",
            "namespace": "build",
        }
        for call in (first, gets[0]):
            assert call.headers["authorization"] == f"Bearer {platform.token}"
            assert call.headers["x-workspace-id"] == harness.workspace_id

        made, found, refused, bad_scope, bad_query = tool_results(llm.calls[-1].json()["messages"])
        [memory] = platform.memories
        assert made == {"id": memory["id"], "scope": "TEAM", "namespace": "build"}
        assert found == {"count": 1, "memories": [memory]}
        assert "HTTP 403" in refused["error"]
        assert "only root workspaces can write GLOBAL memories" in refused["error"]
        assert bad_scope == {"error": "commit_memory: 'scope' must be LOCAL, TEAM or GLOBAL"}
        assert bad_query == {"error": "recall_memory: 'query' must be a string"}


async def test_memory_tools_against_the_real_platform(
    platform: PlatformHarness, tmp_path: Path
) -> None:
    h = platform
    root = await h.create_external("root")
    child = await h.create_external("child", parent_id=root["id"])

    def tools_of(ws: dict[str, Any], base: Path, http: httpx.AsyncClient) -> PlatformTools:
        env = {
            "WORKSPACE_ID": str(ws["id"]),
            "PLATFORM_URL": h.base_url,
            "MOLECULE_WORKSPACE_ROOT": str(make_root(base)),
            "MOLECULE_WORKSPACE_TOKEN": str(ws["connection"]["auth_token"]),  # type: ignore[index]
        }
        settings = load_settings(env)
        credentials = Credentials(settings.config_dir, env["MOLECULE_WORKSPACE_TOKEN"])
        return PlatformTools(PlatformClient(settings, credentials, http), settings.roots)

    async with httpx.AsyncClient(timeout=10) as http:
        mine = tools_of(child, tmp_path / "child", http)
        theirs = tools_of(root, tmp_path / "root", http)
        secret = "GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789"
        made = await mine.call("commit_memory", {"content": f"deploys need {secret}"})
        assert set(made) == {"id", "scope", "namespace"} and made["scope"] == "LOCAL"
        team = await mine.call(
            "commit_memory", json.dumps({"content": "release on fridays", "scope": "TEAM"})
        )
        refused = await mine.call("commit_memory", {"content": "x", "scope": "GLOBAL"})
        assert "HTTP 403" in refused["error"]
        found = await mine.call("recall_memory", {"query": "deploys"})
        assert [m["id"] for m in found["memories"]] == [made["id"]]
        assert "ghp_abcdefghij" not in found["memories"][0]["content"]  # redacted by the platform
        # the parent reads the child's TEAM memory, not its LOCAL one
        shared = await theirs.call("recall_memory", {"scope": "TEAM"})
        assert [m["id"] for m in shared["memories"]] == [team["id"]]
        assert shared["count"] == 1
        assert (await theirs.call("recall_memory", {}))["count"] == 0
    assert await h.svc.store.fetchval("SELECT count(*) FROM agent_memories") == 2
