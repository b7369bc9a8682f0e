"""The poll-mode bridge behind `molecule connect`.

It talks to the platform only over HTTP, as the original CLI does (docs/compatibility.md §1;
the activity feed it polls is described in §1.1):

1. `POST /registry/register` `{id, url: "", delivery_mode: "poll", agent_card}`; a first
   registration's `auth_token` is saved in the state dir.
2. `POST /registry/heartbeat` every 20 s, from its own thread (a slow backend never starves
   the workspace's liveness deadline, docs/compatibility.md#d9).
3. `GET /workspaces/:id/activity?type=a2a_receive` every few seconds: `since_secs=<window>`
   until it holds a cursor, then `since_id=<last row>` (oldest first). The cursor is written
   to `<state-dir>/cursor` after each handled row; a 410 (pruned or foreign cursor) drops it
   and falls back to `since_secs`.
4. Each inbound message's text goes to the backend; the answer goes back to the sender:
   `POST /workspaces/<source_id>/a2a` as this workspace (`X-Workspace-ID` + bearer) for an
   agent, or `POST /workspaces/<self>/notify` for the canvas (`source_id` null). The bridge's
   own notify rows (`method: notify`) are skipped so it never answers itself.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from molecule.connect.backends import Backend
from molecule.errors import BridgeError

log = logging.getLogger("molecule.connect")

HEARTBEAT_INTERVAL = 20.0
POLL_INTERVAL = 5.0
SINCE_SECS = 600
POLL_LIMIT = 50
REPLY_TIMEOUT = 60.0
CURSOR_FILE = "cursor"
TOKEN_FILE = "auth_token"


@dataclass
class BridgeConfig:
    workspace_id: str
    platform_url: str
    token: str | None
    state_dir: Path
    poll_interval: float = POLL_INTERVAL
    heartbeat_interval: float = HEARTBEAT_INTERVAL
    since_secs: int = SINCE_SECS
    agent_name: str | None = None


def message_text(request_body: Any) -> str:
    """The text of an inbound A2A request: `parts` (kind or type text, or a bare text part of
    the v1.0 shape) joined by newlines, else a `content` string or list of parts."""
    body = request_body
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return str(body)
    if not isinstance(body, dict):
        return ""
    params = body.get("params")
    message = params.get("message") if isinstance(params, dict) else None
    if not isinstance(message, dict):
        message = body.get("message") if isinstance(body.get("message"), dict) else None
    if message is None:
        return ""
    parts = message.get("parts")
    texts = _part_texts(parts) if isinstance(parts, list) else []
    if not texts:
        content = message.get("content")
        if isinstance(content, str):
            texts = [content]
        elif isinstance(content, list):
            texts = _part_texts(content)
    return "\n".join(texts)


def _part_texts(parts: Iterable[Any]) -> list[str]:
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        if not isinstance(part, dict):
            continue
        tag = part.get("kind") or part.get("type")
        text = part.get("text")
        if isinstance(text, str) and (tag == "text" or tag is None):
            out.append(text)
    return out


@dataclass
class Bridge:
    config: BridgeConfig
    backend: Backend
    transport: httpx.BaseTransport | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    handled: int = 0
    _started: float = field(default_factory=time.monotonic)
    _busy: int = 0

    def __post_init__(self) -> None:
        self.config.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.config.token:
            self.config.token = self._read_state(TOKEN_FILE)
        self.http = self._client()

    # -- state ---------------------------------------------------------------------------

    def _read_state(self, name: str) -> str | None:
        try:
            value = (self.config.state_dir / name).read_text().strip()
        except OSError:
            return None
        return value or None

    def _write_state(self, name: str, value: str | None) -> None:
        path = self.config.state_dir / name
        if value is None:
            path.unlink(missing_ok=True)
            return
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(value)
        os.replace(tmp, path)

    @property
    def cursor(self) -> str | None:
        return self._read_state(CURSOR_FILE)

    @cursor.setter
    def cursor(self, value: str | None) -> None:
        self._write_state(CURSOR_FILE, value)

    # -- http ----------------------------------------------------------------------------

    def _client(self) -> httpx.Client:
        base = self.config.platform_url.rstrip("/")
        headers = {"Origin": base, "User-Agent": "molecule-connect"}
        return httpx.Client(base_url=base, headers=headers, timeout=30.0, transport=self.transport)

    def _auth(self) -> dict[str, str]:
        token = self.config.token
        return {"Authorization": f"Bearer {token}"} if token else {}

    def close(self) -> None:
        self.http.close()

    # -- register / heartbeat ------------------------------------------------------------

    def register(self) -> dict[str, Any]:
        cfg = self.config
        card: dict[str, Any] = {
            "description": f"molecule connect bridge ({self.backend.name} backend)",
            "version": "1.0.0",
            "skills": [],
            "capabilities": {"streaming": False, "pushNotifications": False},
        }
        if cfg.agent_name:
            card["name"] = cfg.agent_name
        body = {"id": cfg.workspace_id, "url": "", "delivery_mode": "poll", "agent_card": card}
        r = self.http.post("/registry/register", json=body, headers=self._auth())
        if r.status_code in (400, 401, 403, 404):
            raise BridgeError(f"register refused ({r.status_code}): {_error_of(r)}")
        r.raise_for_status()
        reply: dict[str, Any] = r.json()
        if reply.get("auth_token"):
            cfg.token = str(reply["auth_token"])
            self._write_state(TOKEN_FILE, cfg.token)
            log.info("first registration: token saved to %s", cfg.state_dir / TOKEN_FILE)
        log.info("registered %s (delivery_mode %s)", cfg.workspace_id, reply.get("delivery_mode"))
        return reply

    def heartbeat(self, client: httpx.Client | None = None) -> None:
        body = {
            "workspace_id": self.config.workspace_id,
            "error_rate": 0.0,
            "active_tasks": self._busy,
            "current_task": "",
            "uptime_seconds": int(time.monotonic() - self._started),
        }
        r = (client or self.http).post("/registry/heartbeat", json=body, headers=self._auth())
        if r.status_code != 200:
            log.warning("heartbeat refused (%s): %s", r.status_code, _error_of(r))

    def _heartbeat_loop(self) -> None:
        with self._client() as client:
            while not self.stop.wait(self.config.heartbeat_interval):
                try:
                    self.heartbeat(client)
                except httpx.HTTPError as exc:
                    log.warning("heartbeat failed: %s", exc)

    # -- inbox ---------------------------------------------------------------------------

    def poll(self) -> list[dict[str, Any]]:
        """New inbound rows, oldest first."""
        params: dict[str, str | int] = {"type": "a2a_receive", "limit": POLL_LIMIT}
        cursor = self.cursor
        if cursor:
            params["since_id"] = cursor
        else:
            params["since_secs"] = self.config.since_secs
        path = f"/workspaces/{self.config.workspace_id}/activity"
        r = self.http.get(path, params=params, headers=self._auth())
        if r.status_code == 410:
            log.warning("cursor %s no longer valid; resetting to since_secs", cursor)
            self.cursor = None
            return []
        if r.status_code in (401, 403, 404):
            raise BridgeError(f"activity refused ({r.status_code}): {_error_of(r)}")
        r.raise_for_status()
        rows = r.json()
        if not isinstance(rows, list):
            return []
        return rows if cursor else list(reversed(rows))  # without a cursor: newest first

    def handle(self, row: dict[str, Any]) -> bool:
        """Answer one inbound row; False when it is not something to answer."""
        me = self.config.workspace_id
        source = row.get("source_id")
        if row.get("method") == "notify" or (source and source == me):
            return False
        text = message_text(row.get("request_body"))
        if not text:
            log.info("row %s: no text part, skipped", row.get("id"))
            return False
        self._busy += 1
        try:
            answer = self.backend.answer(text)
        finally:
            self._busy -= 1
        if source:
            self._reply_to_agent(str(source), answer, row)
        else:
            self._notify(answer)
        self.handled += 1
        return True

    def _reply_to_agent(self, peer: str, answer: str, row: dict[str, Any]) -> None:
        envelope = {
            "jsonrpc": "2.0",
            "id": str(row.get("id") or uuid.uuid4()),
            "method": "message/send",
            "params": {
                "message": {
                    "role": "agent",
                    "messageId": str(uuid.uuid4()),
                    "parts": [{"kind": "text", "text": answer}],
                }
            },
        }
        headers = {**self._auth(), "X-Workspace-ID": self.config.workspace_id}
        r = self.http.post(
            f"/workspaces/{peer}/a2a", json=envelope, headers=headers, timeout=REPLY_TIMEOUT
        )
        if r.status_code >= 300:
            log.warning("reply to %s refused (%s): %s", peer, r.status_code, _error_of(r))
        else:
            log.info("replied to workspace %s", peer)

    def _notify(self, answer: str) -> None:
        path = f"/workspaces/{self.config.workspace_id}/notify"
        r = self.http.post(path, json={"message": answer or "(empty reply)"}, headers=self._auth())
        if r.status_code >= 300:
            log.warning("notify refused (%s): %s", r.status_code, _error_of(r))
        else:
            log.info("replied to the canvas")

    def poll_once(self) -> int:
        handled = 0
        for row in self.poll():
            if self.stop.is_set():
                break
            try:
                if self.handle(row):
                    handled += 1
            except httpx.HTTPError as exc:
                log.warning("row %s: reply failed: %s", row.get("id"), exc)
            if row.get("id"):
                self.cursor = str(row["id"])
        return handled

    # -- main loop -----------------------------------------------------------------------

    def run(self, *, once: bool = False) -> int:
        self.register()
        self.heartbeat()
        if once:
            self.poll_once()
            return 0
        beater = threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True)
        beater.start()
        try:
            while not self.stop.is_set():
                try:
                    self.poll_once()
                except httpx.HTTPError as exc:
                    log.warning("poll failed: %s", exc)
                self.stop.wait(self.config.poll_interval)
        finally:
            self.stop.set()
            beater.join(timeout=2)
        return 0


def _error_of(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return r.text[:200]
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])
    return r.text[:200]
