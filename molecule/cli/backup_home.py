"""Which files of `$MOLECULE_HOME` a backup carries, and how a restore puts them back.

Carried: everything in the data directory but what the dump or the machine already covers —
`workspaces/<id>/{configs,workspace,home,plugins}` (the local backend's workspace files),
`templates/` (imported templates), `admin_token` (so the admin URL and token keep working),
and whatever else a newer part keeps there. Left out:
- `postgres/`, `postgres.location`: the embedded cluster's files (the dump is the data);
- `images/`: the Docker backend's image cache (rebuilt on demand);
- `.lock` and our own temporary files.

Workspace files kept by the Docker backend live in Docker volumes, not here, and are not
in a backup (docs/architecture.md, "Backup, restore, upgrade").

A restore unpacks into a staging directory inside the home first; only once the database is
restored are the staged entries moved into place (renames on one filesystem). The home's
previous entries, with --force, are moved aside and deleted only after the swap.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from molecule.cli.backup_archive import HOME, ArchiveWriter
from molecule.cli.backup_lock import LOCK_NAME

EXCLUDED = frozenset({"postgres", "postgres.location", "images", LOCK_NAME})
STAGING_PREFIX = ".restore-"


def _ours(name: str) -> bool:
    return name in EXCLUDED or name.startswith(STAGING_PREFIX)


def entries(home: Path) -> list[str]:
    """The top-level names of the home a backup carries (and a restore replaces)."""
    try:
        names = os.listdir(home)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if not _ours(n))


def foreign_members(names: list[str]) -> list[str]:
    """Members an archive of ours never carries (the cluster, the lock, staging): a restore
    must not put them into a home."""
    prefix = f"{HOME}/"
    return [n for n in names if n.startswith(prefix) and _ours(n[len(prefix) :].split("/")[0])]


@dataclass
class Walked:
    files: int = 0
    dirs: int = 0
    links: int = 0
    skipped: int = 0  # sockets, fifos, devices: nothing a restore could use
    workspaces: int = 0


def _walk(path: Path) -> Iterator[tuple[Path, os.stat_result]]:
    try:
        children = sorted(os.scandir(path), key=lambda e: e.name)
    except FileNotFoundError:
        return
    for entry in children:
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        yield Path(entry.path), st
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(Path(entry.path))


def add_home(writer: ArchiveWriter, home: Path) -> Walked:
    """Put the home's carried files into the archive under `home/`."""
    walked = Walked()
    for name in entries(home):
        top = home / name
        try:
            st = os.lstat(top)
        except FileNotFoundError:
            continue
        items = [(top, st)] + (list(_walk(top)) if stat.S_ISDIR(st.st_mode) else [])
        for path, info in items:
            member = f"{HOME}/{path.relative_to(home).as_posix()}"
            if stat.S_ISDIR(info.st_mode):
                writer.add_dir(member, info.st_mode, info.st_mtime)
                walked.dirs += 1
            elif stat.S_ISLNK(info.st_mode):
                writer.add_symlink(member, os.readlink(path), info.st_mtime)
                walked.links += 1
            elif stat.S_ISREG(info.st_mode):
                walked.files += writer.add_file(member, path)
            else:
                walked.skipped += 1
    workspaces = home / "workspaces"
    if workspaces.is_dir():
        walked.workspaces = sum(1 for p in workspaces.iterdir() if p.is_dir())
    return walked


def new_staging(home: Path) -> Path:
    """A fresh staging directory; any left by a restore that was killed are removed first
    (the caller holds the home's lock exclusively, so none is in use)."""
    for name in os.listdir(home):
        if name.startswith(STAGING_PREFIX):
            shutil.rmtree(home / name, ignore_errors=True)
    staging = home / f"{STAGING_PREFIX}{os.getpid()}"
    staging.mkdir(mode=0o700)
    return staging


def swap_in(home: Path, staging: Path) -> None:
    """Replace the home's carried entries by the staged ones (staging/home/...)."""
    aside = staging / "previous"
    aside.mkdir(mode=0o700)
    for name in entries(home):
        os.rename(home / name, aside / name)
    restored = staging / HOME
    if restored.is_dir():
        for name in sorted(os.listdir(restored)):
            os.rename(restored / name, home / name)
    shutil.rmtree(staging, ignore_errors=True)
