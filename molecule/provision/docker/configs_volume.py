"""The pipeline's files in a new container's /configs volume, before the agent starts.

A template is copied into an empty /configs, then the generated config.yaml and the
credentials (`.auth_token`, `.platform_inbound_secret`, mode 0600) are written. Through the
Engine's archive API each operation on a created container costs the Engine a mount (about
0.3 s); when the Engine runs on this host and its volume directory is writable here, the files
go straight into it instead, with the local backend's link-refusing writer
(molecule.provision.host_files): the volume is the agent's, so a link it planted is never
followed, and on any refusal the archive API does the write.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import trio

from molecule.errors import ProvisionError
from molecule.provision import host_files
from molecule.provision.base import StartSpec
from molecule.provision.docker.archive import files_tar, template_tar
from molecule.provision.docker.engine import Engine

log = logging.getLogger("molecule.provision.docker.configs_volume")


def local_directory(engine_url: str, mountpoint: str) -> Path | None:
    """The volume's directory when the Engine runs on this host and we may write it."""
    if not mountpoint or not engine_url.startswith("unix://"):
        return None
    path = Path(mountpoint)
    return path if path.is_dir() and os.access(path, os.W_OK) else None


async def write_configs(
    engine: Engine, container: str, spec: StartSpec, local: Path | None
) -> None:
    """Template into an empty /configs, then the pipeline's files, before start (`local`:
    the configs volume's directory when it can be written here; see the module doc)."""
    archive = f"containers/{container}/archive"
    generated = "config.yaml" in spec.config_files
    if spec.template_dir and (await engine.path_stat(container, "/configs/config.yaml") is None):
        data = await trio.to_thread.run_sync(template_tar, Path(spec.template_dir))
        await engine.put_bytes(archive, params={"path": "/configs"}, data=data)
        generated = True
    if spec.config_files and not (
        local is not None and await write_local(local, spec.config_files)
    ):
        data = files_tar(dict(spec.config_files))
        await engine.put_bytes(archive, params={"path": "/configs"}, data=data)
    if not generated and await engine.path_stat(container, "/configs/config.yaml") is None:
        raise ProvisionError(
            f"cannot start workspace {spec.workspace_id}: no config.yaml source and config "
            "volume is empty — delete the workspace or provide a template"
        )


async def write_local(directory: Path, files: Mapping[str, bytes]) -> bool:
    """Write the files into the volume's directory (0600, atomically, no link followed);
    False when something there refused it (the caller then uses the archive API)."""

    def write() -> None:
        for rel, data in files.items():
            host_files.write_regular(directory, "/" + rel.lstrip("/"), data)

    try:
        await trio.to_thread.run_sync(write)
    except OSError as exc:
        log.info("writing %s directly failed (%s): using the archive API", directory, exc)
        return False
    return True
