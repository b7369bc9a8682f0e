"""Every call the runtime makes to the platform, with the original's headers.

Headers, as the original runtime sends them: `Authorization: Bearer <token>` when a token is
known, `Origin: <PLATFORM_URL>` when PLATFORM_URL is set (the SaaS edge wants it; harmless
locally), and `X-Workspace-ID: <self>` on calls attributed to this workspace.
"""

from __future__ import annotations

import logging
import mimetypes
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import httpx
import trio

from molecule.errors import PlatformError
from molecule.runtime.credentials import Credentials
from molecule.runtime.settings import Settings

log = logging.getLogger(__name__)

REGISTER_TIMEOUT = 10.0
CALL_TIMEOUT = 30.0
UPLOAD_TIMEOUT = 600.0


def _open_files(paths: Sequence[Path]) -> list[IO[bytes]]:
    opened: list[IO[bytes]] = []
    try:
        for path in paths:
            opened.append(path.open("rb"))
    except BaseException:
        for f in opened:
            f.close()
        raise
    return opened


class PlatformClient:
    def __init__(self, settings: Settings, credentials: Credentials, http: httpx.AsyncClient):
        self.settings = settings
        self.credentials = credentials
        self.http = http
        self.workspace_id = settings.workspace_id

    def headers(self, *, attributed: bool = False) -> dict[str, str]:
        headers: dict[str, str] = {}
        token = self.credentials.token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        origin = self.settings.env.get("PLATFORM_URL")
        if origin:
            headers["Origin"] = origin
        if attributed:
            headers["X-Workspace-ID"] = self.workspace_id
        return headers

    def _url(self, path: str) -> str:
        return self.settings.platform_url + path

    async def register(self, agent_card: dict[str, Any], url: str) -> httpx.Response:
        body = {"id": self.workspace_id, "url": url, "agent_card": agent_card}
        return await self.http.post(
            self._url("/registry/register"),
            json=body,
            headers=self.headers(),
            timeout=REGISTER_TIMEOUT,
        )

    async def heartbeat(self, payload: dict[str, Any]) -> httpx.Response:
        return await self.http.post(
            self._url("/registry/heartbeat"),
            json=payload,
            headers=self.headers(),
            timeout=REGISTER_TIMEOUT,
        )

    async def _post_json(
        self, what: str, path: str, body: dict[str, Any], ok: tuple[int, ...] = (200,)
    ) -> dict[str, Any]:
        try:
            resp = await self.http.post(
                self._url(path),
                json=body,
                headers=self.headers(attributed=True),
                timeout=CALL_TIMEOUT,
            )
        except httpx.HTTPError as exc:
            raise PlatformError(what, None, str(exc)) from exc
        if resp.status_code not in ok:
            raise PlatformError(what, resp.status_code, resp.text)
        try:
            data = resp.json()
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {"result": data}

    async def notify(self, message: str, attachments: Sequence[dict[str, Any]] = ()) -> None:
        """POST /workspaces/:id/notify: push a message (and file chips) into the canvas chat."""
        body: dict[str, Any] = {"message": message}
        if attachments:
            body["attachments"] = [
                {k: a[k] for k in ("uri", "name", "mimeType", "size") if k in a}
                for a in attachments
            ]
        await self._post_json("notify", f"/workspaces/{self.workspace_id}/notify", body)

    async def delegate(self, target_id: str, task: str) -> dict[str, Any]:
        """POST /workspaces/:id/delegate: asynchronous delegation, answered 202."""
        body = {"target_id": target_id, "task": task, "idempotency_key": str(uuid.uuid4())}
        return await self._post_json(
            "delegate", f"/workspaces/{self.workspace_id}/delegate", body, ok=(200, 202)
        )

    async def commit_memory(
        self, content: str, scope: str, namespace: str | None = None
    ) -> dict[str, Any]:
        """POST /workspaces/:id/memories: 201 `{id, scope, namespace}` (the platform redacts
        secrets and enforces the scopes: GLOBAL only from a root workspace)."""
        body: dict[str, Any] = {"content": content, "scope": scope}
        if namespace:
            body["namespace"] = namespace
        path = f"/workspaces/{self.workspace_id}/memories"
        return await self._post_json("commit_memory", path, body, ok=(201,))

    async def recall_memory(self, params: dict[str, str]) -> list[dict[str, Any]]:
        """GET /workspaces/:id/memories?q=&scope=&namespace=: the memories it may read."""
        try:
            resp = await self.http.get(
                self._url(f"/workspaces/{self.workspace_id}/memories"),
                params=params,
                headers=self.headers(attributed=True),
                timeout=CALL_TIMEOUT,
            )
        except httpx.HTTPError as exc:
            raise PlatformError("recall_memory", None, str(exc)) from exc
        if resp.status_code != 200:
            raise PlatformError("recall_memory", resp.status_code, resp.text)
        try:
            data = resp.json()
        except ValueError:
            data = None
        if not isinstance(data, list):
            raise PlatformError("recall_memory", resp.status_code, "response is not a list")
        return [m for m in data if isinstance(m, dict)]

    async def upload(self, files: Sequence[tuple[Path, str]]) -> list[dict[str, Any]]:
        """POST /workspaces/:id/chat/uploads (multipart `files`): returns the platform's
        `files` list of `{uri, name, mimeType, size}`. `files` is (host path, display name)."""
        handles = await trio.to_thread.run_sync(_open_files, [p for p, _ in files])
        try:
            parts = [
                ("files", (name, fh, mimetypes.guess_type(name)[0] or "application/octet-stream"))
                for (_, name), fh in zip(files, handles, strict=True)
            ]
            resp = await self.http.post(
                self._url(f"/workspaces/{self.workspace_id}/chat/uploads"),
                files=parts,
                headers=self.headers(attributed=True),
                timeout=UPLOAD_TIMEOUT,
            )
        except httpx.HTTPError as exc:
            raise PlatformError("upload", None, str(exc)) from exc
        finally:
            for fh in handles:
                fh.close()
        if resp.status_code != 200:
            raise PlatformError("upload", resp.status_code, resp.text)
        data = resp.json()
        uploaded = data.get("files") if isinstance(data, dict) else None
        if not isinstance(uploaded, list):
            raise PlatformError("upload", resp.status_code, "response has no 'files' list")
        return [f for f in uploaded if isinstance(f, dict)]
