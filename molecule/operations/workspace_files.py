"""The files API: a workspace's `/configs`, `/workspace`, `/home` and `/plugins`, as text.

`root` names one of the four roots (default `/configs`) and a path inside it is relative. The
two are joined and checked with the agent's own rules (molecule.workspace_paths: no `..`, no
empty or `.` segment, nothing outside the roots); the provisioner then reaches the file
without following a symbolic link anywhere on the way. Any bad path is the original's 400
`invalid path` (`invalid request body` inside a bulk replace, as the original answered it).

Content is UTF-8 text both ways, as in the original (it served `string(bytes)`): a file that
is not valid UTF-8 is refused with 422 rather than handed out mangled. Bounds: a file read is
at most 5 MiB (the original cut command output there), a listing at most 10,000 entries, a
bulk replace at most 200 files; written content is bounded by the 1 MiB JSON body.

The credentials the platform writes into `/configs` (`.auth_token`,
`.platform_inbound_secret`) are not listed, and reading or changing them here is 403: they
are the workspace's live tokens, rewritten at every start.

A bulk replace writes the given files over `/configs` and leaves the others in place, as the
original's did; with no `config.yaml` among them and none in the workspace, one is generated.
Every path is checked before the first write; a file that still cannot be written (a
directory or a link in its place) stops the replace there, with the files before it written.
"""

from __future__ import annotations

import errno
import logging
from typing import Any

from molecule.errors import (
    BadRequest,
    Forbidden,
    MoleculeError,
    NoBackend,
    NotFound,
    PathRefused,
    Unprocessable,
)
from molecule.provision.base import Provisioner
from molecule.provision.host_files import PLATFORM_FILES
from molecule.provision.templates import default_config
from molecule.workspace_paths import ROOTS, validate_virtual

log = logging.getLogger("molecule.operations.workspace_files")

DEFAULT_ROOT = "/configs"
ROOT_MESSAGE = "root must be one of: /configs, /workspace, /home, /plugins"
DEPTH_MESSAGE = "depth must be 1-5"
INVALID_PATH = "invalid path"
INVALID_BODY = "invalid request body"
MAX_DEPTH = 5
MAX_LIST_ENTRIES = 10_000
MAX_READ_BYTES = 5 * 1024 * 1024
MAX_FILES = 200
MAX_PATH = 1024
NOT_TEXT = "file is not UTF-8 text; only text files can be read through this API"


def root_of(value: str | None) -> str:
    """The `root` query parameter: absent is `/configs`, anything else must be a root."""
    if value is None:
        return DEFAULT_ROOT
    if value not in ROOTS:
        raise BadRequest(ROOT_MESSAGE)
    return value


def depth_of(value: str | None) -> int:
    if value is None or value == "":
        return 1
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_DEPTH:
        raise BadRequest(DEPTH_MESSAGE)
    return int(value)


def virtual_path(root: str, relative: str, message: str = INVALID_PATH) -> str:
    """`root/relative`, checked with the agent's rules; `message` (400) on any refusal, 403
    for the platform's credential files."""
    if not relative or len(relative) > MAX_PATH:
        raise BadRequest(message)
    try:
        path = validate_virtual(f"{root}/{relative}")
    except PathRefused:
        raise BadRequest(message) from None
    if root == "/configs" and relative in PLATFORM_FILES:
        raise Forbidden(f"{relative} is managed by the platform")
    return path


def refusal(exc: OSError, action: str) -> MoleculeError:
    """What an OSError from the provisioner means to the caller."""
    if isinstance(exc, NotADirectoryError) and action == "write":
        return BadRequest("a directory on the path is a file")
    if isinstance(exc, FileNotFoundError | NotADirectoryError):
        return NotFound("file not found")
    if isinstance(exc, IsADirectoryError):
        return BadRequest("path is a directory")
    if exc.errno == errno.ELOOP:
        return BadRequest("path goes through a symbolic link; links are not followed")
    if exc.errno == errno.EINVAL:
        return BadRequest("path is not a regular file")
    if exc.errno == errno.ENAMETOOLONG:
        return BadRequest(INVALID_PATH)
    log.error("files API: %s failed: %r", action, exc)
    return MoleculeError(f"failed to {action} file")


class WorkspaceFiles:
    def __init__(self, provisioner: Provisioner | None) -> None:
        self.provisioner = provisioner

    def _backend(self) -> Provisioner:
        if self.provisioner is None:
            raise NoBackend()
        return self.provisioner

    async def list(
        self, workspace_id: str, root: str, sub: str, depth: int
    ) -> list[dict[str, Any]]:
        path = virtual_path(root, sub) if sub else root
        try:
            found = await self._backend().list_files(workspace_id, path, depth, MAX_LIST_ENTRIES)
        except NotADirectoryError:
            raise BadRequest("path is a file, not a directory") from None
        except FileNotFoundError:
            raise NotFound("directory not found") from None
        except OSError as exc:
            raise refusal(exc, "list") from None
        return [{"path": e.path, "size": e.size, "dir": e.dir} for e in found]

    async def read(self, workspace_id: str, root: str, relative: str) -> dict[str, Any]:
        path = virtual_path(root, relative)
        try:
            data = await self._backend().read_file(workspace_id, path, max_bytes=MAX_READ_BYTES)
        except OSError as exc:
            raise refusal(exc, "read") from None
        try:
            content = data.decode("utf-8")
        except UnicodeDecodeError:
            raise Unprocessable(NOT_TEXT) from None
        return {"path": relative, "content": content, "size": len(data)}

    async def write(self, workspace_id: str, root: str, relative: str, content: str) -> None:
        path = virtual_path(root, relative)
        try:
            await self._backend().write_file(workspace_id, path, content.encode("utf-8"))
        except OSError as exc:
            raise refusal(exc, "write") from None

    async def delete(self, workspace_id: str, root: str, relative: str) -> None:
        path = virtual_path(root, relative)
        try:
            await self._backend().delete_file(workspace_id, path)
        except OSError as exc:
            raise refusal(exc, "delete") from None

    async def replace(self, workspace_id: str, name: str, files: Any) -> int:
        """Write `files` ({relative path: text}) over `/configs`; how many were given."""
        if not isinstance(files, dict):
            raise BadRequest(INVALID_BODY)
        if len(files) > MAX_FILES:
            raise BadRequest(f"too many files ({len(files)}), max {MAX_FILES}")
        checked: dict[str, bytes] = {}
        for relative, content in files.items():
            if not isinstance(content, str):
                raise BadRequest(INVALID_BODY)
            checked[virtual_path("/configs", relative, INVALID_BODY)] = content.encode("utf-8")
        parents = {p.rsplit("/", i)[0] for p in checked for i in range(1, p.count("/"))}
        if parents.intersection(checked):  # `a` and `a/b`: a file cannot be a directory too
            raise BadRequest(INVALID_BODY)
        backend = self._backend()
        try:
            for path, data in checked.items():
                await backend.write_file(workspace_id, path, data)
            if "config.yaml" not in files and not await backend.volume_has_file(
                workspace_id, "/configs/config.yaml"
            ):
                config = default_config(name, files).encode("utf-8")
                await backend.write_file(workspace_id, "/configs/config.yaml", config)
        except OSError as exc:
            raise refusal(exc, "write") from None
        return len(files)
