"""The LLM adapter: any OpenAI-compatible chat-completions API, with the platform tools.

Settings come from the environment the platform injects (workspace secrets) and config.yaml:

| what | source (first wins) | default |
|---|---|---|
| base URL | `OPENAI_BASE_URL`, `runtime_config.base_url` | `https://api.openai.com/v1` |
| API key | `OPENAI_API_KEY` | required only for the default (OpenAI) base URL |
| model | `MOLECULE_MODEL`, `MODEL`, config `model` (an `openai:` prefix is dropped) | required |
| system prompt | `runtime_config.system_prompt` / `system_prompt`, + `prompt_files` | short |
| tool rounds | `runtime_config.max_tool_iterations` | 8 |
| request timeout | `runtime_config.request_timeout_seconds` | 120 s |

Each message runs the tool loop: call the model with `send_message_to_user`,
`delegate_task`, `commit_memory` and `recall_memory` (molecule.runtime.tools); run any tool
calls it makes and feed the results back; stop at the first answer without tool calls (that
text is the A2A reply) or after the bounded number of rounds.
The conversation per A2A `contextId` (user text and final answers) is kept, bounded, so a chat
has memory. A key rejected by the provider (401/403) marks the adapter wedged until a call
succeeds again.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from typing import Any

import httpx
import trio

from molecule.errors import LLMError
from molecule.runtime.adapters.base import Adapter, AdapterContext, AgentReply, AgentRequest
from molecule.runtime.tools import TOOL_SCHEMAS, PlatformTools

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_SYSTEM_PROMPT = (
    "You are an AI agent working in a Molecule workspace, part of a team of agents. "
    "Answer the message you receive. Use send_message_to_user to reach the user's chat "
    "directly (with files if useful), delegate_task to hand work to another workspace, and "
    "commit_memory / recall_memory to keep and find facts across conversations."
)
MAX_CONTEXTS = 200
MAX_HISTORY_MESSAGES = 40


class OpenAICompatAdapter(Adapter):
    name = "openai"

    def __init__(self, ctx: AdapterContext) -> None:
        super().__init__(ctx)
        env, rc = ctx.settings.env, self.runtime_config
        self.base_url = str(env.get("OPENAI_BASE_URL") or rc.get("base_url") or DEFAULT_BASE_URL)
        self.base_url = self.base_url.rstrip("/")
        self.api_key = env.get("OPENAI_API_KEY") or None
        model = env.get("MOLECULE_MODEL") or env.get("MODEL") or ctx.settings.config.model or ""
        self.model = model.removeprefix("openai:").strip()
        self.max_iterations = max(1, int(rc.get("max_tool_iterations", 8)))
        self.timeout = float(rc.get("request_timeout_seconds", 120))
        self.temperature = rc.get("temperature")
        self.system_prompt = DEFAULT_SYSTEM_PROMPT
        self.tools = PlatformTools(ctx.platform, ctx.settings.roots)
        self._history: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._http: httpx.AsyncClient | None = None

    async def setup(self) -> None:
        if not self.model:
            raise LLMError("no model configured (set MOLECULE_MODEL or config.yaml 'model')")
        if not self.api_key and self.base_url == DEFAULT_BASE_URL:
            raise LLMError("OPENAI_API_KEY is not set")
        self.system_prompt = await trio.to_thread.run_sync(self._load_system_prompt)
        self._http = httpx.AsyncClient(timeout=self.timeout)

    def _load_system_prompt(self) -> str:
        config = self.ctx.settings.config
        prompt = self.runtime_config.get("system_prompt") or config.raw.get("system_prompt")
        chunks = [str(prompt)] if prompt else [DEFAULT_SYSTEM_PROMPT]
        files = config.raw.get("prompt_files")
        for name in files if isinstance(files, list) else []:
            path = self.ctx.settings.config_dir / str(name)
            try:
                chunks.append(path.read_text(encoding="utf-8"))
            except OSError as exc:
                log.warning("prompt file %s unreadable: %s", path, exc)
        return "\n\n".join(c.strip() for c in chunks if c.strip())

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    def _user_content(self, request: AgentRequest) -> str:
        lines = [request.text] if request.text else []
        for f in request.message.files:
            label = f.get("name") or "file"
            where = f.get("uri") or "inline bytes"
            lines.append(f"[attached file: {label} ({where})]")
        return "\n".join(lines) or "(empty message)"

    async def handle(self, request: AgentRequest) -> AgentReply:
        history = self._history.get(request.context_id, [])
        user = {"role": "user", "content": self._user_content(request)}
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": self.system_prompt},
            *history,
            user,
        ]
        final: str | None = None
        for _ in range(self.max_iterations):
            reply = await self._complete(messages)
            calls = reply.get("tool_calls") or []
            content = reply.get("content")
            messages.append(
                {
                    "role": "assistant",
                    "content": content,
                    **({"tool_calls": calls} if calls else {}),
                }
            )
            if not calls:
                final = content if isinstance(content, str) else ""
                break
            for call in calls:
                messages.append(await self._run_tool(call))
        if final is None:
            final = f"(stopped after {self.max_iterations} tool-call rounds without an answer)"
        self._remember(
            request.context_id, [*history, user, {"role": "assistant", "content": final}]
        )
        return AgentReply(final)

    async def _run_tool(self, call: Any) -> dict[str, Any]:
        call = call if isinstance(call, dict) else {}
        fn = call.get("function") if isinstance(call.get("function"), dict) else {}
        name = str(fn.get("name") or "")
        result = await self.tools.call(name, fn.get("arguments"))
        log.info("tool %s -> %s", name, "error" if "error" in result else "ok")
        return {
            "role": "tool",
            "tool_call_id": str(call.get("id") or ""),
            "content": json.dumps(result),
        }

    def _remember(self, context_id: str, messages: list[dict[str, Any]]) -> None:
        self._history[context_id] = messages[-MAX_HISTORY_MESSAGES:]
        self._history.move_to_end(context_id)
        while len(self._history) > MAX_CONTEXTS:
            self._history.popitem(last=False)

    async def _complete(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        if self._http is None:
            raise LLMError("adapter not set up")
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "tools": TOOL_SCHEMAS,
            "tool_choice": "auto",
        }
        if isinstance(self.temperature, int | float):
            body["temperature"] = self.temperature
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            resp = await self._http.post(
                self.base_url + "/chat/completions", json=body, headers=headers
            )
        except httpx.HTTPError as exc:
            raise LLMError(f"chat completions request failed: {type(exc).__name__}") from exc
        if resp.status_code in (401, 403):
            self.mark_wedged(f"LLM provider rejected the API key (HTTP {resp.status_code})")
        if resp.status_code != 200:
            raise LLMError(f"chat completions HTTP {resp.status_code}: {resp.text[:300]}")
        self.clear_wedged()
        try:
            choice = resp.json()["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LLMError("chat completions answer has no choices[0].message") from exc
        if not isinstance(choice, dict):
            raise LLMError("chat completions answer has no choices[0].message")
        return choice
