"""Which backend runs the agents: a container per workspace when a Docker Engine answers, as
in the original; local processes otherwise (docs/architecture.md §1.1).

- `MOLECULE_BACKEND=local`: local processes, no Engine is probed;
- `MOLECULE_BACKEND=docker`: containers; the platform refuses to boot without an Engine;
- unset (`auto`): containers if the Engine at DOCKER_HOST (or the default socket) answers its
  `GET /version` within a few seconds, else local processes, said once in the log.
"""

from __future__ import annotations

import logging

import trio

from molecule.config import Settings
from molecule.errors import ConfigError, EngineError
from molecule.provision.base import ExitCallback, Provisioner
from molecule.provision.docker.container_spec import CONTAINER_HOST_ALIAS
from molecule.provision.docker.engine import Engine
from molecule.provision.docker.images import RuntimeImages
from molecule.provision.docker.naming import instance_id
from molecule.provision.docker.provisioner import DockerProvisioner
from molecule.provision.local import LocalProcessProvisioner

log = logging.getLogger("molecule.provision.backend")


async def open_backend(
    settings: Settings, nursery: trio.Nursery, on_exit: ExitCallback
) -> Provisioner:
    """The live backend, ready (its background tasks run in `nursery`)."""
    if settings.backend != "local" and settings.docker_host:
        try:
            engine = await Engine.connect(settings.docker_host)
        except EngineError as exc:
            if settings.backend == "docker":
                raise ConfigError(
                    f"MOLECULE_BACKEND=docker but the Docker Engine at {settings.docker_host} "
                    f"does not answer ({exc.detail}): start it or unset MOLECULE_BACKEND"
                ) from None
            log.info(
                "no Docker Engine at %s (%s): agents run as local processes",
                settings.docker_host,
                exc.detail,
            )
        else:
            images = RuntimeImages(
                engine,
                settings.image_registry,
                settings.runtime_base_image,
                cache_dir=settings.home / "images",
            )
            docker = DockerProvisioner(
                engine, images, on_exit, settings.docker_network, instance_id(settings.home)
            )
            try:
                await docker.open(nursery)
            except BaseException:
                with trio.CancelScope(shield=True):
                    await engine.close()
                raise
            log.info(
                "agents run in containers on the Docker Engine at %s (%s network)",
                settings.docker_host,
                settings.docker_network,
            )
            return docker
    elif settings.backend == "docker":
        raise ConfigError(
            "MOLECULE_BACKEND=docker but no Docker Engine: set DOCKER_HOST or start dockerd"
        )
    return LocalProcessProvisioner(settings.home, nursery, on_exit)


async def close_backend(provisioner: Provisioner) -> None:
    if isinstance(provisioner, DockerProvisioner):
        await provisioner.close()


def container_binds(provisioner: Provisioner, host: str, port: int) -> list[str]:
    """Extra addresses the platform listens on so containers on a bridge network reach it:
    the network's gateway, when the platform itself listens on loopback only."""
    if not isinstance(provisioner, DockerProvisioner) or provisioner.gateway is None:
        return []
    if host not in ("127.0.0.1", "localhost", "::1"):
        return []  # listening on every interface already includes the gateway
    return [f"{provisioner.gateway}:{port}"]


def served_at(provisioner: Provisioner, binds: list[str]) -> None:
    """Tell the Docker backend the platform's URL as containers on its bridge reach it."""
    if not isinstance(provisioner, DockerProvisioner) or provisioner.gateway is None:
        return
    for bind in binds:
        if bind.startswith("https://"):
            continue  # under TLS containers get a plain listener (molecule.http.edge_tls)
        host, _, port = bind.rstrip("/").rpartition("://")[2].rpartition(":")
        if host.strip("[]") in (provisioner.gateway, "0.0.0.0", "::"):
            provisioner.container_platform_url = f"http://{CONTAINER_HOST_ALIAS}:{port}"
            return
