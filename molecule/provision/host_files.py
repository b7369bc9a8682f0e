"""Files of a local-process workspace, reached without ever following a symbolic link.

The agent owns its directories (`<workspace dir>/configs`, `workspace`, `home`, `plugins`) and
may put anything there, links included. A `..`-free virtual path is therefore not enough: a
link anywhere on the way (`configs/sub -> /etc`) would lead outside. Every function here walks
the path one component at a time from the workspace directory, opening each directory
relative to the previous one with `O_NOFOLLOW` (and the last component too), so no link is
followed at any depth and swapping one in mid-walk fails instead of escaping. A FIFO, socket
or device is refused before any read, so it can neither block nor flood the platform.

Failures are `OSError`s, as the filesystem raises them (`FileNotFoundError`,
`NotADirectoryError`, `IsADirectoryError`, `ELOOP` for a link, `EINVAL` for a special file);
a file over the size asked for is `PayloadTooLarge`. Everything here blocks: callers run it in
a worker thread.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from molecule.errors import PayloadTooLarge
from molecule.provision.base import FileEntry

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
SKIPPED = frozenset({".git", "__pycache__", "node_modules", ".DS_Store", ".hermes"})
# Credentials the platform writes into the config directory (docs/architecture.md §4.4): never
# listed. Reading or changing them through the files API is refused by the caller.
PLATFORM_FILES = frozenset({".auth_token", ".platform_inbound_secret"})


def _parts(virtual: str) -> list[str]:
    return [p for p in virtual.split("/") if p]


def _link_refused(name: str) -> OSError:
    return OSError(errno.ELOOP, "symbolic links are not followed", name)


def _open_dir(parent: int, name: str, *, create: bool = False) -> int:
    if create:
        try:
            os.mkdir(name, 0o700, dir_fd=parent)
        except FileExistsError:
            pass
    try:
        return os.open(name, DIR_FLAGS, dir_fd=parent)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR) and _is_link(parent, name):
            raise _link_refused(name) from None
        raise


def _is_link(parent: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode)
    except OSError:
        return False


@contextmanager
def _directory(base: Path, parts: list[str], *, create: bool = False) -> Iterator[int]:
    """An fd of `base/parts...`, every step opened without following links."""
    if create:
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(base, DIR_FLAGS)
    try:
        for name in parts:
            child = _open_dir(fd, name, create=create)
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def read_regular(base: Path, virtual: str, max_bytes: int | None = None) -> bytes:
    *dirs, name = _parts(virtual)
    with _directory(base, dirs) as parent:
        try:
            fd = os.open(
                name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=parent
            )
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _link_refused(name) from None
            raise
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", virtual)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", virtual)
        if max_bytes is not None and info.st_size > max_bytes:
            raise PayloadTooLarge(f"file is larger than {max_bytes} bytes")
        data = f.read() if max_bytes is None else f.read(max_bytes + 1)
    if max_bytes is not None and len(data) > max_bytes:  # it grew while we read
        raise PayloadTooLarge(f"file is larger than {max_bytes} bytes")
    return data


def write_regular(base: Path, virtual: str, data: bytes) -> None:
    """Write a temporary file beside the target, fsync it, rename it over the target, fsync
    the directory: the new content is whole and on disk before this returns. A link or a
    directory in the target's place is refused, never replaced."""
    *dirs, name = _parts(virtual)
    with _directory(base, dirs, create=True) as parent:
        try:
            existing = os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode
        except FileNotFoundError:
            existing = None
        if existing is not None and stat.S_ISLNK(existing):
            raise _link_refused(name)
        if existing is not None and stat.S_ISDIR(existing):
            raise IsADirectoryError(errno.EISDIR, "is a directory", virtual)
        if existing is not None and not stat.S_ISREG(existing):
            raise OSError(errno.EINVAL, "not a regular file", virtual)
        tmp = f".{name[:100]}.{uuid.uuid4().hex}.tmp"
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
            dir_fd=parent,
        )  # fmt: skip
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=parent)
            except OSError:
                pass
            raise
        os.fsync(parent)


def exists_regular(base: Path, virtual: str) -> bool:
    *dirs, name = _parts(virtual)
    try:
        with _directory(base, dirs) as parent:
            mode = os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode
    except OSError:
        return False
    return stat.S_ISREG(mode)


def delete(base: Path, virtual: str) -> None:
    """Unlink a file, or remove a directory tree with the fd-based walk of `shutil.rmtree`,
    which removes links inside it without following them. A link as the target is refused."""
    *dirs, name = _parts(virtual)
    with _directory(base, dirs) as parent:
        mode = os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode
        if stat.S_ISLNK(mode):
            raise _link_refused(name)
        if stat.S_ISDIR(mode):
            shutil.rmtree(name, dir_fd=parent)
        else:
            os.unlink(name, dir_fd=parent)
        os.fsync(parent)


def list_tree(base: Path, virtual: str, depth: int, limit: int) -> list[FileEntry]:
    """Entries below the directory `virtual`, `depth` levels deep, at most `limit`, sorted by
    path. Links, special files and tool clutter are left out; so are the platform's credential
    files at the top of `/configs`. A workspace or root without files yet is empty."""
    parts = _parts(virtual)
    if not base.is_dir() or (len(parts) == 1 and not (base / parts[0]).is_dir()):
        return []
    found: list[FileEntry] = []
    hide = PLATFORM_FILES if parts == ["configs"] else frozenset()
    with _directory(base, parts) as top:
        _walk(top, "", depth, limit, found, hide)
    return sorted(found, key=lambda e: e.path)


def _walk(
    fd: int, prefix: str, depth: int, limit: int, found: list[FileEntry], hide: frozenset[str]
) -> None:
    with os.scandir(fd) as entries:
        listed = sorted(entries, key=lambda e: e.name)
    for entry in listed:
        if len(found) >= limit:
            return
        if entry.name in SKIPPED or entry.name in hide:
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        path = prefix + entry.name
        if stat.S_ISDIR(info.st_mode):
            found.append(FileEntry(path, 0, True))
            if depth > 1:
                try:
                    child = os.open(entry.name, DIR_FLAGS, dir_fd=fd)
                except OSError:
                    continue
                try:
                    _walk(child, path + "/", depth - 1, limit, found, frozenset())
                finally:
                    os.close(child)
        elif stat.S_ISREG(info.st_mode):
            found.append(FileEntry(path, info.st_size, False))


def tail(path: Path, max_bytes: int) -> bytes:
    """The last `max_bytes` of a regular file (not a link), from its first whole line; empty
    when there is no such file."""
    try:
        fd = os.open(path, READ_FLAGS)
    except (FileNotFoundError, NotADirectoryError):
        return b""
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        start = max(info.st_size - max_bytes, 0)
        f.seek(start)
        data = f.read(max_bytes)
    if start > 0:
        newline = data.find(b"\n")
        data = data[newline + 1 :] if 0 <= newline < len(data) - 1 else data
    return data
