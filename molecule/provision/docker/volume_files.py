"""Files in a workspace's volumes, with the rules of molecule.provision.base.

Paths are the agent's virtual paths (`/configs/config.yaml`), validated with the agent's own
rules (molecule.workspace_paths) before anything reaches the Engine.

- Read, write and "is there a file": the Engine's archive API on a container that mounts the
  volumes: the workspace's own (running or stopped), else a throwaway `ws-<id12>-files-*`
  container, created (never started) for the operation and removed after it, as the original
  wrote a stopped workspace's volume through a throwaway container. A link, a directory or a
  special file as the target is refused as the local backend refuses it (the Engine resolves
  links on the way within the container's own filesystem, never the platform's). Writes go
  to the mount point itself (`PUT .../archive?path=/configs`), so a tier-1 container's
  read-only root filesystem is never written.
- List and delete: the local backend's own walker (molecule.provision.host_files, which
  follows no link at any depth) run by `python3` in a throwaway container of the built-in
  image with the volumes mounted; its answer is one JSON line.
- The agent's console: the tail of its container's log.
"""

from __future__ import annotations

import errno
import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from molecule.errors import EngineError, PathRefused, PayloadTooLarge
from molecule.provision.base import FileEntry
from molecule.provision.docker.archive import files_tar, single_file
from molecule.provision.docker.engine import Engine
from molecule.provision.docker.images import RuntimeImages
from molecule.provision.docker.naming import (
    WORKSPACE_LABEL,
    container_name,
    files_container_name,
    labels,
    volume_names,
)
from molecule.provision.runtimes import BUILTIN_IMAGE
from molecule.workspace_paths import ROOTS, validate_virtual

log = logging.getLogger("molecule.provision.docker.volume_files")

HELPER_TIMEOUT = 60.0
CONSOLE_LINES = 5000
# Go's os.FileMode bits the Engine's path stat reports above the permission bits.
GO_MODE_DIR, GO_MODE_SYMLINK = 1 << 31, 1 << 27
GO_MODE_TYPE = (
    GO_MODE_DIR | GO_MODE_SYMLINK | (1 << 26) | (1 << 25) | (1 << 24) | (1 << 21) | (1 << 19)
)
HELPER_SCRIPT = """
import dataclasses, json, sys
from pathlib import Path
from molecule.provision import host_files
op, virtual, depth, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
try:
    if op == "list":
        found = host_files.list_tree(Path("/"), virtual, depth, limit)
        print(json.dumps({"ok": [dataclasses.asdict(e) for e in found]}))
    else:
        host_files.delete(Path("/"), virtual)
        print(json.dumps({"ok": None}))
except OSError as exc:
    print(json.dumps({"errno": exc.errno or 0, "error": exc.strerror or str(exc)}))
"""


def split_virtual(path: str) -> tuple[str, str]:
    """(`/configs`, `a/b.txt`) for `/configs/a/b.txt`; a root alone is refused."""
    path = validate_virtual(path)
    for root in ROOTS:
        if path.startswith(root + "/"):
            return root, path[len(root) + 1 :]
    raise PathRefused("path must name a file under /configs, /workspace, /home, or /plugins")


def refuse_unless_regular(stat: dict[str, Any] | None, path: str) -> int:
    """The file's size, or the OSError the local backend raises for what is there."""
    if stat is None:
        raise FileNotFoundError(errno.ENOENT, "no such file", path)
    mode = int(stat.get("mode", 0))
    if mode & GO_MODE_SYMLINK or stat.get("linkTarget"):
        raise OSError(errno.ELOOP, "symbolic links are not followed", path)
    if mode & GO_MODE_DIR:
        raise IsADirectoryError(errno.EISDIR, "is a directory", path)
    if mode & GO_MODE_TYPE:
        raise OSError(errno.EINVAL, "not a regular file", path)
    return int(stat.get("size", 0))


def demultiplex(raw: bytes) -> bytes:
    """The bytes of a non-TTY container's log stream, without its 8-byte frame headers."""
    out = bytearray()
    i = 0
    while i + 8 <= len(raw) and raw[i] in (0, 1, 2) and raw[i + 1 : i + 4] == b"\0\0\0":
        size = int.from_bytes(raw[i + 4 : i + 8], "big")
        out += raw[i + 8 : i + 8 + size]
        i += 8 + size
    return bytes(out) if i else raw


class VolumeFiles:
    def __init__(self, engine: Engine, images: RuntimeImages, instance: str) -> None:
        self.engine = engine
        self.images = images
        self.instance = instance

    def _helper_body(self, workspace_id: str, command: list[str] | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "Image": BUILTIN_IMAGE,
            "Entrypoint": ["python3", "-c", HELPER_SCRIPT] if command else ["true"],
            "Cmd": command or [],
            "Labels": labels(workspace_id, self.instance),
            "HostConfig": {
                "Binds": [f"{v}:{root}" for root, v in volume_names(workspace_id).items()],
                "NetworkMode": "none",
            },
        }
        return body

    @asynccontextmanager
    async def _helper(self, workspace_id: str, command: list[str] | None) -> AsyncIterator[str]:
        await self.images.ensure_builtin()
        name = files_container_name(workspace_id, uuid.uuid4().hex[:8])
        created = await self.engine.json(
            "POST",
            "containers/create",
            params={"name": name},
            body=self._helper_body(workspace_id, command),
        )
        try:
            yield str(created["Id"])
        finally:
            await self._remove(str(created["Id"]))

    @asynccontextmanager
    async def mounted(self, workspace_id: str) -> AsyncIterator[str]:
        """A container id that mounts the workspace's volumes, for the block's duration."""
        own = await self.engine.inspect("containers", container_name(workspace_id))
        owner = ((own or {}).get("Config") or {}).get("Labels") or {}
        if own is not None and owner.get(WORKSPACE_LABEL) == workspace_id:
            yield str(own["Id"])
            return
        async with self._helper(workspace_id, None) as cid:
            yield cid

    async def _remove(self, ref: str) -> None:
        try:
            await self.engine.json("DELETE", f"containers/{ref}", params={"force": True})
        except EngineError as exc:
            if not (exc.not_found or exc.removal_in_progress):
                raise

    async def read(self, workspace_id: str, path: str, max_bytes: int | None = None) -> bytes:
        split_virtual(path)
        async with self.mounted(workspace_id) as cid:
            size = refuse_unless_regular(await self.engine.path_stat(cid, path), path)
            if max_bytes is not None and size > max_bytes:
                raise PayloadTooLarge(f"file is larger than {max_bytes} bytes")
            limit = (max_bytes if max_bytes is not None else size) + 65536
            archive = await self.engine.get_bytes(
                f"containers/{cid}/archive", params={"path": path}, limit=limit
            )
        data = single_file(archive, path)
        if max_bytes is not None and len(data) > max_bytes:  # it grew meanwhile
            raise PayloadTooLarge(f"file is larger than {max_bytes} bytes")
        return data

    async def write(self, workspace_id: str, path: str, data: bytes, mode: int = 0o600) -> None:
        root, rel = split_virtual(path)
        async with self.mounted(workspace_id) as cid:
            stat = await self.engine.path_stat(cid, path)
            if stat is not None:
                refuse_unless_regular(stat, path)  # a link or directory is never replaced
            await self.engine.put_bytes(
                f"containers/{cid}/archive",
                params={"path": root},
                data=files_tar({rel: data}, mode),
            )

    async def has_file(self, workspace_id: str, path: str) -> bool:
        split_virtual(path)
        async with self.mounted(workspace_id) as cid:
            stat = await self.engine.path_stat(cid, path)
        try:
            refuse_unless_regular(stat, path)
        except OSError:
            return False
        return True

    async def _walker(self, workspace_id: str, args: list[str]) -> Any:
        async with self._helper(workspace_id, args) as cid:
            await self.engine.json("POST", f"containers/{cid}/start")
            await self.engine.json("POST", f"containers/{cid}/wait", timeout=HELPER_TIMEOUT)
            raw = await self.engine.get_bytes(
                f"containers/{cid}/logs", params={"stdout": True, "stderr": True}, limit=1 << 24
            )
        lines = demultiplex(raw).decode(errors="replace").strip().splitlines()
        try:
            answer = json.loads(lines[-1]) if lines else {}
        except ValueError:
            answer = {}
        if "ok" in answer:
            return answer["ok"]
        if "errno" in answer:
            raise OSError(int(answer["errno"]), str(answer.get("error")), args[1])
        raise EngineError(500, f"the file walker failed: {lines[-5:]}")

    async def list(self, workspace_id: str, path: str, depth: int, limit: int) -> list[FileEntry]:
        validate_virtual(path)
        found = await self._walker(workspace_id, ["list", path, str(depth), str(limit)])
        return [FileEntry(str(e["path"]), int(e["size"]), bool(e["dir"])) for e in found]

    async def delete(self, workspace_id: str, path: str) -> None:
        split_virtual(path)
        await self._walker(workspace_id, ["delete", path, "0", "0"])

    async def console(self, workspace_id: str, max_bytes: int) -> bytes:
        """The last `max_bytes` of the agent container's output (empty without one)."""
        params = {"stdout": True, "stderr": True, "tail": str(CONSOLE_LINES)}
        try:
            raw = await self.engine.get_bytes(
                f"containers/{container_name(workspace_id)}/logs", params=params, limit=1 << 24
            )
        except EngineError as exc:
            if exc.not_found:
                return b""
            raise
        data = demultiplex(raw)[-max_bytes:] if max_bytes > 0 else b""
        return data
