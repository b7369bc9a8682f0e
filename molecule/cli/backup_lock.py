"""The data directory's lock: a serving platform and a restore never overlap on one home.

`molecule serve` and `molecule migrate` hold a *shared* flock on `$MOLECULE_HOME/.lock` for
their lifetime (several may share a home); `molecule restore`, and `molecule backup` when it
has to start the embedded cluster itself, take it *exclusively*, without waiting. The kernel
drops a flock when its process dies, even by SIGKILL, so a crash leaves no stale lock behind
and the file itself means nothing (it is never backed up).

A platform started some other way holds no lock; the restore's other checks (a live
postmaster in the home, other sessions on the database) still see it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from molecule.errors import CommandFailed

LOCK_NAME = ".lock"


class HomeLock:
    """An open lock file; `release()` (or process exit) lets it go."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> HomeLock:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def _open(home: Path) -> int:
    home.mkdir(parents=True, exist_ok=True)
    return os.open(home / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def hold_shared(home: Path) -> HomeLock:
    """For the platform's own commands; refused while a restore (or backup) holds the home."""
    fd = _open(home)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise CommandFailed(
            f"{home} is being restored or backed up by another `molecule` command: "
            "start the platform when it has finished"
        ) from None
    return HomeLock(fd)


def try_exclusive(home: Path) -> HomeLock | None:
    """The lock for this command alone, or None when a platform (or another restore) holds
    it."""
    fd = _open(home)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return HomeLock(fd)
