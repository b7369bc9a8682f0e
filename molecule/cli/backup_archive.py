"""The backup archive: one tar file, written atomically, verified before anything is restored.

Layout (uncompressed POSIX tar; the dump compresses itself):

    database.dump        pg_dump --format=custom (molecule.store.backup_db)
    home/...             the data directory's files (molecule.cli.backup_home)
    manifest.json        last: format and platform versions, migration level, created_at,
                         and every other member's type, mode, size and SHA-256

The archive is built in a temporary file beside its destination (created 0600, O_EXCL),
fsynced, then renamed over the destination: a crash or an error leaves no partial archive
under the real name. Each data-directory file is first copied to a spool (memory, then a
temporary file) while it is hashed, so a file an agent rewrites during the backup is stored
as one consistent copy with the checksum of exactly those bytes.

Reading is strict: every member must be listed in the manifest with the same type, be
named inside the archive (no absolute names, no `..`), appear once, and hash to its listed
checksum; a missing member, an extra one or a short read (a truncated archive) refuses the
whole restore. Members are unpacked into a fresh staging directory with O_EXCL|O_NOFOLLOW and
never through a symbolic link, which is recreated as a link and never followed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
import tempfile
from pathlib import Path, PurePosixPath
from typing import IO, Any

from molecule.errors import CommandFailed

FORMAT = "molecule-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DUMP = "database.dump"
HOME = "home"
MAX_MANIFEST = 64 << 20
_SPOOL_MEMORY = 8 << 20
_CHUNK = 1 << 20


class _Hashing(io.RawIOBase):
    """A reader that hashes (and counts) what passes through it."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.sha = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self.inner.read(n)
        self.sha.update(data)
        self.size += len(data)
        return data


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ArchiveWriter:
    """Members go into a temporary file; `commit` renames it into place, `abort` removes it."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent)
        os.fchmod(fd, 0o600)
        self.temp = Path(name)
        self._file = os.fdopen(fd, "wb")
        self._tar = tarfile.open(fileobj=self._file, mode="w:", format=tarfile.PAX_FORMAT)
        self.members: list[dict[str, Any]] = []

    def _info(self, name: str, kind: bytes, mode: int, mtime: float) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.mtime = kind, mode & 0o7777, int(mtime)
        return info

    def add_stream(self, name: str, source: IO[bytes], size: int, mode: int, mtime: float) -> None:
        info = self._info(name, tarfile.REGTYPE, mode, mtime)
        info.size = size
        hashing = _Hashing(source)
        self._tar.addfile(info, hashing)
        self.members.append(
            {"name": name, "type": "file", "mode": info.mode, "size": size}
            | {"sha256": hashing.sha.hexdigest()}
        )

    def add_file(self, name: str, path: Path) -> bool:
        """A snapshot of one file (see the module docstring); False if it vanished."""
        try:  # non-blocking: a file swapped for a FIFO since it was listed must not hang us
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return False
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return False
        spool_dir = str(self.dest.parent)  # a large file spills beside the archive, not into /tmp
        with (
            os.fdopen(fd, "rb") as src,
            tempfile.SpooledTemporaryFile(_SPOOL_MEMORY, dir=spool_dir) as spool,
        ):
            st = os.fstat(src.fileno())
            while chunk := src.read(_CHUNK):
                spool.write(chunk)
            size = spool.tell()
            spool.seek(0)
            self.add_stream(name, spool, size, st.st_mode, st.st_mtime)
        return True

    def add_dir(self, name: str, mode: int, mtime: float) -> None:
        self._tar.addfile(self._info(name, tarfile.DIRTYPE, mode, mtime))
        self.members.append({"name": name, "type": "dir", "mode": mode & 0o7777})

    def add_symlink(self, name: str, target: str, mtime: float) -> None:
        info = self._info(name, tarfile.SYMTYPE, 0o777, mtime)
        info.linkname = target
        self._tar.addfile(info)
        self.members.append({"name": name, "type": "symlink", "target": target})

    def commit(self, manifest: dict[str, Any]) -> int:
        """Write the manifest, make the archive durable and give it its name; its size."""
        body = json.dumps({**manifest, "members": self.members}, indent=1).encode()
        info = self._info(MANIFEST, tarfile.REGTYPE, 0o600, manifest_time(manifest))
        info.size = len(body)
        self._tar.addfile(info, io.BytesIO(body))
        self._tar.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.temp, self.dest)
        _fsync_dir(self.dest.parent)
        return self.dest.stat().st_size

    def abort(self) -> None:
        try:
            self._tar.close()
        except (OSError, tarfile.TarError):
            pass
        self._file.close()
        self.temp.unlink(missing_ok=True)


def manifest_time(manifest: dict[str, Any]) -> float:
    return float(manifest.get("created_unix", 0))


def _corrupt(path: Path, why: str) -> CommandFailed:
    return CommandFailed(f"{path} is not a usable backup ({why}): nothing was restored")


def read_manifest(path: Path) -> dict[str, Any]:
    """The archive's manifest, checked for shape and format version (not yet its members)."""
    try:
        with tarfile.open(path, mode="r:") as tar:
            try:
                info = tar.getmember(MANIFEST)
            except KeyError:
                raise _corrupt(path, "no manifest: truncated, or not a Molecule backup") from None
            if not info.isreg() or info.size > MAX_MANIFEST:
                raise _corrupt(path, "malformed manifest")
            stream = tar.extractfile(info)
            assert stream is not None
            body = stream.read()
    except FileNotFoundError:
        raise CommandFailed(f"{path} does not exist") from None
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise _corrupt(path, f"unreadable tar: {exc}") from None
    try:
        manifest = json.loads(body)
    except ValueError:
        raise _corrupt(path, "manifest is not JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _corrupt(path, "not a Molecule backup")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CommandFailed(
            f"{path} is a backup format {version!r} made by a newer Molecule "
            f"({manifest.get('platform_version')}); this one reads format {FORMAT_VERSION}: "
            "upgrade Molecule, then restore"
        )
    members = manifest.get("members")
    if not isinstance(members, list) or not all(isinstance(m, dict) for m in members):
        raise _corrupt(path, "manifest lists no members")
    return manifest


def _safe_name(name: str) -> PurePosixPath:
    p = PurePosixPath(name)
    if p.is_absolute() or not p.parts or any(part in ("", ".", "..") for part in p.parts):
        raise ValueError(name)
    if p.parts[0] != HOME and name != DUMP:
        raise ValueError(name)
    return p


def _real_parent(staging: Path, relative: PurePosixPath) -> Path:
    """Create the member's parent directories inside staging, refusing to pass a link."""
    current = staging
    for part in relative.parts[:-1]:
        current = current / part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            os.mkdir(current, 0o700)
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise ValueError(f"{relative} lies under a non-directory")
    return current / relative.parts[-1]


def _write(tar: tarfile.TarFile, info: tarfile.TarInfo, target: Path, mode: int) -> tuple[str, int]:
    stream = tar.extractfile(info)
    assert stream is not None
    sha, size = hashlib.sha256(), 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode & 0o777)
    with os.fdopen(fd, "wb") as out:
        while chunk := stream.read(_CHUNK):
            sha.update(chunk)
            size += len(chunk)
            out.write(chunk)
    os.chmod(target, mode & 0o777)
    os.utime(target, (info.mtime, info.mtime))
    return sha.hexdigest(), size


def unpack(path: Path, manifest: dict[str, Any], staging: Path) -> int:
    """Unpack every member into `staging` (an empty directory), checking it against the
    manifest; the number of members. Raises CommandFailed on any mismatch (the caller removes
    the staging directory)."""
    expected = {str(m.get("name")): m for m in manifest["members"]}
    if len(expected) != len(manifest["members"]) or DUMP not in expected:
        raise _corrupt(path, "manifest lists a member twice, or no database dump")
    seen: set[str] = set()
    dirs: list[tuple[Path, int]] = []
    try:
        with tarfile.open(path, mode="r:") as tar:
            for info in tar:
                if info.name == MANIFEST:
                    continue
                entry = expected.get(info.name)
                if entry is None or info.name in seen:
                    raise _corrupt(path, f"unexpected member {info.name!r}")
                seen.add(info.name)
                relative = _safe_name(info.name)
                target = _real_parent(staging, relative)
                kind = entry.get("type")
                if kind == "dir" and info.isdir():
                    os.mkdir(target, 0o700)
                    dirs.append((target, int(entry.get("mode", 0o700))))
                elif kind == "symlink" and info.issym():
                    os.symlink(str(entry.get("target")), target)
                elif kind == "file" and info.isreg():
                    digest, size = _write(tar, info, target, int(entry.get("mode", 0o600)))
                    if digest != entry.get("sha256") or size != entry.get("size"):
                        raise _corrupt(path, f"checksum mismatch in {info.name}")
                else:
                    raise _corrupt(path, f"{info.name} is not the {kind} the manifest lists")
    except (tarfile.TarError, EOFError) as exc:
        raise _corrupt(path, f"unreadable tar: {exc}") from None
    except (ValueError, TypeError) as exc:
        raise _corrupt(path, f"unsafe member name or malformed entry {exc}") from None
    missing = sorted(set(expected) - seen)
    if missing:
        raise _corrupt(path, f"{len(missing)} member(s) missing, first {missing[0]!r}: truncated")
    for directory, mode in sorted(dirs, key=lambda d: -len(d[0].parts)):
        os.chmod(directory, mode & 0o777)
    os.sync()  # durable before the restore swaps it in
    return len(seen)
