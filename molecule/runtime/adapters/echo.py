"""The `echo` adapter: deterministic, no keys; replies `echo: <text>`.

It is what local-process workspaces run by default and what end-to-end tests talk to.
"""

from __future__ import annotations

from molecule.runtime.adapters.base import Adapter, AgentReply, AgentRequest


class EchoAdapter(Adapter):
    name = "echo"

    async def handle(self, request: AgentRequest) -> AgentReply:
        return AgentReply(f"echo: {request.text}")
