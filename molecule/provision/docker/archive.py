"""Tar archives in and out of a workspace's volumes (the Engine's archive API).

- Files the platform writes (credentials, a generated config.yaml) are mode 0600, owned by
  root, directories 0700: the agent runs as root in its container, nobody else reads them.
- A template directory is copied with its own modes; CRLF becomes LF in `.sh`, `.py` and
  `.md` files, as the original's copy did; symlinks are skipped (they could point anywhere
  on the platform's disk).
- Reading extracts exactly one regular file from the Engine's answer.
"""

from __future__ import annotations

import io
import os
import posixpath
import tarfile
import time
from collections.abc import Mapping
from pathlib import Path

from molecule.errors import NotFound

SECRET_MODE = 0o600
DIR_MODE = 0o700
CRLF_SUFFIXES = (".sh", ".py", ".md")
MAX_TEMPLATE_BYTES = 64 * 1024 * 1024


def _add_dirs(tar: tarfile.TarFile, rel: str, seen: set[str], mtime: float) -> None:
    parent = posixpath.dirname(rel)
    parts: list[str] = []
    while parent and parent not in seen:
        parts.append(parent)
        parent = posixpath.dirname(parent)
    for directory in reversed(parts):
        seen.add(directory)
        info = tarfile.TarInfo(directory)
        info.type, info.mode, info.mtime = tarfile.DIRTYPE, DIR_MODE, mtime
        tar.addfile(info)


def files_tar(files: Mapping[str, bytes], mode: int = SECRET_MODE) -> bytes:
    """A tar of `relative path -> bytes`, every file `mode`, owned by root."""
    out = io.BytesIO()
    now = time.time()
    seen: set[str] = set()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for rel, data in files.items():
            rel = posixpath.normpath(rel.lstrip("/"))
            if rel.startswith("..") or rel in (".", ""):
                raise ValueError(f"refusing to archive {rel!r} outside its root")
            _add_dirs(tar, rel, seen, now)
            info = tarfile.TarInfo(rel)
            info.size, info.mode, info.mtime = len(data), mode, now
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def template_tar(root: Path) -> bytes:
    """A tar of a template directory's regular files (CRLF -> LF for scripts and docs)."""
    out = io.BytesIO()
    total = 0
    with tarfile.open(fileobj=out, mode="w") as tar:
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames.sort()
            here = Path(dirpath)
            for name in sorted(filenames):
                path = here / name
                if path.is_symlink() or not path.is_file():
                    continue
                data = path.read_bytes()
                if name.endswith(CRLF_SUFFIXES):
                    data = data.replace(b"\r\n", b"\n")
                total += len(data)
                if total > MAX_TEMPLATE_BYTES:
                    raise ValueError(f"template {root} is larger than {MAX_TEMPLATE_BYTES} bytes")
                info = tarfile.TarInfo(path.relative_to(root).as_posix())
                info.size = len(data)
                info.mode = path.stat().st_mode & 0o777
                info.mtime = path.stat().st_mtime
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def single_file(archive: bytes, name: str) -> bytes:
    """The one regular file in the Engine's archive of `name` (NotFound for a directory)."""
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
        for member in tar:
            if member.isfile():
                extracted = tar.extractfile(member)
                if extracted is not None:
                    return extracted.read()
            break
    raise NotFound(f"{name} is not a regular file")
