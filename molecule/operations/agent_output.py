"""What an agent said: its console output and its session transcript.

Console (`GET /workspaces/:id/console`): the original served a cloud VM's serial console; here
the agent's own log is the console, the tail of what it wrote to stdout and stderr, read
through the provisioner. The agent may log anything, so before it leaves the platform the
values of the workspace's secrets (global and its own, 8 characters or more) are replaced
with `[REDACTED]`, then credential-looking text is scrubbed (molecule.security.redact).

Transcript (`GET /workspaces/:id/transcript`): proxied to the agent's own `/transcript`, as
the original did, with only `since` and `limit` passed on, and the agent's answer relayed
with its status (a content type other than JSON is relayed as plain text). Its URL passes
the SSRF guard first and the request goes to the address the guard approved (the Host header
stays the URL's), unless the platform assigned the URL itself to an agent it runs. The original
forwarded the caller's `Authorization`. Here a workspace token, which is what the agent
checks, is forwarded as it came; an admin or org token or a session is never sent to an
agent: for an agent this platform runs, the agent's own token (read from its config
directory) goes instead, and an agent running elsewhere receives no credential.
"""

from __future__ import annotations

import errno
import logging
import re
from dataclasses import dataclass
from typing import Any

import httpx
import trio

from molecule.errors import BadRequest, MoleculeError, NoBackend, Unprocessable, UnsafeURL
from molecule.operations.chat_forwarding import PLATFORM_ASSIGNED_PREFIX, pinned_request
from molecule.provision.pipeline import Pipeline
from molecule.security.redact import REDACTED, redact_secrets
from molecule.security.ssrf import URLPolicy, check_outbound_url
from molecule.store.secrets import Secrets

log = logging.getLogger("molecule.operations.agent_output")

CONSOLE_BYTES = 64 * 1024
MIN_SECRET_CHARS = 8  # shorter values would redact ordinary words
TRANSCRIPT_TIMEOUT = 10.0
TRANSCRIPT_MAX_BYTES = 1024 * 1024
TRANSCRIPT_PARAMS = ("since", "limit")
AGENT_TOKEN_FILE = "/configs/.auth_token"
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,128}")


async def console_output(pipeline: Pipeline, secrets: Secrets, workspace_id: str) -> str:
    """The last CONSOLE_BYTES of the agent's output, from a whole line, secrets redacted."""
    if pipeline.provisioner is None:
        raise NoBackend()
    try:
        raw = await pipeline.provisioner.read_console(workspace_id, CONSOLE_BYTES)
    except OSError as exc:
        log.warning("workspace %s: console not readable: %r", workspace_id, exc)
        if exc.errno in (errno.ELOOP, errno.EINVAL):  # the agent put something else there
            raise Unprocessable("the agent's log is not a regular file") from None
        raise MoleculeError("failed to read console output") from None
    text = raw.decode("utf-8", "replace")
    if not text:
        return ""
    loaded = await secrets.load(workspace_id)
    for value in sorted(loaded.values.values(), key=len, reverse=True):
        if len(value) >= MIN_SECRET_CHARS:
            text = text.replace(value, REDACTED)
    return redact_secrets(text)


@dataclass(frozen=True)
class Relayed:
    status: int
    content_type: str
    body: bytes


def transcript_query(args: dict[str, str]) -> dict[str, str]:
    """`since` and `limit` when given (integers, as the agent requires); nothing else."""
    query: dict[str, str] = {}
    for name in TRANSCRIPT_PARAMS:
        value = args.get(name)
        if value:
            digits = value[1:] if value.startswith("-") else value
            if not (digits.isascii() and digits.isdigit()) or len(value) > 19:
                raise BadRequest(f"{name} must be an integer")
            query[name] = value
    return query


async def transcript(
    pipeline: Pipeline,
    policy: URLPolicy,
    row: dict[str, Any],
    query: dict[str, str],
    caller_authorization: str | None,
) -> Relayed:
    """Ask the agent for its transcript; its answer as it came (status, type, body)."""
    workspace_id = row["id"]
    url = (row.get("url") or "").rstrip("/")
    if not url:
        raise MoleculeError("workspace not registered (no URL on file)", status=503)
    runs_here = pipeline.can_start(row.get("runtime") or "")
    address = None
    if not (runs_here and url.startswith(PLATFORM_ASSIGNED_PREFIX)):
        try:
            address = await check_outbound_url(url, policy)
        except UnsafeURL as exc:
            log.warning("workspace %s: transcript URL refused: %s", workspace_id, exc)
            raise BadRequest("workspace URL not allowed") from None
    headers: dict[str, str] = {}
    if caller_authorization is not None:
        headers["Authorization"] = caller_authorization
    elif runs_here:
        token = await _agent_token(pipeline, workspace_id)
        if token:
            headers["Authorization"] = f"Bearer {token}"
    return await _fetch(workspace_id, url + "/transcript", address, headers, query)


async def _agent_token(pipeline: Pipeline, workspace_id: str) -> str | None:
    if pipeline.provisioner is None:
        return None
    try:
        raw = await pipeline.provisioner.read_file(workspace_id, AGENT_TOKEN_FILE, max_bytes=256)
    except (OSError, MoleculeError):
        return None
    token = raw.decode("ascii", "replace").strip()
    return token if TOKEN_SHAPE.fullmatch(token) else None  # never a header it could forge


async def _fetch(
    workspace_id: str,
    url: str,
    address: Any,
    headers: dict[str, str],
    query: dict[str, str],
) -> Relayed:
    async with httpx.AsyncClient(timeout=TRANSCRIPT_TIMEOUT, trust_env=False) as client:
        request = pinned_request(client, "GET", url, address, headers=headers, params=query)
        try:
            with trio.fail_after(TRANSCRIPT_TIMEOUT):
                response = await client.send(request, stream=True)
                try:
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > TRANSCRIPT_MAX_BYTES:
                            raise MoleculeError("workspace transcript too large", status=502)
                finally:
                    await response.aclose()
        except (httpx.HTTPError, trio.TooSlowError) as exc:
            log.warning("workspace %s: transcript fetch failed: %r", workspace_id, exc)
            raise MoleculeError("workspace unreachable", status=502) from None
    return Relayed(
        response.status_code, relayed_type(response.headers.get("content-type")), bytes(body)
    )


def relayed_type(content_type: str | None) -> str:
    """The agent's JSON content type as it came; anything else is relayed as plain text, so
    an agent cannot have the platform's origin serve a page of its making."""
    if content_type is None:
        return "application/json"
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return content_type
    return "text/plain; charset=utf-8"
