"""Plugin trees in and out of bytes: tar archives read safely, directories walked without
following links, and the `.tar.gz` a download sends.

Reading never extracts anything to disk: a tar (gzip-compressed or not) is read as a stream,
member by member, into a `Collector` (molecule.provision.plugins_staging), which refuses what
may not be written. The decompressed stream itself is capped (`Limits.archive_bytes`), so a
gzip bomb or a huge tar header stops with 413 after a bounded read, whatever the archive
claims about itself. A directory is walked with directory file descriptors and `O_NOFOLLOW`:
a link anywhere in it is refused, never followed, and a FIFO or device is never opened.

Everything here blocks: callers run it in a worker thread.
"""

from __future__ import annotations

import errno
import gzip
import io
import os
import stat
import tarfile
import zlib
from pathlib import Path
from typing import IO, Any

from molecule.errors import PayloadTooLarge, Unprocessable
from molecule.provision.plugins_staging import (
    MAX_DEPTH,
    SKIPPED_DIRS,
    TOO_LARGE,
    Collector,
    Limits,
    StagedPlugin,
    unsafe,
)

INVALID_ARCHIVE = "invalid plugin archive: not a tar or tar.gz file"
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
FIRST_MEMBER_SCAN = 4 * 1024 * 1024
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_KINDS = {
    tarfile.SYMTYPE: "symbolic link",
    tarfile.LNKTYPE: "hard link",
    tarfile.CHRTYPE: "character device",
    tarfile.BLKTYPE: "block device",
    tarfile.FIFOTYPE: "FIFO",
    tarfile.CONTTYPE: "contiguous file",
    tarfile.GNUTYPE_SPARSE: "sparse file",
}


class _Capped:
    """A read-only stream that refuses (413) to deliver more than `cap` bytes."""

    def __init__(self, inner: IO[bytes], cap: int) -> None:
        self.inner = inner
        self.left = cap

    def read(self, size: int = -1) -> bytes:
        want = self.left + 1 if size is None or size < 0 else min(size, self.left + 1)
        data = self.inner.read(want)
        self.left -= len(data)
        if self.left < 0:
            raise PayloadTooLarge(TOO_LARGE)
        return data


def _decompressed(raw: IO[bytes]) -> IO[bytes]:
    """`raw` itself, or its gzip-decompressed stream when it starts with the gzip magic."""
    head = raw.read(2)
    raw.seek(0)
    if head == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    return raw


def read_tar(raw: IO[bytes], limits: Limits) -> Collector:
    """Every member of the (gzipped) tar `raw` into a collector, or a 4xx refusal."""
    collector = Collector(limits)
    stream = _Capped(_decompressed(raw), limits.archive_bytes)
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:  # type: ignore[call-overload]
            for member in tar:
                _take(tar, member, collector)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, UnicodeError):
        raise Unprocessable(INVALID_ARCHIVE) from None
    return collector


def _take(tar: tarfile.TarFile, member: tarfile.TarInfo, collector: Collector) -> None:
    if member.type == tarfile.DIRTYPE:
        collector.add_dir(member.name)
        return
    if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
        raise unsafe(member.name, _KINDS.get(member.type, "not a regular file or directory"))
    if member.issparse():  # a pax-described sparse file: its holes are not in the stream
        raise unsafe(member.name, "sparse file")
    path = collector.reserve(member.name, member.size)
    extracted = tar.extractfile(member)
    data = extracted.read(member.size) if extracted is not None else b""
    if len(data) != member.size:
        raise Unprocessable(INVALID_ARCHIVE)
    collector.add_file(path, data, bool(member.mode & 0o111))


def read_archive_file(path: Path, name: str, limits: Limits) -> StagedPlugin:
    with open(path, "rb") as raw:
        return read_tar(raw, limits).staged(name)


def read_archive_bytes(data: bytes, name: str, limits: Limits) -> StagedPlugin:
    return read_tar(io.BytesIO(data), limits).staged(name)


def read_directory(root: Path, name: str, limits: Limits) -> StagedPlugin:
    """A plugin directory of the registry (its own name may be a link the operator made;
    nothing inside it may be one). `.git` and `__pycache__` are left out."""
    collector = Collector(limits)
    fd = os.open(root, DIR_FLAGS)
    try:
        _walk(fd, "", 1, collector)
    finally:
        os.close(fd)
    return collector.staged(name)


def _walk(fd: int, prefix: str, depth: int, collector: Collector) -> None:
    with os.scandir(fd) as it:
        names = sorted(entry.name for entry in it)
    for entry_name in names:
        rel = prefix + entry_name
        info = os.stat(entry_name, dir_fd=fd, follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            if entry_name in SKIPPED_DIRS:
                continue
            if depth >= MAX_DEPTH:
                raise unsafe(rel, f"deeper than {MAX_DEPTH} levels")
            collector.add_dir(rel)
            child = os.open(entry_name, DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
            try:
                _walk(child, rel + "/", depth + 1, collector)
            finally:
                os.close(child)
        elif stat.S_ISREG(info.st_mode):
            path = collector.reserve(rel, info.st_size)
            room = collector.limits.max_bytes - collector.total + 1  # it may grow meanwhile
            data = _read_regular(fd, entry_name, rel, room)
            collector.add_file(path, data, _executable(info))
        elif stat.S_ISLNK(info.st_mode):
            raise unsafe(rel, "symbolic link")
        else:
            raise unsafe(rel, "not a regular file or directory")


def _executable(info: os.stat_result) -> bool:
    return bool(info.st_mode & 0o111)


def _read_regular(fd: int, name: str, rel: str, limit: int) -> bytes:
    try:
        file_fd = os.open(name, FILE_FLAGS, dir_fd=fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise unsafe(rel, "symbolic link") from None
        raise
    with os.fdopen(file_fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(file_fd).st_mode):
            raise unsafe(rel, "not a regular file or directory")
        return f.read(limit)


def _tar_entry(name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.mtime = kind, mode, size, 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def pack(plugin: StagedPlugin) -> bytes:
    """The tree as a `.tar.gz` with paths relative to the plugin (no leading directory),
    directories 0755, files 0644 (0755 when executable), every time 0: the same tree always
    gives the same bytes."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=6) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            written: set[str] = set()
            for rel in sorted(plugin.files):
                parts = rel.split("/")
                for i in range(1, len(parts)):
                    directory = "/".join(parts[:i])
                    if directory not in written:
                        written.add(directory)
                        tar.addfile(_tar_entry(directory, tarfile.DIRTYPE, 0o755))
                data = plugin.files[rel]
                mode = 0o755 if rel in plugin.executable else 0o644
                tar.addfile(_tar_entry(rel, tarfile.REGTYPE, mode, len(data)), io.BytesIO(data))
    return out.getvalue()


def find_archive(directory: Path, name: str) -> Path | None:
    """`<name>.tar.gz` (or `.tgz`, `.tar`) in a registry directory, if there is one."""
    for suffix in ARCHIVE_SUFFIXES:
        candidate = directory / (name + suffix)
        if candidate.is_file():
            return candidate
    return None


def archive_stem(filename: str) -> str | None:
    """`foo` for `foo.tar.gz`, `foo.tgz` or `foo.tar`; None for anything else."""
    for suffix in ARCHIVE_SUFFIXES:
        if filename.endswith(suffix) and len(filename) > len(suffix):
            return filename[: -len(suffix)]
    return None


def first_member(path: Path, member: str, limit: int) -> bytes | None:
    """One file of an archive (for listings: its `plugin.yaml`) of at most `limit` bytes, or
    None; at most FIRST_MEMBER_SCAN bytes of decompressed stream are read to find it."""
    try:
        with open(path, "rb") as raw:
            stream: Any = _Capped(_decompressed(raw), FIRST_MEMBER_SCAN + limit)
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for entry in tar:
                    name = entry.name.removeprefix("./")
                    if name == member and entry.type in (tarfile.REGTYPE, tarfile.AREGTYPE):
                        if entry.size > limit:
                            return None
                        extracted = tar.extractfile(entry)
                        return extracted.read(limit) if extracted is not None else None
    except (OSError, tarfile.TarError, EOFError, zlib.error, PayloadTooLarge, UnicodeError):
        return None
    return None
