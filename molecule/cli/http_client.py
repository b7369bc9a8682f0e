"""The client commands' HTTP client: one platform, one credential, errors in a user's words.

The `molecule` client commands talk to a running platform over its HTTP API only (they
import none of its internals), as the original's CLI did. Every refusal becomes a
`CommandFailed` carrying the HTTP status and the platform's own message
(`error: 404 workspace not found`); a platform that cannot be reached exits with 3 and says
which URL was tried and how to point the command elsewhere.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from molecule.errors import CommandFailed

log = logging.getLogger("molecule.cli")

DEFAULT_TIMEOUT = 30.0
UNREACHABLE_EXIT = 3
MAX_MESSAGE = 2000  # an error body longer than this is cut when shown


@dataclass(frozen=True)
class Credential:
    """The bearer sent (None: none) and where it came from, for error hints."""

    token: str | None
    source: str


def refused(status: int, message: str, body: Any = None) -> CommandFailed:
    extra = body if isinstance(body, dict) else {}
    return CommandFailed(message, status=status, extra=extra)


def unreachable(message: str) -> CommandFailed:
    err = CommandFailed(message)
    err.exit_code = UNREACHABLE_EXIT
    return err


def error_message(response: httpx.Response) -> tuple[str, Any]:
    """The platform's `{"error": ...}` (or the raw text) and the decoded body."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return (text[:MAX_MESSAGE] or response.reason_phrase or "request failed"), None
    if isinstance(body, dict):
        for key in ("error", "message", "detail"):
            if isinstance(body.get(key), str) and body[key]:
                return body[key][:MAX_MESSAGE], body
    return (json.dumps(body)[:MAX_MESSAGE] or "request failed"), body


class PlatformClient:
    """A synchronous client for one platform (a command runs one request at a time)."""

    def __init__(
        self,
        api_url: str,
        credential: Credential,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.credential = credential
        headers = {"User-Agent": "molecule-cli"}
        if credential.token:
            headers["Authorization"] = f"Bearer {credential.token}"
        self._http = httpx.Client(
            base_url=self.api_url, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PlatformClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests ------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
        ok: tuple[int, ...] = (),
    ) -> httpx.Response:
        """The response, when its status is below 400 or listed in `ok`; else CommandFailed."""
        started = time.monotonic()
        with self._translated():
            response = self._http.request(
                method,
                path,
                json=json_body,
                params=params,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        log.debug(
            "%s %s -> %d (%.0f ms)",
            method,
            response.url,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        if response.status_code >= 400 and response.status_code not in ok:
            raise self.refusal(response)
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params or None).json()

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return _json_or_empty(self.request("POST", path, json_body=body, **kwargs))

    def delete(self, path: str, **params: Any) -> Any:
        return _json_or_empty(self.request("DELETE", path, params=params or None))

    @contextmanager
    def stream(self, method: str, path: str, body: Any, timeout: httpx.Timeout) -> Iterator[Any]:
        """A response whose body is read as it arrives (SSE); refusals raised first."""
        with self._translated():
            with self._http.stream(
                method,
                path,
                json=body,
                timeout=timeout,
                headers={"Accept": "text/event-stream, application/json"},
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self.refusal(response)
                yield response

    # -- errors --------------------------------------------------------------------------------

    def refusal(self, response: httpx.Response) -> CommandFailed:
        message, body = error_message(response)
        if response.status_code == 401:
            cred = self.credential
            said = f"token from {cred.source}" if cred.token else cred.source
            message += f" ({said}; give one with --token or MOLECULE_TOKEN)"
        return refused(response.status_code, message, body)

    @contextmanager
    def _translated(self) -> Iterator[None]:
        hint = "is `molecule serve` running? Point elsewhere with --api-url or MOLECULE_API_URL"
        try:
            yield
        except httpx.ConnectError as exc:
            reason = _reason(exc)
            raise unreachable(
                f"cannot reach the platform at {self.api_url} ({reason}): {hint}"
            ) from None
        except httpx.TimeoutException:
            raise unreachable(f"the platform at {self.api_url} did not answer in time") from None
        except httpx.RemoteProtocolError as exc:
            raise unreachable(f"the platform at {self.api_url} hung up: {exc}") from None
        except httpx.UnsupportedProtocol:
            raise CommandFailed(f"not an http(s) URL: {self.api_url!r} (--api-url)") from None
        except httpx.InvalidURL as exc:
            raise CommandFailed(f"invalid platform URL {self.api_url!r}: {exc}") from None


def _json_or_empty(response: httpx.Response) -> Any:
    if not response.content:
        return {}
    try:
        return response.json()
    except ValueError:
        return {"body": response.text}


def _reason(exc: httpx.ConnectError) -> str:
    text = str(exc).lower()
    if "refused" in text:
        return "connection refused"
    if "name or service not known" in text or "nodename nor servname" in text:
        return "unknown host"
    return str(exc) or type(exc).__name__
