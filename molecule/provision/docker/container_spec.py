"""What a workspace's container is created with: env, mounts, tier limits, network, ports.

A pure function of the start request and the placement, so every rule is testable without
an Engine:

- env (upstream-april §8.1 `buildContainerEnv`): the pipeline's (WORKSPACE_ID, PLATFORM_URL
  rewritten to an address reachable from the container, TIER, PARENT_ID, secrets, ...),
  then `WORKSPACE_CONFIG_PATH=/configs`, `PLUGINS_DIR=/plugins`, and the built-in runtime's
  own settings (advertised host, port, bind address);
- the four volumes (tier 1: `/configs` only, read-only root, a small noexec `/tmp`);
- tier limits: T2 512 MB and 1 CPU, T3 2 GB and 2 CPUs (privileged, host PID), T4 4 GB and
  4 CPUs (plus the host network and the Engine's socket), CPUs capped at the Engine's count;
- no restart policy: the workspace actor restarts agents (docs/architecture.md §4.4), so the
  Engine never races it; `Init` so signals reach the agent and shells' children are reaped;
- network: a user-defined bridge with the agent port published on 127.0.0.1 (the
  original's), or the host network (`MOLECULE_DOCKER_NETWORK=host`), where the agent binds
  127.0.0.1 on a free port and all traffic stays on loopback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from molecule.provision.base import StartSpec
from molecule.provision.docker.naming import (
    AGENT_PORT,
    RUNTIME_LABEL,
    container_name,
    labels,
    volume_names,
)

MB = 1024 * 1024
HOST_NETWORK = "host"
CONTAINER_HOST_ALIAS = "host.docker.internal"
# tier -> (memory MB, CPU shares); NanoCPUs = shares / 1024 CPUs (upstream-april §8.1)
TIER_LIMITS = {2: (512, 1024), 3: (2048, 2048), 4: (4096, 4096)}
T1_TMPFS = {"/tmp": "rw,noexec,nosuid,size=64m"}


@dataclass(frozen=True)
class Placement:
    """Where the container goes: its network and, on the host network, its agent port."""

    network: str  # HOST_NETWORK or a bridge network's name
    host_port: int | None = None  # host network: the agent's port on 127.0.0.1
    gateway: str | None = None  # bridge: the host's address on that network
    platform_url: str | None = None  # bridge: the platform's URL as containers reach it
    engine_socket: str | None = None  # the Engine's unix socket (tier 4 binds it)
    cpus: int = 1  # the Engine's CPU count (limits are capped at it)
    instance: str = ""  # this platform's instance label (naming.instance_id)
    privileged: bool = True  # False once the Engine's host refused privileged containers

    @property
    def host_network(self) -> bool:
        return self.network == HOST_NETWORK


def tier_of(spec: StartSpec) -> int:
    try:
        tier = int(spec.env.get("TIER") or 3)
    except ValueError:
        return 3
    return tier if tier in (1, 2, 3, 4) else 3


def container_platform_url(platform_url: str, placement: Placement, host_network: bool) -> str:
    """PLATFORM_URL as the container reaches it: unchanged on the host network; on a bridge,
    the platform's address on it (`host.docker.internal`, mapped to the gateway)."""
    if host_network or placement.gateway is None:
        return platform_url
    if placement.platform_url:
        return placement.platform_url
    parts = urlsplit(platform_url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        return platform_url
    netloc = CONTAINER_HOST_ALIAS + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def environment(spec: StartSpec, placement: Placement, builtin: bool) -> list[str]:
    env = dict(spec.env)
    host_network = placement.host_network or tier_of(spec) == 4
    for key in ("PLATFORM_URL", "MOLECULE_URL"):
        if key in env:
            env[key] = container_platform_url(env[key], placement, host_network)
    env.update({"WORKSPACE_CONFIG_PATH": "/configs", "PLUGINS_DIR": "/plugins"})
    if not builtin:
        env["PYTHONPATH"] = "/app"  # the original's template images
    else:
        port = placement.host_port if host_network and placement.host_port else AGENT_PORT
        env.update(
            {
                "CONFIGS_DIR": "/configs",
                # The agent registers `http://localhost:<port>`; the platform keeps the URL
                # it assigned (http://127.0.0.1:<published port>) anyway.
                "HOSTNAME": "localhost",
                "MOLECULE_AGENT_PORT": str(port),
                "MOLECULE_AGENT_HOST": "127.0.0.1" if host_network else "0.0.0.0",
            }
        )
    return [f"{key}={value}" for key, value in env.items()]


def host_config(spec: StartSpec, placement: Placement) -> dict[str, Any]:
    tier = tier_of(spec)
    mounts = volume_names(spec.workspace_id)
    if tier == 1:
        mounts = {"/configs": mounts["/configs"]}
    config: dict[str, Any] = {
        "Binds": [f"{volume}:{target}" for target, volume in mounts.items()],
        "RestartPolicy": {"Name": "no"},
        "Init": True,
        "NetworkMode": placement.network,
    }
    if tier == 1:
        config.update({"ReadonlyRootfs": True, "Tmpfs": T1_TMPFS})
    else:
        memory_mb, shares = TIER_LIMITS[tier]
        cpus = min(shares / 1024, float(max(placement.cpus, 1)))
        config.update({"Memory": memory_mb * MB, "NanoCpus": int(cpus * 1e9)})
    if tier >= 3:
        config.update({"Privileged": placement.privileged, "PidMode": "host"})
    if tier == 4:
        config["NetworkMode"] = HOST_NETWORK
        if placement.engine_socket:
            config["Binds"].append(f"{placement.engine_socket}:/var/run/docker.sock")
    elif not placement.host_network:
        config["PortBindings"] = {f"{AGENT_PORT}/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}
        if placement.gateway:
            config["ExtraHosts"] = [f"{CONTAINER_HOST_ALIAS}:{placement.gateway}"]
    return config


def container_config(
    spec: StartSpec, image: str, placement: Placement, builtin: bool
) -> dict[str, Any]:
    """The body of `POST /containers/create?name=ws-<id12>`."""
    host = host_config(spec, placement)
    config: dict[str, Any] = {
        "Image": image,
        "Env": environment(spec, placement, builtin),
        "Labels": labels(spec.workspace_id, placement.instance, **{RUNTIME_LABEL: spec.runtime}),
        "WorkingDir": "/workspace" if tier_of(spec) != 1 else "/configs",
        "HostConfig": host,
    }
    if host["NetworkMode"] != HOST_NETWORK:
        config["ExposedPorts"] = {f"{AGENT_PORT}/tcp": {}}
        config["NetworkingConfig"] = {
            "EndpointsConfig": {placement.network: {"Aliases": [container_name(spec.workspace_id)]}}
        }
    return config
