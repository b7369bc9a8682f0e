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
from molecule.observability.logs import log_extra
from molecule.provision import host_files
from molecule.provision.base import ExitCallback, FileEntry, Started, StartSpec
from molecule.provision.runtimes import LOCAL_ADAPTERS
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
    kind = "local"

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

    def can_run(self, runtime: str) -> bool:
        return runtime in LOCAL_ADAPTERS  # the built-in agent program's runtimes

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
            "workspace %s: runtime started (pid %d, port %d)",
            spec.workspace_id,
            proc.pid,
            port,
            extra=log_extra(spec.workspace_id, "provision"),
        )
        return Started(url=f"http://127.0.0.1:{port}")

    async def _watch(self, workspace_id: str, proc: trio.Process) -> None:
        code = await proc.wait()
        if self._procs.get(workspace_id) is proc:  # not a stop we asked for
            del self._procs[workspace_id]
            log.warning(
                "workspace %s: runtime exited on its own (code %s)",
                workspace_id,
                code,
                extra=log_extra(workspace_id, "provision"),
            )
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

    # File access (molecule.provision.host_files): the virtual path is checked with the
    # agent's own rules, then walked from the workspace directory without following links.

    async def read_file(
        self, workspace_id: str, path: str, *, max_bytes: int | None = None
    ) -> bytes:
        base, virtual = self.workspace_dir(workspace_id), validate_virtual(path)
        return await trio.to_thread.run_sync(host_files.read_regular, base, virtual, max_bytes)

    async def write_file(self, workspace_id: str, path: str, data: bytes) -> None:
        base, virtual = self.workspace_dir(workspace_id), validate_virtual(path)
        await trio.to_thread.run_sync(host_files.write_regular, base, virtual, data)

    async def volume_has_file(self, workspace_id: str, path: str) -> bool:
        base, virtual = self.workspace_dir(workspace_id), validate_virtual(path)
        return await trio.to_thread.run_sync(host_files.exists_regular, base, virtual)

    async def list_files(
        self, workspace_id: str, path: str, depth: int, limit: int
    ) -> list[FileEntry]:
        base, virtual = self.workspace_dir(workspace_id), validate_virtual(path)
        return await trio.to_thread.run_sync(host_files.list_tree, base, virtual, depth, limit)

    async def delete_file(self, workspace_id: str, path: str) -> None:
        base, virtual = self.workspace_dir(workspace_id), validate_virtual(path)
        await trio.to_thread.run_sync(host_files.delete, base, virtual)

    async def read_console(self, workspace_id: str, max_bytes: int) -> bytes:
        """The tail of `agent.log`, where the agent's stdout and stderr go."""
        log_file = self.workspace_dir(workspace_id) / "agent.log"
        return await trio.to_thread.run_sync(host_files.tail, log_file, max_bytes)

    async def remove_volume(self, workspace_id: str) -> None:
        await self.stop(workspace_id)
        await trio.to_thread.run_sync(
            lambda: shutil.rmtree(self.workspace_dir(workspace_id), ignore_errors=True)
        )
