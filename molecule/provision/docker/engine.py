"""The Docker Engine API, driven from Trio through trio-asyncio.

aiodocker is an asyncio library (shared/spec/stack.md §5): its client must be built inside a
running asyncio loop, and every operation here runs as *one* asyncio coroutine crossed into
Trio once (`Engine.call`), never an `async with` of an asyncio resource held across Trio
awaits, so a cancelled Trio task cannot leak a connection or a response. Every call has a
deadline. Failures are `EngineError` with the Engine's status and text (for the log); the
provisioner turns them into canned messages.

The generic `json`/`stream_json` helpers speak the Engine's REST API directly (paths and
parameters as the Engine documents them), which is all the backend needs.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import IO, Any, TypeVar

import aiodocker
import aiohttp
import trio
from trio_asyncio import aio_as_trio

from molecule.errors import EngineError

log = logging.getLogger("molecule.provision.docker.engine")

T = TypeVar("T")
DEFAULT_TIMEOUT = 30.0
PROBE_TIMEOUT = 5.0
BUILD_TIMEOUT = 1800.0  # a first build on a slow machine; a cached one takes seconds
CHUNK = 64 * 1024


def _engine_error(exc: BaseException) -> EngineError:
    if isinstance(exc, EngineError):
        return exc
    if isinstance(exc, aiodocker.DockerError):
        return EngineError(int(exc.status), str(exc.message))
    if isinstance(exc, asyncio.TimeoutError):
        return EngineError(0, "timed out")
    return EngineError(900, f"{type(exc).__name__}: {exc}")


def _stream_failure(line: dict[str, Any]) -> str | None:
    """The error a streamed progress line reports (build, pull, import), if any."""
    error = line.get("error") or (line.get("errorDetail") or {}).get("message")
    return str(error) if error else None


class Engine:
    """One aiodocker client for the platform's life; every method is called from Trio."""

    def __init__(self, client: aiodocker.Docker, url: str) -> None:
        self.client = client
        self.url = url
        self.version: dict[str, Any] = {}

    @classmethod
    async def connect(cls, url: str, timeout: float = PROBE_TIMEOUT) -> Engine:
        """A client for the Engine at `url`, probed once with `GET /version` (EngineError
        when nothing answers). Must run inside `trio_asyncio.open_loop()`."""

        async def make() -> aiodocker.Docker:
            return aiodocker.Docker(url=url)

        try:
            client: aiodocker.Docker = await aio_as_trio(make)()
        except (AssertionError, ValueError) as exc:  # aiodocker's words for "no host"
            raise EngineError(900, f"no Docker host: {exc}") from None
        engine = cls(client, url)
        try:
            engine.version = await engine.json("GET", "version", timeout=timeout, versioned=False)
        except BaseException:
            with trio.CancelScope(shield=True):
                await engine.close()
            raise
        return engine

    async def close(self) -> None:
        try:
            await aio_as_trio(self.client.close)()
        except Exception:
            log.debug("closing the Docker client failed", exc_info=True)

    async def call(
        self, op: Callable[[aiodocker.Docker], Awaitable[T]], timeout: float = DEFAULT_TIMEOUT
    ) -> T:
        """Run `op(client)` as one asyncio coroutine, bounded by `timeout` seconds."""

        async def run() -> T:
            return await op(self.client)

        try:
            with trio.fail_after(timeout):
                result: T = await aio_as_trio(run)()
                return result
        except trio.TooSlowError:
            raise EngineError(0, f"no answer within {timeout:g} s") from None
        except (TimeoutError, aiodocker.DockerError, aiohttp.ClientError) as exc:
            raise _engine_error(exc) from None
        except ValueError as exc:  # an answer that is not the JSON it should be
            raise EngineError(502, f"unreadable Engine answer: {exc}") from None

    async def json(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        timeout: float = DEFAULT_TIMEOUT,
        versioned: bool = True,
    ) -> Any:
        """One REST call; its JSON answer ("" for an empty one)."""

        async def op(d: aiodocker.Docker) -> Any:
            return await d._query_json(
                path, method, params=params, data=body, versioned_api=versioned
            )

        return await self.call(op, timeout)

    async def inspect(self, kind: str, name: str) -> dict[str, Any] | None:
        """`GET /<kind>/<name>/json`, or None when there is no such object."""
        try:
            found: dict[str, Any] = await self.json("GET", f"{kind}/{name}/json")
        except EngineError as exc:
            if exc.not_found:
                return None
            raise
        return found

    async def stream_json(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        data: bytes | IO[bytes] | None = None,
        content_type: str = "application/json",
        timeout: float = BUILD_TIMEOUT,
    ) -> list[dict[str, Any]]:
        """A call that streams JSON progress lines (build, pull, import): all of them, or
        EngineError with the first error a line reports."""

        async def op(d: aiodocker.Docker) -> list[dict[str, Any]]:
            lines: list[dict[str, Any]] = []
            async with d._query(
                path,
                method,
                params=params,
                data=data,
                headers={"Content-Type": content_type},
                timeout=aiohttp.ClientTimeout(total=None, sock_read=None),
            ) as response:
                buffer = b""
                async for chunk in response.content.iter_any():
                    buffer += chunk
                    *complete, buffer = buffer.split(b"\n")
                    for raw in complete:
                        if raw.strip():
                            lines.append(json.loads(raw))
                if buffer.strip():
                    lines.append(json.loads(buffer))
            for line in lines:
                failure = _stream_failure(line)
                if failure:
                    raise EngineError(500, failure)
            return lines

        return await self.call(op, timeout)

    async def get_bytes(
        self, path: str, *, params: dict[str, Any], limit: int, timeout: float = DEFAULT_TIMEOUT
    ) -> bytes:
        """A binary answer (an archive), refused past `limit` bytes."""

        async def op(d: aiodocker.Docker) -> bytes:
            async with d._query(path, "GET", params=params) as response:
                data = bytearray()
                async for chunk in response.content.iter_chunked(CHUNK):
                    data += chunk
                    if len(data) > limit:
                        raise EngineError(413, f"answer larger than {limit} bytes")
                return bytes(data)

        return await self.call(op, timeout)

    async def put_bytes(
        self,
        path: str,
        *,
        params: dict[str, Any],
        data: bytes,
        content_type: str = "application/x-tar",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        async def op(d: aiodocker.Docker) -> None:
            async with d._query(
                path, "PUT", params=params, data=data, headers={"Content-Type": content_type}
            ) as response:
                await response.read()

        await self.call(op, timeout)

    async def path_stat(self, container: str, path: str) -> dict[str, Any] | None:
        """What the Engine knows of `path` in a container (`HEAD .../archive`), or None."""

        async def op(d: aiodocker.Docker) -> dict[str, Any] | None:
            # Not through aiodocker's _query: a HEAD answer has no body for its error parser.
            await d._check_version()
            url = d._canonicalize_url(f"containers/{container}/archive", versioned_api=True)
            async with d.session.request("HEAD", url, params={"path": path}) as response:
                if response.status == 404:
                    return None
                if response.status >= 400:
                    raise EngineError(response.status, f"stat {path}: {response.reason}")
                raw = response.headers.get("X-Docker-Container-Path-Stat", "")
            stat: dict[str, Any] = json.loads(base64.b64decode(raw)) if raw else {}
            return stat

        return await self.call(op)

    async def events(
        self,
        filters: dict[str, list[str]],
        since: float,
        on_event: Callable[[dict[str, Any]], None],
    ) -> None:
        """Follow `GET /events` until the stream ends (the Engine went away) or the caller is
        cancelled. `on_event` runs in the asyncio loop's thread, which is Trio's: it may use
        Trio's synchronous calls (a memory channel's send_nowait, an actor's tell)."""

        async def follow(d: aiodocker.Docker) -> None:
            params: dict[str, Any] = {"filters": filters, "since": f"{since:.3f}"}
            async with d._query(
                "events",
                "GET",
                params=params,
                timeout=aiohttp.ClientTimeout(total=None, sock_read=None),
            ) as response:
                async for raw in _lines(response.content):
                    try:
                        event = json.loads(raw)
                    except ValueError:
                        continue
                    if isinstance(event, dict):
                        on_event(event)

        await self.call(follow, timeout=float("inf"))

    async def import_image(self, tarball: Path, repo: str, tag: str) -> str:
        """`docker import`: a root filesystem tarball becomes the image `repo:tag`."""
        with tarball.open("rb") as f:
            lines = await self.stream_json(
                "POST",
                "images/create",
                params={"fromSrc": "-", "repo": repo, "tag": tag},
                data=f,
                content_type="application/x-tar",
            )
        status = next((str(line["status"]) for line in lines if "status" in line), "")
        return status.strip()


async def _lines(content: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    while True:
        line = await content.readline()
        if not line:
            return
        if line.strip():
            yield line
