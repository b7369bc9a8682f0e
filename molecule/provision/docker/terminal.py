"""A shell in a workspace's running container (`docker exec -it`), for GET /workspaces/:id/terminal.

The exec runs `bash` (or `sh` where the image has no bash) with a TTY, so the output is one
raw byte stream. The hijacked connection is an asyncio object: each read, write and resize is
crossed into Trio on its own, and `close` runs shielded, so a WebSocket client that goes away
never leaves the exec's connection open. Ending the shell (exit) ends the stream.
"""

from __future__ import annotations

import logging
from typing import Any

import aiodocker
import trio
from aiodocker.stream import Stream
from trio_asyncio import aio_as_trio

from molecule.errors import EngineError, MoleculeError
from molecule.provision.docker.engine import Engine
from molecule.provision.docker.naming import WORKSPACE_LABEL, container_name

log = logging.getLogger("molecule.provision.docker.terminal")

SHELL = ["/bin/sh", "-c", "if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh; fi"]
MAX_DIMENSION = 1000


class Shell:
    def __init__(self, engine: Engine, exec_id: str, stream: Stream) -> None:
        self.engine = engine
        self.exec_id = exec_id
        self.stream = stream

    async def read(self) -> bytes | None:
        """The next output bytes; None when the shell ended."""
        try:
            message = await aio_as_trio(self.stream.read_out)()
        except (aiodocker.DockerError, OSError) as exc:
            log.info("terminal %s: stream ended: %r", self.exec_id[:12], exc)
            return None
        return None if message is None else bytes(message.data)

    async def write(self, data: bytes) -> None:
        await aio_as_trio(self.stream.write_in)(data)

    async def resize(self, rows: int, cols: int) -> None:
        rows, cols = max(1, min(rows, MAX_DIMENSION)), max(1, min(cols, MAX_DIMENSION))
        await self.engine.json("POST", f"exec/{self.exec_id}/resize", params={"h": rows, "w": cols})

    async def close(self) -> None:
        with trio.CancelScope(shield=True), trio.move_on_after(5):
            try:
                await aio_as_trio(self.stream.close)()
            except Exception:
                log.debug("closing terminal %s failed", self.exec_id[:12], exc_info=True)


async def open_shell(engine: Engine, workspace_id: str) -> Shell:
    """A shell in the workspace's container; 503 when it does not run."""
    found = await engine.inspect("containers", container_name(workspace_id))
    labels: dict[str, Any] = ((found or {}).get("Config") or {}).get("Labels") or {}
    if (
        found is None
        or labels.get(WORKSPACE_LABEL) != workspace_id
        or not (found.get("State") or {}).get("Running")
    ):
        raise MoleculeError("workspace container is not running", status=503)
    container_id = str(found["Id"])

    async def start(d: aiodocker.Docker) -> tuple[str, Stream]:
        execution = await d.containers.container(container_id).exec(
            SHELL, stdin=True, tty=True, environment={"TERM": "xterm-256color"}
        )
        stream = execution.start(detach=False)
        await stream._init()  # hijack now, so a failure is reported here
        return execution.id, stream

    try:
        exec_id, stream = await engine.call(start)
    except EngineError as exc:
        log.warning("workspace %s: terminal not opened: %s", workspace_id, exc)
        raise MoleculeError("workspace terminal unavailable", status=503) from None
    return Shell(engine, exec_id, stream)
