"""Local-process workspaces: the embedded default when no Docker engine is reachable.

Each workspace gets `$MOLECULE_HOME/workspaces/<id>/` with `configs/`, `workspace/`, `home/`
and `plugins/` (the runtime maps the original's virtual roots onto them), a free loopback
port, and the agent runtime as a child process in its own session. Stop is a bounded ladder
(SIGINT, then SIGTERM, then SIGKILL); an exit we did not ask for is reported at once through
`on_exit`, which is how a crashed agent gets auto-restarted.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import trio

from molecule.errors import ProvisionError
from molecule.lifeline import Lifeline
from molecule.provision.base import ExitCallback, Started, StartSpec
from molecule.workspace_paths import HOST_DIRS, VirtualRoots, validate_virtual

log = logging.getLogger("molecule.provision.local")

SUBDIRS = HOST_DIRS  # the virtual roots' directories (molecule.workspace_paths maps them)
STOP_GRACE = 5.0
# Environment a runtime may inherit from the platform; everything else comes from the spec.
_INHERITED = ("PATH", "LANG", "LC_ALL", "TZ", "PYTHONPATH", "VIRTUAL_ENV", "SSL_CERT_FILE")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalProcessProvisioner:
    def __init__(
        self,
        home: Path,
        nursery: trio.Nursery,
        on_exit: ExitCallback,
        command: Sequence[str] = (sys.executable, "-m", "molecule.runtime.main"),
    ) -> None:
        self.root = home / "workspaces"
        self.nursery = nursery
        self.on_exit = on_exit
        self.command = list(command)
        self._procs: dict[str, trio.Process] = {}
        # No orphan agents: if the platform dies, even by SIGKILL, they see the lifeline cut
        # and shut down (see molecule.lifeline; PDEATHSIG would follow a thread, not us).
        self.lifeline = Lifeline()

    def workspace_dir(self, workspace_id: str) -> Path:
        return self.root / workspace_id

    def host_path(self, workspace_id: str, virtual: str) -> Path:
        """Map `/configs/x` etc. onto the workspace's directories, with the agent's own rules
        (the same module maps them inside the agent); anything else is `PathRefused`."""
        roots = VirtualRoots(self.workspace_dir(workspace_id))
        return roots.to_host(validate_virtual(virtual))

    def _prepare(self, spec: StartSpec) -> Path:
        base = self.workspace_dir(spec.workspace_id)
        for sub in SUBDIRS:
            (base / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        configs = base / "configs"
        if spec.template_dir and not (configs / "config.yaml").exists():
            shutil.copytree(spec.template_dir, configs, dirs_exist_ok=True, symlinks=False)
        for rel, data in spec.config_files.items():
            target = configs / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, target)
        if not (configs / "config.yaml").exists():
            raise ProvisionError(
                f"cannot start workspace {spec.workspace_id}: no config.yaml source and config "
                "volume is empty — delete the workspace or provide a template"
            )
        return base

    async def start(self, spec: StartSpec) -> Started:
        await self.stop(spec.workspace_id)
        base = await trio.to_thread.run_sync(self._prepare, spec)
        port = free_port()
        env = {k: os.environ[k] for k in _INHERITED if k in os.environ}
        env.update(spec.env)
        env.update(self.lifeline.child_env())
        env.update(
            {
                "WORKSPACE_CONFIG_PATH": str(base / "configs"),
                "CONFIGS_DIR": str(base / "configs"),
                "MOLECULE_WORKSPACE_ROOT": str(base),
                "MOLECULE_AGENT_PORT": str(port),
                "HOSTNAME": "localhost",
                "HOME": str(base / "home"),
            }
        )
        logfile = await trio.to_thread.run_sync(open, base / "agent.log", "ab")
        try:
            proc = await trio.lowlevel.open_process(
                self.command,
                env=env,
                cwd=str(base / "workspace"),
                stdin=subprocess.DEVNULL,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=self.lifeline.pass_fds,
            )
        except OSError as exc:
            raise ProvisionError("workspace start failed", str(exc)) from exc
        finally:
            logfile.close()
        self._procs[spec.workspace_id] = proc
        self.nursery.start_soon(self._watch, spec.workspace_id, proc)
        log.info(
            "workspace %s: runtime started (pid %d, port %d)", spec.workspace_id, proc.pid, port
        )
        return Started(url=f"http://127.0.0.1:{port}")

    async def _watch(self, workspace_id: str, proc: trio.Process) -> None:
        code = await proc.wait()
        if self._procs.get(workspace_id) is proc:  # not a stop we asked for
            del self._procs[workspace_id]
            log.warning("workspace %s: runtime exited on its own (code %s)", workspace_id, code)
            self.on_exit(workspace_id, code)

    async def stop(self, workspace_id: str) -> None:
        proc = self._procs.pop(workspace_id, None)
        if proc is None or proc.returncode is not None:
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            proc.send_signal(sig)
            with trio.move_on_after(STOP_GRACE):
                await proc.wait()
                return
        proc.kill()
        await proc.wait()

    async def stop_all(self) -> None:
        async with trio.open_nursery() as nursery:
            for workspace_id in list(self._procs):
                nursery.start_soon(self.stop, workspace_id)
        self.lifeline.close()

    async def is_running(self, workspace_id: str) -> bool:
        proc = self._procs.get(workspace_id)
        return proc is not None and proc.returncode is None

    async def read_file(self, workspace_id: str, path: str) -> bytes:
        return await trio.Path(self.host_path(workspace_id, path)).read_bytes()

    async def write_file(self, workspace_id: str, path: str, data: bytes) -> None:
        target = trio.Path(self.host_path(workspace_id, path))
        await target.parent.mkdir(parents=True, exist_ok=True)
        await target.write_bytes(data)

    async def volume_has_file(self, workspace_id: str, path: str) -> bool:
        return await trio.Path(self.host_path(workspace_id, path)).is_file()

    async def remove_volume(self, workspace_id: str) -> None:
        await self.stop(workspace_id)
        await trio.to_thread.run_sync(
            lambda: shutil.rmtree(self.workspace_dir(workspace_id), ignore_errors=True)
        )
