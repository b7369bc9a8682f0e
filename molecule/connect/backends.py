"""What answers an inbound message: `mock` echoes, `exec` runs a local command.

The exec backend feeds the message text on stdin and replies with stdout. It is bounded in
time (the process is killed at the deadline) and in output (stdout is read up to a cap and
the rest dropped), so a runaway command cannot wedge or flood the bridge.
"""

from __future__ import annotations

import shlex
import subprocess
import threading
from typing import IO, Protocol

DEFAULT_EXEC_TIMEOUT = 120.0
DEFAULT_MAX_OUTPUT = 64 * 1024


class Backend(Protocol):
    name: str

    def answer(self, text: str) -> str: ...


class MockBackend:
    name = "mock"

    def answer(self, text: str) -> str:
        return f"echo: {text}"


def _drain(stream: IO[bytes], limit: int, sink: list[bytes]) -> None:
    """Keep up to `limit` bytes; read (and drop) the rest so the child never blocks."""
    kept = 0
    while True:
        chunk = stream.read(65536)
        if not chunk:
            return
        if kept < limit:
            sink.append(chunk[: limit - kept])
            kept += min(len(chunk), limit - kept)


class ExecBackend:
    name = "exec"

    def __init__(
        self,
        command: str,
        *,
        timeout: float = DEFAULT_EXEC_TIMEOUT,
        max_output: int = DEFAULT_MAX_OUTPUT,
    ) -> None:
        self.argv = shlex.split(command)
        if not self.argv:
            raise ValueError("--exec needs a command")
        self.timeout = timeout
        self.max_output = max_output

    def answer(self, text: str) -> str:
        try:
            proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            return f"error: cannot run {self.argv[0]}: {exc.strerror or exc}"
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        out: list[bytes] = []
        err: list[bytes] = []
        readers = [
            threading.Thread(target=_drain, args=(proc.stdout, self.max_output, out), daemon=True),
            threading.Thread(target=_drain, args=(proc.stderr, 4096, err), daemon=True),
        ]
        for t in readers:
            t.start()
        try:
            proc.stdin.write(text.encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            code = proc.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            for t in readers:
                t.join(timeout=1)
            return f"error: backend timed out after {self.timeout:g}s"
        for t in readers:
            t.join(timeout=5)
        stdout = b"".join(out).decode(errors="replace").rstrip("\n")
        if code != 0 and not stdout.strip():
            detail = b"".join(err).decode(errors="replace").strip()
            return f"error: backend exited with status {code}" + (f": {detail}" if detail else "")
        return stdout
