"""The lifeline: how an agent process the platform started learns that the platform is gone.

An agent must not outlive the platform that runs it, even when the platform dies by SIGKILL
and runs no cleanup. The platform holds the write end of one pipe for its whole life and
hands the read end to every agent it starts (`pass_fds`, its number in `MOLECULE_LIFELINE_FD`).
Nobody ever writes to it, so the read end becomes readable only at end of file: when the
kernel closes the last write end, which is when the platform process is gone, however it
ended. The agent then shuts down gracefully.

Why not PR_SET_PDEATHSIG: the kernel sends that signal when the *thread* that forked the child
exits, and trio forks from worker threads that exit after 10 s idle, which killed every agent
about 10 s after its start. A pipe belongs to the process, not to a thread.

Shared by the platform (`molecule.provision.local`) and the agent program (`molecule.runtime`),
which may import nothing else of each other.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import trio

ENV = "MOLECULE_LIFELINE_FD"

log = logging.getLogger("molecule.lifeline")


class Lifeline:
    """The platform's end: one pipe for every child, open as long as the process lives."""

    def __init__(self) -> None:
        # os.pipe() makes both ends non-inheritable: no child gets the write end, so only
        # this process keeps the pipe open for writing.
        self.read_fd, self.write_fd = os.pipe()

    def child_env(self) -> dict[str, str]:
        return {ENV: str(self.read_fd)}

    @property
    def pass_fds(self) -> tuple[int, ...]:
        return (self.read_fd,)

    def close(self) -> None:
        """Cut the lifeline: every child watching it sees end of file."""
        for fd in (self.write_fd, self.read_fd):
            try:
                os.close(fd)
            except OSError:
                pass


def lifeline_fd(env: Mapping[str, str]) -> int | None:
    """The inherited read end named in the environment, if this process was given one."""
    raw = env.get(ENV, "").strip()
    if not raw.isdigit():
        return None
    fd = int(raw)
    try:
        os.fstat(fd)
    except OSError:
        log.warning("%s=%s names no open file descriptor; not watching the platform", ENV, raw)
        return None
    return fd


async def wait_until_cut(fd: int) -> None:
    """Return when the lifeline reaches end of file (the platform is gone)."""
    os.set_blocking(fd, False)
    while True:
        await trio.lowlevel.wait_readable(fd)
        try:
            if not os.read(fd, 4096):
                return
        except BlockingIOError:
            continue
