"""`molecule chat <workspace>`: a conversation with an agent, through the platform's A2A proxy.

Each line read from stdin is one A2A `message/stream` request (POST /workspaces/:id/a2a).
An agent that streams answers Server-Sent Events, and its words are printed as they come; an
agent (or a platform-answered `mock` workspace) that answers plain JSON is printed when the
answer arrives. The conversation keeps the agent's `contextId`, so the agent sees one
conversation. Ctrl-D (end of input) ends it; Ctrl-C stops the reply being printed.
`--message/-m` sends one message and exits (for scripts); `-o json` prints every answer or
event as one JSON line instead of its text.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import click
import httpx

from molecule.cli import connection
from molecule.cli.connection import client_options
from molecule.cli.http_client import PlatformClient
from molecule.cli.output import dump, note
from molecule.cli.workspace_refs import resolve_id, workspace_argument

REPLY_TIMEOUT = httpx.Timeout(30.0, read=600.0)  # an agent may think for minutes
PROMPT = "you> "


def sse_events(lines: Iterable[str]) -> Iterator[Any]:
    """The JSON objects of a text/event-stream body (`data:` lines up to a blank line)."""
    data: list[str] = []
    for line in lines:
        if line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif line == "" and data:
            yield _decoded("\n".join(data))
            data = []
    if data:
        yield _decoded("\n".join(data))


def _decoded(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return {"text": text}


def _text(parts: Any) -> str:
    if not isinstance(parts, list):
        return ""
    texts = [p.get("text") for p in parts if isinstance(p, dict)]
    return "".join(t for t in texts if isinstance(t, str))


_V1_KINDS = {
    "message": "message",
    "task": "task",
    "statusUpdate": "status-update",
    "artifactUpdate": "artifact-update",
}


def reply_of(result: Any) -> tuple[str, str]:
    """(kind, text) of an A2A result or stream event, v0.3 (`kind`) or v1.0 (wrapped)."""
    if not isinstance(result, dict):
        return "", ""
    if "kind" not in result:
        for wrapper, kind in _V1_KINDS.items():
            if isinstance(result.get(wrapper), dict):
                return kind, reply_of({**result[wrapper], "kind": kind})[1]
    kind = str(result.get("kind") or "")
    if kind == "message":
        return kind, _text(result.get("parts"))
    if kind == "artifact-update":
        return kind, _text((result.get("artifact") or {}).get("parts"))
    status = result.get("status")
    message = status.get("message") if isinstance(status, dict) else None
    said = _text(message.get("parts")) if isinstance(message, dict) else ""
    if kind == "task" and not said:
        said = "".join(_text(a.get("parts")) for a in result.get("artifacts") or [])
    return kind, said


class Conversation:
    """One chat: the context id the agent gave, and what was printed of the current reply."""

    def __init__(self, client: PlatformClient, workspace_id: str, output: str) -> None:
        self.client, self.workspace_id, self.output = client, workspace_id, output
        self.context_id: str | None = None
        self.shown = ""

    def send(self, text: str) -> None:
        message: dict[str, Any] = {
            "role": "user",
            "messageId": str(uuid.uuid4()),
            "parts": [{"kind": "text", "text": text}],
        }
        if self.context_id:
            message["contextId"] = self.context_id
        envelope = {
            "jsonrpc": "2.0",
            "id": str(uuid.uuid4()),
            "method": "message/stream",
            "params": {"message": message},
        }
        self.shown = ""
        path = f"/workspaces/{self.workspace_id}/a2a"
        try:
            with self.client.stream("POST", path, envelope, REPLY_TIMEOUT) as response:
                if response.headers.get("content-type", "").startswith("text/event-stream"):
                    for event in sse_events(response.iter_lines()):
                        self.take(event)
                else:
                    response.read()
                    self.take(_decoded(response.text))
        finally:
            self.end()

    def take(self, answer: Any) -> None:
        if not isinstance(answer, dict):
            return
        result = answer.get("result", answer)
        if isinstance(result, dict) and not self.context_id:
            found = result.get("contextId") or (result.get("message") or {}).get("contextId")
            self.context_id = found if isinstance(found, str) and found else None
        if self.output != "table":
            self._dump(answer)
            return
        error = answer.get("error")
        if isinstance(error, dict):
            note(f"agent error: {error.get('message') or error}")
            return
        if isinstance(result, dict) and result.get("status") == "queued":
            note("(queued: the agent will answer when it fetches the message)")
            return
        kind, text = reply_of(result)
        if kind == "artifact-update":
            self._write(text)
        elif text:
            if text.startswith(self.shown):
                self._write(text[len(self.shown) :])
            else:
                self._write(("\n" if self.shown else "") + text)
                self.shown = text

    def _write(self, text: str) -> None:
        if text:
            sys.stdout.write(text)
            sys.stdout.flush()
            self.shown += text

    def _dump(self, answer: Any) -> None:
        if self.output == "json":
            click.echo(json.dumps(answer, separators=(",", ":"), ensure_ascii=False))
        else:
            click.echo("---")
            dump(answer, "yaml")

    def end(self) -> None:
        if self.output == "table" and self.shown and not self.shown.endswith("\n"):
            sys.stdout.write("\n")
            sys.stdout.flush()


def _lines(interactive: bool) -> Iterator[str]:
    stdin = sys.stdin
    while True:
        if interactive:
            try:
                line = input(PROMPT)
            except EOFError:
                click.echo("", err=True)
                return
        else:
            line = stdin.readline()
            if not line:
                return
        yield line.rstrip("\r\n")


@click.command("chat")
@workspace_argument()
@click.option("-m", "--message", help="Send this one message, print the reply and exit.")
@client_options
def chat(workspace: str, message: str | None) -> None:
    """Talk to a workspace's agent: each line is a message (Ctrl-D ends)."""
    opts = connection.current()
    with connection.client() as c:
        wid = resolve_id(c, workspace)
        talk = Conversation(c, wid, opts.output)
        if message is not None:
            talk.send(message)
            return
        interactive = sys.stdin.isatty()
        if interactive:
            name = c.get(f"/workspaces/{wid}").get("name")
            note(f"Talking to {name} ({wid}). Ctrl-D ends, Ctrl-C stops a reply.")
        for line in _lines(interactive):
            if not line.strip():
                continue
            try:
                talk.send(line)
            except KeyboardInterrupt:
                if not interactive:
                    raise
                note("\n(interrupted)")
