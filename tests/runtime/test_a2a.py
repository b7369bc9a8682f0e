"""A2A JSON-RPC on `POST /` and the agent card."""

from __future__ import annotations

import uuid

import trio

from molecule.runtime.adapters import register as register_adapter
from molecule.runtime.adapters.base import Adapter, AgentReply, AgentRequest
from tests.runtime.conftest import Harness, eventually, sse_events, text_message


def v1_message(text: str, **extra: object) -> dict[str, object]:
    msg = {"messageId": str(uuid.uuid4()), "role": "ROLE_USER", "parts": [{"text": text}]}
    msg.update(extra)
    return {"message": msg}


async def test_agent_card_route(harness: Harness) -> None:
    async with harness.runtime() as running:
        resp = await harness.http.get(running.url + "/.well-known/agent-card.json")
        assert resp.status_code == 200
        card = resp.json()
        url = f"http://localhost:{running.port}"
        assert card["url"] == url and card["protocolVersion"] == "0.3"
        assert card["preferredTransport"] == "JSONRPC"
        assert {"url": url, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"} in card[
            "supportedInterfaces"
        ]
        assert card["defaultInputModes"] == ["text/plain", "application/json"]
        old = await harness.http.get(running.url + "/.well-known/agent.json")
        assert old.status_code == 404
        assert (await harness.http.get(running.url + "/")).status_code == 405


async def test_message_send_v03(harness: Harness) -> None:
    async with harness.runtime() as running:
        resp = await harness.rpc(running, "message/send", text_message("hi"), rid="abc")
        assert resp.status_code == 200
        body = resp.json()
        assert body["jsonrpc"] == "2.0" and body["id"] == "abc"
        result = body["result"]
        assert result["kind"] == "message" and result["role"] == "agent"
        assert result["parts"] == [{"kind": "text", "text": "echo: hi"}]
        assert uuid.UUID(result["messageId"]) and uuid.UUID(result["contextId"])
        assert uuid.UUID(result["taskId"])


async def test_send_keeps_context_and_accepts_legacy_shapes(harness: Harness) -> None:
    async with harness.runtime() as running:
        params = {
            "message": {
                "role": "user",
                "messageId": "m-1",
                "contextId": "ctx-1",
                "parts": [
                    {"type": "text", "text": "one"},  # legacy tag: accepted
                    {"kind": "file", "file": {"uri": "workspace:/workspace/x", "name": "x"}},
                    {"kind": "data", "data": {"a": 1}},
                    {"kind": "text", "text": "two"},
                ],
            },
            "metadata": {"history": []},
        }
        result = (await harness.rpc(running, "message/send", params)).json()["result"]
        assert result["contextId"] == "ctx-1"
        assert result["parts"][0]["text"] == "echo: one\ntwo"
        # role "agent" is valid too (peer replies)
        params = text_message("from a peer")
        params["message"]["role"] = "agent"
        result = (await harness.rpc(running, "message/send", params)).json()["result"]
        assert result["parts"][0]["text"] == "echo: from a peer"


async def test_validation_errors_v03(harness: Harness) -> None:
    async with harness.runtime() as running:
        cases = {
            "messageId": {"role": "user", "parts": [{"kind": "text", "text": "x"}]},
            "parts": {"role": "user", "messageId": "m", "content": "x"},
            "role": {"messageId": "m", "parts": [{"kind": "text", "text": "x"}]},
            "'agent' or 'user'": {
                "role": "assistant",
                "messageId": "m",
                "parts": [{"kind": "text", "text": "x"}],
            },
        }
        for needle, message in cases.items():
            resp = await harness.rpc(running, "message/send", {"message": message}, rid=7)
            assert resp.status_code == 200
            body = resp.json()
            assert body["id"] == 7 and "result" not in body
            assert body["error"]["code"] == -32600, needle
            assert body["error"]["message"] == "Invalid Request"
            assert needle in body["error"]["data"]
        bad_part = text_message("x")
        bad_part["message"]["parts"] = [{"kind": "text"}]
        resp = await harness.rpc(running, "message/send", bad_part)
        assert resp.json()["error"]["code"] == -32600


async def test_envelope_errors(harness: Harness) -> None:
    async with harness.runtime() as running:
        resp = await harness.rpc(running, "bogus/method", {})
        assert resp.json()["error"] == {"code": -32601, "message": "Method not found", "data": None}
        resp = await harness.http.post(running.url + "/", content=b"not json")
        body = resp.json()
        assert resp.status_code == 200 and body["id"] is None and body["error"]["code"] == -32700
        resp = await harness.http.post(running.url + "/", json=[1, 2])
        assert resp.json()["error"]["code"] == -32600
        resp = await harness.http.post(running.url + "/", json={"id": 4})
        assert resp.json()["error"]["code"] == -32600 and resp.json()["id"] == 4


async def test_v10_names_need_the_version_header(harness: Harness) -> None:
    async with harness.runtime() as running:
        resp = await harness.rpc(running, "SendMessage", v1_message("hi"))
        error = resp.json()["error"]
        assert error["code"] == -32009
        assert error["message"] == (
            "A2A version '0.3' is not supported by this handler. Expected version '1.0'."
        )
        resp = await harness.rpc(running, "message/send", text_message("hi"), version="1.0")
        assert resp.json()["error"]["code"] == -32603  # v0.3 name under a 1.0 header
        resp = await harness.rpc(running, "message/send", text_message("hi"), version="0.3")
        assert resp.json()["result"]["parts"][0]["text"] == "echo: hi"


async def test_v10_send_get_and_validation(harness: Harness) -> None:
    async with harness.runtime() as running:
        resp = await harness.rpc(running, "SendMessage", v1_message("hi"), version="1.0")
        msg = resp.json()["result"]["message"]
        assert msg["role"] == "ROLE_AGENT" and msg["parts"] == [{"text": "echo: hi"}]
        assert "kind" not in msg

        got = await harness.rpc(running, "GetTask", {"id": msg["taskId"]}, version="1.0")
        task = got.json()["result"]
        assert task["id"] == msg["taskId"] and task["contextId"] == msg["contextId"]
        assert task["status"]["state"] == "TASK_STATE_COMPLETED" and "kind" not in task
        assert [m["role"] for m in task["history"]] == ["ROLE_USER", "ROLE_AGENT"]

        missing = await harness.rpc(running, "GetTask", {"id": "nope"}, version="1.0")
        error = missing.json()["error"]
        assert error["code"] == -32001 and error["message"] == "Task not found"
        assert error["data"][0]["reason"] == "TASK_NOT_FOUND"

        for field_name, params in {
            "message.message_id": {"message": {"role": "ROLE_USER", "parts": [{"text": "x"}]}},
            "message.role": {"message": {"messageId": "a", "parts": [{"text": "x"}]}},
            "message.parts": {"message": {"messageId": "a", "role": "ROLE_USER"}},
        }.items():
            error = (await harness.rpc(running, "SendMessage", params, version="1.0")).json()[
                "error"
            ]
            assert error["code"] == -32602 and error["message"] == "Validation failed"
            assert error["data"][0]["metadata"]["errors"][0]["field"] == field_name

        url_part = v1_message("see file")
        url_part["message"]["parts"].append(  # type: ignore[index]
            {"url": "workspace:/workspace/a.txt", "filename": "a.txt", "mediaType": "text/plain"}
        )
        resp = await harness.rpc(running, "SendMessage", url_part, version="1.0")
        assert resp.json()["result"]["message"]["parts"] == [{"text": "echo: see file"}]


async def test_tasks_get_v03(harness: Harness) -> None:
    async with harness.runtime() as running:
        sent = (await harness.rpc(running, "message/send", text_message("keep"))).json()["result"]
        got = (await harness.rpc(running, "tasks/get", {"id": sent["taskId"]})).json()["result"]
        assert got["kind"] == "task" and got["id"] == sent["taskId"]
        assert got["status"]["state"] == "completed" and got["status"]["timestamp"]
        user, agent = got["history"]
        assert user["role"] == "user" and user["parts"][0]["text"] == "keep"
        assert user["taskId"] == sent["taskId"] and user["contextId"] == sent["contextId"]
        assert agent["messageId"] == sent["messageId"]
        short = await harness.rpc(running, "tasks/get", {"id": sent["taskId"], "historyLength": 1})
        assert [m["role"] for m in short.json()["result"]["history"]] == ["agent"]

        missing = (await harness.rpc(running, "tasks/get", {"id": "nope"})).json()
        assert missing["error"] == {"code": -32001, "message": "Task not found", "data": None}
        no_id = (await harness.rpc(running, "tasks/get", {})).json()
        assert no_id["error"]["code"] == -32600


async def test_finished_tasks_are_bounded(harness: Harness) -> None:
    async with harness.runtime() as running:
        running.state.store.capacity = 3
        ids = []
        for i in range(5):
            result = (await harness.rpc(running, "message/send", text_message(str(i)))).json()
            ids.append(result["result"]["taskId"])
        assert len(running.state.store) == 3
        first = (await harness.rpc(running, "tasks/get", {"id": ids[0]})).json()
        assert first["error"]["code"] == -32001
        last = (await harness.rpc(running, "tasks/get", {"id": ids[-1]})).json()
        assert last["result"]["status"]["state"] == "completed"


async def test_message_stream_v03(harness: Harness) -> None:
    async with harness.runtime() as running:
        body = {
            "jsonrpc": "2.0",
            "id": 5,
            "method": "message/stream",
            "params": text_message("stream me"),
        }
        async with harness.http.stream("POST", running.url + "/", json=body) as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            text = (await resp.aread()).decode()
        first, last = sse_events(text)
        assert first["id"] == 5 and last["id"] == 5
        status = first["result"]
        assert status["kind"] == "status-update" and status["final"] is False
        assert status["status"]["state"] == "working"
        message = last["result"]
        assert message["kind"] == "message" and message["parts"][0]["text"] == "echo: stream me"
        assert message["taskId"] == status["taskId"] and message["contextId"] == status["contextId"]


async def test_message_stream_v10(harness: Harness) -> None:
    async with harness.runtime() as running:
        resp = await harness.rpc(running, "SendStreamingMessage", v1_message("s"), version="1.0")
        first, last = sse_events(resp.text)
        assert first["result"]["statusUpdate"]["status"]["state"] == "TASK_STATE_WORKING"
        assert last["result"]["message"]["parts"] == [{"text": "echo: s"}]
        # validation errors come back as plain JSON-RPC, before any stream starts
        bad = await harness.rpc(running, "message/stream", {"message": {"role": "user"}})
        assert bad.headers["content-type"] == "application/json"
        assert bad.json()["error"]["code"] == -32600


class SlowAdapter(Adapter):
    name = "slow"

    async def handle(self, request: AgentRequest) -> AgentReply:
        if request.text == "boom":
            raise ValueError("model exploded")
        await trio.sleep(30)
        return AgentReply("late")


register_adapter("slow", SlowAdapter)


async def test_stream_error_and_cancel(harness: Harness) -> None:
    harness.write_config("name: slow\nadapter: slow\n")
    async with harness.runtime() as running, trio.open_nursery() as nursery:
        resp = await harness.rpc(running, "message/stream", text_message("boom"))
        working, error = sse_events(resp.text)
        assert working["result"]["status"]["state"] == "working"
        assert error["error"]["code"] == -32603 and "ValueError" in error["error"]["data"]
        failed = await harness.rpc(running, "tasks/get", {"id": working["result"]["taskId"]})
        assert failed.json()["result"]["status"]["state"] == "failed"

        answers: list[dict[str, object]] = []

        async def send_slow() -> None:
            resp = await harness.rpc(running, "message/send", text_message("slow", taskId="t-1"))
            answers.append(resp.json())

        nursery.start_soon(send_slow)
        await eventually(lambda: running.state.tracker.active_tasks == 1)
        canceled = (await harness.rpc(running, "tasks/cancel", {"id": "t-1"})).json()["result"]
        assert canceled["status"]["state"] == "canceled"
        await eventually(lambda: bool(answers))
        assert answers[0]["result"]["status"]["state"] == "canceled"  # type: ignore[index]
        again = (await harness.rpc(running, "tasks/cancel", {"id": "t-1"})).json()
        assert again["error"]["code"] == -32002
        assert running.state.tracker.active_tasks == 0


async def test_not_configured_mode(harness: Harness) -> None:
    harness.write_config("name: llm\nruntime_config:\n  adapter: openai\n")
    secret_key = "sk-thisisaverysecretkeyvalue123456"
    # no model configured: setup fails; the key must not leak anywhere
    async with harness.runtime(OPENAI_API_KEY=secret_key) as running:
        [call] = harness.platform.on("/registry/register")
        card = call.json()["agent_card"]
        assert card["configuration_status"] == "not_configured"
        assert card["configuration_error"].startswith("LLMError: no model configured")
        served = (await harness.http.get(running.url + "/.well-known/agent-card.json")).json()
        assert served["configuration_status"] == "not_configured"
        resp = await harness.rpc(running, "message/send", text_message("hi"), rid=42)
        assert resp.status_code == 503
        assert resp.json() == {
            "jsonrpc": "2.0",
            "id": 42,
            "error": {
                "code": -32603,
                "message": "Internal error: agent not configured",
                "data": card["configuration_error"],
            },
        }
        garbage = await harness.http.post(running.url + "/", content=b"{{")
        assert garbage.status_code == 503 and garbage.json()["id"] is None
        assert secret_key not in call.body.decode()


async def test_transcript_route(harness: Harness) -> None:
    async with harness.runtime() as running:
        url = running.url + "/transcript"
        assert (await harness.http.get(url)).status_code == 401
        wrong = await harness.http.get(url, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json() == {"error": "unauthorized"}
        auth = {"Authorization": f"Bearer {harness.platform.token}"}
        resp = await harness.http.get(url, params={"since": "0", "limit": "10"}, headers=auth)
        assert resp.status_code == 200
        assert resp.json() == {
            "runtime": "echo",
            "supported": False,
            "lines": [],
            "cursor": 0,
            "more": False,
            "source": None,
        }
        bad = await harness.http.get(url, params={"limit": "ten"}, headers=auth)
        assert bad.status_code == 400
        # the inbound secret is not the agent token
        other = {"Authorization": f"Bearer {harness.platform.secret}"}
        assert (await harness.http.get(url, headers=other)).status_code == 401
        assert (await harness.http.get(running.url + "/nope")).status_code == 404
