"""The OpenAI-compatible adapter against a fake chat-completions server and fake platform."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from molecule.runtime.main import Running
from molecule.runtime.tools import TOOL_SCHEMAS
from tests.runtime.conftest import Harness, text_message
from tests.runtime.fakes import FakeLLM, serve_app, tool_call

LLM_CONFIG = """\
name: llm-agent
model: openai:gpt-test
runtime_config:
  adapter: openai
  system_prompt: You are a test agent.
  max_tool_iterations: 4
  idle_timeout_seconds: 600
prompt_files: [extra.md]
"""
KEY = "sk-test-key-0123456789abcdefghij"


@asynccontextmanager
async def llm_runtime(harness: Harness, **env: str) -> AsyncIterator[tuple[Running, FakeLLM]]:
    harness.write_config(LLM_CONFIG)
    (harness.configs / "extra.md").write_text("Extra instructions.")
    llm = FakeLLM()
    async with serve_app(llm) as url:
        base = {"OPENAI_BASE_URL": url + "/v1", "OPENAI_API_KEY": KEY}
        async with harness.runtime(**{**base, **env}) as running:
            yield running, llm


def reply(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


async def test_final_text_and_request_shape(harness: Harness) -> None:
    async with llm_runtime(harness) as (running, llm):
        llm.script.append(reply("Hello from the model"))
        resp = await harness.rpc(running, "message/send", text_message("hi model"))
        result = resp.json()["result"]
        assert result["parts"] == [{"kind": "text", "text": "Hello from the model"}]
        [call] = llm.calls
        assert call.headers["authorization"] == f"Bearer {KEY}"
        body = call.json()
        assert body["model"] == "gpt-test"  # "openai:" prefix dropped
        assert body["tools"] == TOOL_SCHEMAS and body["tool_choice"] == "auto"
        assert [t["function"]["name"] for t in body["tools"]] == [
            "send_message_to_user",
            "delegate_task",
            "commit_memory",
            "recall_memory",
        ]
        system, user = body["messages"]
        assert system["role"] == "system"
        assert system["content"] == "You are a test agent.\n\nExtra instructions."
        assert user == {"role": "user", "content": "hi model"}

        # the same context continues the conversation; the heartbeat carries the override
        llm.script.append(reply("second"))
        params = text_message("again", contextId=result["contextId"])
        await harness.rpc(running, "message/send", params)
        messages = llm.calls[-1].json()["messages"]
        assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
        assert messages[2]["content"] == "Hello from the model"
        assert running.state.adapter is not None
        assert running.state.adapter.idle_timeout_override() == 600


async def test_send_message_to_user_uploads_then_notifies(harness: Harness) -> None:
    report = harness.root / "workspace" / "out" / "report final.txt"
    report.parent.mkdir()
    report.write_text("the report body")
    (harness.root / "home" / "chart.png").write_bytes(b"\x89PNG fake")
    async with llm_runtime(harness) as (running, llm):
        llm.script.append(
            tool_call(
                "send_message_to_user",
                {
                    "message": "Here is the report",
                    "attachments": ["out/report final.txt", "/home/chart.png"],
                },
            )
        )
        llm.script.append(reply("I sent you the report."))
        resp = await harness.rpc(running, "message/send", text_message("send me the report"))
        assert resp.json()["result"]["parts"][0]["text"] == "I sent you the report."

        platform = harness.platform
        [upload] = platform.on(f"/workspaces/{harness.workspace_id}/chat/uploads")
        assert upload.headers["authorization"] == f"Bearer {platform.token}"
        assert upload.headers["x-workspace-id"] == harness.workspace_id
        assert upload.headers["content-type"].startswith("multipart/form-data")
        [forwarded] = platform.uploads_forwarded
        assert forwarded["status"] == 200
        files = forwarded["body"]["files"]
        assert [f["name"] for f in files] == ["report_final.txt", "chart.png"]

        # the files landed in the workspace's upload sink, on the mapped root
        for f in files:
            name = f["uri"].removeprefix("workspace:/workspace/")
            assert f["uri"].startswith("workspace:/workspace/.molecule/chat-uploads/")
            assert (harness.root / "workspace" / name).stat().st_size == f["size"]

        [notify] = platform.on(f"/workspaces/{harness.workspace_id}/notify")
        assert notify.headers["x-workspace-id"] == harness.workspace_id
        assert notify.headers["authorization"] == f"Bearer {platform.token}"
        assert notify.json() == {
            "message": "Here is the report",
            "attachments": [
                {"uri": f["uri"], "name": f["name"], "mimeType": f["mimeType"], "size": f["size"]}
                for f in files
            ],
        }
        # the model saw the tool result, tied to its call id
        second = llm.calls[1].json()["messages"]
        assistant, tool = second[-2], second[-1]
        assert assistant["tool_calls"][0]["function"]["name"] == "send_message_to_user"
        assert tool["role"] == "tool"
        assert tool["tool_call_id"] == assistant["tool_calls"][0]["id"]
        assert json.loads(tool["content"])["status"] == "sent"


async def test_text_only_message_skips_upload(harness: Harness) -> None:
    async with llm_runtime(harness) as (running, llm):
        llm.script.extend(
            [tool_call("send_message_to_user", {"message": "progress"}), reply("done")]
        )
        await harness.rpc(running, "message/send", text_message("work"))
        assert harness.platform.on(f"/workspaces/{harness.workspace_id}/chat/uploads") == []
        [notify] = harness.platform.on(f"/workspaces/{harness.workspace_id}/notify")
        assert notify.json() == {"message": "progress"}


async def test_bad_attachment_is_reported_to_the_model(harness: Harness) -> None:
    async with llm_runtime(harness) as (running, llm):
        llm.script.extend(
            [
                tool_call("send_message_to_user", {"message": "x", "attachments": ["/etc/passwd"]}),
                tool_call("send_message_to_user", {"message": "x", "attachments": ["nope.txt"]}),
                reply("could not attach"),
            ]
        )
        resp = await harness.rpc(running, "message/send", text_message("attach"))
        assert resp.json()["result"]["parts"][0]["text"] == "could not attach"
        results = [
            json.loads(m["content"]) for m in llm.calls[2].json()["messages"] if m["role"] == "tool"
        ]
        assert "path must be under" in results[0]["error"]
        assert "file not found" in results[1]["error"]
        assert harness.platform.on(f"/workspaces/{harness.workspace_id}/notify") == []


async def test_delegate_task(harness: Harness) -> None:
    target = str(uuid.uuid4())
    async with llm_runtime(harness) as (running, llm):
        llm.script.extend(
            [
                tool_call("delegate_task", {"target_id": target, "task": "summarise the logs"}),
                reply("Delegated."),
            ]
        )
        resp = await harness.rpc(running, "message/send", text_message("delegate it"))
        assert resp.json()["result"]["parts"][0]["text"] == "Delegated."
        [call] = harness.platform.on(f"/workspaces/{harness.workspace_id}/delegate")
        body = call.json()
        assert body["target_id"] == target and body["task"] == "summarise the logs"
        assert uuid.UUID(body["idempotency_key"])
        assert call.headers["x-workspace-id"] == harness.workspace_id
        assert call.headers["authorization"] == f"Bearer {harness.platform.token}"
        tool = llm.calls[1].json()["messages"][-1]
        result = json.loads(tool["content"])
        assert result["status"] == "delegated" and result["target_id"] == target


async def test_tool_loop_is_bounded(harness: Harness) -> None:
    async with llm_runtime(harness) as (running, llm):
        for _ in range(4):
            llm.script.append(tool_call("send_message_to_user", {"message": "again"}))
        resp = await harness.rpc(running, "message/send", text_message("loop forever"))
        text = resp.json()["result"]["parts"][0]["text"]
        assert text == "(stopped after 4 tool-call rounds without an answer)"
        assert len(llm.calls) == 4


async def test_provider_errors(harness: Harness) -> None:
    async with llm_runtime(harness) as (running, llm):
        llm.script.append(500)
        resp = await harness.rpc(running, "message/send", text_message("x"))
        error = resp.json()["error"]
        assert error["code"] == -32603 and "chat completions HTTP 500" in error["data"]
        assert running.state.adapter is not None
        assert running.state.adapter.wedged_reason is None

        llm.script.append(401)
        await harness.rpc(running, "message/send", text_message("x"))
        assert running.state.adapter.wedged_reason == (
            "LLM provider rejected the API key (HTTP 401)"
        )
        llm.script.append(reply("fine again"))
        resp = await harness.rpc(running, "message/send", text_message("x"))
        assert resp.json()["result"]["parts"][0]["text"] == "fine again"
        assert running.state.adapter.wedged_reason is None
        assert KEY not in json.dumps(error)


async def test_missing_key_for_default_provider_is_not_configured(harness: Harness) -> None:
    harness.write_config(LLM_CONFIG)
    async with harness.runtime() as running:
        assert running.state.configuration_error == "LLMError: OPENAI_API_KEY is not set"
        resp = await harness.rpc(running, "message/send", text_message("x"))
        assert resp.status_code == 503


async def test_model_from_env_wins(harness: Harness) -> None:
    async with llm_runtime(harness, MOLECULE_MODEL="env-model") as (running, llm):
        llm.script.append(reply("ok"))
        await harness.rpc(running, "message/send", text_message("x"))
        assert llm.calls[0].json()["model"] == "env-model"


async def test_broken_adapter_config_is_not_configured_without_metadata(
    harness: Harness,
) -> None:
    harness.write_config("name: x\nadapter: openai\nruntime_config:\n  max_tool_iterations: lots\n")
    async with harness.runtime(MOLECULE_HEARTBEAT_INTERVAL_SECONDS="0.1") as running:
        assert running.state.adapter is None
        assert (running.state.configuration_error or "").startswith("ValueError")
        resp = await harness.rpc(running, "message/send", text_message("x"))
        assert resp.status_code == 503
        [beat, *_] = await harness.platform.wait_for("/registry/heartbeat", 1)
        assert "runtime_metadata" not in beat.json()
