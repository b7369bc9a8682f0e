"""A workspace's virtual roots (`/configs`, `/workspace`, `/home`, `/plugins`) and their rules.

Inside the original's container the agent sees the four roots as real directories, and the
platform names files by those paths (upload URIs such as
`workspace:/workspace/.molecule/chat-uploads/<id>-<name>`, download paths). A local-process
workspace has them as `<workspace dir>/{configs,workspace,home,plugins}` instead, so every
virtual path is validated exactly as the original does and only then translated. Without a
host root the mapping is the identity (the container layout).

One implementation for both programs: the agent (file read, upload ingest, attachments) and
the platform (chat download checks, the local provisioner's file access) import it from here,
which is why it depends on nothing but `molecule.errors`.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from molecule.errors import PathRefused

ROOTS = ("/configs", "/workspace", "/home", "/plugins")
HOST_DIRS = tuple(root.lstrip("/") for root in ROOTS)  # their directories under a host root
UPLOADS_DIR = "/workspace/.molecule/chat-uploads"

MSG_PATH_REQUIRED = "path query required"
MSG_NOT_ABSOLUTE = "path must be absolute"
MSG_NOT_UNDER_ROOTS = "path must be under /configs, /workspace, /home, or /plugins"
MSG_INVALID = "invalid path"


def validate_virtual(path: str | None, roots: Sequence[str] = ROOTS) -> str:
    """Apply the original's checks, in its order, and return the path.

    Raises `PathRefused` with the original's 400 message. The `..` test is a substring test,
    as in the original: the platform's download route runs the same check before forwarding,
    so being laxer on one side would change nothing. `roots` lets the platform's download
    check accept one more root than the agent serves (the original's list did).
    """
    if not path:
        raise PathRefused(MSG_PATH_REQUIRED)
    if not path.startswith("/"):
        raise PathRefused(MSG_NOT_ABSOLUTE)
    if not any(path == root or path.startswith(root + "/") for root in roots):
        raise PathRefused(MSG_NOT_UNDER_ROOTS)
    # normpath catches `//` inside, `.` segments and a trailing `/`, but keeps a leading `//`.
    if "//" in path or posixpath.normpath(path) != path or ".." in path:
        raise PathRefused(MSG_INVALID)
    return path


@dataclass(frozen=True)
class VirtualRoots:
    """Translate validated virtual paths to host paths (identity when `host_root` is None)."""

    host_root: Path | None = None

    def to_host(self, virtual: str) -> Path:
        """Map an already validated virtual path (`validate_virtual`) onto the disk."""
        if self.host_root is None:
            return Path(virtual)
        return self.host_root / virtual.lstrip("/")

    @property
    def uploads_dir(self) -> Path:
        return self.to_host(UPLOADS_DIR)


MAX_NAME = 100
MAX_EXT = 16
_ALLOWED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")


def sanitize_filename(name: str) -> str:
    """The original's upload-name sanitiser, on both sides of a chat upload: the agent names
    its stored file by it, the platform its staged one.

    Basename, spaces to `_`, anything outside `[A-Za-z0-9._-]` to `_`, at most 100 characters
    keeping an extension of at most 16, and `file` for an empty, `.` or `..` result.
    `../../My Report (final).pdf` becomes `My_Report__final_.pdf`.
    """
    base = posixpath.basename(name)
    cleaned = "".join(c if c in _ALLOWED else "_" for c in base.replace(" ", "_"))
    if len(cleaned) > MAX_NAME:
        stem, ext = posixpath.splitext(cleaned)
        if ext and len(ext) <= MAX_EXT:
            cleaned = stem[: MAX_NAME - len(ext)] + ext
        else:
            cleaned = cleaned[:MAX_NAME]
    if cleaned in ("", ".", ".."):
        return "file"
    return cleaned
